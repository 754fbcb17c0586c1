/**
 * Usage balances under concurrency on PostgreSQL 15, on a fresh database of the server in
 * `DATABASE_URL`: `consume_usage` admits under a per-user-and-meter row lock, so however many
 * sessions spend at once, the units admitted never exceed the balance and reach it exactly.
 *
 * - 1,000 concurrent `consume_usage('ai', 1, …)` for one user with a balance of 100, from 50
 *   connections, each as the user (`authenticated`, the user's claims): exactly 100 admitted,
 *   100 rows recorded, the admitted answers' balances exactly 99 down to 0, the balance 0.
 * - The same 1,000 calls spread over 200 users, 5 calls each, each user with a balance of 0 to 4
 *   units: each user's admitted units equal their balance.
 * - 50 concurrent calls with one idempotency key: one admitted and recorded, 49 duplicates.
 *
 * Without the lock (the upsert of `polar.usage_accounts` taken out of `polar.spend_usage`), the
 * first case admitted 122 units of a balance of 100 and the second 414 of 400 (one run); the
 * third still passed, since the unique (user_id, idempotency_key) constraint alone keeps a key once.
 *
 * Run by `deno task test:reliability`; on its own:
 * `DATABASE_URL=postgresql://… deno test -A reliability/usage_suite.ts`.
 *
 * @module
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { createFreshDatabase, serverUrl } from "./databases.ts";
import { figure, runCases } from "./report.ts";
import { shuffled } from "./random.ts";

/** Connections that spend at once. */
const CONNECTIONS = 50;
/** Calls per case. */
const CALLS = 1_000;

type Sql = postgres.Sql;
type Answer = { allowed: boolean; balance: number | string; duplicate: boolean };

/** Polar's Meter object for "ai": the sum of metadata "tokens" of events named ai.completion. */
const AI_METER = {
  id: "meter_ai",
  name: "ai",
  filter: {
    conjunction: "and",
    clauses: [{ property: "name", operator: "eq", value: "ai.completion" }],
  },
  aggregation: { func: "sum", property: "tokens" },
};

/** One consume_usage as the user, in its own transaction, the way PostgREST runs an rpc. */
async function consumeAsUser(sql: Sql, userId: string, key: string): Promise<Answer> {
  return await sql.begin(async (tx) => {
    await tx`select set_config('role', 'authenticated', true),
      set_config('request.jwt.claims', ${
      JSON.stringify({ sub: userId, role: "authenticated" })
    }, true)`;
    const [row] = await tx<{ answer: Answer }[]>`
      select public.consume_usage('ai', 1, ${key}) as answer`;
    return row.answer;
  }) as Answer;
}

Deno.test("usage: concurrent spends admit exactly the balance", async (t) => {
  await using fresh = await createFreshDatabase(serverUrl());
  await fresh.db.query("select public.store_polar_meters($1::text::jsonb)", [
    JSON.stringify([AI_METER]),
  ]);
  const sql = postgres(fresh.url, { max: CONNECTIONS, onnotice: () => {} });

  /** Users with a verified link and `credits` credited on "ai". */
  async function makeUsers(credits: number[]): Promise<string[]> {
    const ids = credits.map(() => crypto.randomUUID());
    await fresh.db.query(
      `with u as (
        select id, credits from unnest($1::uuid[], $2::numeric[]) as t(id, credits)
      ), users as (
        insert into auth.users (id, email) select id, id || '@example.com' from u
      ), links as (
        insert into public.user_subscriptions (user_id, polar_customer_id, polar_customer_verified)
        select id, 'cus_' || id, true from u
      )
      insert into public.polar_meters (user_id, meter_id, consumed_units, credited_units, balance)
      select id, 'meter_ai', 0, credits, credits from u`,
      [ids, credits],
    );
    return ids;
  }

  /** Each user's admitted units, as recorded. */
  async function recorded(ids: string[]): Promise<Map<string, number>> {
    const rows = await fresh.db.query<{ user_id: string; units: string }>(
      `select user_id, sum(units)::text as units from public.polar_usage_events
       where user_id = any($1::uuid[]) group by user_id`,
      [ids],
    );
    return new Map(rows.map((row) => [row.user_id, Number(row.units)]));
  }

  try {
    const cases: { name: string; run: () => Promise<void> }[] = [
      {
        name:
          `${CALLS} concurrent spends of 1 against a balance of 100, ${CONNECTIONS} connections`,
        run: async () => {
          const [ada] = await makeUsers([100]);
          const started = performance.now();
          const answers = await Promise.all(
            Array.from({ length: CALLS }, (_, i) => consumeAsUser(sql, ada, `call-${i}`)),
          );
          await figure(
            `usage: ${CALLS} concurrent consume_usage on one user (${CONNECTIONS} connections)`,
            `${Math.round(performance.now() - started)} ms`,
          );
          const admitted = answers.filter((answer) => answer.allowed);
          assert.equal(admitted.length, 100, "exactly the balance was admitted");
          assert.ok(answers.every((answer) => !answer.duplicate), "no call was a duplicate");
          assert.deepEqual(
            admitted.map((answer) => Number(answer.balance)).sort((a, b) => a - b),
            Array.from({ length: 100 }, (_, i) => i),
            "the admitted answers' balances are 99 down to 0, each once",
          );
          assert.ok(
            answers.filter((answer) => !answer.allowed).every((a) => Number(a.balance) === 0),
            "every refused call saw 0",
          );
          assert.equal((await recorded([ada])).get(ada), 100, "100 units were recorded");
          const [balance] = await fresh.db.query<{ balance: string }>(
            "select public.usage_balance('ai')::text as balance",
            [],
            { role: "authenticated", claims: { sub: ada, role: "authenticated" } },
          );
          assert.equal(Number(balance.balance), 0);
        },
      },
      {
        name: `the same ${CALLS} spends over 200 users, each with its own balance of 0 to 4`,
        run: async () => {
          const credits = Array.from({ length: 200 }, (_, i) => i % 5);
          const ids = await makeUsers(credits);
          const calls = shuffled(
            ids.flatMap((id) => Array.from({ length: 5 }, (_, n) => [id, n])),
            Math.random,
          );
          const answers = await Promise.all(
            calls.map(([id, n]) => consumeAsUser(sql, id as string, `call-${n}`)),
          );
          const admitted = answers.filter((answer) => answer.allowed).length;
          assert.equal(
            admitted,
            credits.reduce((a, b) => a + b, 0),
            "admitted = the balances' sum",
          );
          const byUser = await recorded(ids);
          const wrong = ids.filter((id, i) => (byUser.get(id) ?? 0) !== credits[i]);
          assert.deepEqual(wrong, [], "each user's admitted units equal their balance");
        },
      },
      {
        name: `${CONNECTIONS} concurrent spends with one idempotency key admit it once`,
        run: async () => {
          const [bob] = await makeUsers([10]);
          const answers = await Promise.all(
            Array.from({ length: CONNECTIONS }, () => consumeAsUser(sql, bob, "same-key")),
          );
          assert.ok(answers.every((answer) => answer.allowed), "every answer is allowed");
          assert.equal(
            answers.filter((answer) => !answer.duplicate).length,
            1,
            "one is not a duplicate",
          );
          assert.equal((await recorded([bob])).get(bob), 1, "one unit was recorded");
        },
      },
    ];
    const passed = await runCases(t, "usage: exact balance", cases, (c) => c.run());
    assert.equal(passed, cases.length);
  } finally {
    await sql.end({ timeout: 5 });
  }
});
