import assert from "node:assert/strict";
import { insertUser, linkCustomer } from "../supabase/functions/tests/support/database.ts";
import { startFakePolar } from "../supabase/functions/tests/support/fake_polar.ts";
import { createTestSupabase } from "../supabase/functions/tests/support/supabase_stand_in.ts";
import {
  createLinkCustomerDependencies,
  LinkCustomerError,
  linkExistingCustomer,
} from "./link_customer.ts";

/** The loopback Supabase stand-in and Polar fake, and the environment the task reads. */
async function setup() {
  const supabase = await createTestSupabase("loopback");
  const polar = await startFakePolar();
  const env: Record<string, string> = {
    SUPABASE_URL: supabase.url,
    SUPABASE_SERVICE_ROLE_KEY: supabase.serviceRoleKey,
    POLAR_ACCESS_TOKEN: "polar_oat_operator",
    POLAR_API_URL: polar.url,
  };
  const userId = await insertUser(supabase.db, "old-customer@example.com");
  const linked = async (user = userId) =>
    (await supabase.db.query<{ polar_customer_id: string | null }>(
      "select polar_customer_id from public.user_subscriptions where user_id = $1",
      [user],
    ))[0]?.polar_customer_id ?? null;
  return {
    supabase,
    polar,
    env,
    userId,
    linked,
    deps: createLinkCustomerDependencies((name) => env[name]),
    async [Symbol.asyncDispose]() {
      await polar[Symbol.asyncDispose]();
      await supabase[Symbol.asyncDispose]();
    },
  };
}

Deno.test("link-customer sets Polar's external_id on a pre-integration customer and links it", async () => {
  await using t = await setup();
  const customer = t.polar.addCustomer({ email: "old-customer@example.com" });
  assert.deepEqual(await linkExistingCustomer(t.deps, t.userId, customer.id), {
    outcome: "linked",
    setExternalId: true,
  });
  assert.equal(t.polar.customers.get(customer.id)?.external_id, t.userId);
  assert.equal(await t.linked(), customer.id);
  assert.deepEqual(await linkExistingCustomer(t.deps, t.userId, customer.id), {
    outcome: "unchanged",
    setExternalId: false,
  });
});

Deno.test("link-customer writes a user id given in capitals as the lower-case external_id", async () => {
  await using t = await setup();
  const customer = t.polar.addCustomer({ email: "old-customer@example.com" });
  assert.deepEqual(await linkExistingCustomer(t.deps, t.userId.toUpperCase(), customer.id), {
    outcome: "linked",
    setExternalId: true,
  });
  assert.equal(t.polar.customers.get(customer.id)?.external_id, t.userId);
  assert.equal(await t.linked(), customer.id);
});

Deno.test("link-customer verifies a link the previous version stored, so the gates count it", async () => {
  await using t = await setup();
  const customer = t.polar.addCustomer({ email: "old-customer@example.com" });
  await t.supabase.db.query(
    "insert into public.user_subscriptions (user_id, polar_customer_id) values ($1, $2)",
    [t.userId, customer.id],
  );
  assert.deepEqual(await linkExistingCustomer(t.deps, t.userId, customer.id), {
    outcome: "linked",
    setExternalId: true,
  });
  const [row] = await t.supabase.db.query<{ verified: boolean }>(
    "select polar_customer_verified as verified from public.user_subscriptions where user_id = $1",
    [t.userId],
  );
  assert.equal(row.verified, true);
});

Deno.test("link-customer with dry run checks both sides and changes nothing", async () => {
  await using t = await setup();
  const customer = t.polar.addCustomer();
  assert.deepEqual(await linkExistingCustomer(t.deps, t.userId, customer.id, { dryRun: true }), {
    outcome: "would link",
    setExternalId: true,
  });
  assert.equal(customer.external_id, null);
  assert.equal(await t.linked(), null);
  assert.ok(!t.polar.requests.some((r) => r.route.startsWith("PATCH")));
});

Deno.test("link-customer refuses, changing nothing, when a check fails", async (test) => {
  await using t = await setup();
  const otherUser = await insertUser(t.supabase.db);
  const cases: [string, () => Promise<[string, string]>, RegExp][] = [
    [
      "a user id that is not a UUID",
      () => Promise.resolve(["user_42", t.polar.addCustomer().id]),
      /is not a UUID/,
    ],
    [
      "a customer Polar does not have",
      () => Promise.resolve([t.userId, crypto.randomUUID()]),
      /Polar has no customer/,
    ],
    [
      "a customer with another external_id",
      () => Promise.resolve([t.userId, t.polar.addCustomer({ externalId: otherUser }).id]),
      /already has external_id .*, which cannot change/,
    ],
    [
      "a user who is no user here",
      () => Promise.resolve([crypto.randomUUID(), t.polar.addCustomer().id]),
      /refuses the link: no such user/,
    ],
    [
      "a customer another user's row holds",
      async () => {
        const held = t.polar.addCustomer();
        await linkCustomer(t.supabase.db, otherUser, held.id);
        return [t.userId, held.id];
      },
      /refuses the link: customer is linked to another user/,
    ],
    [
      "a user who already has a Polar customer",
      () => {
        t.polar.addCustomer({ externalId: t.userId });
        return Promise.resolve([t.userId, t.polar.addCustomer().id]);
      },
      /already has Polar customer/,
    ],
  ];
  for (const [name, arrange, message] of cases) {
    await test.step(name, async () => {
      const [userId, customerId] = await arrange();
      const before = structuredClone([...t.polar.customers.values()]);
      await assert.rejects(linkExistingCustomer(t.deps, userId, customerId), (error: Error) => {
        assert.ok(error instanceof LinkCustomerError);
        assert.match(error.message, message);
        return true;
      });
      assert.deepEqual([...t.polar.customers.values()], before, "no customer changed in Polar");
      assert.equal(await t.linked(), null, "no link stored");
    });
  }
});

Deno.test("deno task link-customer prints what it did and exits non-zero on a refusal", async () => {
  await using t = await setup();
  const customer = t.polar.addCustomer();
  const run = (...args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("./link_customer.ts", import.meta.url).pathname, ...args],
      env: t.env,
      stdout: "piped",
      stderr: "piped",
    }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

  const usage = await run("--user", t.userId);
  assert.equal(usage.code, 2);
  assert.match(decode(usage.stderr), /^Usage: deno task link-customer/);

  const refused = await run("--user", t.userId, "--customer", crypto.randomUUID());
  assert.equal(refused.code, 1);
  assert.match(decode(refused.stderr), /LinkCustomerError: Polar has no customer/);

  const done = await run("--user", t.userId, "--customer", customer.id);
  assert.equal(done.code, 0, decode(done.stderr));
  assert.equal(
    decode(done.stdout).trim(),
    `linked: Polar customer ${customer.id} and user ${t.userId} (Polar external_id set to the user id)`,
  );
  const printed = decode(done.stdout) + decode(done.stderr);
  assert.ok(!printed.includes(t.env.SUPABASE_SERVICE_ROLE_KEY), "no key printed");
});
