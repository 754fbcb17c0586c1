/**
 * The example app's teams (`examples/web/supabase/migrations/20261201100000_teams.sql`) on a
 * real database (PGlite with the project's migrations, then the example's), per role: anon,
 * two teams with an owner each and a member, and the service role. Who may bill a team (its
 * owners, and nobody else: not a member, not the owner of another team), who may add members,
 * who reads which team's rows, and the notes that follow a claimed seat of the team, on both
 * sides of each way a seat is lost.
 */
import assert from "node:assert/strict";
import type { Database, QueryAs } from "../../../../local/database.ts";
import {
  createTestDatabase,
  insertUser,
} from "../../../../supabase/functions/tests/support/database.ts";

const as = (id: string): QueryAs => ({
  role: "authenticated",
  claims: { sub: id, role: "authenticated" },
});
const ANON: QueryAs = { role: "anon", claims: { role: "anon" } };
const SERVICE: QueryAs = { role: "service_role", claims: { role: "service_role" } };

/** Two teams: Ada owns A (Bob is its member), Cy owns B; Dee belongs to none. */
async function setup() {
  const db = await createTestDatabase();
  const ada = await insertUser(db, "ada@example.com");
  const bob = await insertUser(db, "bob@example.com");
  const cy = await insertUser(db, "cy@example.com");
  const dee = await insertUser(db, "dee@example.com");
  const teamA = await createTeam(db, ada, "Team A");
  const teamB = await createTeam(db, cy, "Team B");
  await one(db, "select public.add_team_member($1, $2) as value", [teamA, "BOB@example.com"], ada);
  return { db, ada, bob, cy, dee, teamA, teamB };
}

async function createTeam(db: Database, owner: string, name: string): Promise<string> {
  return String(await one(db, "select public.create_team($1) as value", [name], as(owner)));
}

/** The one value a query answers. */
async function one(db: Database, sql: string, params: unknown[], who: QueryAs | string) {
  const [row] = await db.query<{ value: unknown }>(
    sql,
    params,
    typeof who === "string" ? as(who) : who,
  );
  return row.value;
}

const mayBill = (db: Database, team: string, who: QueryAs | string) =>
  one(db, "select public.polar_may_bill_team($1) as value", [team], who);

const noteTitles = async (db: Database, user: string) =>
  (await db.query<{ title: string }>(
    "select title from public.team_notes order by id",
    [],
    as(user),
  )).map((row) => row.title);

/** Polar's side of a seat of team A held by the user, as the webhooks store it. */
async function seatInTeamA(db: Database, teamA: string, user: string) {
  const at = "2026-12-01T10:00:00Z";
  const apply = (kind: string, object: Record<string, unknown>) =>
    db.query("select public.apply_polar_team_change($1::text::jsonb)", [
      JSON.stringify({ kind, object: { created_at: at, modified_at: at, ...object } }),
    ], SERVICE);
  await apply("team_customer", { id: "cus_a", type: "team", external_id: teamA });
  await apply("member", { id: "mem_u", customer_id: "cus_a", external_id: user, role: "member" });
  await apply("subscription", {
    id: "sub_a",
    customer_id: "cus_a",
    product_id: "prod_team",
    status: "active",
    seats: 3,
  });
  await apply("seat", {
    id: "seat_1",
    customer_id: "cus_a",
    member_id: "mem_u",
    subscription_id: "sub_a",
    status: "claimed",
  });
  await apply("grant", {
    id: "grant_1",
    customer_id: "cus_a",
    member_id: "mem_u",
    benefit_id: "ben_pro",
    subscription_id: "sub_a",
    is_granted: true,
    benefit: { id: "ben_pro", metadata: { key: "pro" } },
  });
  /** A later version of one of the objects above. */
  return (kind: string, object: Record<string, unknown>) =>
    db.query("select public.apply_polar_team_change($1::text::jsonb)", [
      JSON.stringify({
        kind,
        object: { created_at: at, modified_at: "2026-12-01T11:00:00Z", ...object },
      }),
    ], SERVICE);
}

Deno.test("team owners may bill their own team; members, other teams' owners and the rest may not", async () => {
  const { db, ada, bob, cy, dee, teamA, teamB } = await setup();
  await using _ = db;
  assert.equal(await mayBill(db, teamA, ada), true, "Ada owns team A");
  assert.equal(await mayBill(db, teamA, bob), false, "Bob is a member of A, not an owner");
  assert.equal(await mayBill(db, teamA, cy), false, "Cy owns team B, not A");
  assert.equal(await mayBill(db, teamB, cy), true, "Cy owns team B");
  assert.equal(await mayBill(db, teamB, ada), false, "the owner of A asking about B");
  assert.equal(await mayBill(db, teamA, dee), false, "Dee belongs to no team");
  assert.equal(await mayBill(db, crypto.randomUUID(), ada), false, "a team that does not exist");
  assert.equal(await mayBill(db, teamA, SERVICE), false, "the service role is nobody");
  await assert.rejects(mayBill(db, teamA, ANON), { code: "42501" }, "anon may not even ask");
  const [fn] = await db.query<{ definer: boolean; config: string[] }>(
    `select prosecdef as definer, proconfig as config from pg_proc
      where oid = 'public.polar_may_bill_team(uuid)'::regprocedure`,
  );
  assert.deepEqual(fn, { definer: true, config: ['search_path=""'] });
});

Deno.test("only a team's owner adds members, by email, once; unknown emails are refused in words", async () => {
  const { db, ada, bob, cy, dee, teamA, teamB } = await setup();
  await using _ = db;
  const add = (team: string, email: string, who: string) =>
    one(db, "select public.add_team_member($1, $2) as value", [team, email], who);
  await assert.rejects(add(teamA, "dee@example.com", bob), {
    code: "42501",
    message: "Only the team's owners may add members",
  }, "a member may not add");
  await assert.rejects(add(teamA, "dee@example.com", cy), { code: "42501" }, "B's owner, in A");
  await assert.rejects(add(teamB, "dee@example.com", ada), { code: "42501" }, "A's owner, in B");
  await assert.rejects(add(teamA, "nobody@example.com", ada), {
    code: "P0001",
    message: "No account with the email nobody@example.com yet: ask them to sign up first",
  });
  await assert.rejects(add(teamA, " bob@example.com ", ada), {
    message: "bob@example.com is already a member of this team",
  });
  await assert.rejects(
    one(db, "select public.add_team_member($1, $2) as value", [teamA, "dee@example.com"], ANON),
    { code: "42501" },
  );
  assert.equal(await add(teamA, "Dee@Example.com", ada), dee, "the owner adds Dee");
  const roles = await db.query(
    "select user_id, role from public.team_members where team_id = $1 order by role desc, user_id",
    [teamA],
  );
  assert.deepEqual(
    roles,
    [
      { user_id: ada, role: "owner" },
      ...[bob, dee].sort().map((id) => ({ user_id: id, role: "member" })),
    ],
  );
  assert.equal(await mayBill(db, teamA, dee), false, "an added member may not bill");
  await assert.rejects(createTeam(db, ada, "   "), {
    message: "A team name needs 1 to 80 characters",
  });
  await assert.rejects(
    one(db, "select public.create_team('x') as value", [], SERVICE),
    { message: "Sign in to create a team" },
  );
});

Deno.test("members read their own teams and members only; nobody writes the tables directly", async () => {
  const { db, ada, bob, cy, dee, teamA, teamB } = await setup();
  await using _ = db;
  const teams = async (who: string) =>
    (await db.query<{ id: string }>("select id from public.teams", [], as(who))).map((r) => r.id);
  assert.deepEqual(await teams(ada), [teamA]);
  assert.deepEqual(await teams(bob), [teamA]);
  assert.deepEqual(await teams(cy), [teamB]);
  assert.deepEqual(await teams(dee), []);
  const members = (who: string) => db.query("select team_id from public.team_members", [], as(who));
  assert.equal((await members(bob)).length, 2, "Bob sees A's owner and himself");
  assert.ok((await members(cy)).every((row) => row.team_id === teamB), "Cy sees B only");
  const roster = (team: string, who: string) =>
    db.query("select * from public.team_roster($1)", [team], as(who));
  assert.deepEqual(await roster(teamA, bob), [
    { user_id: ada, email: "ada@example.com", role: "owner" },
    { user_id: bob, email: "bob@example.com", role: "member" },
  ]);
  assert.deepEqual(await roster(teamA, cy), [], "no roster, no emails, of another team");
  assert.equal(await one(db, "select public.team_role($1) as value", [teamA], bob), "member");
  assert.equal(await one(db, "select public.team_role($1) as value", [teamB], bob), null);

  for (
    const sql of [
      "insert into public.teams (name) values ('mine')",
      `update public.teams set name = 'taken' where id = '${teamB}'`,
      `insert into public.team_members (team_id, user_id, role) values ('${teamB}', '${dee}', 'owner')`,
      `update public.team_members set role = 'owner' where user_id = '${bob}'`,
      `delete from public.team_members where team_id = '${teamA}'`,
      `insert into public.team_notes (team_id, title, body) values ('${teamA}', 't', 'b')`,
    ]
  ) {
    await assert.rejects(db.query(sql, [], as(bob)), { code: "42501" }, sql);
  }
  for (const table of ["teams", "team_members", "team_notes"]) {
    await assert.rejects(db.query(`select * from public.${table}`, [], ANON), { code: "42501" });
  }
  for (const sql of ["select public.team_role($1)", "select * from public.team_roster($1)"]) {
    await assert.rejects(db.query(sql, [teamA], ANON), { code: "42501" }, sql);
  }
  await assert.rejects(db.query("select public.create_team('x')", [], ANON), { code: "42501" });
  const all = await db.query("select id from public.teams", [], SERVICE);
  assert.equal(all.length, 2, "the service role reads every team");
});

Deno.test("a team's notes follow a claimed seat with pro, for that team only", async () => {
  const { db, ada, bob, cy, teamA } = await setup();
  await using _ = db;
  assert.deepEqual(await noteTitles(db, bob), [], "a member without a seat reads no note");
  assert.deepEqual(await noteTitles(db, ada), [], "nor does the owner without a seat");
  const later = await seatInTeamA(db, teamA, bob);
  assert.deepEqual(await noteTitles(db, bob), ["Welcome to Team A", "Stand-up"]);
  const teams = await db.query<{ team_id: string }>(
    "select distinct team_id from public.team_notes",
    [],
    as(bob),
  );
  assert.deepEqual(teams, [{ team_id: teamA }], "not one note of team B");
  assert.deepEqual(await noteTitles(db, ada), [], "a seat is the member's, not the owner's");
  assert.deepEqual(await noteTitles(db, cy), [], "team B's owner reads nothing of A");
  const b = await db.query("select title from public.team_notes", [], SERVICE);
  assert.equal(b.length, 4, "the service role reads both teams' notes");

  await later("seat", {
    id: "seat_1",
    customer_id: "cus_a",
    member_id: null,
    subscription_id: "sub_a",
    status: "revoked",
  });
  assert.deepEqual(await noteTitles(db, bob), [], "the seat revoked: the notes are gone");
});

Deno.test("a team's notes go when its subscription stops being active", async () => {
  const { db, bob, teamA } = await setup();
  await using _ = db;
  const later = await seatInTeamA(db, teamA, bob);
  assert.equal((await noteTitles(db, bob)).length, 2);
  await later("subscription", {
    id: "sub_a",
    customer_id: "cus_a",
    product_id: "prod_team",
    status: "past_due",
    seats: 3,
  });
  assert.deepEqual(await noteTitles(db, bob), []);
});
