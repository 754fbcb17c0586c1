import assert from "node:assert/strict";
import { ConfigError, loadSyncFunctionConfig } from "./config.ts";
import { makeHandlerOrFallback, serve } from "./serve.ts";

Deno.test("serve binds 127.0.0.1 when PORT is set, as under deno run and the local stack", async () => {
  Deno.env.set("PORT", "0");
  try {
    const server = serve("test", () => () => Promise.resolve(new Response("ok")));
    try {
      assert.equal((server.addr as Deno.NetAddr).hostname, "127.0.0.1");
    } finally {
      await server.shutdown();
    }
  } finally {
    Deno.env.delete("PORT");
  }
});

Deno.test("serve refuses a PORT that is not a port number", () => {
  Deno.env.set("PORT", "80a");
  try {
    assert.throws(
      () => serve("test", () => () => Promise.resolve(new Response("ok"))),
      /PORT is "80a"/,
    );
  } finally {
    Deno.env.delete("PORT");
  }
});

Deno.test("an invalid configuration logs one line naming every variable, then answers JSON 500 with CORS", async () => {
  const lines: string[] = [];
  const handler = makeHandlerOrFallback(
    "sync",
    () => {
      loadSyncFunctionConfig(() => undefined);
      throw new Error("unreachable");
    },
    (line) => lines.push(line),
  );
  assert.equal(lines.length, 1);
  const line = JSON.parse(lines[0]);
  assert.equal(line.function, "sync");
  assert.equal(line.startup, "failed");
  for (
    const name of ["SUPABASE_URL", "SITE_URL", "SUPABASE_PUBLISHABLE_KEYS", "POLAR_ACCESS_TOKEN"]
  ) {
    assert.match(line.error, new RegExp(name), `names ${name}`);
  }
  assert.doesNotMatch(lines[0], /\n|at \w+ \(/, "no stack trace");

  const response = await handler(new Request("http://x/", { method: "POST" }));
  assert.equal(response.status, 500);
  assert.deepEqual(await response.json(), { error: "Something went wrong" });
  assert.equal(response.headers.get("access-control-allow-origin"), "*");
  const preflight = await handler(new Request("http://x/", { method: "OPTIONS" }));
  assert.equal(preflight.status, 204);
  assert.ok(preflight.headers.get("access-control-allow-headers"));
});

Deno.test("an error other than the configuration's still stops the function", () => {
  assert.throws(
    () =>
      makeHandlerOrFallback("sync", () => {
        throw new TypeError("a bug");
      }, () => {}),
    TypeError,
  );
  assert.ok(new ConfigError("A", "b") instanceof Error);
});
