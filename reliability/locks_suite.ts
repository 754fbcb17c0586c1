/**
 * Row locks on PostgreSQL 15, with two real sessions on a fresh database of the server in
 * `DATABASE_URL`: every writer takes `polar.lock_user_subscription` first, so while one session
 * holds a user's row lock in an open transaction, another session's writes for that user wait
 * (with `lock_timeout = '300ms'` they time out), another user's do not, and the wait ends when
 * the first session commits. Without the row lock, the load suite's concurrent first events of a
 * new subscriber failed about one run in five; this suite fails every run.
 *
 * The fast, single-session check (the lock marks the row with the locker's transaction id) is in
 * `supabase/tests/database/identity_boundaries.test.sql`.
 *
 * Run by `deno task test:reliability`; on its own:
 * `DATABASE_URL=postgresql://… deno test -A reliability/locks_suite.ts`.
 *
 * @module
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { createFreshDatabase, serverUrl } from "./databases.ts";
import { runCases } from "./report.ts";

/** What a session waiting for a lock gives up after in these cases. */
const LOCK_TIMEOUT = "300ms";
/** PostgreSQL's error code for `lock_timeout`: lock_not_available. */
const LOCK_NOT_AVAILABLE = "55P03";

type Sql = postgres.Sql;

/** Session A: holds `userId`'s row lock in an open transaction until `release()`. */
async function holdLock(a: Sql, userId: string) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);
  let locked!: () => void;
  const isLocked = new Promise<void>((resolve) => locked = resolve);
  const transaction = a.begin(async (tx) => {
    await tx`select polar.lock_user_subscription(${userId}::uuid)`;
    locked();
    await released;
  });
  await Promise.race([isLocked, transaction]);
  return {
    release: async () => {
      release();
      await transaction;
    },
  };
}

/** Session B: runs `statement` in a transaction with a lock timeout; its error code, or "ok". */
async function tryWithTimeout(
  b: Sql,
  statement: (tx: postgres.TransactionSql) => Promise<unknown>,
) {
  try {
    await b.begin(async (tx) => {
      await tx.unsafe(`set local lock_timeout = '${LOCK_TIMEOUT}'`);
      await statement(tx);
    });
    return "ok";
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

/** A change in apply_polar_webhook's format: a subscription of the user's customer. */
function subscriptionChange(userId: string, customerId: string) {
  const at = new Date().toISOString();
  return {
    customer_id: customerId,
    external_id: userId,
    metadata_user_id: null,
    customer_version: at,
    customer_deleted: false,
    subscription: { id: `sub_${crypto.randomUUID()}`, status: "active", version: at },
  };
}

/** apply_polar_webhook for a subscription of the user's customer, in `tx`. */
function applyWebhook(tx: postgres.TransactionSql, userId: string, customerId: string) {
  return tx.unsafe(
    "select public.apply_polar_webhook($1, 'subscription.active', now(), $2::jsonb)",
    [`msg_${crypto.randomUUID()}`, subscriptionChange(userId, customerId)],
  );
}

Deno.test("locks: a user's row lock makes every other session's writes for that user wait", async (t) => {
  await using fresh = await createFreshDatabase(serverUrl());
  const ada = crypto.randomUUID();
  const bob = crypto.randomUUID();
  await fresh.db.query("insert into auth.users (id, email) values ($1, $2), ($3, $4)", [
    ada,
    "ada@example.com",
    bob,
    "bob@example.com",
  ]);
  // Ada's row exists and is committed (a returning subscriber); Bob has none yet.
  await fresh.db.query("select polar.lock_user_subscription($1)", [ada]);
  const a = postgres(fresh.url, { max: 1, onnotice: () => {} });
  const b = postgres(fresh.url, { max: 1, onnotice: () => {} });
  try {
    const cases: { name: string; run: () => Promise<void> }[] = [
      {
        name: "while A holds Ada's row lock, B cannot take it (lock_timeout)",
        run: async () => {
          const held = await holdLock(a, ada);
          try {
            const started = performance.now();
            const outcome = await tryWithTimeout(
              b,
              (tx) => tx`select polar.lock_user_subscription(${ada}::uuid)`,
            );
            assert.equal(outcome, LOCK_NOT_AVAILABLE);
            assert.ok(performance.now() - started >= 250, "B waited for the lock first");
          } finally {
            await held.release();
          }
        },
      },
      {
        name: "nor apply a webhook for Ada, nor link her customer",
        run: async () => {
          const held = await holdLock(a, ada);
          try {
            const webhook = await tryWithTimeout(b, (tx) => applyWebhook(tx, ada, "cus_ada"));
            assert.equal(webhook, LOCK_NOT_AVAILABLE);
            const link = await tryWithTimeout(
              b,
              (tx) => tx`select public.link_polar_customer(${ada}::uuid, 'cus_ada', ${ada}, now())`,
            );
            assert.equal(link, LOCK_NOT_AVAILABLE);
          } finally {
            await held.release();
          }
          const [row] = await fresh.db.query<{ polar_customer_id: string | null }>(
            "select polar_customer_id from public.user_subscriptions where user_id = $1",
            [ada],
          );
          assert.equal(row.polar_customer_id, null, "the writes that timed out left nothing");
        },
      },
      {
        name: "while A holds Ada's row lock, B locks and writes Bob's at once",
        run: async () => {
          const held = await holdLock(a, ada);
          try {
            const started = performance.now();
            const outcome = await tryWithTimeout(b, async (tx) => {
              await tx`select polar.lock_user_subscription(${bob}::uuid)`;
              await applyWebhook(tx, bob, "cus_bob");
            });
            assert.equal(outcome, "ok");
            assert.ok(performance.now() - started < 250, "B did not wait");
          } finally {
            await held.release();
          }
        },
      },
      {
        name: "B, waiting for Ada's row, goes on as soon as A commits",
        run: async () => {
          const held = await holdLock(a, ada);
          const started = performance.now();
          const waiting = b.begin(async (tx) => {
            await tx.unsafe("set local lock_timeout = '5s'");
            await tx`select polar.lock_user_subscription(${ada}::uuid)`;
          });
          await new Promise((resolve) => setTimeout(resolve, 200));
          await held.release();
          await waiting;
          const waited = performance.now() - started;
          assert.ok(waited >= 150 && waited < 4_000, `B waited ${Math.round(waited)} ms`);
        },
      },
    ];
    const passed = await runCases(t, "locks: a user's row", cases, (c) => c.run());
    assert.equal(passed, cases.length);
  } finally {
    await a.end({ timeout: 5 });
    await b.end({ timeout: 5 });
  }
});
