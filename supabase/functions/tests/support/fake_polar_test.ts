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

Deno.test("fake Polar models teams with the stand-in's rules and records their webhooks", async () => {
  await using polar = await startFakePolar();
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${polar.url}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  };
  const created = await call("POST", "/v1/customers/", {
    type: "team",
    external_id: "team-1",
    owner: { email: "owner@x.test", external_id: "user-1" },
  });
  assert.equal(created.body.type, "team");
  assert.deepEqual(polar.teamWebhooks.map((w) => w.type), ["member.created"]);
  const { team: other } = await polar.addTeam({
    externalId: "team-2",
    owner: { email: "o2@x.test", externalId: "user-2" },
  });
  const subscription = polar.addTeamSubscription(polar.teams.get(created.body.id)!, 1);
  // Checkouts: seats refused for a product not sold by the seat.
  const pro = await call("POST", "/v1/checkouts/", {
    products: [polar.products[0].id],
    customer_id: created.body.id,
    seats: 2,
  });
  assert.deepEqual([pro.status, pro.body.detail[0].loc], [422, ["body", "seats"]]);
  const team = await call("POST", "/v1/checkouts/", {
    products: [polar.teamProduct.id],
    customer_id: created.body.id,
    seats: 2,
  });
  assert.deepEqual([team.status, team.body.seats], [201, 2]);
  // Seats and member sessions.
  const seat = await call("POST", "/v1/customer-seats", {
    subscription_id: subscription.id,
    external_member_id: "user-1",
    immediate_claim: true,
  });
  assert.deepEqual([seat.body.status, seat.body.customer_id], ["claimed", created.body.id]);
  const full = await call("POST", "/v1/customer-seats", {
    subscription_id: subscription.id,
    email: "x@x.test",
  });
  assert.deepEqual([full.status, full.body.error], [400, "SeatNotAvailable"]);
  const session = await call("POST", "/v1/customer-sessions/", {
    external_customer_id: "team-2",
    external_member_id: "user-1",
  });
  assert.deepEqual([session.status, session.body.detail[0].loc], [422, [
    "body",
    "external_member_id",
  ]]);
  const mine = await call("POST", "/v1/customer-sessions/", {
    external_customer_id: "team-1",
    external_member_id: "user-1",
  });
  assert.equal(mine.status, 201);
  assert.equal(polar.sessions.get(mine.body.token)?.customerId, created.body.id);
  assert.equal((await call("GET", `/v1/customers/${other.id}/members`)).body.items.length, 1);
  const revoked = await call("DELETE", `/v1/customer-seats/${seat.body.id}`);
  assert.deepEqual([revoked.body.status, revoked.body.member_id], ["revoked", null]);
  assert.deepEqual(polar.teamWebhooks.map((w) => w.type), [
    "member.created",
    "customer_seat.claimed",
    "benefit_grant.created",
    "customer_seat.revoked",
    "benefit_grant.revoked",
  ]);
});
