/**
 * Row locks on PostgreSQL 15, with two real sessions on a fresh database of the server in
 * `DATABASE_URL`: every writer takes `polar.lock_user_subscription` first, so while one session
 * holds a user's row lock in an open transaction, another session's writes for that user wait
 * (with `lock_timeout = '300ms'` they time out), another user's do not, and the wait ends when
 * the first session commits. Without the row lock, the load suite's concurrent first events of a
 * new subscriber failed about one run in five; this suite fails every run.
 *
 * A team's row: an event of a team (member, seat, subscription, grant) and the team's deletion in
 * two sessions at once. `apply_polar_team_change` reads the team `FOR KEY SHARE`, so the event
 * waits for a deletion in flight and then finds no team; before, it failed the foreign key to
 * `public.polar_teams` (a 500), which the teams suite met in CI.
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

/** Session A: runs `statement` in a transaction it keeps open until `release()`. */
async function holdTransaction(
  a: Sql,
  statement: (tx: postgres.TransactionSql) => Promise<unknown>,
) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);
  let done!: () => void;
  const isDone = new Promise<void>((resolve) => done = resolve);
  const transaction = a.begin(async (tx) => {
    await statement(tx);
    done();
    await released;
  });
  await Promise.race([isDone, transaction]);
  return {
    release: async () => {
      release();
      await transaction;
    },
  };
}

/** Session A: holds `userId`'s row lock in an open transaction until `release()`. */
function holdLock(a: Sql, userId: string) {
  return holdTransaction(a, (tx) => tx`select polar.lock_user_subscription(${userId}::uuid)`);
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

/** apply_polar_team_change for one Polar object of `kind`, in `tx`: its outcome. */
async function applyTeamChange(tx: Sql | postgres.TransactionSql, kind: string, object: object) {
  const [row] = await tx.unsafe<{ outcome: string }[]>(
    "select public.apply_polar_team_change(jsonb_build_object('kind', $1::text, 'object', $2::text::jsonb)) ->> 'outcome' as outcome",
    [kind, JSON.stringify(object)],
  );
  return row.outcome;
}

Deno.test("locks: a team event and its team's deletion at once: one waits, neither fails", async (t) => {
  await using fresh = await createFreshDatabase(serverUrl());
  const ada = crypto.randomUUID();
  await fresh.db.query("insert into auth.users (id, email) values ($1, 'ada@example.com')", [ada]);
  const a = postgres(fresh.url, { max: 1, onnotice: () => {} });
  const b = postgres(fresh.url, { max: 1, onnotice: () => {} });
  const at = (seconds: number) => new Date(Date.UTC(2026, 11, 1, 0, 0, seconds)).toISOString();
  /**
   * A fresh team customer and a claimed seat of it, stored and committed; the customer's
   * customer.deleted, the seat's revocation (which names no customer) and Ada's member.
   */
  async function storedTeam() {
    const customer = {
      id: `cus_${crypto.randomUUID()}`,
      type: "team",
      external_id: crypto.randomUUID(),
      created_at: at(0),
    };
    assert.equal(await applyTeamChange(a, "team_customer", customer), "applied");
    const seat = {
      id: `seat_${crypto.randomUUID()}`,
      customer_id: customer.id,
      subscription_id: `sub_${crypto.randomUUID()}`,
      status: "claimed",
      created_at: at(1),
    };
    assert.equal(await applyTeamChange(a, "seat", seat), "applied");
    return {
      deleted: { ...customer, modified_at: at(2), deleted_at: at(2) },
      revokedSeat: { ...seat, customer_id: null, status: "revoked", modified_at: at(3) },
      member: {
        id: `mem_${crypto.randomUUID()}`,
        customer_id: customer.id,
        external_id: ada,
        role: "member",
        created_at: at(1),
      },
    };
  }
  /** A holds the team's deletion open while B applies the event: B waits, then finds no team. */
  async function eventDuringDeletion(deleted: object, kind: string, object: object) {
    const held = await holdTransaction(
      a,
      async (tx) => assert.equal(await applyTeamChange(tx, "team_customer", deleted), "applied"),
    );
    const started = performance.now();
    const event = b.begin(async (tx) => {
      await tx.unsafe("set local lock_timeout = '5s'");
      return await applyTeamChange(tx, kind, object);
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    await held.release();
    assert.equal(await event, "ignored", "no foreign key error, the team is gone");
    assert.ok(performance.now() - started >= 150, "the event waited for the deletion");
  }
  const members = async () =>
    (await fresh.db.query("select 1 from public.polar_team_members where user_id = $1", [ada]))
      .length;
  try {
    const cases: { name: string; run: () => Promise<void> }[] = [
      {
        name: "a member event waits for the team's deletion in flight, then finds no team",
        run: async () => {
          const team = await storedTeam();
          await eventDuringDeletion(team.deleted, "member", team.member);
          assert.equal(await members(), 0);
        },
      },
      {
        name: "so does a seat's revocation, whose team comes from the stored seat",
        run: async () => {
          const team = await storedTeam();
          await eventDuringDeletion(team.deleted, "seat", team.revokedSeat);
          const seats = await fresh.db.query(
            "select 1 from public.polar_team_seats where polar_seat_id = $1",
            [team.revokedSeat.id],
          );
          assert.equal(seats.length, 0);
        },
      },
      {
        name: "a deletion waits for a member event in flight, then removes what it stored",
        run: async () => {
          const team = await storedTeam();
          const held = await holdTransaction(
            a,
            async (tx) => assert.equal(await applyTeamChange(tx, "member", team.member), "applied"),
          );
          const started = performance.now();
          const deletion = b.begin(async (tx) => {
            await tx.unsafe("set local lock_timeout = '5s'");
            return await applyTeamChange(tx, "team_customer", team.deleted);
          });
          await new Promise((resolve) => setTimeout(resolve, 200));
          await held.release();
          assert.equal(await deletion, "applied");
          assert.ok(performance.now() - started >= 150, "the deletion waited for the event");
          assert.equal(await members(), 0, "the member stored first went with its team");
        },
      },
    ];
    const passed = await runCases(t, "locks: a team's row", cases, (c) => c.run());
    assert.equal(passed, cases.length);
  } finally {
    await a.end({ timeout: 5 });
    await b.end({ timeout: 5 });
  }
});
