import assert from "node:assert/strict";
import { startFakePolar } from "./fake_polar.ts";

const headers = { Authorization: "Bearer polar_oat_test", "Content-Type": "application/json" };

Deno.test("fake Polar lists the demo meter and ingests events with Polar's rules", async () => {
  await using polar = await startFakePolar();
  const customer = polar.addCustomer({ externalId: "user-1" });
  const meters = await (await fetch(`${polar.url}/v1/meters/`, { headers })).json();
  assert.deepEqual(meters.items.map((m: { name: string }) => m.name), ["ai_credits"]);

  const ingest = async (events: unknown[]) => {
    const response = await fetch(`${polar.url}/v1/events/ingest`, {
      method: "POST",
      headers,
      body: JSON.stringify({ events }),
    });
    return { status: response.status, body: await response.json() };
  };
  const event = { name: "ai_usage", external_id: "k1", metadata: { units: 10 } };
  assert.deepEqual(
    await ingest([
      { ...event, customer_id: customer.id },
      { ...event, external_customer_id: "user-1" },
      { ...event, external_id: "k2", external_customer_id: "unknown-yet" },
    ]),
    { status: 200, body: { inserted: 2, duplicates: 1 } },
  );
  const refused = await ingest([{ ...event, external_id: "k3", customer_id: crypto.randomUUID() }]);
  assert.equal(refused.status, 422);
  assert.equal(refused.body.detail[0].msg, "Customer not found.");
  assert.deepEqual(polar.events.map((e) => e.external_id), ["k1", "k2"]);
  assert.equal(
    polar.requests.filter((r) => r.route === "POST /v1/events/ingest").length,
    2,
  );
});

Deno.test("fake Polar's failure modes apply to ingestion too", async () => {
  await using polar = await startFakePolar();
  polar.mode = "rate_limited";
  const response = await fetch(`${polar.url}/v1/events/ingest`, {
    method: "POST",
    headers,
    body: JSON.stringify({ events: [] }),
  });
  assert.equal(response.status, 429);
  assert.equal(response.headers.get("Retry-After"), "1");
  await response.body?.cancel();
  assert.deepEqual(polar.events, []);
});
