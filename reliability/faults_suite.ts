/**
 * Faults of every dependency: Polar failing, slow or unreachable; PostgREST down or slow; the
 * JWKS unreachable with a warm and a cold cache; the database restarting between and during
 * webhook deliveries. Each gets the contract's answer within the 10 s budget (Polar's webhook
 * timeout, and the functions' own), and nothing is half-written: a failed delivery leaves no
 * trace, and its redelivery is applied exactly once.
 *
 * The database is a throwaway PostgreSQL cluster of this suite's own, so restarting it disturbs
 * no one. Run by `deno task test:reliability`; on its own:
 * `DATABASE_URL=postgresql://… deno test -A reliability/faults_suite.ts`.
 */
import assert from "node:assert/strict";
import { absorbDriverNullSocketCrash } from "../local/postgres.ts";
import { signWebhook } from "../local/webhook_signing.ts";
import { insertUser } from "../supabase/functions/tests/support/database.ts";
import {
  customerFixture,
  subscriptionEvent,
  subscriptionFixture,
} from "../supabase/functions/tests/support/polar_events.ts";
import { bearer, type CaseContext, ERRORS, json } from "./cases/http_case.ts";
import { createCaseContext } from "./context.ts";
import { createFreshDatabase, startThrowawayCluster } from "./databases.ts";
import type { FakePolarMode } from "../supabase/functions/tests/support/fake_polar.ts";
import { type FunctionName, type Harness, PRODUCT_ID, startHarness } from "./harness.ts";
import { figure, runCases } from "./report.ts";
import type { FrontMode } from "./tcp_front.ts";

/** Every answer must come within this: Polar's webhook timeout and the functions' budget. */
const BUDGET_MS = 10_000;
/** Redeliveries a test makes after a fault, as Polar retries (it makes up to ten). */
const MAX_ATTEMPTS = 10;
/** Pause between redeliveries; Polar's own backoff is longer. */
const RETRY_PAUSE_MS = 500;
/** Deliveries in the burst that the database restarts in the middle of. */
const BURST = 40;
const BURST_CONCURRENCY = 4;
const BURST_RESTART_AFTER = 10;

/** A dependency fault, set before the request and undone after. */
interface Fault {
  /** What goes wrong. */
  name: string;
  /** Breaks the dependency. */
  apply(h: Harness): void;
  /** A cold JWKS cache: the request goes to a freshly started function process. */
  cold?: boolean;
  /** What the user functions answer; 500 unless the fault is invisible to them. */
  userStatus?: 200 | 500;
}

const polarMode = (mode: FakePolarMode) => (h: Harness) => {
  h.polar.mode = mode;
};
const polarFront = (mode: FrontMode) => (h: Harness) => h.polarFront.setMode(mode);
const apiFront = (mode: FrontMode) => (h: Harness) => h.apiFront.setMode(mode);

const USER_FAULTS: Fault[] = [
  { name: "Polar answers 502", apply: polarMode("server_error") },
  { name: "Polar answers 429", apply: polarMode("rate_limited") },
  { name: "Polar hangs past its 3.5 s limit", apply: polarMode("hang") },
  { name: "Polar drops the connection", apply: polarFront("drop") },
  { name: "Polar refuses connections", apply: polarFront("refuse") },
  { name: "PostgREST answers 503", apply: (h) => void (h.apiFaults.rest = "unavailable") },
  { name: "PostgREST hangs past its 3 s limit", apply: (h) => void (h.apiFaults.rest = "hang") },
  { name: "the Supabase API refuses connections (warm JWKS cache)", apply: apiFront("refuse") },
  { name: "the Supabase API drops connections (warm JWKS cache)", apply: apiFront("drop") },
  {
    name: "the JWKS answers 503 with a warm cache",
    apply: (h) => void (h.apiFaults.auth = "unavailable"),
    userStatus: 200,
  },
  {
    name: "the JWKS hangs with a warm cache",
    apply: (h) => void (h.apiFaults.auth = "hang"),
    userStatus: 200,
  },
  {
    name: "the JWKS answers 503 with a cold cache",
    apply: (h) => void (h.apiFaults.auth = "unavailable"),
    cold: true,
  },
  {
    name: "the JWKS hangs with a cold cache",
    apply: (h) => void (h.apiFaults.auth = "hang"),
    cold: true,
  },
  {
    name: "the Supabase API refuses connections with a cold cache",
    apply: apiFront("refuse"),
    cold: true,
  },
];

const WEBHOOK_FAULTS: Fault[] = [
  { name: "PostgREST answers 503", apply: (h) => void (h.apiFaults.rest = "unavailable") },
  { name: "PostgREST hangs past its 3 s limit", apply: (h) => void (h.apiFaults.rest = "hang") },
  { name: "the Supabase API refuses connections", apply: apiFront("refuse") },
  { name: "the Supabase API drops connections", apply: apiFront("drop") },
];

function heal(h: Harness): void {
  h.polar.mode = "ok";
  h.polarFront.setMode("pass");
  h.apiFront.setMode("pass");
  h.apiFaults.auth = "none";
  h.apiFaults.rest = "none";
}

async function timed(send: () => Promise<Response>) {
  const started = performance.now();
  const response = await send();
  const body = await response.json();
  return { status: response.status, body, ms: Math.round(performance.now() - started) };
}

function userRequest(fn: FunctionName, url: string, ctx: CaseContext) {
  return () =>
    fetch(`${url}/`, {
      method: "POST",
      ...(fn === "checkout"
        ? json({ product_id: PRODUCT_ID }, bearer(ctx.member.token))
        : { headers: bearer(ctx.member.token) }),
    });
}

/** A verified subscription event for a new user, and how to (re)deliver it as Polar would. */
async function webhookDelivery(ctx: CaseContext, url: string) {
  const userId = await insertUser(ctx.h.db);
  const subscription = subscriptionFixture(customerFixture({ externalId: userId }), {
    status: "active",
    modified_at: new Date().toISOString(),
  });
  const body = JSON.stringify(subscriptionEvent("subscription.active", subscription));
  const id = `msg_${crypto.randomUUID().replaceAll("-", "")}`;
  return {
    userId,
    id,
    send: async () =>
      fetch(`${url}/`, {
        method: "POST",
        body,
        // Polar signs each attempt afresh, with the same webhook-id.
        headers: {
          ...(await signWebhook(body, ctx.h.webhookSecret, { id })),
          "Content-Type": "application/json",
        },
      }),
  };
}

/** Redelivers until a 2xx, as Polar does; every attempt must answer within the budget. */
async function redeliver(send: () => Promise<Response>) {
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const answer = await timed(send).catch((error) => ({ status: 0, body: String(error), ms: 0 }));
    assert.ok(answer.ms < BUDGET_MS, `attempt ${attempt} answered in ${answer.ms} ms`);
    if (answer.status >= 200 && answer.status < 300) return { ...answer, attempt };
    await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS));
  }
  throw new Error(`no 2xx after ${MAX_ATTEMPTS} attempts`);
}

async function appliedOnce(ctx: CaseContext, webhookId: string, userId: string) {
  const deliveries = await ctx.h.db.query<{ outcome: string }>(
    "select outcome from polar.webhook_deliveries where webhook_id = $1",
    [webhookId],
  );
  assert.deepEqual(deliveries, [{ outcome: "applied" }], "recorded once, as applied");
  const rows = await ctx.h.db.query<{ status: string }>(
    "select status from public.user_subscriptions where user_id = $1",
    [userId],
  );
  assert.deepEqual(rows, [{ status: "active" }], "the row is whole");
}

Deno.test("faults get the contract's answer within 10 s and leave nothing half-written", async (t) => {
  using driverCrashes = absorbDriverNullSocketCrash();
  await using cluster = await startThrowawayCluster();
  await using fresh = await createFreshDatabase(cluster.url);
  await using h = await startHarness(fresh.db);
  const ctx = await createCaseContext(h);

  // Warm the JWKS caches of the running processes.
  for (const fn of ["portal", "checkout"] as const) {
    const warm = await timed(userRequest(fn, h.functions[fn].url, ctx));
    assert.equal(warm.status, 200, `${fn} warms up: ${JSON.stringify(warm.body)}`);
  }

  const userCases = (["portal", "checkout"] as const).flatMap((fn) =>
    USER_FAULTS.map((fault) => ({ name: `${fn}: ${fault.name}`, fn, fault }))
  );
  await runCases(t, "faults: portal and checkout", userCases, async ({ name, fn, fault }) => {
    const process = fault.cold ? await h.startFunction(fn) : h.functions[fn];
    const before = await h.fingerprint();
    fault.apply(h);
    try {
      const answer = await timed(userRequest(fn, process.url, ctx));
      await figure(`fault: ${name}`, `${answer.status} in ${answer.ms} ms`);
      const status = fault.userStatus ?? 500;
      assert.equal(answer.status, status, JSON.stringify(answer.body));
      if (status === 500) assert.deepEqual(answer.body, ERRORS.internal);
      assert.ok(answer.ms < BUDGET_MS, `answered in ${answer.ms} ms`);
    } finally {
      heal(h);
    }
    assert.equal(await h.fingerprint(), before, "database unchanged");
  });

  const webhooksUrl = h.functions["polar-webhooks"].url;
  await runCases(t, "faults: webhooks", [
    ...WEBHOOK_FAULTS.map((fault) => ({ name: `polar-webhooks: ${fault.name}`, fault })),
    {
      name: "polar-webhooks: the database commits but its answer comes too late",
      fault: undefined,
    },
  ], async ({ name, fault }) => {
    const delivery = await webhookDelivery(ctx, webhooksUrl);
    const before = await h.fingerprint();
    if (fault) fault.apply(h);
    else h.apiFaults.rest = "late";
    let first;
    try {
      first = await timed(delivery.send);
    } finally {
      heal(h);
    }
    await figure(`fault: ${name}`, `${first.status} in ${first.ms} ms`);
    assert.deepEqual([first.status, first.body], [500, ERRORS.internal]);
    assert.ok(first.ms < BUDGET_MS, `answered in ${first.ms} ms`);
    if (fault) {
      assert.equal(await h.fingerprint(), before, "a failed delivery leaves no trace");
    }
    const retry = await redeliver(delivery.send);
    // The late answer's transaction committed: the redelivery finds it done.
    assert.deepEqual(retry.body, { outcome: fault ? "applied" : "duplicate" });
    await appliedOnce(ctx, delivery.id, delivery.userId);
  });

  await runCases(t, "faults: database restarts", [
    { name: "polar-webhooks: the database restarts between two deliveries" },
    { name: "polar-webhooks: the database is down during a delivery" },
    { name: `polar-webhooks: the database restarts during a burst of ${BURST} deliveries` },
  ], async ({ name }) => {
    if (name.includes("between")) {
      const first = await webhookDelivery(ctx, webhooksUrl);
      assert.deepEqual((await redeliver(first.send)).body, { outcome: "applied" });
      await cluster.stop();
      await cluster.start();
      const second = await webhookDelivery(ctx, webhooksUrl);
      const answer = await redeliver(second.send);
      await figure(
        `fault: ${name}`,
        `${answer.status} after ${answer.attempt} attempt(s), last in ${answer.ms} ms`,
      );
      assert.deepEqual(answer.body, { outcome: "applied" });
      await appliedOnce(ctx, first.id, first.userId);
      await appliedOnce(ctx, second.id, second.userId);
    } else if (name.includes("down")) {
      const delivery = await webhookDelivery(ctx, webhooksUrl);
      await cluster.stop();
      let down;
      try {
        down = await timed(delivery.send);
      } finally {
        await cluster.start();
      }
      await figure(`fault: ${name}`, `${down.status} in ${down.ms} ms`);
      assert.deepEqual([down.status, down.body], [500, ERRORS.internal]);
      assert.ok(down.ms < BUDGET_MS, `answered in ${down.ms} ms`);
      const retry = await redeliver(delivery.send);
      assert.deepEqual(retry.body, { outcome: "applied" });
      await appliedOnce(ctx, delivery.id, delivery.userId);
    } else {
      const deliveries = [];
      for (let i = 0; i < BURST; i++) deliveries.push(await webhookDelivery(ctx, webhooksUrl));
      let done = 0;
      let failedAttempts = 0;
      let restart: Promise<void> | undefined;
      const queue = [...deliveries];
      await Promise.all(Array.from({ length: BURST_CONCURRENCY }, async () => {
        for (let next = queue.shift(); next; next = queue.shift()) {
          const answer = await redeliver(next.send);
          failedAttempts += answer.attempt - 1;
          assert.deepEqual(answer.body, { outcome: "applied" });
          if (++done === BURST_RESTART_AFTER) restart = cluster.stop().then(() => cluster.start());
        }
      }));
      await restart;
      await figure(
        `fault: ${name}`,
        `${BURST} applied once each, ${failedAttempts} attempt(s) answered 5xx and were redelivered`,
      );
      for (const delivery of deliveries) await appliedOnce(ctx, delivery.id, delivery.userId);
    }
  });
  await figure(
    "fault: postgres.js null-socket crashes in the stand-in, absorbed",
    String(driverCrashes.count),
  );
});
