/**
 * The operator's reconcile over Polar's organization-wide lists, so that its Polar calls grow
 * with customers / 100, not with customers:
 *
 * 1. **Read** every page of `GET /v1/customers/`, `GET /v1/subscriptions/?active=true`,
 *    `GET /v1/benefit-grants/?is_granted=true` and `GET /v1/customer-meters/` (100 a page, oldest
 *    first so that new objects land on later pages) into staging tables keyed by the run.
 * 2. **Apply**: each staged customer's snapshot (its active subscriptions, grants and meters,
 *    labeled with the run's start, no later than its first page) goes through
 *    `public.apply_polar_state`, the webhooks' SQL and staleness rules, a batch of customers per
 *    database call. A webhook snapshot newer than the run's start is never overwritten.
 * 3. **Ended**: subscriptions canceled since the last finished run
 *    (`GET /v1/subscriptions/?status=canceled&sorting=-ended_at`, down to that run's start) are
 *    applied by their own clocks, so how they ended is stored; a customer whose subscription is
 *    still stored as live after that (past due, paused, or a page shifted while it was read) has
 *    its Customer State pulled.
 * 4. **Linked**: users linked to a customer no page mentioned are checked by external id, then by
 *    the stored customer id, and unlinked only when Polar has neither.
 * 5. **Teams**: each team customer the customers pages listed is read whole (members,
 *    subscriptions, seats, members' grants) and what Polar no longer lists is removed; a stored
 *    team Polar no longer has goes (`team_reconcile.ts`).
 *
 * One worker per run: `begin` takes a lease (renewed by every save, released when the call
 * ends); while another call holds it this call answers 409 and calls Polar for nothing.
 * Resumable: progress is saved with every page and batch; a call works for its time budget, then
 * answers `partial`, and the next call continues.
 *
 * @module
 */
import { HttpError, STATUS } from "../_polar/http_error.ts";
import { describeError } from "../_polar/log.ts";
import type { PolarPacer } from "../_polar/polar_pacer.ts";
import { subscriptionChange, type WebhookChange } from "../_polar/polar_webhooks.ts";
import { teamChangeOf } from "../_polar/team_webhooks.ts";
import type { DeletionReport } from "./deletions.ts";
import { POLAR_MAX_PAGE_SIZE, RECONCILE_LISTS, type ReconcileList, stagePage } from "./pages.ts";
import { applyPull, type ApplyResult } from "./pull.ts";
import {
  createTeamReconcile,
  type TeamCounts,
  type TeamReconcileDependencies,
} from "./team_reconcile.ts";

/** A run's phases, in order. */
export const RECONCILE_PHASES = [
  "customers",
  "subscriptions",
  "grants",
  "meters",
  "apply",
  "ended",
  "stale",
  "linked",
  "teams",
  "teams_gone",
  "done",
] as const;

/** A phase of {@linkcode RECONCILE_PHASES}. */
export type ReconcilePhase = typeof RECONCILE_PHASES[number];

/** The read phase of each list. */
const LIST_PHASES: Record<ReconcileList, ReconcilePhase> = {
  customer: "customers",
  subscription: "subscriptions",
  grant: "grants",
  meter: "meters",
};

/** What the operator is told when another call holds the run's lease. */
export const RECONCILE_BUSY_MESSAGE = "A reconcile run is in progress";

/** The counts a run keeps across its calls (the team phases' among them). */
export interface ReconcileCounts extends TeamCounts {
  /** Users whose state was applied (or found unchanged). */
  checked: number;
  /** Of those, users whose stored state changed. */
  changed: number;
  /** Of those, users whose stored state was already current. */
  unchanged: number;
  /** Polar customers whose external id is no user here (deleted users among them). */
  orphaned: number;
  /** Polar customers without an external id that no stored link places (see link-customer). */
  no_external_id: number;
  /** Linked users whose customer Polar no longer has; their link was cleared. */
  missing: number;
  /** Pages read from Polar's lists. */
  pages: number;
  /** Customers listed. */
  customers: number;
  /** Active subscriptions listed. */
  subscriptions: number;
  /** Granted benefits listed. */
  grants: number;
  /** Customer meters listed. */
  meters: number;
  /** Subscriptions that ended (listed since the last run, or pulled) applied by their own clock. */
  ended: number;
  /** Of those, subscriptions whose stored row changed. */
  subscriptions_changed: number;
  /** Items, customers or users that could not be reconciled this time (the next run retries). */
  failures: number;
}

/** A run this call works, as `public.begin_polar_reconcile` answers it. */
export interface ReconcileRun {
  /** The run's id. */
  id: number;
  /** When it started: the label of its snapshots, and users checked since then are done. */
  started_at: string;
  /** The next page (or batch) of the phase. */
  next_page: number;
  /** Where it is. */
  phase: ReconcilePhase;
  /** What it counted so far. */
  counts: Partial<ReconcileCounts>;
  /** Whether this call continues an earlier one. */
  resumed: boolean;
  /** The lease this call holds; every save passes it. */
  lease: string;
  /** When the last finished run started (null for the first run): ended subscriptions since. */
  since: string | null;
}

/** `public.begin_polar_reconcile`'s answer while another call holds the lease. */
export interface BusyRun {
  /** Always true. */
  busy: true;
  /** The run being worked. */
  id: number;
  /** When its lease lapses unless renewed. */
  lease_expires_at: string;
}

/** What `public.apply_polar_reconcile_batch` answers. */
export interface BatchResult {
  /** Customers applied in this batch. */
  customers: number;
  /** Users whose snapshot applied (or was stale). */
  checked: number;
  /** Of those, changed. */
  changed: number;
  /** Of those, unchanged. */
  unchanged: number;
  /** Customers whose external id is no user here. */
  orphaned: number;
  /** Customers without an external id that no stored link places. */
  no_external_id: number;
  /** Customers that failed. */
  failures: number;
  /** Whether staged customers remain. */
  remaining: boolean;
}

/** A link `public.polar_unverified_links()` names. */
export interface UnverifiedLink {
  /** The user. */
  user_id: string;
  /** The Polar customer their row is linked to, whose external_id is not known to be theirs. */
  polar_customer_id: string;
}

/** The report's form of an {@linkcode UnverifiedLink}, with the command that fixes it. */
export interface UnverifiedLinkReport {
  /** The user. */
  user_id: string;
  /** The customer. */
  customer_id: string;
  /** The operator's fix. */
  fix: string;
}

/** A usage row `public.polar_unsent_usage` names: refused by Polar, or pending too long. */
export interface UnsentUsageEvent {
  /** The outbox row. */
  id: number;
  /** The user. */
  user_id: string;
  /** The meter's name when it was recorded. */
  meter: string;
  /** The event's `external_id` (a count meter's events add `:1` … `:n`). */
  external_id: string;
  /** The units recorded. */
  units: number | string;
  /** When it was recorded. */
  recorded_at: string;
  /** `refused`: Polar answered 422 for it; `pending`: recorded more than a day ago, not sent. */
  state: "refused" | "pending";
  /** Polar's reason, for a refused row; null for a pending one. */
  reason: string | null;
}

/** What `public.polar_unsent_usage()` answers: the usage rows an operator must look at. */
export interface UnsentUsageReport {
  /** Rows Polar refused; they are no longer sent (clear `polar_refusal` to retry one). */
  refused: number;
  /** Rows still pending that were recorded more than {@linkcode UnsentUsageReport.older_than} ago. */
  stale: number;
  /** The age past which a pending row is named (`1 day`). */
  older_than: string;
  /** Up to 100 of those rows, refused first, then oldest first. */
  events: UnsentUsageEvent[];
}

/** One page of a Polar list. */
export interface PolarPage {
  /** The page's items, as Polar answers them. */
  items: Record<string, unknown>[];
  /** The last page. */
  maxPage: number;
  /** Items in the whole list now. */
  totalCount: number;
}

/** What {@linkcode createReconciler} depends on. */
export interface ReconcileDependencies {
  /** The database (service role). */
  db: {
    begin(resumeOnly: boolean): Promise<ReconcileRun | BusyRun | null>;
    save(
      run: ReconcileRun,
      nextPage: number,
      phase: ReconcilePhase,
      counts: ReconcileCounts,
    ): Promise<void>;
    release(run: ReconcileRun): Promise<void>;
    stage(
      run: ReconcileRun,
      list: ReconcileList,
      items: unknown[],
      nextPage: number,
      phase: ReconcilePhase,
      counts: ReconcileCounts,
    ): Promise<void>;
    applyBatch(run: ReconcileRun, maxCustomers: number): Promise<BatchResult>;
    applyStates(changes: { user_id?: string; change: WebhookChange }[]): Promise<ApplyResult[]>;
    stale(run: ReconcileRun, maxRows: number): Promise<{ customer_id: string; user_id: string }[]>;
    finishStale(run: ReconcileRun, customerIds: string[]): Promise<void>;
    applyState(userId: string, change: WebhookChange): Promise<ApplyResult>;
    unreconciled(
      since: string,
      maxRows: number,
    ): Promise<{ user_id: string; polar_customer_id: string }[]>;
    unlink(userId: string, customerId: string): Promise<boolean>;
    skippedDeliveries(since: string): Promise<number>;
    unverifiedLinks(): Promise<UnverifiedLink[]>;
    /** `public.polar_unsent_usage()`: usage rows refused, or pending for more than a day. */
    unsentUsage(): Promise<UnsentUsageReport>;
  };
  /** Polar (each call is paced by the reconcile). */
  polar: {
    /** A page of a list: all customers, active subscriptions, granted benefits, meters. */
    listPage(list: ReconcileList, page: number, limit: number): Promise<PolarPage>;
    /** A page of the canceled subscriptions, the latest ended first. */
    listEnded(page: number, limit: number): Promise<PolarPage>;
    getState(customerId: string): Promise<Record<string, unknown> | null>;
    getStateByExternalId(externalId: string): Promise<Record<string, unknown> | null>;
    getSubscription(id: string): Promise<Record<string, unknown> | null>;
    listWebhookEndpoints(): Promise<{ url: string; enabled: boolean }[]>;
  };
  /** Paces every Polar call. */
  pacer: PolarPacer;
  /** One pass over the account-deletion outbox. */
  processDeletions: () => Promise<DeletionReport>;
  /**
   * The team phases' database and Polar calls, and the staging of each customers page's team
   * customers; without them (tests of the individual phases) the team phases do nothing.
   */
  teams?: {
    /** `public.stage_polar_reconcile_teams`: queues a page's team customers for the run. */
    stage(run: ReconcileRun, customers: Record<string, unknown>[]): Promise<number>;
    db: TeamReconcileDependencies["db"];
    polar: TeamReconcileDependencies["polar"];
  };
  /** Milliseconds a call may spend before saving and stopping. */
  budgetMs: number;
  /** A clock in milliseconds since the epoch. */
  now: () => number;
  /** Items per page (Polar allows up to 100). */
  pageSize?: number;
  /** Customers applied per database call (200 by default). */
  batchSize?: number;
  /** Where a failure's cause goes (never a token or a body). */
  warn?: (message: string) => void;
}

/** What the operator is answered. */
export interface ReconcileReport extends ReconcileCounts {
  /** `done` when the run finished, `partial` when it saved its place to resume, `idle` when a
   * resume-only call found nothing to resume. */
  status: "done" | "partial" | "idle";
  /** The run's id. */
  run_id: number | null;
  /** Whether this call continued an earlier one. */
  resumed: boolean;
  /** Polar calls this call made (429s included). */
  polar_calls: number;
  /** 429 answers this call received. */
  rate_limited: number;
  /** Webhook deliveries since the run started that matched no user (deleted users among them). */
  skipped_deliveries: number;
  /** What this call's pass over the deletion outbox did (null when idle). */
  deletions: DeletionReport | null;
  /** Polar's webhook endpoints, and whether Polar has disabled any. */
  webhook_endpoints: { url: string; enabled: boolean }[] | null;
  /** True when Polar has disabled a webhook endpoint: re-enable it in Polar's dashboard. */
  webhooks_disabled: boolean | null;
  /** Links whose customer's external_id is not known to be the user's: gates never count them. */
  unverified_links: UnverifiedLinkReport[] | null;
  /** Usage events Polar refused, and usage events pending for more than a day (null when the
   * listing failed, or the call was idle). */
  unsent_usage: UnsentUsageReport | null;
  /** Milliseconds this call took. */
  elapsed_ms: number;
}

const ZERO: ReconcileCounts = {
  checked: 0,
  changed: 0,
  unchanged: 0,
  orphaned: 0,
  no_external_id: 0,
  missing: 0,
  pages: 0,
  customers: 0,
  subscriptions: 0,
  grants: 0,
  meters: 0,
  ended: 0,
  subscriptions_changed: 0,
  failures: 0,
  teams: 0,
  team_objects: 0,
  team_members_removed: 0,
  team_seats_revoked: 0,
  team_grants_revoked: 0,
  teams_deleted: 0,
  team_deletions_queued: 0,
};

/**
 * Linked users checked per round of the linked phase, and customers pulled per stale round: one to
 * three Polar calls each, so a round takes well under the lease (150 s) and the call's budget
 * even at the sandbox's pace (80 a minute).
 */
const LINKED_BATCH = 25;

/** How far before the last run's start ended subscriptions are read again (clock skew). */
const ENDED_MARGIN_MS = 3600_000;

/**
 * Makes the reconcile.
 *
 * @param deps database, Polar, pacer, outbox, budget and clock
 * @returns `reconcile({ resumeOnly })`
 * @throws {HttpError} from `reconcile`: 409 while another call holds the run's lease
 * @example
 * ```ts
 * const reconcile = createReconciler(deps);
 * await reconcile({ resumeOnly: false }); // { status: "done", checked: 200, changed: 61, polar_calls: 9, … }
 * ```
 */
export function createReconciler(
  deps: ReconcileDependencies,
): (options: { resumeOnly: boolean }) => Promise<ReconcileReport> {
  const { db, polar, pacer, now } = deps;
  const pageSize = Math.min(deps.pageSize ?? POLAR_MAX_PAGE_SIZE, POLAR_MAX_PAGE_SIZE);
  const batchSize = deps.batchSize ?? 200;
  const warn = deps.warn ?? ((message: string) => console.warn(message));
  const teams = deps.teams
    ? createTeamReconcile({ ...deps.teams, pacer, now, pageSize, warn })
    : undefined;

  return async ({ resumeOnly }) => {
    const startedAt = now();
    const callsBefore = pacer.calls;
    const limitedBefore = pacer.rateLimited;
    const deadline = startedAt + deps.budgetMs;
    // The lease first: a call that does not hold it calls Polar for nothing.
    const begun = await db.begin(resumeOnly);
    if (begun && "busy" in begun) {
      throw new HttpError(STATUS.Conflict, RECONCILE_BUSY_MESSAGE, {
        cause: `run ${begun.id} is leased until ${begun.lease_expires_at}`,
      });
    }
    const run = begun;
    if (!run) return idleReport(now() - startedAt);
    try {
      const deletions = await deps.processDeletions();
      const endpoints = await pacer(() => polar.listWebhookEndpoints()).catch((error) => {
        warn(`Listing Polar's webhook endpoints failed: ${describeError(error)}`);
        return null;
      });
      const counts: ReconcileCounts = { ...ZERO, ...run.counts };
      const phase = await work(run, counts, deadline);
      const unverified = await db.unverifiedLinks().then(
        (links) =>
          links.map((link) => ({
            user_id: link.user_id,
            customer_id: link.polar_customer_id,
            fix:
              `deno task link-customer --user ${link.user_id} --customer ${link.polar_customer_id}`,
          })),
        (error) => {
          warn(`Listing unverified links failed: ${describeError(error)}`);
          return null;
        },
      );
      if (unverified && unverified.length > 0) {
        warn(
          `Unverified Polar links (gates do not count them; fix each with deno task link-customer): ${
            unverified.map((link) => `${link.user_id} -> ${link.customer_id}`).join(", ")
          }`,
        );
      }
      const unsentUsage = await db.unsentUsage().catch((error) => {
        warn(`Listing unsent usage events failed: ${describeError(error)}`);
        return null;
      });
      if (unsentUsage && (unsentUsage.refused > 0 || unsentUsage.stale > 0)) {
        warn(
          `Usage events not delivered to Polar: ${unsentUsage.refused} refused, ${unsentUsage.stale} pending for more than ${unsentUsage.older_than}: ${
            unsentUsage.events.map((event) =>
              `${event.external_id} (${event.state}${event.reason ? `: ${event.reason}` : ""})`
            ).join(", ")
          }`,
        );
      }
      return {
        status: phase === "done" ? "done" : "partial",
        run_id: run.id,
        resumed: run.resumed,
        ...counts,
        polar_calls: pacer.calls - callsBefore,
        rate_limited: pacer.rateLimited - limitedBefore,
        skipped_deliveries: await db.skippedDeliveries(run.started_at),
        deletions,
        webhook_endpoints: endpoints,
        webhooks_disabled: endpoints ? endpoints.some((endpoint) => !endpoint.enabled) : null,
        unverified_links: unverified,
        unsent_usage: unsentUsage,
        elapsed_ms: Math.round(now() - startedAt),
      };
    } finally {
      await db.release(run).catch((error) =>
        warn(`Releasing the reconcile lease failed: ${describeError(error)}`)
      );
    }
  };

  /** Works the run until it is done or the budget is spent; answers the phase it reached. */
  async function work(run: ReconcileRun, counts: ReconcileCounts, deadline: number) {
    let phase: ReconcilePhase = run.phase;
    let page = run.next_page;
    // Each call does at least one page (or batch), so even a spent budget makes progress.
    let worked = false;
    const mayWork = () => !worked || now() < deadline;
    const next = () => {
      phase = RECONCILE_PHASES[RECONCILE_PHASES.indexOf(phase) + 1];
      page = 1;
    };

    // 1. Read every list into the run's staging tables, one page per save.
    let lastTotal: number | null = null;
    let furthest = 0;
    for (const list of RECONCILE_LISTS) {
      while (phase === LIST_PHASES[list] && mayWork()) {
        worked = true;
        const read = await pacer(() => polar.listPage(list, page, pageSize));
        counts.pages++;
        const { items, refused } = stagePage(list, read.items, run.started_at);
        for (const item of refused) {
          counts.failures++;
          warn(`Reconcile: ${list} ${item.id} left out: ${item.reason}`);
        }
        counts[COUNTED[list]] += items.length;
        if (list === "customer" && deps.teams) {
          // Only what apply_polar_team_change reads of each team customer is queued.
          const teamCustomers = read.items.filter((item) => item.type === "team")
            .map((item) => teamChangeOf("customer.updated", item)!.object);
          if (teamCustomers.length > 0) await deps.teams.stage(run, teamCustomers);
        }
        // Offset pages shift when objects leave the list while it is read: what sat at the start
        // of this page moved onto the one before. Read that one again (once per page, so a list
        // that keeps shrinking still ends; repeated items change nothing).
        const shrunk = lastTotal !== null && read.totalCount < lastTotal && page > furthest
          ? Math.ceil((lastTotal - read.totalCount) / pageSize)
          : 0;
        lastTotal = read.totalCount;
        furthest = Math.max(furthest, page);
        page = shrunk > 0 ? Math.max(1, page - shrunk) : page + 1;
        if (page > read.maxPage) {
          next();
          lastTotal = null;
          furthest = 0;
        }
        await db.stage(run, list, items, page, phase, counts);
      }
    }

    // 2. Apply each customer's snapshot, a batch of customers per database call.
    while (phase === "apply" && mayWork()) {
      worked = true;
      const batch = await db.applyBatch(run, batchSize);
      for (const key of BATCH_COUNTS) counts[key] += batch[key];
      if (!batch.remaining) next();
      await db.save(run, page, phase, counts);
    }

    // 3. Subscriptions canceled since the last run, then customers still holding stale ones.
    const endedSince = run.since ? Date.parse(run.since) - ENDED_MARGIN_MS : null;
    while (phase === "ended" && mayWork()) {
      worked = true;
      const read = await pacer(() => polar.listEnded(page, pageSize));
      counts.pages++;
      const changes = [];
      for (const subscription of read.items) {
        try {
          changes.push({ change: subscriptionChange(subscription, run.started_at) });
        } catch (error) {
          counts.failures++;
          warn(`Reconcile: subscription ${subscription.id} left out: ${describeError(error)}`);
        }
      }
      for (const result of changes.length > 0 ? await db.applyStates(changes) : []) {
        if (result.outcome === "failed") counts.failures++;
        if (result.outcome === "failed" || result.outcome === "skipped") continue;
        counts.ended++;
        if (result.changed) counts.subscriptions_changed++;
      }
      const oldest = read.items.at(-1)?.ended_at;
      const reachedSince = endedSince !== null && typeof oldest === "string" &&
        Date.parse(oldest) < endedSince;
      page++;
      if (page > read.maxPage || read.items.length === 0 || reachedSince) next();
      await db.save(run, page, phase, counts);
    }
    const pullDeps = {
      applyState: db.applyState,
      fetchSubscription: (id: string) => pacer(() => polar.getSubscription(id)),
      now,
    };
    while (phase === "stale" && mayWork()) {
      worked = true;
      const rows = await db.stale(run, LINKED_BATCH);
      for (const row of rows) {
        const at = new Date(now()).toISOString();
        try {
          const state = await pacer(() => polar.getState(row.customer_id));
          if (state) {
            const { changed } = await applyPull(pullDeps, row.user_id, state, at);
            counts.ended++;
            if (changed) counts.subscriptions_changed++;
          }
        } catch (error) {
          counts.failures++;
          warn(`Reconciling customer ${row.customer_id} failed: ${describeError(error)}`);
        }
      }
      await db.finishStale(run, rows.map((row) => row.customer_id));
      if (rows.length < LINKED_BATCH) next();
      await db.save(run, page, phase, counts);
    }

    // 4. Users linked to a customer no page mentioned.
    const failed = new Set<string>();
    while (phase === "linked" && mayWork()) {
      worked = true;
      const rows = (await db.unreconciled(run.started_at, LINKED_BATCH + failed.size))
        .filter((row) => !failed.has(row.user_id));
      for (const row of rows) {
        if (!await reconcileLinked(row.user_id, row.polar_customer_id, counts, pullDeps)) {
          failed.add(row.user_id);
        }
      }
      // Users that failed here are left for the next run rather than retried forever.
      if (rows.length === 0 || rows.every((row) => failed.has(row.user_id))) next();
      await db.save(run, page, phase, counts);
    }

    // 5. Team customers, then stored teams Polar no longer has.
    while (phase === "teams" && mayWork()) {
      worked = true;
      if (!teams || !await teams.teamsRound(run, counts)) next();
      await db.save(run, page, phase, counts);
    }
    while (phase === "teams_gone" && mayWork()) {
      worked = true;
      if (!teams || !await teams.goneRound(run, counts)) next();
      await db.save(run, page, phase, counts);
    }
    return phase;
  }

  /** Checks one linked user by external id, then by the stored customer; false on failure. */
  async function reconcileLinked(
    userId: string,
    customerId: string,
    counts: ReconcileCounts,
    pullDeps: Parameters<typeof applyPull>[0],
  ) {
    try {
      const at = new Date(now()).toISOString();
      const state = await pacer(() => polar.getStateByExternalId(userId)) ??
        await pacer(() => polar.getState(customerId));
      if (!state) {
        await db.unlink(userId, customerId);
        counts.missing++;
        return true;
      }
      const { changed } = await applyPull(pullDeps, userId, state, at);
      counts.checked++;
      counts[changed ? "changed" : "unchanged"]++;
      return true;
    } catch (error) {
      counts.failures++;
      warn(`Reconciling user ${userId} failed: ${describeError(error)}`);
      return false;
    }
  }

  function idleReport(elapsed: number): ReconcileReport {
    return {
      status: "idle",
      run_id: null,
      resumed: false,
      ...ZERO,
      polar_calls: 0,
      rate_limited: 0,
      skipped_deliveries: 0,
      deletions: null,
      webhook_endpoints: null,
      webhooks_disabled: null,
      unverified_links: null,
      unsent_usage: null,
      elapsed_ms: Math.round(elapsed),
    };
  }
}

/** Which count each list's items add to. */
const COUNTED: Record<ReconcileList, keyof ReconcileCounts> = {
  customer: "customers",
  subscription: "subscriptions",
  grant: "grants",
  meter: "meters",
};

/** The counts a batch adds to the run's. */
const BATCH_COUNTS = [
  "checked",
  "changed",
  "unchanged",
  "orphaned",
  "no_external_id",
  "failures",
] as const;
