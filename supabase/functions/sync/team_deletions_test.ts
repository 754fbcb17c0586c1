import assert from "node:assert/strict";
import { loadSyncFunctionConfig } from "../_polar/config.ts";
import type { Database } from "../../../local/database.ts";
import { serveOnLoopback } from "../../../local/loopback.ts";
import { insertUser } from "../tests/support/database.ts";
import { TEST_SYNC_SECRET } from "../tests/support/refused_tokens.ts";
import { createTestSupabase } from "../tests/support/supabase_stand_in.ts";
import { createSyncDependencies, createSyncHandler } from "./handler.ts";

/** A Polar member and a seat, as the fake keeps them. */
interface FakeMember {
  id: string;
  customer_id: string;
  external_id: string | null;
  role: "owner" | "billing_manager" | "member";
  deleted: boolean;
}
interface FakeSeat {
  id: string;
  subscription_id: string;
  customer_id: string | null;
  member_id: string | null;
  status: "pending" | "claimed" | "revoked";
}

const AT = "2026-11-01T00:00:00Z";

/**
 * Polar's team routes the deletion pass calls, on loopback, in Polar's wire format (see
 * `server/polar/customer_seat/endpoints.py` and `server/polar/member/endpoints.py`): the seats of
 * a subscription, revoking a seat (which clears its holder), deleting a member (404 when there is
 * none, 422 for a team's only owner; deleting a member revokes its seats, as Polar's job does).
 */
async function startPolarTeams() {
  const members = new Map<string, FakeMember>();
  const seats = new Map<string, FakeSeat>();
  const requests: string[] = [];
  const state = { failing: false };
  const seatJson = (seat: FakeSeat) => ({
    ...seat,
    order_id: null,
    email: null,
    claimed_at: seat.status === "claimed" ? AT : null,
    revoked_at: seat.status === "revoked" ? AT : null,
    created_at: AT,
    modified_at: AT,
    seat_metadata: null,
    customer_email: null,
    member: null,
  });
  const notFound = (what: string) =>
    Response.json({ error: "ResourceNotFound", detail: `${what} not found` }, { status: 404 });
  const revoke = (seat: FakeSeat) =>
    Object.assign(seat, { status: "revoked", customer_id: null, member_id: null });
  const server = await serveOnLoopback((request) => {
    const url = new URL(request.url);
    const route = `${request.method} ${url.pathname}`;
    requests.push(route);
    if (state.failing) return Promise.resolve(new Response("Bad Gateway", { status: 502 }));
    let match;
    if (route.startsWith("DELETE /v1/customers/external/")) {
      return Promise.resolve(notFound("Customer")); // the deleted users had no customer of their own
    }
    if (route === "GET /v1/customer-seats") {
      const id = url.searchParams.get("subscription_id");
      const listed = [...seats.values()].filter((seat) => seat.subscription_id === id);
      if (listed.length === 0) return Promise.resolve(notFound("Subscription"));
      return Promise.resolve(Response.json({
        seats: listed.map(seatJson),
        available_seats: listed.filter((seat) => seat.status === "revoked").length,
        total_seats: listed.length,
      }));
    }
    if ((match = route.match(/^DELETE \/v1\/customer-seats\/([^/]+)$/))) {
      const seat = seats.get(match[1]);
      if (!seat) return Promise.resolve(notFound("Seat"));
      return Promise.resolve(Response.json(seatJson(revoke(seat))));
    }
    if ((match = route.match(/^DELETE \/v1\/customers\/([^/]+)\/members\/([^/]+)$/))) {
      const member = members.get(match[2]);
      if (!member || member.deleted || member.customer_id !== match[1]) {
        return Promise.resolve(notFound("Member"));
      }
      const owners = [...members.values()].filter((m) =>
        m.customer_id === member.customer_id && !m.deleted && m.role === "owner"
      );
      if (member.role === "owner" && owners.length <= 1) {
        return Promise.resolve(Response.json({
          detail: [{
            type: "value_error",
            loc: ["body"],
            msg: "Cannot delete the only owner. Transfer ownership first.",
            input: member.id,
          }],
        }, { status: 422 }));
      }
      member.deleted = true;
      for (const seat of seats.values()) if (seat.member_id === member.id) revoke(seat);
      return Promise.resolve(new Response(null, { status: 204 }));
    }
    return Promise.resolve(notFound("Route"));
  });
  return { url: server.url, members, seats, requests, state, server };
}

/** A change through `public.apply_polar_team_change`, as the webhooks store it. */
async function apply(db: Database, kind: string, object: Record<string, unknown>) {
  await db.query("select public.apply_polar_team_change($1::jsonb)", [
    JSON.stringify({ kind, object: { created_at: AT, modified_at: AT, ...object } }),
  ], { role: "service_role", claims: { role: "service_role" } });
}

async function setup() {
  const supabase = await createTestSupabase("loopback");
  const polar = await startPolarTeams();
  const env: Record<string, string> = {
    SUPABASE_URL: supabase.url,
    SUPABASE_ANON_KEY: supabase.anonKey,
    SUPABASE_SERVICE_ROLE_KEY: supabase.serviceRoleKey,
    POLAR_ACCESS_TOKEN: "polar_oat_sync",
    POLAR_API_URL: polar.url,
    POLAR_SYNC_RATE_PER_MINUTE: "60000",
    POLAR_SYNC_SECRET: TEST_SYNC_SECRET,
    SITE_URL: "https://app.example.com",
  };
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (message: string) => warnings.push(message);
  const handler = createSyncHandler({
    ...createSyncDependencies(loadSyncFunctionConfig((name) => env[name])),
    log: () => {},
  });
  const db = supabase.db;
  /** A team with its subscription, as Polar and the database both hold it. */
  const team = async (customerId: string) => {
    const teamId = crypto.randomUUID();
    await apply(db, "team_customer", { id: customerId, type: "team", external_id: teamId });
    await apply(db, "subscription", {
      id: `sub_${customerId}`,
      customer_id: customerId,
      status: "active",
      seats: 3,
    });
    return teamId;
  };
  /** A member of a team with a claimed seat and the "pro" grant. */
  const seated = async (
    customerId: string,
    userId: string,
    memberId: string,
    role: FakeMember["role"] = "member",
  ) => {
    polar.members.set(memberId, {
      id: memberId,
      customer_id: customerId,
      external_id: userId,
      role,
      deleted: false,
    });
    const seat: FakeSeat = {
      id: `seat_${memberId}`,
      subscription_id: `sub_${customerId}`,
      customer_id: customerId,
      member_id: memberId,
      status: "claimed",
    };
    polar.seats.set(seat.id, seat);
    await apply(db, "member", { id: memberId, customer_id: customerId, external_id: userId, role });
    await apply(db, "seat", { ...seat, order_id: null });
    await apply(db, "grant", {
      id: `grant_${memberId}`,
      customer_id: customerId,
      member_id: memberId,
      benefit_id: "ben_pro",
      subscription_id: seat.subscription_id,
      is_granted: true,
      benefit: { metadata: { key: "pro" } },
    });
    return seat;
  };
  const holds = async (userId: string, teamId: string) =>
    (await db.query<{ held: boolean }>(
      "select public.has_team_entitlement($1, 'pro') as held",
      [teamId],
      { role: "authenticated", claims: { sub: userId, role: "authenticated" } },
    ))[0].held;
  const deletions = async () => {
    const response = await handler(
      new Request("http://localhost/functions/v1/sync", {
        method: "POST",
        headers: {
          Authorization: `Bearer ${TEST_SYNC_SECRET}`,
          "Content-Type": "application/json",
        },
        body: JSON.stringify({ scope: "deletions" }),
      }),
    );
    const body = await response.json();
    assert.equal(response.status, 200, JSON.stringify(body));
    return body;
  };
  const outbox = () =>
    db.query<{ polar_id: string; attempts: number; outcome: string | null; done: boolean }>(
      "select polar_id, attempts, outcome, completed_at is not null as done from polar.team_deletions order by polar_id",
    );
  return {
    db,
    polar,
    team,
    seated,
    holds,
    deletions,
    outbox,
    warnings,
    async [Symbol.asyncDispose]() {
      console.warn = warn;
      await polar.server.shutdown();
      await supabase[Symbol.asyncDispose]();
    },
  };
}

const ZERO = { seats_revoked: 0, members_deleted: 0, absent: 0, owners_kept: 0, failed: 0 };

Deno.test("deleting a user with seats in two teams revokes both seats and deletes both members through the outbox, retried until Polar confirms", async () => {
  await using t = await setup();
  const teamA = await t.team("cus_a");
  const teamB = await t.team("cus_b");
  const max = await insertUser(t.db);
  const quinn = await insertUser(t.db);
  const maxA = await t.seated("cus_a", max, "mem_max_a");
  const maxB = await t.seated("cus_b", max, "mem_max_b");
  const quinnB = await t.seated("cus_b", quinn, "mem_quinn");
  assert.ok(await t.holds(max, teamA) && await t.holds(max, teamB) && await t.holds(quinn, teamB));

  await t.db.query("delete from auth.users where id = $1", [max]);
  assert.equal(await t.holds(max, teamA), false, "access ends in the deleting transaction");
  assert.equal(await t.holds(max, teamB), false);
  assert.equal(await t.holds(quinn, teamB), true, "the other user of team B keeps access");

  t.polar.state.failing = true;
  const failing = await t.deletions();
  assert.deepEqual(failing.teams, { ...ZERO, failed: 4 });
  assert.equal(maxA.status, "claimed", "nothing lost while Polar is down");
  assert.ok((await t.outbox()).every((row) => row.attempts === 1 && !row.done));

  t.polar.state.failing = false;
  const done = await t.deletions();
  assert.deepEqual(done.teams, { ...ZERO, seats_revoked: 2, members_deleted: 2 });
  assert.equal(maxA.status, "revoked");
  assert.equal(maxB.status, "revoked");
  assert.ok(t.polar.members.get("mem_max_a")!.deleted && t.polar.members.get("mem_max_b")!.deleted);
  assert.equal(quinnB.status, "claimed", "Quinn's seat is untouched");
  assert.equal(t.polar.members.get("mem_quinn")!.deleted, false);
  assert.deepEqual(
    (await t.outbox()).map((row) => [row.polar_id, row.attempts, row.outcome, row.done]),
    [
      ["mem_max_a", 2, "deleted", true],
      ["mem_max_b", 2, "deleted", true],
      ["seat_mem_max_a", 2, "revoked", true],
      ["seat_mem_max_b", 2, "revoked", true],
    ],
  );
  assert.deepEqual((await t.deletions()).teams, ZERO, "a third pass has nothing to do");
});

Deno.test("a soft-deleted user's seats are revoked and their members deleted too", async () => {
  await using t = await setup();
  const teamA = await t.team("cus_a");
  const pia = await insertUser(t.db);
  const seat = await t.seated("cus_a", pia, "mem_pia");
  await t.db.query("update auth.users set deleted_at = now() where id = $1", [pia]);
  assert.equal(await t.holds(pia, teamA), false, "a soft delete ends access at once");
  assert.deepEqual((await t.deletions()).teams, { ...ZERO, seats_revoked: 1, members_deleted: 1 });
  assert.equal(seat.status, "revoked");
});

Deno.test("the team's only owner: its seat is revoked, the member is kept and reported, and tried again later", async () => {
  await using t = await setup();
  const teamA = await t.team("cus_a");
  const olive = await insertUser(t.db);
  const max = await insertUser(t.db);
  const oliveSeat = await t.seated("cus_a", olive, "mem_olive", "owner");
  await t.seated("cus_a", max, "mem_max");
  await t.db.query("delete from auth.users where id = $1", [olive]);
  assert.equal(await t.holds(olive, teamA), false);

  const report = await t.deletions();
  assert.deepEqual(report.teams, { ...ZERO, seats_revoked: 1, owners_kept: 1 });
  assert.equal(oliveSeat.status, "revoked", "the owner's seat is revoked");
  assert.equal(t.polar.members.get("mem_olive")!.deleted, false, "Polar keeps its only owner");
  assert.ok(t.warnings.some((w) => w.includes("mem_olive") && w.includes("only owner")));
  assert.equal(await t.holds(max, teamA), true, "the team's other member keeps access");
  const [kept] = (await t.outbox()).filter((row) => row.polar_id === "mem_olive");
  assert.deepEqual([kept.outcome, kept.done], ["owner_kept", false]);
  assert.deepEqual((await t.deletions()).teams, ZERO, "not retried within the hour");

  // Ownership moves to Max; an hour on, the next pass deletes the old owner.
  t.polar.members.get("mem_max")!.role = "owner";
  await t.db.query(
    "update polar.team_deletions set last_attempt_at = now() - interval '2 hours' where polar_id = 'mem_olive'",
  );
  assert.deepEqual((await t.deletions()).teams, { ...ZERO, members_deleted: 1 });
  assert.ok(t.polar.members.get("mem_olive")!.deleted);
});

Deno.test("a deleted user's seat that Polar has since given to someone else is left alone", async () => {
  await using t = await setup();
  await t.team("cus_a");
  const max = await insertUser(t.db);
  const seat = await t.seated("cus_a", max, "mem_max");
  await t.db.query("delete from auth.users where id = $1", [max]);
  // Before the pass: an owner revoked Max's seat in Polar and Polar reused it for Ray.
  Object.assign(seat, { status: "claimed", member_id: "mem_ray", customer_id: "cus_a" });
  t.polar.members.set("mem_ray", {
    id: "mem_ray",
    customer_id: "cus_a",
    external_id: crypto.randomUUID(),
    role: "member",
    deleted: false,
  });
  const report = await t.deletions();
  assert.deepEqual(report.teams, { ...ZERO, absent: 1, members_deleted: 1 });
  assert.deepEqual([seat.status, seat.member_id], ["claimed", "mem_ray"], "Ray keeps the seat");
  assert.ok(
    !t.polar.requests.some((route) => route.startsWith("DELETE /v1/customer-seats/")),
    "no revoke was sent",
  );
  const outcomes = (await t.outbox()).map((row) => [row.polar_id, row.outcome]);
  assert.deepEqual(outcomes, [["mem_max", "deleted"], ["seat_mem_max", "not_held"]]);
});

Deno.test("a seat or member Polar no longer has is done on 404", async () => {
  await using t = await setup();
  await t.team("cus_a");
  const max = await insertUser(t.db);
  await t.seated("cus_a", max, "mem_max");
  t.polar.seats.clear();
  t.polar.members.clear();
  await t.db.query("delete from auth.users where id = $1", [max]);
  const r = await t.deletions();
  assert.deepEqual(r.teams, { ...ZERO, absent: 2 });
  assert.ok((await t.outbox()).every((row) => row.done && row.outcome === "absent"));
});
