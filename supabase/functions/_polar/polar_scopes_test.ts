import assert from "node:assert/strict";
import { PolarClientError } from "@polar-sh/sdk";
import { ALL_POLAR_SCOPES, polarAuthFix } from "./polar_scopes.ts";

Deno.test("a Polar 401 names POLAR_ACCESS_TOKEN and POLAR_SERVER", () => {
  const fix = polarAuthFix("checkout", new PolarClientError(401, { error: "invalid_token" }));
  assert.match(fix ?? "", /POLAR_ACCESS_TOKEN/);
  assert.match(fix ?? "", /POLAR_SERVER/);
});

Deno.test("a Polar 403 names POLAR_ACCESS_TOKEN and the scopes the function needs", () => {
  const error = new PolarClientError(403, { error: "insufficient_scope" });
  assert.match(polarAuthFix("portal", error) ?? "", /POLAR_ACCESS_TOKEN.*customer_sessions:write/);
  assert.match(
    polarAuthFix("checkout", error) ?? "",
    /customers:read, customers:write, checkouts:write/,
  );
});

Deno.test("other failures get no Polar fix", () => {
  assert.equal(polarAuthFix("portal", new PolarClientError(404, "Not found")), undefined);
  assert.equal(polarAuthFix("portal", new Error("database down")), undefined);
  assert.equal(polarAuthFix("portal", "text"), undefined);
});

Deno.test("the scope list has each scope once", () => {
  assert.equal(new Set(ALL_POLAR_SCOPES).size, ALL_POLAR_SCOPES.length);
  assert.ok(ALL_POLAR_SCOPES.includes("webhooks:read"));
});

Deno.test("a handler whose Polar call is refused logs the fix beside the cause, and answers the contract's 500", async () => {
  const { createJsonHandler } = await import("./json_handler.ts");
  const lines: Record<string, unknown>[] = [];
  const handler = createJsonHandler({
    name: "portal",
    methods: ["POST"],
    cors: () => ({}),
    log: (entry) => lines.push({ ...entry }),
  }, () => Promise.reject(new PolarClientError(403, { error: "insufficient_scope" })));
  const response = await handler(new Request("http://x/", { method: "POST" }));
  assert.equal(response.status, 500);
  assert.deepEqual(await response.json(), { error: "Something went wrong" });
  assert.match(String(lines[0].fix), /POLAR_ACCESS_TOKEN.*customer_sessions:write/);
});
