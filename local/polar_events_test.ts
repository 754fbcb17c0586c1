import assert from "node:assert/strict";
import type { models } from "@polar-sh/sdk/2026-10";
import { createPolarEventRoutes, type IngestedEvent } from "./polar_events.ts";
import { customerModel } from "./polar_models.ts";

function setup() {
  const customers = new Map<string, models.CustomerIndividual>();
  const customer = customerModel({ externalId: "user-1" });
  customers.set(customer.id, customer);
  const events: IngestedEvent[] = [];
  const ingested: IngestedEvent[][] = [];
  const routes = createPolarEventRoutes({ events, customers }, {
    onIngested: (batch) => void ingested.push(batch),
  });
  const ingest = async (body: Record<string, unknown>) => {
    const response = await routes({
      method: "POST",
      url: new URL("http://polar.test/v1/events/ingest"),
      body,
    });
    return { status: response!.status, body: await response!.json() };
  };
  return { customer, customers, events, ingested, ingest };
}

const usage = (external_id: string | undefined, customer: Record<string, string>) => ({
  name: "ai_usage",
  ...(external_id ? { external_id } : {}),
  metadata: { units: 10 },
  ...customer,
});

Deno.test("ingest answers {inserted, duplicates} and stores the events", async () => {
  const { customer, events, ingest } = setup();
  const answer = await ingest({
    events: [
      usage("e1", { customer_id: customer.id }),
      usage("e2", { external_customer_id: "user-1" }),
    ],
  });
  assert.deepEqual(answer, { status: 200, body: { inserted: 2, duplicates: 0 } });
  assert.deepEqual(events.map((e) => [e.external_id, e.customer_id, e.external_customer_id]), [
    ["e1", customer.id, null],
    ["e2", null, "user-1"],
  ]);
  assert.deepEqual(events[0].metadata, { units: 10 });
  assert.ok(!Number.isNaN(Date.parse(events[0].timestamp)));
});

Deno.test("ingest dedupes by external_id within a batch and across batches", async () => {
  const { customer, events, ingested, ingest } = setup();
  const one = usage("same", { customer_id: customer.id });
  assert.deepEqual(
    (await ingest({ events: [one, one, usage("other", { customer_id: customer.id })] })).body,
    {
      inserted: 2,
      duplicates: 1,
    },
  );
  assert.deepEqual(
    (await ingest({ events: [one, usage("other", { external_customer_id: "x" })] })).body,
    {
      inserted: 0,
      duplicates: 2,
    },
  );
  assert.equal(events.length, 2);
  assert.deepEqual(ingested.map((batch) => batch.length), [2, 0]);
});

Deno.test("ingest never dedupes events without external_id", async () => {
  const { customer, events, ingest } = setup();
  const body = { events: [usage(undefined, { customer_id: customer.id })] };
  await ingest(body);
  assert.deepEqual((await ingest(body)).body, { inserted: 1, duplicates: 0 });
  assert.equal(events.length, 2);
});

Deno.test("one unknown customer_id refuses the whole batch with Polar's 422 and stores nothing", async () => {
  const { customer, events, ingested, ingest } = setup();
  const missing = crypto.randomUUID();
  const answer = await ingest({
    events: [
      usage("ok", { customer_id: customer.id }),
      usage("bad", { customer_id: missing }),
      usage("ext", { external_customer_id: "user-1" }),
    ],
  });
  assert.equal(answer.status, 422);
  assert.deepEqual(answer.body, {
    detail: [{
      type: "customer_id",
      loc: ["body", "events", 1, "customer_id"],
      msg: "Customer not found.",
      input: missing,
    }],
  });
  assert.deepEqual(events, []);
  assert.deepEqual(ingested, []);
  // The refused batch's external_ids are free: the good events go through on their own.
  assert.deepEqual((await ingest({ events: [usage("ok", { customer_id: customer.id })] })).body, {
    inserted: 1,
    duplicates: 0,
  });
});

Deno.test("a deleted customer's customer_id is refused too", async () => {
  const { customer, ingest } = setup();
  customer.deleted_at = new Date().toISOString();
  assert.equal((await ingest({ events: [usage("e", { customer_id: customer.id })] })).status, 422);
});

Deno.test("an unknown external_customer_id is accepted and stored", async () => {
  const { events, ingest } = setup();
  const answer = await ingest({ events: [usage("e", { external_customer_id: "not-yet" })] });
  assert.deepEqual(answer.body, { inserted: 1, duplicates: 0 });
  assert.equal(events[0].external_customer_id, "not-yet");
});

const invalid: [string, unknown][] = [
  ["no events field", {}],
  ["an event without a name", { events: [{ external_customer_id: "u" }] }],
  ["an event with neither customer field", { events: [{ name: "ai_usage" }] }],
  ["an event with both customer fields", {
    events: [{ name: "ai_usage", customer_id: "a", external_customer_id: "u" }],
  }],
  ["metadata with an object value", {
    events: [{ name: "ai_usage", external_customer_id: "u", metadata: { units: { n: 1 } } }],
  }],
  ["a timestamp that is not a date", {
    events: [{ name: "ai_usage", external_customer_id: "u", timestamp: "yesterday" }],
  }],
];
for (const [what, body] of invalid) {
  Deno.test(`ingest answers 422 and stores nothing for ${what}`, async () => {
    const { events, ingest } = setup();
    const answer = await ingest(body as Record<string, unknown>);
    assert.equal(answer.status, 422);
    assert.ok(Array.isArray(answer.body.detail) && answer.body.detail.length > 0);
    assert.deepEqual(events, []);
  });
}
