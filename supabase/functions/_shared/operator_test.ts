import assert from "node:assert/strict";
import { createOperatorCheck } from "./operator.ts";

const KEYS = ["sb_secret_current", "legacy.service.role"];

function request(headers: Record<string, string>) {
  return new Request("http://localhost/functions/v1/sync", { method: "POST", headers });
}

Deno.test("the operator check accepts a secret key as the bearer token or in apikey", () => {
  const isOperator = createOperatorCheck(KEYS);
  assert.equal(isOperator(request({ Authorization: "Bearer sb_secret_current" })), true);
  assert.equal(isOperator(request({ Authorization: "Bearer legacy.service.role" })), true);
  assert.equal(isOperator(request({ apikey: "sb_secret_current" })), true);
  // A gateway that replaced Authorization with a JWT still leaves the apikey.
  assert.equal(
    isOperator(request({ Authorization: "Bearer eyJ.a.b", apikey: "sb_secret_current" })),
    true,
  );
});

Deno.test("the operator check refuses anything else", async (test) => {
  const isOperator = createOperatorCheck(KEYS);
  const cases: Record<string, Record<string, string>> = {
    "no credential": {},
    "a publishable key": { apikey: "sb_publishable_x", Authorization: "Bearer sb_publishable_x" },
    "a key's prefix": { Authorization: "Bearer sb_secret_curren" },
    "a key with more after it": { Authorization: "Bearer sb_secret_currentX" },
    "the key without Bearer": { Authorization: "sb_secret_current" },
    "a user's token": { Authorization: "Bearer eyJ.user.token" },
  };
  for (const [name, headers] of Object.entries(cases)) {
    await test.step(name, () => assert.equal(isOperator(request(headers)), false));
  }
  assert.equal(createOperatorCheck([])(request({ apikey: "" })), false, "no keys, no operator");
});
