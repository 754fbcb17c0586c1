import assert from "node:assert/strict";
import type { models } from "@polar-sh/sdk/2026-10";
import { serveOnLoopback } from "./loopback.ts";
import {
  createPolarStandIn,
  CREDIT_PACK_PRODUCT_ID,
  CREDIT_PACK_UNITS,
  DEMO_CREDIT_UNITS,
  DEMO_METER,
  DEMO_PRODUCT_ID,
} from "./polar_stand_in.ts";

/** The stand-in in-process, its webhooks received on loopback. */
async function setup(meterRecomputeDelayMs: number) {
  const received: { type: string; data: models.CustomerStateIndividual }[] = [];
  const receiver = await serveOnLoopback(async (request) => {
    received.push(await request.json());
    return new Response(null, { status: 202 });
  });
  const polar = createPolarStandIn({
    baseUrl: "http://polar.test",
    webhookUrl: receiver.url,
    webhookSecret: "whsec_" + btoa("local-test-secret-0123456789"),
    meterRecomputeDelayMs,
  });
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await polar.handler(
      new Request(`http://polar.test${path}`, {
        method,
        headers: { Authorization: "Bearer polar_oat_test", "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
    );
    return { status: response.status, body: await response.json() };
  };
  const createCustomer = async (externalId: string) =>
    (await call("POST", "/v1/customers/", {
      external_id: externalId,
      email: `${externalId}@x.test`,
    }))
      .body as models.CustomerIndividual;
  /** Checks out a product through the checkout page's Pay button. */
  const buy = async (customerId: string, product: string) => {
    const checkout = await call("POST", "/v1/checkouts/", {
      products: [product],
      customer_id: customerId,
      success_url: "http://site.test/done",
    });
    assert.equal(checkout.status, 201);
    const paid = await polar.handler(
      new Request(`http://polar.test/checkout/${checkout.body.client_secret}/pay`, {
        method: "POST",
      }),
    );
    assert.equal(paid.status, 303);
  };
  const meterOf = async (customerId: string) => {
    const page = await call("GET", `/v1/customer-meters/?customer_id=${customerId}`);
    return page.body.items[0] as models.CustomerMeter | undefined;
  };
  const ingest = (events: Record<string, unknown>[]) =>
    call("POST", "/v1/events/ingest", {
      events: events.map((e) => ({ name: DEMO_METER.eventName, ...e })),
    });
  const states = () => received.filter((w) => w.type === "customer.state_changed");
  return {
    polar,
    call,
    createCustomer,
    buy,
    meterOf,
    ingest,
    received,
    states,
    [Symbol.asyncDispose]: async () => {
      polar.close();
      await receiver.shutdown();
    },
  };
}

Deno.test("customer meters change only after the recompute delay, then state_changed goes out", async () => {
  await using t = await setup(300);
  const ada = await t.createCustomer("ada");
  await t.buy(ada.id, DEMO_PRODUCT_ID);
  // Paid, but the credits are not counted yet.
  assert.equal(await t.meterOf(ada.id), undefined);
  await t.polar.metersSettled();
  const credited = await t.meterOf(ada.id);
  assert.equal(credited?.credited_units, DEMO_CREDIT_UNITS);
  assert.equal(credited?.balance, DEMO_CREDIT_UNITS);
  assert.equal(credited?.meter.name, DEMO_METER.name);
  assert.deepEqual(t.states().at(-1)?.data.active_meters.map((m) => m.balance), [100]);
  const sentBefore = t.states().length;

  const started = Date.now();
  assert.deepEqual(
    (await t.ingest([
      { customer_id: ada.id, external_id: "a1", metadata: { units: 10 } },
      { external_customer_id: "ada", external_id: "a2", metadata: { units: 20 } },
      { customer_id: ada.id, external_id: "a3", metadata: { units: 5 }, name: "other_event" },
    ])).body,
    { inserted: 3, duplicates: 0 },
  );
  const before = await t.meterOf(ada.id);
  assert.equal(before?.balance, DEMO_CREDIT_UNITS);
  assert.equal(before?.modified_at, credited?.modified_at);
  const state = await t.call("GET", "/v1/customers/external/ada/state");
  assert.equal(state.body.active_meters[0].balance, DEMO_CREDIT_UNITS);
  assert.equal(t.states().length, sentBefore);

  await t.polar.metersSettled();
  assert.ok(Date.now() - started >= 290, "recomputed before its delay");
  const after = await t.meterOf(ada.id);
  assert.equal(after?.consumed_units, 30);
  assert.equal(after?.balance, DEMO_CREDIT_UNITS - 30);
  assert.ok(after!.modified_at! > credited!.modified_at!);
  const sent = t.states().at(-1)!.data.active_meters[0];
  assert.deepEqual([sent.consumed_units, sent.balance, sent.modified_at], [
    30,
    70,
    after!.modified_at,
  ]);
  assert.equal(t.states().length, sentBefore + 1);
  const pulled = await t.call("GET", "/v1/customers/external/ada/state");
  assert.equal(pulled.body.active_meters[0].modified_at, after!.modified_at);
});

Deno.test("a customer's recompute is debounced: batches within the delay make one recompute", async () => {
  await using t = await setup(200);
  const ada = await t.createCustomer("ada");
  const sentBefore = t.states().length;
  for (let i = 0; i < 3; i++) {
    await t.ingest([{ customer_id: ada.id, external_id: `e${i}`, metadata: { units: 1 } }]);
  }
  await t.polar.metersSettled();
  assert.equal((await t.meterOf(ada.id))?.consumed_units, 3);
  assert.equal(t.states().length, sentBefore + 1);
});

Deno.test("events for an unknown external_customer_id count once that customer exists, once", async () => {
  await using t = await setup(0);
  const event = { external_customer_id: "later", external_id: "l1", metadata: { units: 7 } };
  assert.deepEqual((await t.ingest([event])).body, { inserted: 1, duplicates: 0 });
  await t.polar.metersSettled();
  assert.equal(t.polar.meters.size, 0);
  const later = await t.createCustomer("later");
  await t.polar.metersSettled();
  assert.equal((await t.meterOf(later.id))?.consumed_units, 7);
  assert.deepEqual((await t.ingest([event])).body, { inserted: 0, duplicates: 1 });
  await t.polar.metersSettled();
  assert.equal((await t.meterOf(later.id))?.consumed_units, 7);
  assert.equal((await t.meterOf(later.id))?.balance, -7);
});

Deno.test("a refused batch changes no balance and schedules no recompute", async () => {
  await using t = await setup(0);
  const ada = await t.createCustomer("ada");
  const sentBefore = t.received.length;
  const answer = await t.ingest([
    { customer_id: ada.id, external_id: "ok", metadata: { units: 1 } },
    { customer_id: crypto.randomUUID(), external_id: "bad", metadata: { units: 1 } },
  ]);
  assert.equal(answer.status, 422);
  await t.polar.metersSettled();
  assert.equal(await t.meterOf(ada.id), undefined);
  assert.deepEqual(t.polar.events, []);
  assert.equal(t.received.length, sentBefore);
});

Deno.test("the credit pack, paid on the checkout page, adds its units to the balance", async () => {
  await using t = await setup(0);
  const ada = await t.createCustomer("ada");
  await t.buy(ada.id, DEMO_PRODUCT_ID);
  await t.ingest([{ customer_id: ada.id, external_id: "s1", metadata: { units: 90 } }]);
  await t.polar.metersSettled();
  assert.equal((await t.meterOf(ada.id))?.balance, DEMO_CREDIT_UNITS - 90);
  const before = t.received.length;

  await t.buy(ada.id, CREDIT_PACK_PRODUCT_ID);
  // A one-time product: an order, no subscription (with no delay the recompute's
  // state_changed may already have followed).
  assert.deepEqual(t.received.slice(before, before + 2).map((w) => w.type), [
    "order.paid",
    "customer.state_changed",
  ]);
  assert.equal(t.polar.subscriptions.size, 1);
  await t.polar.metersSettled();
  const meter = await t.meterOf(ada.id);
  assert.equal(meter?.credited_units, DEMO_CREDIT_UNITS + CREDIT_PACK_UNITS);
  assert.equal(meter?.balance, DEMO_CREDIT_UNITS + CREDIT_PACK_UNITS - 90);
  assert.equal(t.states().at(-1)?.data.active_meters[0].balance, meter?.balance);
  const grants = await t.call("GET", `/v1/benefit-grants/?customer_id=${ada.id}&limit=100`);
  const credits = grants.body.items.filter((g: models.BenefitGrant) =>
    g.benefit.type === "meter_credit"
  );
  assert.deepEqual(
    credits.map((g: models.BenefitGrant) => [
      (g.benefit as models.BenefitMeterCredit).properties.units,
      g.subscription_id !== null,
      g.order_id !== null,
    ]).sort(),
    [[100, true, false], [500, false, true]],
  );
});

Deno.test("the checkout page names the credit pack", async () => {
  await using t = await setup(0);
  const ada = await t.createCustomer("ada");
  const checkout = await t.call("POST", "/v1/checkouts/", {
    products: [CREDIT_PACK_PRODUCT_ID],
    customer_id: ada.id,
  });
  const page = await (await t.polar.handler(
    new Request(`http://polar.test/checkout/${checkout.body.client_secret}`),
  )).text();
  assert.match(page, /Credit pack \(500 ai_credits\), \$5\.00 once/);
});
