/**
 * The reconcile's cost: the sync function's paged reconcile (`supabase/functions/sync/reconcile.ts`
 * with its production wiring) against the Polar stand-in holding 10,000 customers (each with 2
 * subscriptions, the current one active and an earlier one canceled, as Polar allows one billable
 * subscription per customer by default; 3 granted benefits; 1 meter), of whom 30% then change behind
 * the project's back (their webhooks never delivered). Figures: Polar calls per customer (goal ≤
 * 0.05), wall time at Polar's pace (computed from the calls at the sync function's production pace)
 * and measured without pacing, and users whose stored state differs from the stand-in's truth
 * after one run (goal 0: active subscriptions, entitlement keys, meter balances). Beside them, the
 * per-customer method this project shipped before (`per_customer_reconcile.ts`), on a smaller
 * sample.
 *
 * PostgreSQL 15: `BENCH_DATABASE_URL` when set, else a throwaway cluster of Debian's binaries
 * (`/usr/lib/postgresql/15/bin` or `PG_BIN`), else PGlite (the output says which). On its own:
 * `deno run -A bench/reconcile.ts` (`BENCH_RECONCILE_CUSTOMERS`, `BENCH_RECONCILE_SAMPLE` change the
 * sizes).
 *
 * @module
 */
import type { models } from "@polar-sh/sdk/2026-10";
import { createSchemaPglite, type Database, pgliteDatabase } from "../local/database.ts";
import { serveOnLoopback } from "../local/loopback.ts";
import {
  benefitGrantModel,
  customerMeterModel,
  customerModel,
  listedBenefitGrantModel,
  subscriptionModel,
} from "../local/polar_models.ts";
import { createPolarStandIn, type PolarStandIn } from "../local/polar_stand_in.ts";
import { createFreshDatabase, startThrowawayCluster } from "../reliability/databases.ts";
import { DEFAULT_POLAR_CALLS_PER_MINUTE } from "../supabase/functions/_polar/config.ts";
import { listSubscriptions } from "@polar-sh/sdk/2026-10/services/subscriptions";
import { createPolarClient, type PolarCore } from "../supabase/functions/_polar/polar.ts";
import { createPolarPacer } from "../supabase/functions/_polar/polar_pacer.ts";
import { createReconciler, type ReconcileReport } from "../supabase/functions/sync/reconcile.ts";
import { createReconcileWiring } from "../supabase/functions/sync/reconcile_wiring.ts";
import { createReconciler as createPerCustomerReconciler } from "./per_customer_reconcile.ts";
import { createSqlRpc } from "./sql_rpc.ts";

/** Customers in the measured run. */
export const RECONCILE_CUSTOMERS = 10_000;
/** Customers in the per-customer method's sample. */
export const PER_CUSTOMER_SAMPLE = 1_000;
/** The share of customers that change behind the project's back. */
export const CHANGED_SHARE = 0.3;
/** The goal: Polar calls per customer of a full run. */
export const CALLS_PER_CUSTOMER_GOAL = 0.05;
/** Polar's page size at most. */
const PAGE = 100;
/** Objects the stand-in's mix gives each customer in the lists a run reads (1 customer, 1 active
 * subscription, 3 grants, 1 meter). */
const LISTED_PER_CUSTOMER = 6;

/** One method's figures. */
export interface MethodFigures {
  /** `paged` or `per-customer`. */
  method: string;
  /** Customers in this measurement. */
  customers: number;
  /** Polar calls of the measured run (after the 30% changed). */
  polarCalls: number;
  /** `polarCalls / customers`. */
  callsPerCustomer: number;
  /** Seconds the calls take at the production pace. */
  secondsAtPace: number;
  /** Seconds the run took without pacing (the stand-in answers at once). */
  unpacedSeconds: number;
  /** Users whose stored state differed from the truth before the run. */
  mismatchesBefore: number;
  /** And after it. */
  mismatchesAfter: number;
  /** What the run reported (the last call's report). */
  report: Record<string, unknown>;
}

/** What {@linkcode measureReconcile} found. */
export interface ReconcileBench {
  /** `PostgreSQL <version>` or `PGlite`. */
  database: string;
  /** The production pace the figures at pace use. */
  callsPerMinute: number;
  /** The paged method on the full set. */
  paged: MethodFigures;
  /** The per-customer method on the sample. */
  perCustomer: MethodFigures;
  /** The calls per customer the four lists take for this mix before the changes (1 customer, 1
   * active subscription, 3 grants, 1 meter each, 100 a page), with every list read. */
  floorPerCustomer: number;
}

if (import.meta.main) {
  const bench = await measureReconcileOnDatabase(Deno.env.get("BENCH_DATABASE_URL"), {
    customers: positive("BENCH_RECONCILE_CUSTOMERS", RECONCILE_CUSTOMERS),
    sample: positive("BENCH_RECONCILE_SAMPLE", PER_CUSTOMER_SAMPLE),
    progress: (message) => console.error(`bench reconcile: ${message}`),
  });
  console.log(renderReconcile(bench));
}

/**
 * Measures both methods on PostgreSQL 15 (`serverUrl`, else a throwaway cluster), else PGlite.
 *
 * @param serverUrl a PostgreSQL server URL to create fresh databases on, if any
 * @param options sizes and a progress callback
 * @returns the figures
 * @example
 * ```ts
 * renderReconcile(await measureReconcileOnDatabase(undefined)); // "## Reconcile …"
 * ```
 */
export async function measureReconcileOnDatabase(
  serverUrl: string | undefined,
  options: { customers?: number; sample?: number; progress?: (message: string) => void } = {},
): Promise<ReconcileBench> {
  const progress = options.progress ?? (() => {});
  const customers = options.customers ?? RECONCILE_CUSTOMERS;
  const sample = options.sample ?? PER_CUSTOMER_SAMPLE;
  await using cluster = serverUrl || !(await hasPostgresBinaries())
    ? undefined
    : await startThrowawayCluster();
  const server = serverUrl ?? cluster?.url;
  const open = async (): Promise<Database & AsyncDisposable> => {
    if (server) {
      const fresh = await createFreshDatabase(server);
      return Object.assign(fresh.db, { [Symbol.asyncDispose]: () => fresh.drop() });
    }
    const db = pgliteDatabase(await createSchemaPglite({ seed: false }));
    return Object.assign(db, { [Symbol.asyncDispose]: () => db.close() });
  };
  let database = "PGlite";
  const measure = async (method: "paged" | "per-customer", count: number) => {
    await using db = await open();
    if (server) {
      const [{ version }] = await db.query<{ version: string }>(
        "select current_setting('server_version') as version",
      );
      database = `PostgreSQL ${version}`;
    }
    progress(`${method}: ${count} customers on ${database}`);
    return await measureMethod(db, method, count, progress);
  };
  const paged = await measure("paged", customers);
  const perCustomer = await measure("per-customer", sample);
  const listed = Math.ceil(customers / PAGE) * 2 + Math.ceil((customers * 3) / PAGE) +
    Math.ceil(customers / PAGE);
  return {
    database,
    callsPerMinute: DEFAULT_POLAR_CALLS_PER_MINUTE.production,
    paged,
    perCustomer,
    floorPerCustomer: listed / customers,
  };
}

/** Seeds the stand-in and the database, changes 30%, and measures one run of the method. */
async function measureMethod(
  db: Database,
  method: "paged" | "per-customer",
  count: number,
  progress: (message: string) => void,
): Promise<MethodFigures> {
  const polar = createPolarStandIn({
    baseUrl: "http://127.0.0.1:1",
    webhookUrl: "http://127.0.0.1:1/functions/v1/polar-webhooks",
    webhookSecret: "whsec_bench",
    webhooks: "off",
  });
  await using server = await serveOnLoopback(polar.handler);
  const users = await seed(db, polar, count);
  const rpc = createSqlRpc(db);
  const client = createPolarClient({
    accessToken: "polar_oat_bench",
    server: "production",
    apiUrl: server.url,
  });
  const processDeletions = () => Promise.resolve({ deleted: 0, absent: 0, failed: 0 });
  const run = async (pacer = createPolarPacer({ perMinute: 1e9 })) => {
    const wiring = createReconcileWiring({
      rpc,
      polar: client,
      pacer,
      processDeletions,
      budgetMs: 3600_000,
    });
    const reconcile = method === "paged"
      ? createReconciler(wiring)
      : createPerCustomerReconciler(perCustomerWiring(wiring, rpc, client));
    const started = performance.now();
    const report = await reconcile({ resumeOnly: false }) as unknown as ReconcileReport;
    return { report, seconds: (performance.now() - started) / 1000, calls: pacer.calls };
  };

  // The project starts current: a first run brings the database to the stand-in's state.
  progress(`${method}: first run (the database starts current)`);
  await run();
  const initial = await mismatches(db, polar, users);
  if (initial !== 0) progress(`${method}: ${initial} users differ after the first run`);
  changeBehindTheBack(polar, users);
  const before = await mismatches(db, polar, users);
  progress(`${method}: ${before} users changed behind its back; measured run`);
  const measured = await run();
  const after = await mismatches(db, polar, users);
  return {
    method,
    customers: count,
    polarCalls: measured.calls,
    callsPerCustomer: measured.calls / count,
    secondsAtPace: (measured.calls * 60) / DEFAULT_POLAR_CALLS_PER_MINUTE.production,
    unpacedSeconds: measured.seconds,
    mismatchesBefore: before,
    mismatchesAfter: after,
    report: measured.report as unknown as Record<string, unknown>,
  };
}

/** The per-customer reconciler's dependencies, from the paged wiring (no lease: one caller). */
function perCustomerWiring(
  wiring: ReturnType<typeof createReconcileWiring>,
  rpc: ReturnType<typeof createSqlRpc>,
  client: PolarCore,
): Parameters<typeof createPerCustomerReconciler>[0] {
  let saved = { id: 1, next_page: 1, phase: "customers" as const, counts: {} };
  return {
    ...wiring,
    db: {
      begin: () =>
        Promise.resolve({ ...saved, started_at: new Date().toISOString(), resumed: false }),
      save: (id, nextPage, phase, counts) => {
        saved = { id, next_page: nextPage, phase: phase as "customers", counts };
        return Promise.resolve();
      },
      knownUsers: async (ids) => new Set(await rpc<string[]>("polar_known_users", { ids })),
      applyState: wiring.db.applyState,
      unreconciled: wiring.db.unreconciled,
      unlink: wiring.db.unlink,
      skippedDeliveries: wiring.db.skippedDeliveries,
    },
    polar: {
      ...wiring.polar,
      listCustomers: async (page, limit) => {
        const read = await wiring.polar.listPage("customer", page, limit);
        return { items: read.items as { id: string }[], maxPage: read.maxPage };
      },
      listSubscriptions: async (page, limit) => {
        // Every subscription, as the per-customer method read them.
        const read = await listSubscriptions(client)({ page, limit });
        return {
          items: read.items as unknown as Record<string, unknown>[],
          maxPage: read.pagination.max_page,
        };
      },
    },
  };
}

/** Users, customers, subscriptions, grants and meters: the mix in the module's description. */
async function seed(db: Database, polar: PolarStandIn, count: number): Promise<string[]> {
  const users = Array.from({ length: count }, () => crypto.randomUUID());
  for (let i = 0; i < users.length; i += 1000) {
    const chunk = users.slice(i, i + 1000);
    await db.query(
      "insert into auth.users (id, email) select id, id::text || '@example.com' from unnest($1::uuid[]) as id",
      [chunk],
    );
  }
  const day = 24 * 3600_000;
  const at = (daysAgo: number) => new Date(Date.now() - daysAgo * day).toISOString();
  users.forEach((userId, index) => {
    const customer = customerModel({ externalId: userId });
    customer.created_at = new Date(Date.now() - 90 * day + index).toISOString();
    polar.customers.set(customer.id, customer);
    const earlier = subscriptionModel(customer, {
      created_at: at(90),
      started_at: at(90),
      status: "canceled",
      canceled_at: at(60),
      ended_at: at(60),
      modified_at: at(60),
    });
    const current = subscriptionModel(customer, {
      created_at: at(30),
      started_at: new Date(Date.now() - 30 * day + index).toISOString(),
      status: "active",
      modified_at: at(30),
    });
    polar.subscriptions.set(earlier.id, earlier);
    polar.subscriptions.set(current.id, current);
    for (
      const [key, subscriptionId] of [["pro", current.id], ["team", current.id], [
        "support",
        null,
      ]] as const
    ) {
      const grant = listedBenefitGrantModel(
        customer,
        benefitGrantModel({
          benefit_id: `benefit-${key}`,
          benefit_metadata: { key },
          created_at: new Date(Date.now() - 30 * day + index).toISOString(),
          granted_at: at(30),
        }),
        { subscription_id: subscriptionId },
      );
      polar.grants.set(grant.id, grant);
    }
    const meter = customerMeterModel(customer, {
      consumed_units: index % 97,
      credited_units: 1000,
    });
    meter.created_at = new Date(Date.now() - 30 * day + index).toISOString();
    polar.meters.set(meter.id, meter);
  });
  return users;
}

/**
 * 30% of customers change, in equal thirds, with no webhook: their subscription ends now (and
 * its grants are revoked); a grant is revoked and another granted; their meter is used and their
 * subscription set to cancel at period end.
 */
function changeBehindTheBack(polar: PolarStandIn, users: string[]) {
  const now = new Date().toISOString();
  const byCustomer = new Map<string, models.Subscription>();
  for (const s of polar.subscriptions.values()) {
    if (s.status === "active") byCustomer.set(s.customer_id, s);
  }
  const customers = [...polar.customers.values()];
  const changed = Math.round(users.length * CHANGED_SHARE);
  for (let i = 0; i < changed; i++) {
    const customer = customers[Math.floor((i * customers.length) / changed)];
    const subscription = byCustomer.get(customer.id)!;
    const grants = [...polar.grants.values()].filter((g) =>
      g.customer_id === customer.id && g.is_granted
    );
    if (i % 3 === 0) {
      Object.assign(subscription, {
        status: "canceled",
        canceled_at: now,
        ended_at: now,
        ends_at: now,
        modified_at: now,
      });
      for (const grant of grants.filter((g) => g.subscription_id === subscription.id)) {
        Object.assign(grant, { is_granted: false, is_revoked: true, revoked_at: now });
      }
    } else if (i % 3 === 1) {
      Object.assign(grants[0], { is_granted: false, is_revoked: true, revoked_at: now });
      const added = listedBenefitGrantModel(
        customer,
        benefitGrantModel({ benefit_id: "benefit-extra", benefit_metadata: { key: "extra" } }),
      );
      polar.grants.set(added.id, added);
    } else {
      const meter = [...polar.meters.values()].find((m) => m.customer_id === customer.id)!;
      Object.assign(meter, {
        consumed_units: meter.consumed_units + 50,
        balance: meter.balance - 50,
        modified_at: now,
      });
      Object.assign(subscription, { cancel_at_period_end: true, modified_at: now });
    }
  }
}

/** Users whose active subscriptions, entitlement keys or meter balances differ from the truth. */
async function mismatches(db: Database, polar: PolarStandIn, users: string[]): Promise<number> {
  const truth = new Map<string, string>();
  const customerOf = new Map<string, string>();
  for (const c of polar.customers.values()) customerOf.set(c.id, c.external_id!);
  const parts = new Map<string, { subs: string[]; keys: Set<string>; meters: string[] }>();
  const part = (customerId: string) => {
    const user = customerOf.get(customerId)!;
    if (!parts.has(user)) parts.set(user, { subs: [], keys: new Set(), meters: [] });
    return parts.get(user)!;
  };
  for (const s of polar.subscriptions.values()) {
    if (s.status === "active" || s.status === "trialing") part(s.customer_id).subs.push(s.id);
  }
  for (const g of polar.grants.values()) {
    if (g.is_granted) part(g.customer_id).keys.add(String(g.benefit.metadata.key));
  }
  for (const m of polar.meters.values()) {
    part(m.customer_id).meters.push(`${m.meter_id}:${Number(m.balance)}`);
  }
  for (const [user, p] of parts) {
    truth.set(user, JSON.stringify([p.subs.sort(), [...p.keys].sort(), p.meters.sort()]));
  }
  const stored = await db.query<{ user_id: string; digest: string }>(
    `
    select u.id::text as user_id, jsonb_build_array(
      coalesce((select jsonb_agg(s.id order by s.id) from public.polar_subscriptions as s
        join public.user_subscriptions as o on o.user_id = s.user_id
        where s.user_id = u.id
          and polar.is_active_now(s.status, s.in_latest_state, s.polar_modified_at, o.polar_state_at)),
        '[]'),
      coalesce((select jsonb_agg(distinct g.benefit_metadata ->> 'key')
        from public.polar_benefit_grants as g where g.user_id = u.id), '[]'),
      coalesce((select jsonb_agg(m.meter_id || ':' || (m.balance::float8)::text order by m.meter_id)
        from public.polar_meters as m where m.user_id = u.id), '[]'))::text as digest
    from auth.users as u where u.id = any ($1::uuid[])`,
    [users],
  );
  let count = 0;
  for (const row of stored) {
    const [subs, keys, meters] = JSON.parse(row.digest) as string[][];
    const digest = JSON.stringify([subs.sort(), keys.sort(), meters.sort()]);
    if (digest !== (truth.get(row.user_id) ?? JSON.stringify([[], [], []]))) count++;
  }
  return count;
}

/**
 * The figures as markdown, with the goals judged from them.
 *
 * @param bench what {@linkcode measureReconcileOnDatabase} found
 * @returns markdown
 * @example
 * ```ts
 * console.log(renderReconcile(bench)); // "## Reconcile: 10000 customers, 30% changed …"
 * ```
 */
export function renderReconcile(bench: ReconcileBench): string {
  const { paged, perCustomer } = bench;
  const minutes = (seconds: number) =>
    seconds >= 120 ? `${(seconds / 60).toFixed(1)} min` : `${seconds.toFixed(1)} s`;
  const row = (f: MethodFigures, note: string) =>
    `| ${f.method}${note} | ${f.customers} | ${f.polarCalls} | ${f.callsPerCustomer.toFixed(4)} | ${
      minutes(f.secondsAtPace)
    } | ${minutes(f.unpacedSeconds)} | ${
      minutes(f.secondsAtPace + f.unpacedSeconds)
    } | ${f.mismatchesBefore} → ${f.mismatchesAfter} |`;
  const perCustomerAt = (customers: number) =>
    minutes((perCustomer.callsPerCustomer * customers * 60) / bench.callsPerMinute);
  const goals = [
    [
      "Polar calls per customer",
      `≤ ${CALLS_PER_CUSTOMER_GOAL}`,
      paged.callsPerCustomer.toFixed(4),
      paged.callsPerCustomer <= CALLS_PER_CUSTOMER_GOAL,
    ],
    [
      "users differing from Polar after one run",
      "0",
      String(paged.mismatchesAfter),
      paged.mismatchesAfter === 0,
    ],
  ] as const;
  const lines = [
    `## Reconcile: ${paged.customers} customers, ${
      CHANGED_SHARE * 100
    }% changed behind its back (${bench.database})`,
    "",
    `Each customer: 2 subscriptions (1 active, 1 canceled earlier), 3 granted benefits, 1 meter. Calls at pace: the calls at the sync function's production pace, ${bench.callsPerMinute} a minute (80% of Polar's 500). Unpaced run: measured with the stand-in answering at once (mostly the database's time). Wall at pace, at most: the two added (the database works while the pacer waits, so the real figure lies between the larger of the two and their sum).`,
    "",
    "| method | customers | Polar calls | per customer | calls at pace | unpaced run | wall at pace, at most | users differing before → after |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
    row(paged, ""),
    row(perCustomer, ` (sample of ${perCustomer.customers})`),
    "",
    `Per-customer method scaled to ${paged.customers} customers: ≈ ${
      Math.round(perCustomer.callsPerCustomer * paged.customers)
    } calls, ${perCustomerAt(paged.customers)} at pace; to 100,000: ${perCustomerAt(100_000)}.`,
    "",
    "| goal | target | figure | met |",
    "| --- | --- | --- | --- |",
    ...goals.map(([name, target, figure, met]) =>
      `| ${name} | ${target} | ${figure} | ${met ? "yes" : "no"} |`
    ),
  ];
  const listed = paged.report as Partial<Record<string, number>>;
  const listPages = ["customers", "subscriptions", "grants", "meters"]
    .reduce((sum, key) => sum + Math.ceil((listed[key] ?? 0) / PAGE), 0);
  lines.push(
    "",
    `The measured run's four lists took ${listPages} pages (${
      (listPages / paged.customers).toFixed(4)
    } per customer); its other ${
      paged.polarCalls - listPages
    } calls: the canceled subscriptions since the last run, the webhook endpoints, and one Customer State per customer whose subscription went past due, paused or unpaid (none here).`,
  );
  if (paged.callsPerCustomer > CALLS_PER_CUSTOMER_GOAL) {
    lines.push(
      "",
      `The goal is not reachable for this mix while every list is read: Polar answers at most ${PAGE} items a page, and each customer brings ${LISTED_PER_CUSTOMER} listed objects (itself, 1 active subscription, 3 grants, 1 meter), so the four lists alone take ${
        bench.floorPerCustomer.toFixed(4)
      } calls per customer before anything changes (fewer here only because the changes ended subscriptions and revoked grants).`,
    );
  }
  return lines.join("\n");
}

async function hasPostgresBinaries(): Promise<boolean> {
  const bin = Deno.env.get("PG_BIN") ?? "/usr/lib/postgresql/15/bin";
  return await Deno.stat(`${bin}/initdb`).then(() => true, () => false);
}

function positive(name: string, fallback: number): number {
  const value = Number(Deno.env.get(name) ?? fallback);
  if (!(value > 0)) throw new Error(`${name} is not a positive number`);
  return Math.round(value);
}
