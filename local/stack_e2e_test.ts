/**
 * End to end over HTTP against the local stack, as a user's app would drive it with supabase-js:
 * sign in, checkout, pay on the Polar stand-in, webhooks, portal, cancel. On PGlite by default;
 * on a PostgreSQL server when `DATABASE_URL` is set (CI runs it once more on PostgreSQL 15).
 */
import assert from "node:assert/strict";
import { billingLoop } from "./billing_loop.ts";
import { type KeyStyle, startStack } from "./stack.ts";

const databaseUrl = Deno.env.get("DATABASE_URL") || undefined;

// Once with each key style: the client's key and the functions' variables both follow it.
for (const keyStyle of ["new", "legacy"] as const satisfies readonly KeyStyle[]) {
  Deno.test(
    `local stack: the whole billing loop on ${
      databaseUrl ? "PostgreSQL" : "PGlite"
    } with the ${keyStyle} API keys`,
    (test) => billingLoopOn(test, keyStyle),
  );
}

async function billingLoopOn(test: Deno.TestContext, keyStyle: KeyStyle) {
  await using stack = await startStack({
    apiPort: 0,
    polarPort: 0,
    sitePort: 0,
    databaseUrl,
    keyStyle,
    polarMeterRecomputeDelayMs: 200,
  });
  await billingLoop(test, stack, keyStyle);
}

Deno.test("local stack: a port already in use is a clear error", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (taken.addr as Deno.NetAddr).port;
    await assert.rejects(
      startStack({ apiPort: port, polarPort: 0, sitePort: 0 }),
      new RegExp(`Supabase API: port ${port} on 127.0.0.1 is already in use`),
    );
  } finally {
    taken.close();
  }
});
