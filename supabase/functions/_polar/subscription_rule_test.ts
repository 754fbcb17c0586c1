import assert from "node:assert/strict";
import { PolarClientError } from "@polar-sh/sdk";
import { errors } from "@polar-sh/sdk/2026-10";
import { startFakePolar } from "../tests/support/fake_polar.ts";
import { createPolarClient } from "./polar.ts";
import {
  ALREADY_SUBSCRIBED_MESSAGE,
  type CheckoutGuard,
  createOrganizationSetting,
  createSubscriptionRule,
  isAlreadyActiveSubscription,
} from "./subscription_rule.ts";

const PLAN = "plan";
const PACK = "pack";

function rule(
  guard: Partial<CheckoutGuard>,
  options: { allowed?: boolean; recurs?: string[] } = {},
) {
  const asked: string[] = [];
  const enforce = createSubscriptionRule({
    allowsMultipleSubscriptions: () => Promise.resolve(options.allowed ?? false),
    checkoutGuard: () =>
      Promise.resolve({ live_subscription_id: "sub_1", recurring: [], one_time: [], ...guard }),
    productIsRecurring: (id) => {
      asked.push(id);
      return Promise.resolve(options.recurs?.includes(id) ?? false);
    },
  });
  return { enforce, asked };
}

async function refusal(promise: Promise<void>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  return null;
}

Deno.test("the subscription rule refuses a second subscription with a 409 a user can act on", async () => {
  const { enforce } = rule({ recurring: [PLAN] });
  const error = await refusal(enforce("u1", [PLAN]));
  assert.ok(error instanceof Error);
  assert.deepEqual(
    { status: (error as { status?: number }).status, message: error.message },
    { status: 409, message: ALREADY_SUBSCRIBED_MESSAGE },
  );
});

Deno.test("the subscription rule lets through what Polar would let through", async (test) => {
  const cases: Record<string, ReturnType<typeof rule> & { products: string[] }> = {
    "no live subscription": {
      ...rule({ live_subscription_id: null, recurring: [PLAN] }),
      products: [PLAN],
    },
    "a one-time product": { ...rule({ one_time: [PACK] }), products: [PACK] },
    "an organization that allows several": {
      ...rule({ recurring: [PLAN] }, { allowed: true }),
      products: [PLAN],
    },
    "a product Polar says is one-time": { ...rule({}), products: [PACK] },
  };
  for (const [name, { enforce, products }] of Object.entries(cases)) {
    await test.step(name, async () => assert.equal(await refusal(enforce("u1", products)), null));
  }
});

Deno.test("the subscription rule asks Polar only about products the catalog does not know", async () => {
  const { enforce, asked } = rule({ one_time: [PACK] }, { recurs: ["new-plan"] });
  const error = await refusal(enforce("u1", [PACK, "new-plan"]));
  assert.equal((error as { status?: number }).status, 409);
  assert.deepEqual(asked, ["new-plan"]);
});

Deno.test("isAlreadyActiveSubscription recognises Polar's 403 and nothing else", () => {
  const body = {
    error: "AlreadyActiveSubscriptionError",
    detail: "You already have an active subscription.",
  };
  assert.ok(isAlreadyActiveSubscription(new PolarClientError(403, JSON.stringify(body))));
  for (
    const other of [
      new PolarClientError(403, JSON.stringify({ error: "NotPermitted", detail: "No" })),
      new PolarClientError(403, "Forbidden"),
      new PolarClientError(409, JSON.stringify(body)),
      new errors.HTTPValidationError(422, { detail: [] }),
      new Error("AlreadyActiveSubscriptionError"),
      null,
    ]
  ) {
    assert.ok(!isAlreadyActiveSubscription(other), String(other));
  }
});

Deno.test("the organization's setting is read from Polar once per worker", async () => {
  await using polar = await startFakePolar();
  const client = createPolarClient({
    accessToken: "polar_oat_x",
    server: "sandbox",
    apiUrl: polar.url,
  });
  polar.allowMultipleSubscriptions = true;
  const allows = createOrganizationSetting(undefined, client, { warn: () => {} });
  assert.equal(await allows(), true);
  polar.allowMultipleSubscriptions = false;
  assert.equal(await allows(), true, "cached for the worker's life");
  assert.deepEqual(polar.requests.map((r) => r.route), ["GET /v1/organizations/"]);
});

Deno.test("an explicit setting overrides Polar's and is never read", async () => {
  await using polar = await startFakePolar();
  const client = createPolarClient({
    accessToken: "polar_oat_x",
    server: "sandbox",
    apiUrl: polar.url,
  });
  polar.allowMultipleSubscriptions = true;
  assert.equal(await createOrganizationSetting(false, client)(), false);
  assert.equal(polar.requests.length, 0);
});

Deno.test("a failed read assumes Polar's default, says so, and is asked again next time", async () => {
  await using polar = await startFakePolar();
  const client = createPolarClient({
    accessToken: "polar_oat_x",
    server: "sandbox",
    apiUrl: polar.url,
  });
  const warnings: string[] = [];
  const allows = createOrganizationSetting(undefined, client, { warn: (m) => warnings.push(m) });
  polar.allowMultipleSubscriptions = true;
  polar.mode = "server_error";
  assert.equal(await allows(), false);
  assert.match(warnings[0], /POLAR_ALLOW_MULTIPLE_SUBSCRIPTIONS/);
  polar.mode = "ok";
  assert.equal(await allows(), true, "not cached after a failure");
});
