/**
 * The reconcile's production wiring: each database dependency as one service-role RPC, each Polar
 * dependency as one call of `@polar-sh/sdk`'s per-service functions (lists oldest first, 100 a
 * page). Shared by the sync function and the benchmark, which passes an RPC of its own.
 *
 * @module
 */
import type { models } from "@polar-sh/sdk/2026-10";
import { listBenefitGrants } from "@polar-sh/sdk/2026-10/services/benefit_grants";
import { listCustomerMeters } from "@polar-sh/sdk/2026-10/services/customer_meters";
import { listSeatsCustomerSeats } from "@polar-sh/sdk/2026-10/services/customer_seats";
import {
  getCustomers,
  getStateCustomers,
  getStateExternalCustomers,
  listCustomers,
} from "@polar-sh/sdk/2026-10/services/customers";
import { listMembers } from "@polar-sh/sdk/2026-10/services/customers/members";
import { getSubscriptions, listSubscriptions } from "@polar-sh/sdk/2026-10/services/subscriptions";
import { listWebhookEndpointsWebhooks } from "@polar-sh/sdk/2026-10/services/webhooks";
import { orNullOnNotFound, type PolarCore } from "../_polar/polar.ts";
import type { PolarPacer } from "../_polar/polar_pacer.ts";
import type { DeletionReport } from "./deletions.ts";
import type { ReconcileList } from "./pages.ts";
import type { ApplyResult } from "./pull.ts";
import type { QueuedTeam, TeamReconcileResult } from "./team_reconcile.ts";
import type {
  BatchResult,
  BusyRun,
  PolarPage,
  ReconcileDependencies,
  ReconcileRun,
  UnsentUsageReport,
  UnverifiedLink,
} from "./reconcile.ts";

/** A service-role RPC: the function's name and its named arguments; answers its JSON. */
export type Rpc = <T>(name: string, args?: Record<string, unknown>) => Promise<T>;

/** Options of {@linkcode createReconcileWiring}. */
export interface ReconcileWiringOptions {
  /** Calls the database. */
  rpc: Rpc;
  /** The Polar client. */
  polar: PolarCore;
  /** Paces every Polar call. */
  pacer: PolarPacer;
  /** One pass over the account-deletion outbox. */
  processDeletions: () => Promise<DeletionReport>;
  /** Milliseconds a call may spend before saving and stopping. */
  budgetMs: number;
  /** Items per page (100 by default, Polar's most). */
  pageSize?: number;
  /** Customers applied per database call. */
  batchSize?: number;
  /** A clock in milliseconds since the epoch; `Date.now` by default. */
  now?: () => number;
}

/**
 * Wires the reconcile's dependencies.
 *
 * @param options the RPC, the Polar client and pacer, the outbox pass, budget and sizes
 * @returns dependencies for `createReconciler`
 * @example
 * ```ts
 * const reconcile = createReconciler(createReconcileWiring({ rpc, polar, pacer, processDeletions, budgetMs: 120_000 }));
 * ```
 */
export function createReconcileWiring(options: ReconcileWiringOptions): ReconcileDependencies {
  const { rpc, polar } = options;
  const customers = listCustomers(polar);
  const subscriptions = listSubscriptions(polar);
  const grants = listBenefitGrants(polar);
  const meters = listCustomerMeters(polar);
  const getState = getStateCustomers(polar);
  const getStateExternal = getStateExternalCustomers(polar);
  const getSubscription = getSubscriptions(polar);
  const listEndpoints = listWebhookEndpointsWebhooks(polar);
  const members = listMembers(polar);
  const seats = listSeatsCustomerSeats(polar);
  const getCustomer = getCustomers(polar);
  const asPage = (result: {
    items: unknown[];
    pagination: { max_page: number; total_count: number };
  }): PolarPage => ({
    items: result.items as Record<string, unknown>[],
    maxPage: result.pagination.max_page,
    totalCount: result.pagination.total_count,
  });
  const lists: Record<ReconcileList, (page: number, limit: number) => Promise<PolarPage>> = {
    customer: async (page, limit) =>
      asPage(await customers({ page, limit, sorting: ["created_at"] })),
    subscription: async (page, limit) =>
      asPage(await subscriptions({ active: true, page, limit, sorting: ["started_at"] })),
    grant: async (page, limit) =>
      asPage(await grants({ is_granted: true, page, limit, sorting: ["created_at"] })),
    meter: async (page, limit) => asPage(await meters({ page, limit, sorting: ["created_at"] })),
  };
  const lease = (run: ReconcileRun) => ({ id: run.id, lease: run.lease });

  return {
    db: {
      begin: (resumeOnly) =>
        rpc<ReconcileRun | BusyRun | null>("begin_polar_reconcile", { resume_only: resumeOnly }),
      save: (run, nextPage, phase, counts) =>
        rpc("save_polar_reconcile", { ...lease(run), next_page: nextPage, phase, counts }),
      release: (run) => rpc("release_polar_reconcile", lease(run)),
      stage: (run, list, items, nextPage, phase, counts) =>
        rpc("stage_polar_reconcile_page", {
          ...lease(run),
          kind: list,
          items,
          next_page: nextPage,
          phase,
          counts,
        }),
      applyBatch: (run, maxCustomers) =>
        rpc<BatchResult>("apply_polar_reconcile_batch", {
          ...lease(run),
          max_customers: maxCustomers,
        }),
      applyStates: (changes) => rpc<ApplyResult[]>("apply_polar_states", { changes }),
      stale: (run, maxRows) => rpc("polar_reconcile_stale", { id: run.id, max_rows: maxRows }),
      finishStale: (run, customerIds) =>
        rpc("finish_polar_reconcile_stale", { ...lease(run), customer_ids: customerIds }),
      applyState: (userId, change) =>
        rpc<ApplyResult>("apply_polar_state", { user_id: userId, change }),
      unreconciled: (since, maxRows) =>
        rpc("polar_unreconciled_users", { since, max_rows: maxRows }),
      unlink: (userId, customerId) =>
        rpc("unlink_missing_polar_customer", { user_id: userId, customer_id: customerId }),
      skippedDeliveries: (since) => rpc("polar_skipped_deliveries", { since }),
      unverifiedLinks: () => rpc<UnverifiedLink[]>("polar_unverified_links"),
      unsentUsage: () => rpc<UnsentUsageReport>("polar_unsent_usage"),
    },
    polar: {
      listPage: (list, page, limit) => lists[list](page, limit),
      listEnded: async (page, limit) =>
        asPage(await subscriptions({ status: ["canceled"], page, limit, sorting: ["-ended_at"] })),
      getState: (customerId) => orNullOnNotFound(() => getState(customerId)).then(asRecord),
      getStateByExternalId: (externalId) =>
        orNullOnNotFound(() => getStateExternal(externalId)).then(asRecord),
      getSubscription: (id) => orNullOnNotFound(() => getSubscription(id)).then(asRecord),
      listWebhookEndpoints: async () =>
        (await listEndpoints({ limit: 100 })).items.map((endpoint: models.WebhookEndpoint) => ({
          url: endpoint.url,
          enabled: endpoint.enabled,
        })),
    },
    teams: {
      stage: (run, teamCustomers) =>
        rpc<number>("stage_polar_reconcile_teams", { ...lease(run), customers: teamCustomers }),
      db: {
        pending: (run, maxRows) =>
          rpc<QueuedTeam[]>("polar_reconcile_teams", { id: run.id, max_rows: maxRows }),
        reconcileTeam: (run, customerId, changes, listed) =>
          rpc<TeamReconcileResult>("reconcile_polar_team", {
            ...lease(run),
            polar_customer_id: customerId,
            changes,
            listed,
          }),
        gone: (run, maxRows) =>
          rpc("polar_reconcile_gone_teams", { id: run.id, max_rows: maxRows }),
        finishGone: (run, customerId, gone) =>
          rpc<boolean>("finish_polar_reconcile_gone_team", {
            ...lease(run),
            polar_customer_id: customerId,
            gone,
          }),
      },
      polar: {
        listMembers: async (customerId, page, limit) =>
          asPage(await members(customerId, { page, limit, sorting: ["created_at"] })),
        listSubscriptions: async (customerId, page, limit) =>
          asPage(
            await subscriptions({ customer_id: customerId, page, limit, sorting: ["started_at"] }),
          ),
        listSeats: async (subscriptionId) => {
          const list = await orNullOnNotFound(() => seats({ subscription_id: subscriptionId }));
          return list ? list.seats as unknown as Record<string, unknown>[] : null;
        },
        listGrants: async (customerId, page, limit) =>
          asPage(await grants({ customer_id: customerId, page, limit, sorting: ["created_at"] })),
        getCustomer: (customerId) => orNullOnNotFound(() => getCustomer(customerId)).then(asRecord),
      },
    },
    pacer: options.pacer,
    processDeletions: options.processDeletions,
    budgetMs: options.budgetMs,
    pageSize: options.pageSize,
    batchSize: options.batchSize,
    now: options.now ?? Date.now,
  };
}

function asRecord(value: unknown): Record<string, unknown> | null {
  return value as Record<string, unknown> | null;
}
