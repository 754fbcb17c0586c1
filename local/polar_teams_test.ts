import assert from "node:assert/strict";
import { type models, webhooks } from "@polar-sh/sdk/2026-10";
import { HANDLED_EVENT_TYPES } from "../supabase/functions/_polar/polar_webhooks.ts";
import { serveOnLoopback } from "./loopback.ts";
import { checkoutSeats, standInProducts } from "./polar_products.ts";
import { createPolarStandIn, DEMO_PRODUCT_ID, TEAM_PRODUCT_ID } from "./polar_stand_in.ts";
import { teamCustomerModel, teamSubscriptionModel } from "./polar_team_models.ts";
import { createTeamModel, type PolarRefusal } from "./polar_teams.ts";

const SECRET = "whsec_" + btoa("local-test-secret-0123456789");

interface Received {
  type: string;
  data: Record<string, unknown>;
}

/** The stand-in in-process; every webhook it sends is checked with the SDK's validation. */
async function setup() {
  const received: Received[] = [];
  const refused: unknown[] = [];
  const receiver = await serveOnLoopback(async (request) => {
    const body = await request.text();
    try {
      const event = await webhooks.validateEvent(
        body,
        Object.fromEntries(request.headers),
        SECRET,
      );
      received.push(event as unknown as Received);
    } catch (error) {
      refused.push(error);
    }
    return new Response(null, { status: 202 });
  });
  const polar = createPolarStandIn({
    baseUrl: "http://polar.test",
    webhookUrl: receiver.url,
    webhookSecret: SECRET,
  });
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await polar.handler(
      new Request(`http://polar.test${path}`, {
        method,
        headers: { Authorization: "Bearer polar_oat_test", "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
    );
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  };
  const page = async (path: string, form?: Record<string, string>) => {
    const response = await polar.handler(
      new Request(`http://polar.test${path}`, {
        method: form ? "POST" : "GET",
        body: form ? new URLSearchParams(form) : undefined,
      }),
    );
    return {
      status: response.status,
      location: response.headers.get("Location"),
      text: await response.text(),
    };
  };
  /** A team with its owner, bought `seats` seats of the Team plan through the checkout page. */
  const team = async (name: string, seats = 3) => {
    const owner = { email: `owner@${name}.test`, external_id: crypto.randomUUID(), name: "Owner" };
    const created = await call("POST", "/v1/customers/", {
      type: "team",
      external_id: crypto.randomUUID(),
      name,
      owner,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const customer = created.body as models.CustomerTeam;
    const checkout = await call("POST", "/v1/checkouts/", {
      products: [TEAM_PRODUCT_ID],
      customer_id: customer.id,
      seats,
      success_url: "http://site.test/done",
    });
    assert.equal(checkout.status, 201, JSON.stringify(checkout.body));
    assert.equal((await page(`/checkout/${checkout.body.client_secret}/pay`, {})).status, 303);
    const subscription = [...polar.subscriptions.values()].find((s) =>
      s.customer_id === customer.id
    )!;
    return { customer, owner, subscription };
  };
  const addMember = async (teamId: string, email: string, role = "member") =>
    (await call("POST", `/v1/customers/${teamId}/members`, {
      email,
      external_id: crypto.randomUUID(),
      role,
    })).body as models.Member;
  const types = () => received.map((w) => w.type);
  const since = (mark: number) => received.slice(mark).map((w) => w.type);
  return {
    polar,
    call,
    page,
    team,
    addMember,
    received,
    refused,
    types,
    since,
    [Symbol.asyncDispose]: async () => {
      polar.close();
      await receiver[Symbol.asyncDispose]();
      // Every webhook the stand-in sent is Polar's wire format and one the endpoint asks for.
      assert.deepEqual(refused, []);
      for (const type of types()) assert.ok(HANDLED_EVENT_TYPES.includes(type as never), type);
    },
  };
}

Deno.test("a team customer is created with its owner member and found by its external id", async () => {
  await using t = await setup();
  const externalId = crypto.randomUUID();
  const owner = { email: "boss@acme.test", name: "Boss", external_id: crypto.randomUUID() };
  const created = await t.call("POST", "/v1/customers/", {
    type: "team",
    external_id: externalId,
    name: "Acme",
    owner,
  });
  assert.equal(created.status, 201);
  assert.equal(created.body.type, "team");
  assert.equal(created.body.email, null);
  assert.deepEqual(t.types(), ["member.created", "customer.created", "customer.state_changed"]);
  const member = t.received[0].data;
  assert.deepEqual(
    [member.customer_id, member.email, member.external_id, member.role],
    [created.body.id, owner.email, owner.external_id, "owner"],
  );
  for (const path of [`/v1/customers/external/${externalId}`, `/v1/customers/${created.body.id}`]) {
    const got = await t.call("GET", path);
    assert.deepEqual([got.status, got.body.type, got.body.id], [200, "team", created.body.id]);
  }
  // Polar's 422 for an external id already used, by a team or an individual.
  await t.call("POST", "/v1/customers/", { email: "u@x.test", external_id: "user-1" });
  for (const taken of [externalId, "user-1"]) {
    const again = await t.call("POST", "/v1/customers/", {
      type: "team",
      external_id: taken,
      owner: { email: "o@x.test" },
    });
    assert.equal(again.status, 422);
    assert.deepEqual(again.body.detail[0].loc, ["body", "external_id"]);
    assert.equal(again.body.detail[0].msg, "A customer with this external ID already exists.");
  }
  // A team needs an email for its owner.
  const ownerless = await t.call("POST", "/v1/customers/", { type: "team", external_id: "t2" });
  assert.equal(ownerless.status, 422);
  assert.equal(ownerless.body.detail[0].msg, "An email is required to create an owner member.");
});

Deno.test("members: create, list, get, update and delete, by id and by external id", async () => {
  await using t = await setup();
  const { customer, owner } = await t.team("acme");
  const base = `/v1/customers/${customer.id}/members`;
  const externalBase = `/v1/customers/external/${customer.external_id}/members`;
  const mark = t.received.length;
  const created = await t.call("POST", base, {
    email: "ann@acme.test",
    external_id: "ann",
    role: "billing_manager",
  });
  assert.deepEqual([created.status, created.body.role], [201, "billing_manager"]);
  // The same email again answers the same member and sends nothing.
  const again = await t.call("POST", externalBase, { email: "ANN@acme.test", external_id: "x" });
  assert.deepEqual([again.status, again.body.id], [201, created.body.id]);
  // A taken external id is Polar's unique index: an error it does not turn into a 4xx.
  assert.equal(
    (await t.call("POST", base, { email: "b@acme.test", external_id: "ann" })).status,
    500,
  );
  assert.equal((await t.call("POST", base, { email: "nope" })).status, 422);
  assert.equal((await t.call("POST", base, { email: "c@acme.test", role: "owner" })).status, 422);
  const list = await t.call("GET", `${externalBase}?role=billing_manager`);
  assert.deepEqual(list.body.items.map((m: models.Member) => m.id), [created.body.id]);
  assert.equal((await t.call("GET", base)).body.pagination.total_count, 2);
  assert.equal((await t.call("GET", `${externalBase}/ann`)).body.id, created.body.id);
  assert.equal((await t.call("GET", `${base}/${created.body.id}`)).body.email, "ann@acme.test");
  const renamed = await t.call("PATCH", `${externalBase}/ann`, { name: "Ann" });
  assert.equal(renamed.body.name, "Ann");
  // Email unique per customer; the only owner can be neither demoted nor deleted.
  const clash = await t.call("PATCH", `${base}/${created.body.id}`, { email: owner.email });
  assert.deepEqual([clash.status, clash.body.detail[0].loc], [422, ["body", "email"]]);
  const ownerRow = (await t.call("GET", `${externalBase}/${owner.external_id}`)).body;
  assert.equal((await t.call("PATCH", `${base}/${ownerRow.id}`, { role: "member" })).status, 422);
  const onlyOwner = await t.call("DELETE", `${base}/${ownerRow.id}`);
  assert.equal(onlyOwner.status, 422);
  assert.equal(
    onlyOwner.body.detail[0].msg,
    "Cannot delete the only owner. Transfer ownership first.",
  );
  // Ownership moves: the old owner becomes a billing manager.
  assert.equal(
    (await t.call("PATCH", `${externalBase}/ann`, { role: "owner" })).body.role,
    "owner",
  );
  assert.equal((await t.call("GET", `${base}/${ownerRow.id}`)).body.role, "billing_manager");
  assert.equal((await t.call("DELETE", `${base}/${ownerRow.id}`)).status, 204);
  assert.equal((await t.call("GET", `${base}/${ownerRow.id}`)).status, 404);
  assert.deepEqual(t.since(mark), [
    "member.created",
    "member.updated",
    "member.updated",
    "member.updated",
    "member.deleted",
  ]);
  const deleted = t.received.at(-1)!.data;
  assert.equal(deleted.id, ownerRow.id);
  assert.equal((await t.call("GET", `/v1/customers/${crypto.randomUUID()}/members`)).status, 404);
});

Deno.test("two teams never see each other's members or seats", async () => {
  await using t = await setup();
  const a = await t.team("a");
  const b = await t.team("b");
  const ann = await t.addMember(a.customer.id, "ann@a.test");
  const seat = (await t.call("POST", "/v1/customer-seats", {
    subscription_id: a.subscription.id,
    external_member_id: ann.external_id,
    immediate_claim: true,
  })).body as models.CustomerSeat;
  assert.equal(seat.status, "claimed");
  // Team B's paths do not reach team A's member.
  assert.equal(
    (await t.call("GET", `/v1/customers/${b.customer.id}/members/${ann.id}`)).status,
    404,
  );
  assert.equal(
    (await t.call(
      "GET",
      `/v1/customers/external/${b.customer.external_id}/members/${ann.external_id}`,
    ))
      .status,
    404,
  );
  assert.equal(
    (await t.call("DELETE", `/v1/customers/${b.customer.id}/members/${ann.id}`)).status,
    404,
  );
  const listed = (await t.call("GET", `/v1/customers/${b.customer.id}/members`)).body.items;
  assert.deepEqual(listed.map((m: models.Member) => m.email), ["owner@b.test"]);
  // A's member cannot be seated in B's subscription by A's external id, nor open B's portal.
  const foreign = await t.call("POST", "/v1/customer-seats", {
    subscription_id: b.subscription.id,
    external_member_id: ann.external_id,
  });
  assert.deepEqual([foreign.status, foreign.body.error], [404, "MemberNotFound"]);
  const session = await t.call("POST", "/v1/customer-sessions/", {
    external_customer_id: b.customer.external_id,
    external_member_id: ann.external_id,
  });
  assert.deepEqual(session.body.detail[0].loc, ["body", "external_member_id"]);
  assert.deepEqual(
    (await t.call("GET", `/v1/customer-seats?subscription_id=${b.subscription.id}`)).body.seats,
    [],
  );
  // B's owner's portal cannot revoke A's seat.
  const bOwner = await t.call("POST", "/v1/customer-sessions/", {
    external_customer_id: b.customer.external_id,
    external_member_id: b.owner.external_id,
  });
  const token = bOwner.body.token;
  assert.equal((await t.page(`/portal/${token}/revoke`, { seat_id: seat.id })).status, 303);
  assert.equal(t.polar.teamModel.seats.get(seat.id)!.status, "claimed");
  assert.doesNotMatch((await t.page(`/portal/${token}`)).text, /ann@a\.test/);
});

Deno.test("checkouts of a team take seats: required for the Team plan, refused for others", async () => {
  await using t = await setup();
  const mark = t.received.length;
  const { customer, subscription } = await t.team("acme", 4);
  assert.deepEqual(
    [subscription.seats, subscription.customer.type, subscription.customer_id, subscription.amount],
    [4, "team", customer.id, 3200],
  );
  assert.deepEqual(t.since(mark).slice(3), [
    "subscription.created",
    "subscription.active",
    "order.paid",
    "customer.state_changed",
  ]);
  // Benefits of a seat-based plan go to seat holders: none to the paying team.
  assert.deepEqual(t.received.at(-1)!.data.granted_benefits, []);
  assert.equal(t.received.at(-1)!.data.type, "team");
  const refusals = [
    [{ products: [DEMO_PRODUCT_ID], seats: 2 }, "Seats can only be set for seat-based pricing."],
    [{ products: [TEAM_PRODUCT_ID], seats: 0 }, "Minimum 1 seats required."],
    [{ products: [TEAM_PRODUCT_ID], seats: 1001 }, "Maximum 1000 seats allowed."],
  ] as const;
  for (const [body, msg] of refusals) {
    const refused = await t.call("POST", "/v1/checkouts/", { ...body, customer_id: customer.id });
    assert.equal(refused.status, 422);
    assert.deepEqual([refused.body.detail[0].loc, refused.body.detail[0].msg], [
      ["body", "seats"],
      msg,
    ]);
  }
  // Polar takes the tier's minimum when seats are left out.
  const fallback = await t.call("POST", "/v1/checkouts/", {
    products: [TEAM_PRODUCT_ID],
    customer_id: customer.id,
  });
  assert.equal(fallback.status, 201);
});

Deno.test("seats: assigned, claimed through the claim page, revoked, and a revoked seat reused", async () => {
  await using t = await setup();
  const { customer, subscription } = await t.team("acme", 2);
  const ann = await t.addMember(customer.id, "ann@acme.test");
  const list = () => t.call("GET", `/v1/customer-seats?subscription_id=${subscription.id}`);
  let mark = t.received.length;
  // By email: a pending invitation, its member found or created (Polar sends no member.* then).
  const invited = await t.call("POST", "/v1/customer-seats", {
    subscription_id: subscription.id,
    email: "bob@acme.test",
    metadata: { source: "test" },
  });
  assert.equal(invited.status, 200);
  const pending = invited.body as models.CustomerSeat;
  assert.deepEqual(
    [pending.status, pending.customer_id, pending.email, pending.member?.email],
    ["pending", customer.id, "bob@acme.test", "bob@acme.test"],
  );
  assert.ok(Date.parse(pending.invitation_token_expires_at!) > Date.now() + 23 * 3600_000);
  assert.deepEqual(t.since(mark), ["customer_seat.assigned"]);
  // Polar's 400s: a member with a seat already; no seat left.
  const twice = await t.call("POST", "/v1/customer-seats", {
    subscription_id: subscription.id,
    email: "BOB@acme.test",
  });
  assert.deepEqual([twice.status, twice.body.error], [400, "SeatAlreadyAssigned"]);
  const annSeat = await t.call("POST", "/v1/customer-seats", {
    subscription_id: subscription.id,
    external_member_id: ann.external_id,
    immediate_claim: true,
  });
  assert.equal(annSeat.body.status, "claimed");
  const full = await t.call("POST", "/v1/customer-seats", {
    subscription_id: subscription.id,
    email: "carl@acme.test",
  });
  assert.deepEqual([full.status, full.body.detail], [
    400,
    `No available seats for ${subscription.id}`,
  ]);
  assert.deepEqual(
    [(await list()).body.available_seats, (await list()).body.total_seats],
    [0, 2],
  );
  const unknown = await t.call("POST", "/v1/customer-seats", {
    subscription_id: subscription.id,
    external_member_id: "nobody",
  });
  assert.equal(unknown.status, 400, "no seat left is checked first, as Polar does");
  // Claiming: the stand-in's claim page (Polar's link, valid 24 h) claims with the token.
  const link = t.polar.claimLink(pending.id)!;
  const token = link.split("/claim/")[1];
  const info = await t.call("GET", `/v1/customer-seats/claim/${token}`);
  assert.deepEqual([info.body.customer_email, info.body.can_claim], ["bob@acme.test", true]);
  mark = t.received.length;
  const claimed = await t.page(`/claim/${token}`, {});
  assert.equal(claimed.status, 303);
  assert.match(claimed.location!, /\/portal\/polar_cst_/);
  assert.deepEqual(t.since(mark), ["customer_seat.claimed", "benefit_grant.created"]);
  const grant = t.received.at(-1)!.data;
  assert.deepEqual(
    [grant.customer_id, grant.member_id, (grant.benefit as models.Benefit).metadata],
    [customer.id, pending.member_id, { key: "pro" }],
  );
  const reclaim = await t.call("POST", "/v1/customer-seats/claim", { invitation_token: token });
  assert.deepEqual([reclaim.status, reclaim.body.error], [400, "InvalidInvitationToken"]);
  // Revoking: customer_id, member_id and email go; the grant is revoked after the seat.
  mark = t.received.length;
  const revoked = await t.call("DELETE", `/v1/customer-seats/${pending.id}`);
  assert.deepEqual(
    [revoked.body.status, revoked.body.customer_id, revoked.body.member_id, revoked.body.email],
    ["revoked", null, null, null],
  );
  assert.deepEqual(t.since(mark), ["customer_seat.revoked", "benefit_grant.revoked"]);
  assert.equal(t.received.at(-2)!.data.customer_id, null);
  assert.equal(t.received.at(-1)!.data.member_id, pending.member_id);
  assert.equal((await t.call("DELETE", `/v1/customer-seats/${pending.id}`)).body.status, "revoked");
  assert.equal(t.since(mark).length, 2, "revoking a revoked seat sends nothing");
  assert.equal((await t.call("DELETE", `/v1/customer-seats/${crypto.randomUUID()}`)).status, 404);
  // The next assignment reuses the revoked seat: same id, a new holder, a newer version.
  const reused = await t.call("POST", "/v1/customer-seats", {
    subscription_id: subscription.id,
    email: "carl@acme.test",
    external_member_id: "carl",
    immediate_claim: true,
  });
  assert.equal(reused.body.id, pending.id);
  assert.deepEqual([reused.body.status, reused.body.email, reused.body.member.external_id], [
    "claimed",
    "carl@acme.test",
    "carl",
  ]);
  assert.ok(reused.body.modified_at > revoked.body.modified_at);
  assert.deepEqual(
    (await list()).body.seats.map((s: models.CustomerSeat) => s.id).sort(),
    [
      pending.id,
      annSeat.body.id,
    ].sort(),
  );
  assert.equal((await t.call("GET", "/v1/customer-seats")).status, 400);
  assert.equal(
    (await t.call("GET", `/v1/customer-seats?subscription_id=${crypto.randomUUID()}`)).status,
    404,
  );
});

Deno.test("a removed member, an ended subscription and a deleted team revoke seats and grants", async () => {
  await using t = await setup();
  const { customer, subscription, owner } = await t.team("acme", 3);
  const members = [
    await t.addMember(customer.id, "a@acme.test"),
    await t.addMember(customer.id, "b@acme.test"),
  ];
  for (const member of members) {
    await t.call("POST", "/v1/customer-seats", {
      subscription_id: subscription.id,
      member_id: member.id,
      immediate_claim: true,
    });
  }
  let mark = t.received.length;
  assert.equal(
    (await t.call(
      "DELETE",
      `/v1/customers/external/${customer.external_id}/members/${members[0].external_id}`,
    ))
      .status,
    204,
  );
  assert.deepEqual(t.since(mark), [
    "member.deleted",
    "customer_seat.revoked",
    "benefit_grant.revoked",
  ]);
  // The owner ends the subscription from the member portal: the remaining seat goes with it.
  const session = await t.call("POST", "/v1/customer-sessions/", {
    customer_id: customer.id,
    external_member_id: owner.external_id,
  });
  mark = t.received.length;
  await t.page(`/portal/${session.body.token}/end`, {});
  assert.deepEqual(t.since(mark), [
    "subscription.updated",
    "subscription.revoked",
    "customer_seat.revoked",
    "benefit_grant.revoked",
    "customer.state_changed",
  ]);
  assert.ok([...t.polar.teamModel.grants.values()].every((g) => !g.is_granted));
  // A deleted team: its members removed, then customer.deleted.
  const other = await t.team("beta", 1);
  const seated = await t.addMember(other.customer.id, "s@beta.test");
  await t.call("POST", "/v1/customer-seats", {
    subscription_id: other.subscription.id,
    member_id: seated.id,
    immediate_claim: true,
  });
  mark = t.received.length;
  assert.equal((await t.call("DELETE", `/v1/customers/${other.customer.id}`)).status, 204);
  assert.deepEqual(t.since(mark), [
    "member.deleted",
    "member.deleted",
    "customer_seat.revoked",
    "benefit_grant.revoked",
    "subscription.updated",
    "subscription.revoked",
    "customer.state_changed",
    "customer.deleted",
    "customer.state_changed",
  ]);
  assert.equal(t.received.find((w) => w.type === "customer.deleted")!.data.type, "team");
  assert.equal((await t.call("GET", `/v1/customers/${other.customer.id}/members`)).status, 404);
});

Deno.test("member portal sessions: 422s, and what owners and members see", async () => {
  await using t = await setup();
  const { customer, owner, subscription } = await t.team("acme", 2);
  const ann = await t.addMember(customer.id, "ann@acme.test");
  const seat = (await t.call("POST", "/v1/customer-seats", {
    subscription_id: subscription.id,
    external_member_id: ann.external_id,
    immediate_claim: true,
  })).body as models.CustomerSeat;
  const session = (body: Record<string, unknown>) => t.call("POST", "/v1/customer-sessions/", body);
  const cases = [
    [
      { external_customer_id: customer.external_id, external_member_id: "nobody" },
      "external_member_id",
    ],
    [{ customer_id: customer.id, member_id: crypto.randomUUID() }, "member_id"],
    [
      { external_customer_id: "nobody", external_member_id: ann.external_id },
      "external_customer_id",
    ],
    [{ customer_id: crypto.randomUUID(), external_member_id: ann.external_id }, "customer_id"],
    [{ customer_id: customer.id }, "member_id"],
  ] as const;
  for (const [body, field] of cases) {
    const refused = await session(body);
    assert.equal(refused.status, 422);
    assert.deepEqual(refused.body.detail[0].loc, ["body", field]);
  }
  const memberSession = await session({
    external_customer_id: customer.external_id,
    external_member_id: ann.external_id,
    return_url: "http://site.test/back",
  });
  assert.equal(memberSession.status, 201);
  assert.equal(memberSession.body.customer.type, "team");
  const memberPage = await t.page(`/portal/${memberSession.body.token}`);
  assert.match(memberPage.text, /Members-only notes/);
  assert.doesNotMatch(memberPage.text, /Revoke|Cancel subscription/);
  // A member's POST changes nothing.
  await t.page(`/portal/${memberSession.body.token}/revoke`, { seat_id: seat.id });
  await t.page(`/portal/${memberSession.body.token}/end`, {});
  assert.equal(t.polar.teamModel.seats.get(seat.id)!.status, "claimed");
  assert.equal(subscription.status, "active");
  const ownerSession = await session({
    customer_id: customer.id,
    external_member_id: owner.external_id,
  });
  const ownerPage = await t.page(`/portal/${ownerSession.body.token}`);
  assert.match(ownerPage.text, /ann@acme\.test/);
  assert.match(ownerPage.text, /Cancel subscription/);
  await t.page(`/portal/${ownerSession.body.token}/revoke`, { seat_id: seat.id });
  assert.equal(t.polar.teamModel.seats.get(seat.id)!.status, "revoked");
  const mark = t.received.length;
  await t.page(`/portal/${ownerSession.body.token}/cancel`, {});
  assert.deepEqual(t.since(mark), [
    "subscription.updated",
    "subscription.canceled",
    "customer.state_changed",
  ]);
  assert.equal(subscription.cancel_at_period_end, true);
});

Deno.test("a team subscription's seats: as many as bought, the last one given, the next refused, a revoked one freed", async () => {
  const teamProduct = standInProducts().find((p) => p.id === TEAM_PRODUCT_ID)!;
  const subscriptions = new Map<string, models.Subscription>();
  const teams = new Map<string, models.CustomerTeam>();
  const model = createTeamModel({ subscriptions, teams, emit: () => {} });
  const team = teamCustomerModel({ externalId: crypto.randomUUID() });
  teams.set(team.id, team);
  const subscription = teamSubscriptionModel(team, teamProduct, 2);
  subscriptions.set(subscription.id, subscription);
  const price = checkoutSeats(teamProduct, 2);
  if (price.refusal) throw new Error(price.refusal.msg);
  assert.deepEqual(
    [subscription.status, subscription.seats, subscription.customer_id, subscription.amount],
    ["active", 2, team.id, price.amount],
  );
  const assign = (email: string) =>
    model.assignSeat({ subscription_id: subscription.id, email, immediate_claim: true });
  const counts = () => {
    const { available_seats, total_seats } = model.seatsList(subscription);
    return [available_seats, total_seats];
  };
  assert.deepEqual(counts(), [2, 2]);
  await assign("ann@team.test");
  assert.deepEqual(counts(), [1, 2]);
  const last = await assign("bob@team.test");
  assert.deepEqual(counts(), [0, 2]);
  await assert.rejects(assign("cy@team.test"), (error: PolarRefusal) => {
    assert.deepEqual([error.status, error.body.error], [400, "SeatNotAvailable"]);
    return true;
  });
  await model.revokeSeat(last);
  assert.deepEqual(counts(), [1, 2]);
  assert.equal((await assign("cy@team.test")).id, last.id, "the revoked seat is reused");
  assert.deepEqual(counts(), [0, 2]);
});
