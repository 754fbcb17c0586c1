/**
 * The per-customer reconcile this project shipped before the paged one
 * (`supabase/functions/sync/reconcile.ts` at commit b11e7ad), kept only so that the benchmark can
 * print its figures beside the paged method's. Not used by any function.
 *
 * The operator's reconcile, in three phases: every Polar customer whose `external_id` is a user
 * here gets its Customer State pulled and applied (active subscriptions, grants, meters); then
 * every subscription of the organization, page by page, is applied by its own clock (so one that
 * started and ended while its webhooks were lost is stored too); then every user still linked to a
 * customer the first phase did not see is checked by external id (and unlinked when Polar no
 * longer has it). The same SQL and staleness rules as the webhooks. Polar calls are paced under
 * Polar's rate limit and back off on 429.
 *
 * Resumable: the run's page and counts are saved in `polar.reconcile_runs` after every page, and a
 * run stops itself when its time budget is spent, so the edge runtime's wall-clock limit never
 * cuts it mid-page. The next call with `{"scope":"all"}` (or `"resume": true`) continues from the
 * saved page; at most one page of work is repeated, and repeating it changes nothing.
 *
 * @module
 */
import { describeError } from "../supabase/functions/_polar/log.ts";
import type { PolarPacer } from "../supabase/functions/_polar/polar_pacer.ts";
import {
  subscriptionChange,
  type WebhookChange,
} from "../supabase/functions/_polar/polar_webhooks.ts";
import type { DeletionReport } from "../supabase/functions/sync/deletions.ts";
import { applyPull, type ApplyResult } from "../supabase/functions/sync/pull.ts";

/** A run's phases, in order. */
export type ReconcilePhase = "customers" | "subscriptions" | "linked" | "done";

/** The counts a run keeps across its invocations. */
export interface ReconcileCounts {
  /** Users whose state was pulled and applied (or found unchanged). */
  checked: number;
  /** Of those, users whose stored state changed. */
  changed: number;
  /** Of those, users whose stored state was already current. */
  unchanged: number;
  /** Polar customers whose external id is no user here (deleted users among them). */
  orphaned: number;
  /** Polar customers without an external id (not from this integration; see link-customer). */
  no_external_id: number;
  /** Linked users whose customer Polar no longer has; their link was cleared. */
  missing: number;
  /** Subscriptions of users here read from Polar's list in the second phase. */
  subscriptions: number;
  /** Of those, subscriptions whose stored row changed. */
  subscriptions_changed: number;
  /** Customers or users that could not be reconciled this time (retried by the next run). */
  failures: number;
}

/** A run as `public.begin_polar_reconcile` answers it. */
export interface ReconcileRun {
  /** The run's id. */
  id: number;
  /** When it started: users checked since then are done. */
  started_at: string;
  /** The next page of Polar's customers. */
  next_page: number;
  /** Where it is. */
  phase: ReconcilePhase;
  /** What it counted so far. */
  counts: Partial<ReconcileCounts>;
  /** Whether this call continues an earlier one. */
  resumed: boolean;
}

/** A Polar customer, as far as the run reads it. */
export interface ListedCustomer {
  /** Polar's id. */
  id: string;
  /** The Supabase user id, when set. */
  external_id?: string | null;
}

/** What {@linkcode createReconciler} depends on. */
export interface ReconcileDependencies {
  /** The database (service role). */
  db: {
    begin(resumeOnly: boolean): Promise<ReconcileRun | null>;
    save(
      id: number,
      nextPage: number,
      phase: ReconcilePhase,
      counts: ReconcileCounts,
    ): Promise<void>;
    knownUsers(externalIds: string[]): Promise<Set<string>>;
    applyState(userId: string, change: WebhookChange): Promise<ApplyResult>;
    unreconciled(
      since: string,
      maxRows: number,
    ): Promise<{ user_id: string; polar_customer_id: string }[]>;
    unlink(userId: string, customerId: string): Promise<boolean>;
    skippedDeliveries(since: string): Promise<number>;
  };
  /** Polar's API. */
  polar: {
    listCustomers(
      page: number,
      limit: number,
    ): Promise<{ items: ListedCustomer[]; maxPage: number }>;
    getState(customerId: string): Promise<Record<string, unknown> | null>;
    getStateByExternalId(externalId: string): Promise<Record<string, unknown> | null>;
    getSubscription(id: string): Promise<Record<string, unknown> | null>;
    listSubscriptions(
      page: number,
      limit: number,
    ): Promise<{ items: Record<string, unknown>[]; maxPage: number }>;
    listWebhookEndpoints(): Promise<{ url: string; enabled: boolean }[]>;
  };
  /** Paces every Polar call. */
  pacer: PolarPacer;
  /** One pass over the account-deletion outbox. */
  processDeletions: () => Promise<DeletionReport>;
  /** Milliseconds a call may spend before saving and stopping. */
  budgetMs: number;
  /** A clock in milliseconds since the epoch. */
  now: () => number;
  /** Customers per page (Polar allows up to 100). */
  pageSize?: number;
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
  /** What this call's pass over the deletion outbox did. */
  deletions: DeletionReport;
  /** Polar's webhook endpoints, and whether Polar has disabled any. */
  webhook_endpoints: { url: string; enabled: boolean }[] | null;
  /** True when Polar has disabled a webhook endpoint: re-enable it in Polar's dashboard. */
  webhooks_disabled: boolean | null;
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
  subscriptions: 0,
  subscriptions_changed: 0,
  failures: 0,
};

/** Linked users checked per round of the second phase. */
const LINKED_BATCH = 100;

/**
 * Makes the reconcile.
 *
 * @param deps database, Polar, pacer, outbox, budget and clock
 * @returns `reconcile({ resumeOnly })`
 * @example
 * ```ts
 * const reconcile = createReconciler(deps);
 * await reconcile({ resumeOnly: false }); // { status: "done", checked: 200, changed: 61, … }
 * ```
 */
export function createReconciler(
  deps: ReconcileDependencies,
): (options: { resumeOnly: boolean }) => Promise<ReconcileReport> {
  const { db, polar, pacer, now } = deps;
  const pageSize = deps.pageSize ?? 100;
  const warn = deps.warn ?? ((message: string) => console.warn(message));

  return async ({ resumeOnly }) => {
    const startedAt = now();
    const callsBefore = pacer.calls;
    const limitedBefore = pacer.rateLimited;
    const deadline = startedAt + deps.budgetMs;
    const deletions = await deps.processDeletions();
    const endpoints = await pacer(() => polar.listWebhookEndpoints()).catch((error) => {
      warn(`Listing Polar's webhook endpoints failed: ${describeError(error)}`);
      return null;
    });
    const run = await db.begin(resumeOnly);
    const pullDeps = {
      applyState: db.applyState,
      fetchSubscription: (id: string) => pacer(() => polar.getSubscription(id)),
      now,
    };
    const counts: ReconcileCounts = { ...ZERO, ...run?.counts };
    let phase: ReconcilePhase = run?.phase ?? "done";
    let page = run?.next_page ?? 1;

    /** Pulls one user's state and applies it; false when it failed (counted). */
    const reconcileUser = async (
      userId: string,
      fetch: () => Promise<Record<string, unknown> | null>,
      linkedTo?: string,
    ) => {
      try {
        const at = new Date(now()).toISOString();
        const state = await pacer(fetch);
        if (!state) {
          if (linkedTo) await db.unlink(userId, linkedTo);
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
    };

    // Each call does at least one page (or batch), so even a spent budget makes progress.
    let worked = false;
    const mayWork = () => !worked || now() < deadline;
    while (run && phase === "customers" && mayWork()) {
      worked = true;
      const { items, maxPage } = await pacer(() => polar.listCustomers(page, pageSize));
      const externalIds = items.map((c) => c.external_id).filter((id): id is string => Boolean(id));
      const known = await db.knownUsers(externalIds);
      for (const customer of items) {
        const externalId = customer.external_id?.toLowerCase();
        if (!externalId) counts.no_external_id++;
        else if (!known.has(externalId)) counts.orphaned++;
        else await reconcileUser(externalId, () => polar.getState(customer.id));
      }
      page++;
      if (page > maxPage) [phase, page] = ["subscriptions", 1];
      await db.save(run.id, page, phase, counts);
    }

    while (run && phase === "subscriptions" && mayWork()) {
      worked = true;
      const { items, maxPage } = await pacer(() => polar.listSubscriptions(page, pageSize));
      const externalIdOf = (s: Record<string, unknown>) =>
        ((s.customer as { external_id?: string | null } | undefined)?.external_id ?? "")
          .toLowerCase();
      const known = await db.knownUsers(items.map(externalIdOf).filter(Boolean));
      for (const subscription of items) {
        const userId = externalIdOf(subscription);
        if (!known.has(userId)) continue;
        try {
          const at = new Date(now()).toISOString();
          const result = await db.applyState(userId, subscriptionChange(subscription, at));
          if (result.outcome === "skipped") throw new Error(`skipped: ${result.reason}`);
          counts.subscriptions++;
          if (result.changed) counts.subscriptions_changed++;
        } catch (error) {
          counts.failures++;
          warn(`Reconciling subscription ${subscription.id} failed: ${describeError(error)}`);
        }
      }
      page++;
      if (page > maxPage) [phase, page] = ["linked", 1];
      await db.save(run.id, page, phase, counts);
    }

    const failed = new Set<string>();
    while (run && phase === "linked" && mayWork()) {
      worked = true;
      const rows = (await db.unreconciled(run.started_at, LINKED_BATCH + failed.size))
        .filter((row) => !failed.has(row.user_id));
      if (rows.length === 0) phase = "done";
      for (const row of rows) {
        const ok = await reconcileUser(
          row.user_id,
          () => polar.getStateByExternalId(row.user_id),
          row.polar_customer_id,
        );
        if (!ok) failed.add(row.user_id);
      }
      // Users that failed here are left for the next run rather than retried forever.
      if (phase === "linked" && rows.every((row) => failed.has(row.user_id))) phase = "done";
      await db.save(run.id, page, phase, counts);
    }

    return {
      status: !run ? "idle" : phase === "done" ? "done" : "partial",
      run_id: run?.id ?? null,
      resumed: run?.resumed ?? false,
      ...counts,
      polar_calls: pacer.calls - callsBefore,
      rate_limited: pacer.rateLimited - limitedBefore,
      skipped_deliveries: run ? await db.skippedDeliveries(run.started_at) : 0,
      deletions,
      webhook_endpoints: endpoints,
      webhooks_disabled: endpoints ? endpoints.some((endpoint) => !endpoint.enabled) : null,
      elapsed_ms: Math.round(now() - startedAt),
    };
  };
}
