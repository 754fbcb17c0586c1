/**
 * Webhook throughput: the real `polar-webhooks` function, in its own process, receiving
 * verified deliveries that it writes to Postgres through the Supabase API stand-in
 * (`rpc/apply_polar_webhook`). The deliveries are what a wave of new subscribers makes Polar send
 * (see {@linkcode SUBSCRIBER_EVENTS}), for many users at once and a few of the same user in flight
 * together, so the per-user row lock is taken and contended. autocannon cannot sign per request,
 * so every delivery is signed before the run (a distinct `webhook-id`, the current timestamp, well
 * inside Polar's five-minute tolerance) and each request takes the next one.
 *
 * @module
 */
import { benefitGrantModel, customerStateModel } from "../local/polar_models.ts";
import {
  customerFixture,
  customerStateEvent,
  type PolarEvent,
  subscriptionEvent,
  subscriptionFixture,
} from "../supabase/functions/tests/support/polar_events.ts";
import { signWebhook } from "../local/webhook_signing.ts";
import { type LoadResult, runLoadPoint } from "./load.ts";
import type { PresetRequest } from "./load_runner.ts";
import { startTarget, type Target } from "./process.ts";
import { cpuMeter } from "./warm_path.ts";
import type { Upstreams } from "./upstreams.ts";

/** The function's entry. */
export const WEBHOOKS_ENTRY = "supabase/functions/polar-webhooks/index.ts";

/** One load point of the webhook function. */
export interface WebhookPoint extends LoadResult {
  /** Concurrent connections. */
  connections: number;
  /** Deliveries recorded in `polar.webhook_deliveries` during the point, by outcome. */
  outcomes: Record<string, number>;
  /** CPU the function process used per response, ms. */
  functionCpuMsPerResponse: number;
  /** CPU the stand-ins' process (and its database, when PGlite) used per response, ms. */
  standInsCpuMsPerResponse: number;
}

/** The webhook figures. */
export interface WebhookResult {
  /** The load points. */
  points: WebhookPoint[];
  /** Peak resident memory of the function process, MiB. */
  peakRssMiB: number;
}

/** Options of {@linkcode measureWebhooks}. */
export interface WebhookOptions {
  /** Concurrencies to run. */
  connections: readonly number[];
  /** Seconds per load point. */
  durationSeconds: number;
  /** Signed deliveries prepared per point; more than the point can send. */
  deliveriesPerPoint: number;
}

/**
 * What Polar sends for one new subscriber, in order: the subscription's first events and the
 * customer's state snapshots between them.
 */
export const SUBSCRIBER_EVENTS = [
  "subscription.created",
  "subscription.active",
  "customer.state_changed",
  "subscription.updated",
  "customer.state_changed",
] as const;

/**
 * Subscribers whose events are interleaved: the deliveries go wave by wave, each wave's users
 * taking turns, so at concurrency 32 about two deliveries of each user are in flight together.
 */
export const SUBSCRIBERS_PER_WAVE = 16;

/**
 * Whether `polar-webhooks` exists in this tree.
 *
 * @returns true when its `index.ts` is there
 * @example
 * ```ts
 * if (await webhooksFunctionExists()) await measureWebhooks(upstreams, options);
 * ```
 */
export async function webhooksFunctionExists(): Promise<boolean> {
  try {
    await Deno.stat(new URL(`../${WEBHOOKS_ENTRY}`, import.meta.url));
    return true;
  } catch {
    return false;
  }
}

/**
 * The `polar-webhooks` target, probed with one signed delivery.
 *
 * @param upstreams the Supabase API stand-in and the secret
 * @returns the target
 * @example
 * ```ts
 * await using running = await startTarget(await webhooksTarget(upstreams));
 * ```
 */
export async function webhooksTarget(upstreams: Upstreams): Promise<Target> {
  const [userId] = await createUsers(upstreams, 1);
  const [probe] = await signDeliveries(upstreams.webhookSecret, [userId], 1);
  return {
    name: "polar-webhooks",
    entry: WEBHOOKS_ENTRY,
    env: {
      SUPABASE_URL: upstreams.supabaseUrl,
      SUPABASE_SERVICE_ROLE_KEY: upstreams.serviceRoleKey,
      POLAR_WEBHOOK_SECRET: upstreams.webhookSecret,
    },
    probe: (url) => new Request(url, { method: "POST", headers: probe.headers, body: probe.body }),
  };
}

/**
 * Runs the webhook load points.
 *
 * @param upstreams the stand-ins (latency 0 here)
 * @param options concurrencies, duration, deliveries and users
 * @returns the figures
 * @example
 * ```ts
 * await measureWebhooks(upstreams, { connections: [1, 32], durationSeconds: 5, deliveriesPerPoint: 8000 });
 * ```
 */
export async function measureWebhooks(
  upstreams: Upstreams,
  options: WebhookOptions,
): Promise<WebhookResult> {
  upstreams.setLatency(0);
  const target = await webhooksTarget(upstreams);
  await using running = await startTarget(target);
  const requestsFile = await Deno.makeTempFile({ prefix: "bench-webhooks-", suffix: ".json" });
  try {
    const points: WebhookPoint[] = [];
    for (const connections of options.connections) {
      // New subscribers for every point: their first events are first.
      const userIds = await createUsers(
        upstreams,
        Math.ceil(options.deliveriesPerPoint / SUBSCRIBER_EVENTS.length),
      );
      const deliveries = await signDeliveries(
        upstreams.webhookSecret,
        userIds,
        options.deliveriesPerPoint,
      );
      await Deno.writeTextFile(requestsFile, JSON.stringify(deliveries));
      const before = await outcomeCounts(upstreams);
      const cpu = await cpuMeter(running);
      const result = await runLoadPoint({
        url: running.url,
        method: "POST",
        headers: {},
        connections,
        durationSeconds: options.durationSeconds,
        requestsFile,
      });
      const after = await outcomeCounts(upstreams);
      const outcomes = Object.fromEntries(
        Object.entries(after).map(([outcome, count]) => [outcome, count - (before[outcome] ?? 0)]),
      );
      points.push({ ...result, connections, outcomes, ...await cpu.perResponse(result.responses) });
    }
    return { points, peakRssMiB: (await running.peakRssKiB()) / 1024 };
  } finally {
    await Deno.remove(requestsFile).catch(() => {});
  }
}

async function createUsers(upstreams: Upstreams, count: number): Promise<string[]> {
  const rows = await upstreams.db.query<{ id: string }>(
    `insert into auth.users (id, email)
     select id, 'bench-' || id || '@example.com' from (select gen_random_uuid() as id
       from generate_series(1, $1::int)) as fresh
     returning id`,
    [count],
  );
  return rows.map((row) => row.id);
}

/**
 * `count` signed deliveries of {@linkcode SUBSCRIBER_EVENTS} for the users, wave by wave
 * ({@linkcode SUBSCRIBERS_PER_WAVE} users per wave, taking turns), each event a millisecond newer
 * than the one before it, so they are applied rather than stale.
 */
async function signDeliveries(
  secret: string,
  userIds: readonly string[],
  count: number,
): Promise<PresetRequest[]> {
  const start = Date.now() - 60_000;
  const events: PolarEvent[] = [];
  for (let wave = 0; wave < userIds.length && events.length < count; wave += SUBSCRIBERS_PER_WAVE) {
    const users = userIds.slice(wave, wave + SUBSCRIBERS_PER_WAVE).map((userId) => {
      const customer = customerFixture({ externalId: userId });
      return { customer, subscriptionId: crypto.randomUUID() };
    });
    for (const type of SUBSCRIBER_EVENTS) {
      for (const { customer, subscriptionId } of users) {
        const at = new Date(start + events.length).toISOString();
        const subscription = subscriptionFixture(customer, {
          id: subscriptionId,
          status: "active",
          modified_at: at,
        });
        events.push(
          type === "customer.state_changed"
            ? customerStateEvent(
              customerStateModel(customer, {
                subscriptions: [subscription],
                grants: [benefitGrantModel()],
              }),
              at,
            )
            : subscriptionEvent(type, subscription),
        );
      }
    }
  }
  const deliveries: PresetRequest[] = [];
  for (const event of events.slice(0, count)) {
    const body = JSON.stringify(event);
    const headers = await signWebhook(body, secret);
    deliveries.push({ headers: { ...headers, "Content-Type": "application/json" }, body });
  }
  return deliveries;
}

async function outcomeCounts(upstreams: Upstreams): Promise<Record<string, number>> {
  const rows = await upstreams.db.query<{ outcome: string; count: number }>(
    "select outcome, count(*)::int as count from polar.webhook_deliveries group by outcome",
  );
  return Object.fromEntries(rows.map((row) => [row.outcome, row.count]));
}
