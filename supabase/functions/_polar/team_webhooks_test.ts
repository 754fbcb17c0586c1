import assert from "node:assert/strict";
import { teamChangeOf, teamChangeProblem } from "./team_webhooks.ts";

const AT = "2026-11-02T00:00:00Z";
const seat = {
  id: "seat_1",
  created_at: AT,
  modified_at: AT,
  subscription_id: "sub_1",
  order_id: null,
  status: "claimed",
  customer_id: "cus_team",
  member_id: "mem_1",
  member: { id: "mem_1", email: "max@example.com", external_id: "u1" },
  email: null,
  customer_email: "max@example.com",
  invitation_token_expires_at: null,
  claimed_at: AT,
  revoked_at: null,
  seat_metadata: { note: "x" },
};

Deno.test("a seat event carries the seat, without the member or its metadata", () => {
  for (const type of ["customer_seat.assigned", "customer_seat.claimed", "customer_seat.revoked"]) {
    assert.deepEqual(teamChangeOf(type, seat), {
      kind: "seat",
      object: {
        id: "seat_1",
        customer_id: "cus_team",
        member_id: "mem_1",
        subscription_id: "sub_1",
        order_id: null,
        status: "claimed",
        email: null,
        claimed_at: AT,
        revoked_at: null,
        created_at: AT,
        modified_at: AT,
      },
    });
  }
});

Deno.test("member events: created and updated store, deleted removes", () => {
  const member = {
    id: "mem_1",
    customer_id: "cus_team",
    external_id: "u1",
    role: "member",
    email: "max@example.com",
    name: "Max",
    created_at: AT,
    modified_at: null,
  };
  const kept = {
    id: "mem_1",
    customer_id: "cus_team",
    external_id: "u1",
    role: "member",
    created_at: AT,
    modified_at: null,
  };
  assert.deepEqual(teamChangeOf("member.created", member), { kind: "member", object: kept });
  assert.deepEqual(teamChangeOf("member.updated", member), { kind: "member", object: kept });
  assert.deepEqual(teamChangeOf("member.deleted", member), {
    kind: "member_deleted",
    object: kept,
  });
});

Deno.test("a grant is a team change only with a member, and carries only the benefit's key", () => {
  const grant = {
    id: "grant_1",
    customer_id: "cus_team",
    member_id: "mem_1",
    benefit_id: "ben_pro",
    subscription_id: "sub_1",
    is_granted: true,
    is_revoked: false,
    properties: { license_key: "secret" },
    benefit: { id: "ben_pro", description: "Pro", metadata: { key: "pro", internal: "x" } },
    created_at: AT,
    modified_at: AT,
  };
  assert.deepEqual(teamChangeOf("benefit_grant.revoked", grant), {
    kind: "grant",
    object: {
      id: "grant_1",
      customer_id: "cus_team",
      member_id: "mem_1",
      benefit_id: "ben_pro",
      subscription_id: "sub_1",
      is_granted: true,
      is_revoked: false,
      created_at: AT,
      modified_at: AT,
      benefit: { metadata: { key: "pro" } },
    },
  });
  assert.equal(teamChangeOf("benefit_grant.created", { ...grant, member_id: null }), null);
  assert.deepEqual(
    teamChangeOf("benefit_grant.created", { ...grant, benefit: { metadata: {} } })?.object.benefit,
    { metadata: {} },
  );
});

Deno.test("customers and subscriptions are team changes only for a team customer", () => {
  const team = {
    id: "cus_team",
    type: "team",
    external_id: "team-1",
    email: "x@example.com",
    created_at: AT,
    modified_at: AT,
    deleted_at: null,
  };
  assert.deepEqual(teamChangeOf("customer.updated", team)?.object, {
    id: "cus_team",
    type: "team",
    external_id: "team-1",
    deleted_at: null,
    created_at: AT,
    modified_at: AT,
  });
  assert.equal(teamChangeOf("customer.deleted", team)?.object.deleted_at, AT, "deleted, always");
  assert.equal(teamChangeOf("customer.updated", { ...team, type: "individual" }), null);
  assert.equal(teamChangeOf("customer.state_changed", team), null);

  const subscription = {
    id: "sub_1",
    customer_id: "cus_team",
    product_id: "prod_team",
    status: "active",
    seats: 3,
    current_period_end: AT,
    cancel_at_period_end: false,
    ended_at: null,
    amount: 3000,
    customer: team,
    created_at: AT,
    modified_at: AT,
  };
  assert.deepEqual(teamChangeOf("subscription.active", subscription)?.object, {
    id: "sub_1",
    customer_id: "cus_team",
    product_id: "prod_team",
    status: "active",
    seats: 3,
    current_period_end: AT,
    cancel_at_period_end: false,
    ended_at: null,
    created_at: AT,
    modified_at: AT,
  });
  assert.equal(
    teamChangeOf("subscription.active", { ...subscription, customer: { type: "individual" } }),
    null,
  );
});

Deno.test("anything else carries no team change", () => {
  assert.equal(teamChangeOf("order.paid", { id: "o" }), null);
  assert.equal(teamChangeOf("customer_seat.claimed", null), null);
  assert.equal(teamChangeOf("customer_seat.claimed", [seat]), null);
});

Deno.test("a team change must name its customer, except a revoked seat", () => {
  const at = "2026-11-01T00:00:00Z";
  const seatOf = (status: string, customer: string | null) => ({
    kind: "seat" as const,
    object: { id: "seat_1", created_at: at, status, customer_id: customer },
  });
  assert.equal(teamChangeProblem(seatOf("claimed", "cus_team")), undefined);
  assert.equal(teamChangeProblem(seatOf("revoked", null)), undefined, "Polar clears it on revoke");
  assert.equal(teamChangeProblem(seatOf("claimed", null)), "Event data has no customer_id");
  assert.equal(teamChangeProblem(seatOf("pending", null)), "Event data has no customer_id");
  assert.equal(
    teamChangeProblem({
      kind: "member",
      object: { id: "mem_1", created_at: at, role: "member", customer_id: null },
    }),
    "Event data has no customer_id",
  );
  assert.equal(
    teamChangeProblem({ kind: "team_customer", object: { id: "cus_team", created_at: at } }),
    undefined,
  );
});
