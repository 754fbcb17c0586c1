import assert from "node:assert/strict";
import type { Database } from "../../../local/database.ts";
import { createPolarClient } from "../_polar/polar.ts";
import { createPolarPacer } from "../_polar/polar_pacer.ts";
import { createServerClient } from "../_polar/supabase.ts";
import { insertUser } from "../tests/support/database.ts";
import { createTestSupabase } from "../tests/support/supabase_stand_in.ts";
import type { PolarPage, ReconcileReport } from "./reconcile.ts";
import { createReconciler } from "./reconcile.ts";
import { createReconcileWiring } from "./reconcile_wiring.ts";

const AT = "2026-11-01T00:00:00Z";
const LATER = "2026-11-02T00:00:00Z";

/** Polar's objects of one team, as its list endpoints answer them. */
interface PolarTeam {
  customer: Record<string, unknown>;
  members: Record<string, unknown>[];
  subscriptions: Record<string, unknown>[];
  seats: Record<string, Record<string, unknown>[]>;
  grants: Record<string, unknown>[];
}

const teamCustomer = (id: string, teamId: string) => ({
  id,
  type: "team",
  external_id: teamId,
  email: `${id}@example.com`,
  name: id,
  metadata: {},
  created_at: AT,
  modified_at: null,
  deleted_at: null,
});
const member = (id: string, customerId: string, userId: string, role = "member") => ({
  id,
  customer_id: customerId,
  external_id: userId,
  role,
  email: `${id}@example.com`,
  name: null,
  created_at: AT,
  modified_at: null,
});
const subscription = (customer: Record<string, unknown>) => ({
  id: `sub_${customer.id}`,
  customer_id: customer.id,
  customer,
  product_id: "prod_team",
  status: "active",
  seats: 3,
  current_period_end: "2026-12-31T00:00:00Z",
  cancel_at_period_end: false,
  ended_at: null,
  created_at: AT,
  modified_at: null,
});
const seat = (memberId: string, customerId: string, status = "claimed", modified = LATER) => ({
  id: `seat_${memberId}`,
  subscription_id: `sub_${customerId}`,
  order_id: null,
  customer_id: status === "revoked" ? null : customerId,
  member_id: status === "revoked" ? null : memberId,
  member: null,
  email: null,
  customer_email: null,
  status,
  claimed_at: status === "claimed" ? LATER : null,
  revoked_at: status === "revoked" ? modified : null,
  seat_metadata: null,
  created_at: AT,
  modified_at: modified,
});
const grant = (memberId: string, customer: Record<string, unknown>) => ({
  id: `grant_${memberId}`,
  customer_id: customer.id,
  customer,
  member_id: memberId,
  member: null,
  benefit_id: "ben_pro",
  benefit: { id: "ben_pro", type: "feature_flag", metadata: { key: "pro" } },
  subscription_id: `sub_${customer.id}`,
  order_id: null,
  is_granted: true,
  is_revoked: false,
  granted_at: LATER,
  revoked_at: null,
  properties: {},
  error: null,
  created_at: LATER,
  modified_at: null,
});

/** A whole team in Polar: a subscription, and for each member a claimed seat and "pro". */
function polarTeam(customerId: string, teamId: string, users: [string, string][]): PolarTeam {
  const customer = teamCustomer(customerId, teamId);
  return {
    customer,
    members: users.map(([id, user]) => member(id, customerId, user)),
    subscriptions: [subscription(customer)],
    seats: { [`sub_${customerId}`]: users.map(([id]) => seat(id, customerId)) },
    grants: users.map(([id]) => grant(id, customer)),
  };
}

const page = (items: Record<string, unknown>[], number: number, limit: number): PolarPage => ({
  items: items.slice((number - 1) * limit, number * limit),
  maxPage: Math.max(1, Math.ceil(items.length / limit)),
  totalCount: items.length,
});

/**
 * The reconcile with its production database wiring (every RPC through the Supabase stand-in's
 * PostgREST to the real SQL) and Polar as in-memory lists answering Polar's objects.
 */
async function setup(options: { budgetMs?: number } = {}) {
  const supabase = await createTestSupabase();
  const admin = createServerClient(supabase.url, supabase.serviceRoleKey, {
    fetch: supabase.fetch,
  });
  const teams = new Map<string, PolarTeam>();
  /** Customers Polar still has that its listing leaves out (a page shifted while it was read). */
  const unlisted = new Map<string, Record<string, unknown>>();
  /** Customers the customers pages still list but Polar deleted before the team phase. */
  const deletedSince = new Set<string>();
  const calls: string[] = [];
  const deps = createReconcileWiring({
    rpc: async <T>(name: string, args: Record<string, unknown> = {}) => {
      const { data, error } = await admin.rpc(name, args);
      if (error) throw new Error(`${name} failed: ${error.message}`);
      return data as T;
    },
    polar: createPolarClient({
      accessToken: "polar_oat_x",
      server: "sandbox",
      apiUrl: "http://127.0.0.1:9",
    }),
    pacer: createPolarPacer({ perMinute: 1e9 }),
    processDeletions: () => Promise.resolve({ deleted: 0, absent: 0, failed: 0 }),
    budgetMs: options.budgetMs ?? 60_000,
    pageSize: 2,
  });
  const customers = () => [...teams.values()].map((team) => team.customer);
  deps.polar = {
    listPage: (list, number, limit) =>
      Promise.resolve(page(list === "customer" ? customers() : [], number, limit)),
    listEnded: (number, limit) => Promise.resolve(page([], number, limit)),
    getState: () => Promise.resolve(null),
    getStateByExternalId: () => Promise.resolve(null),
    getSubscription: () => Promise.resolve(null),
    listWebhookEndpoints: () => Promise.resolve([]),
  };
  const of = (id: string) => {
    const team = deletedSince.has(id) ? undefined : teams.get(id);
    if (!team) throw Object.assign(new Error("Customer not found"), { statusCode: 404 });
    return team;
  };
  deps.teams!.polar = {
    listMembers: (id, number, limit) => {
      calls.push(`members ${id} ${number}`);
      return Promise.resolve(page(of(id).members, number, limit));
    },
    listSubscriptions: (id, number, limit) => {
      calls.push(`subscriptions ${id} ${number}`);
      return Promise.resolve(page(of(id).subscriptions, number, limit));
    },
    listSeats: (subscriptionId) => {
      calls.push(`seats ${subscriptionId}`);
      const team = [...teams.values()].find((t) => subscriptionId in t.seats);
      return Promise.resolve(team ? team.seats[subscriptionId] : null);
    },
    listGrants: (id, number, limit) => {
      calls.push(`grants ${id} ${number}`);
      return Promise.resolve(page(of(id).grants, number, limit));
    },
    getCustomer: (id) => {
      calls.push(`customer ${id}`);
      return Promise.resolve(teams.get(id)?.customer ?? unlisted.get(id) ?? null);
    },
  };
  const warnings: string[] = [];
  deps.warn = (message) => warnings.push(message);
  const reconcile = createReconciler(deps);
  const db = supabase.db;
  /** Stores Polar's team as its webhooks would have. */
  const storeAsWebhooks = async (team: PolarTeam) => {
    const changes = [
      { kind: "team_customer", object: team.customer },
      ...team.members.map((object) => ({ kind: "member", object })),
      ...team.subscriptions.map((object) => ({ kind: "subscription", object })),
      ...Object.values(team.seats).flat().map((object) => ({ kind: "seat", object })),
      ...team.grants.map((object) => ({ kind: "grant", object })),
    ];
    for (const change of changes) await applyChange(db, change);
  };
  const holds = async (userId: string, teamId: string) =>
    (await db.query<{ held: boolean }>(
      "select public.has_team_entitlement($1, 'pro') as held",
      [teamId],
      { role: "authenticated", claims: { sub: userId, role: "authenticated" } },
    ))[0].held;
  const runToEnd = async () => {
    let report: ReconcileReport = await reconcile({ resumeOnly: false });
    for (let i = 0; i < 50 && report.status === "partial"; i++) {
      report = await reconcile({ resumeOnly: true });
    }
    assert.equal(report.status, "done");
    return report;
  };
  return {
    db,
    teams,
    unlisted,
    deletedSince,
    calls,
    warnings,
    reconcile,
    runToEnd,
    storeAsWebhooks,
    holds,
    [Symbol.asyncDispose]: () => supabase[Symbol.asyncDispose](),
  };
}

async function applyChange(db: Database, change: { kind: string; object: unknown }) {
  await db.query("select public.apply_polar_team_change($1::jsonb)", [JSON.stringify(change)], {
    role: "service_role",
    claims: { role: "service_role" },
  });
}

/** Two teams stored by their webhooks, a third Polar deleted (its webhook lost), a fourth never
 * stored; then Polar changes behind the webhooks' back. */
async function scenario(t: Awaited<ReturnType<typeof setup>>) {
  const [olive, max, pia, quinn, ray, sam] = await Promise.all(
    Array.from({ length: 6 }, () => insertUser(t.db)),
  );
  const ids = {
    a: crypto.randomUUID(),
    b: crypto.randomUUID(),
    c: crypto.randomUUID(),
    d: crypto.randomUUID(),
  };
  const a = polarTeam("cus_a", ids.a, [["mem_olive", olive], ["mem_max", max], ["mem_pia", pia]]);
  a.members[0].role = "owner";
  const b = polarTeam("cus_b", ids.b, [["mem_quinn", quinn]]);
  const c = polarTeam("cus_c", ids.c, [["mem_ray", ray]]);
  const d = polarTeam("cus_d", ids.d, [["mem_sam", sam]]);
  for (const team of [a, b, c]) await t.storeAsWebhooks(team);
  for (const team of [a, b, d]) t.teams.set(String(team.customer.id), team);
  return { users: { olive, max, pia, quinn, ray, sam }, ids, a, b, c, d };
}

Deno.test("the reconcile stores two teams as Polar lists them and removes what Polar no longer has", async () => {
  await using t = await setup();
  const { users, ids, a, b } = await scenario(t);
  assert.ok(await t.holds(users.pia, ids.a) && await t.holds(users.ray, ids.c));
  // Polar, webhooks lost: Pia left team A (her member, seat and grant are gone from the lists);
  // Olive's seat was revoked; team C was deleted; team D was bought.
  a.members = a.members.filter((m) => m.id !== "mem_pia");
  a.seats.sub_cus_a = a.seats.sub_cus_a.filter((s) => s.id !== "seat_mem_pia");
  a.grants = a.grants.filter((g) => g.member_id !== "mem_pia");
  a.seats.sub_cus_a[0] = seat("mem_olive", "cus_a", "revoked", "2026-11-20T00:00:00Z");
  // A webhook newer than what Polar's listing answers: team B's subscription canceled.
  await applyChange(t.db, {
    kind: "subscription",
    object: { ...b.subscriptions[0], status: "canceled", modified_at: "2030-01-01T00:00:00Z" },
  });

  const report = await t.runToEnd();
  assert.deepEqual(
    [
      report.teams,
      report.team_members_removed,
      report.team_seats_revoked,
      report.team_grants_revoked,
      report.teams_deleted,
      report.failures,
    ],
    [3, 1, 1, 1, 1, 0],
  );
  assert.equal(await t.holds(users.max, ids.a), true, "Max keeps pro");
  assert.equal(await t.holds(users.pia, ids.a), false, "a member gone from Polar's list loses it");
  assert.equal(await t.holds(users.olive, ids.a), false, "a revoked seat takes it away");
  assert.equal(await t.holds(users.quinn, ids.b), false, "the newer webhook is not undone");
  assert.equal(await t.holds(users.ray, ids.c), false, "a deleted team's rows go");
  assert.equal(await t.holds(users.sam, ids.d), true, "a team the webhooks missed is stored");
  const [{ n }] = await t.db.query<{ n: number }>(
    "select count(*)::int as n from public.polar_team_members where team_id = $1",
    [ids.c],
  );
  assert.equal(n, 0);
  const [pia] = await t.db.query<{ removed: boolean }>(
    "select removed from public.polar_team_members where polar_member_id = 'mem_pia'",
  );
  assert.equal(pia.removed, true);
  assert.ok(t.calls.includes("customer cus_c"), "the unlisted team is looked up before it goes");
  assert.ok(!t.calls.includes("customer cus_a"), "a listed team is not looked up again");

  // Pia joins again in Polar under a new member: the next run brings her back; the old member
  // stays removed.
  a.members.push(member("mem_pia2", "cus_a", users.pia));
  a.seats.sub_cus_a.push(seat("mem_pia2", "cus_a"));
  a.grants.push(grant("mem_pia2", a.customer));
  const again = await t.runToEnd();
  assert.deepEqual([again.teams, again.team_members_removed, again.teams_deleted], [3, 0, 0]);
  assert.equal(await t.holds(users.pia, ids.a), true);
});

Deno.test("the reconcile removes nothing of a team whose list Polar failed to answer", async () => {
  await using t = await setup();
  const { users, ids, a } = await scenario(t);
  a.members = a.members.filter((m) => m.id !== "mem_pia");
  a.seats.sub_cus_a = a.seats.sub_cus_a.filter((s) => s.id !== "seat_mem_pia");
  const seats = a.seats;
  a.seats = {}; // the seats listing of team A answers 404
  const report = await t.runToEnd();
  assert.equal(report.team_seats_revoked, 0, "seats not read: none revoked");
  assert.equal(report.team_members_removed, 1, "the members list was read whole");
  assert.equal(report.failures, 1, "the team is counted as a failure");
  assert.ok(t.warnings.some((w) => w.includes("sub_cus_a")));
  assert.equal(await t.holds(users.pia, ids.a), false, "Pia's member is removed all the same");
  a.seats = seats;
});

Deno.test("the team phases resume across calls when the budget is spent", async () => {
  await using t = await setup({ budgetMs: 0 });
  const { users, ids } = await scenario(t);
  const report = await t.runToEnd();
  assert.equal(report.teams, 3);
  assert.equal(report.teams_deleted, 1);
  assert.equal(await t.holds(users.sam, ids.d), true);
  assert.equal(await t.holds(users.ray, ids.c), false);
});

Deno.test("a stored team the listing left out but Polar still has is kept", async () => {
  await using t = await setup();
  const { users, ids, c } = await scenario(t);
  t.unlisted.set("cus_c", c.customer); // not on any page, yet Polar answers it by id
  const report = await t.runToEnd();
  assert.equal(report.teams_deleted, 0);
  assert.ok(t.calls.includes("customer cus_c"));
  assert.equal(await t.holds(users.ray, ids.c), true, "Ray keeps team C's pro");
});

Deno.test("a member Polar lists for a user deleted while the team's webhooks were lost is queued for deletion", async () => {
  await using t = await setup();
  const { a } = await scenario(t);
  const ted = await insertUser(t.db);
  a.members.push(member("mem_ted", "cus_a", ted));
  a.seats.sub_cus_a.push(seat("mem_ted", "cus_a"));
  await t.db.query("delete from auth.users where id = $1", [ted]); // nothing of Ted stored yet
  const report = await t.runToEnd();
  assert.equal(report.team_deletions_queued, 1);
  const rows = await t.db.query<{ kind: string; polar_id: string }>(
    "select kind, polar_id from polar.team_deletions where user_id = $1 order by kind",
    [ted],
  );
  assert.deepEqual(rows.map((row) => [row.kind, row.polar_id]), [
    ["member", "mem_ted"],
    ["seat", "seat_mem_ted"],
  ]);
  assert.equal((await t.runToEnd()).team_deletions_queued, 0, "queued once");
});

Deno.test("a team deleted in Polar after the customers pages listed it loses its rows and is not stored again", async () => {
  await using t = await setup();
  const { users, ids } = await scenario(t);
  t.deletedSince.add("cus_b"); // listed, then deleted: its members answer 404
  const report = await t.runToEnd();
  assert.equal(report.teams_deleted, 2, "team B, and team C as before");
  assert.equal(report.failures, 0);
  assert.equal(await t.holds(users.quinn, ids.b), false);
  const rows = await t.db.query("select 1 from public.polar_teams where team_id = $1", [ids.b]);
  assert.equal(rows.length, 0, "the listed customer is not stored again");
});

Deno.test("a team whose members Polar fails to list (not 404) is kept, and counted as a failure", async () => {
  await using t = await setup();
  const { users, ids } = await scenario(t);
  t.teams.get("cus_b")!.members = new Proxy([], {
    get: () => {
      throw Object.assign(new Error("Bad Gateway"), { statusCode: 502 });
    },
  });
  const report = await t.runToEnd();
  assert.equal(report.failures, 1);
  assert.equal(await t.holds(users.quinn, ids.b), true, "nothing of team B removed");
});
