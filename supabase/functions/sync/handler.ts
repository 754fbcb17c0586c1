/**
 * The `sync` function. With a user's token: pull that user's Polar state now (at most once per
 * few seconds) and answer it. With the project's secret (service role) key, or the schedule's own
 * sync secret (`POLAR_SYNC_SECRET`) as the bearer token: reconcile every user (`{"scope":"all"}`)
 * process the account-deletion outbox (`{"scope":"deletions"}`), send the usage outbox to Polar
 * (`{"scope":"usage"}`), pull every product into the price list (`{"scope":"catalog"}`) or check
 * the deployed configuration (`{"scope":"doctor"}`).
 *
 * @module
 */
import {
  deleteCustomers,
  deleteExternalCustomers,
  getStateCustomers,
  getStateExternalCustomers,
} from "@polar-sh/sdk/2026-10/services/customers";
import {
  listSeatsCustomerSeats,
  revokeSeatCustomerSeats,
} from "@polar-sh/sdk/2026-10/services/customer_seats";
import { deleteMembers } from "@polar-sh/sdk/2026-10/services/customers/members";
import { listProducts } from "@polar-sh/sdk/2026-10/services/products";
import { getSubscriptions } from "@polar-sh/sdk/2026-10/services/subscriptions";
import type { SupabaseClient } from "@supabase/supabase-js";
import { readJsonObject } from "../_polar/body.ts";
import { type CallerAccess, createCallerAccess } from "../_polar/caller.ts";
import type { SyncFunctionConfig, UserFunctionConfig } from "../_polar/config.ts";
import { createCors } from "../_polar/cors.ts";
import { HttpError, jsonResponse, STATUS } from "../_polar/http_error.ts";
import { createJsonHandler, type Handler } from "../_polar/json_handler.ts";
import type { RequestLogger } from "../_polar/log.ts";
import { createOperatorCheck } from "../_polar/operator.ts";
import type { Deadline } from "../_polar/deadline.ts";
import {
  createPolarClient,
  orNullOnNotFound,
  polarCallOptions,
  validationDetails,
} from "../_polar/polar.ts";
import { createPolarPacer } from "../_polar/polar_pacer.ts";
import { createServerClient } from "../_polar/supabase.ts";
import { type CatalogReport, createCatalogRefresh } from "./catalog.ts";
import { createDeletionProcessor, type DeletionReport } from "./deletions.ts";
import { createDoctor, type DatabaseDoctorAnswer, type DoctorReport } from "./doctor.ts";
import { createReconciler, type ReconcileReport } from "./reconcile.ts";
import { createReconcileWiring } from "./reconcile_wiring.ts";
import { createTeamDeletionProcessor, type ListedSeat } from "./team_deletions.ts";
import { readSyncRequest } from "./request.ts";
import { createUsageFlush, type UsageFlushReport } from "./usage.ts";
import { createUsageFlushWiring } from "./usage_wiring.ts";
import type { ApplyResult } from "./pull.ts";
import {
  type BillingState,
  createUserSync,
  SYNC_INTERVAL_SECONDS,
  USER_SYNC_BURST,
  type UserSyncAnswer,
  type UserSyncClaim,
} from "./user_sync.ts";
import type { VerifiedUser } from "../_polar/auth.ts";

/**
 * Milliseconds a reconcile call works before it saves its place and answers. Supabase's edge
 * runtime stops a request after 150 s of wall clock on the free plan (400 s on paid plans); this
 * leaves room for the last page and the answer.
 */
export const RECONCILE_BUDGET_MS = 120_000;

/**
 * Milliseconds a usage flush sends before it answers, leaving the rest for the next one: under
 * the schedule's one-minute interval, so two scheduled flushes rarely overlap (when they do, the
 * claim lease keeps them on different rows).
 */
export const USAGE_FLUSH_BUDGET_MS = 45_000;

/** What the sync handler depends on; tests pass their own. */
export interface SyncDependencies extends Pick<CallerAccess, "verifyUser"> {
  /** Allowed origins, for CORS. */
  config: Pick<UserFunctionConfig, "allowedOrigins" | "restrictCorsOrigins">;
  /** Whether the request carries the project's secret (service role) key or the sync secret. */
  isOperator: (request: Request) => boolean;
  /** Pulls and answers the user's state. */
  syncUser: (user: VerifiedUser) => Promise<UserSyncAnswer>;
  /** Reconciles every user. */
  reconcile: (options: { resumeOnly: boolean }) => Promise<ReconcileReport>;
  /** One pass over the account-deletion outbox. */
  processDeletions: () => Promise<DeletionReport>;
  /** One flush of the usage outbox to Polar. */
  flushUsage: () => Promise<UsageFlushReport>;
  /** Pulls every Polar product into `public.polar_products`. */
  refreshCatalog: () => Promise<CatalogReport>;
  /** Checks the deployed configuration. */
  doctor: () => Promise<DoctorReport>;
  /** Where the per-request log line goes. */
  log?: RequestLogger;
  /** A monotonic clock in milliseconds. */
  now?: () => number;
}

/**
 * Makes the sync handler: `POST` only, JSON errors with CORS on every answer.
 *
 * | caller | body | answer |
 * | --- | --- | --- |
 * | a user's token | none, `{}` or `{"scope":"me"}` | 200 `{ synced, state, stale?, message? }` |
 * | a user's token | `{"scope":"all"}`, `"deletions"`, `"usage"`, `"catalog"` or `"doctor"` | 403 |
 * | the secret key, or `Bearer <sync secret>` | `{"scope":"all", "resume"?: true}` | 200 the reconcile report; 409 while another call works the run |
 * | the secret key, or `Bearer <sync secret>` | `{"scope":"deletions"}` | 200 the outbox pass |
 * | the secret key, or `Bearer <sync secret>` | `{"scope":"usage"}` | 200 `{ sent, duplicates, failed, pending }` |
 * | the secret key, or `Bearer <sync secret>` | `{"scope":"catalog"}` | 200 `{ products, stored, unchanged }` |
 * | the secret key, or `Bearer <sync secret>` | `{"scope":"doctor"}` | 200 `{ ok, checks: [{ name, ok, fix?, detail? }] }` |
 * | the secret key, or `Bearer <sync secret>` | no scope or `"me"` | 400 |
 * | anything else | | 401 |
 *
 * @param deps verification, the syncs and the usage flush, CORS and log
 * @returns the handler
 * @example
 * ```ts
 * const handler = createSyncHandler(createSyncDependencies(config));
 * await (await handler(userRequest)).json(); // { synced: true, state: { entitlements: ["pro"], … } }
 * ```
 */
export function createSyncHandler(deps: SyncDependencies): Handler {
  const { config } = deps;
  return createJsonHandler({
    name: "sync",
    methods: ["POST"],
    cors: createCors({
      allowedOrigins: config.allowedOrigins,
      restrict: config.restrictCorsOrigins,
    }),
    log: deps.log,
    now: deps.now,
  }, async (request, { detail }) => {
    if (deps.isOperator(request)) {
      const { scope, resume } = readSyncRequest(await readJsonObject(request));
      detail.scope = scope;
      if (scope === "all") {
        const report = await deps.reconcile({ resumeOnly: resume });
        detail.reconcile =
          `${report.status}: ${report.checked} checked, ${report.changed} changed, ${report.failures} failures`;
        return jsonResponse(report);
      }
      if (scope === "deletions") return jsonResponse(await deps.processDeletions());
      if (scope === "usage") {
        const report = await deps.flushUsage();
        detail.usage =
          `${report.sent} sent, ${report.duplicates} duplicates, ${report.failed} failed, ${report.pending} pending`;
        return jsonResponse(report);
      }
      if (scope === "catalog") {
        const report = await deps.refreshCatalog();
        detail.catalog = `${report.products} products, ${report.stored} stored`;
        return jsonResponse(report);
      }
      if (scope === "doctor") {
        const report = await deps.doctor();
        const failed = report.checks.filter((check) => !check.ok).map((check) => check.name);
        detail.doctor = failed.length ? `failed: ${failed.join(", ")}` : "all passed";
        return jsonResponse(report);
      }
      throw new HttpError(
        STATUS.BadRequest,
        'The service key syncs "all", "deletions", "usage", "catalog" or "doctor"; send a user\'s token to sync that user',
      );
    }
    const user = await deps.verifyUser(request);
    const { scope } = readSyncRequest(await readJsonObject(request));
    if (scope !== "me") {
      throw new HttpError(STATUS.Forbidden, "Forbidden", {
        cause: `scope ${scope} needs the secret key`,
      });
    }
    const answer = await deps.syncUser(user);
    detail.synced = answer.stale ? "budget spent" : String(answer.synced);
    return jsonResponse(answer);
  });
}

/**
 * The production dependencies: the caller's verification, a Polar client with a pacer, and a
 * secret-key Supabase client for the writes (reads on a user's behalf use their own token).
 *
 * @param config the validated configuration
 * @param options the reconcile's time budget ({@linkcode RECONCILE_BUDGET_MS} by default), page
 *   size (100) and customers applied per database call (200); the usage flush's time budget
 *   ({@linkcode USAGE_FLUSH_BUDGET_MS} by default)
 * @returns dependencies for {@linkcode createSyncHandler}
 * @example
 * ```ts
 * createSyncHandler(createSyncDependencies(loadSyncFunctionConfig((name) => Deno.env.get(name))));
 * ```
 */
export function createSyncDependencies(
  config: SyncFunctionConfig,
  options: {
    reconcileBudgetMs?: number;
    reconcilePageSize?: number;
    reconcileBatchSize?: number;
    usageBudgetMs?: number;
  } = {},
): SyncDependencies {
  const caller = createCallerAccess(config);
  const userClient = createServerClient(config.supabaseUrl, config.supabasePublishableKey);
  const admin = createServerClient(config.supabaseUrl, config.supabaseSecretKey);
  const polar = createPolarClient(config.polar);
  const pacer = createPolarPacer({ perMinute: config.polarCallsPerMinute });
  const getState = getStateCustomers(polar);
  const getStateExternal = getStateExternalCustomers(polar);
  const deleteExternal = deleteExternalCustomers(polar);
  const deleteById = deleteCustomers(polar);
  const getSubscription = getSubscriptions(polar);
  const listProductPage = listProducts(polar);
  const fetchSubscription = (id: string, deadline?: Deadline) =>
    orNullOnNotFound(() => getSubscription(id, polarCallOptions(deadline))).then(asRecord);
  const rpc = <T>(name: string, args: Record<string, unknown> = {}, deadline?: Deadline) =>
    callRpc<T>(admin, name, args, deadline);

  const listSeats = listSeatsCustomerSeats(polar);
  const revokeSeat = revokeSeatCustomerSeats(polar);
  const deleteMember = deleteMembers(polar);
  const processTeamDeletions = createTeamDeletionProcessor({
    pending: (maxRows) => rpc("pending_polar_team_deletions", { max_rows: maxRows }),
    finish: (id, outcome, error) => rpc("finish_polar_team_deletion", { id, outcome, error }),
    listSeats: async ({ subscriptionId, orderId }) => {
      const list = await orNullOnNotFound(() =>
        listSeats(subscriptionId ? { subscription_id: subscriptionId } : { order_id: orderId })
      );
      return list ? list.seats as ListedSeat[] : null;
    },
    revokeSeat: async (seatId) =>
      await orNullOnNotFound(() => revokeSeat(seatId)) === null ? "absent" : "revoked",
    deleteMember: async (customerId, memberId) => {
      try {
        return await deletedOrAbsent(() => deleteMember(customerId, memberId));
      } catch (error) {
        // Polar: 422 "Cannot delete the only owner. Transfer ownership first."
        if (validationDetails(error).some((item) => item.msg.includes("only owner"))) {
          return "owner_kept";
        }
        throw error;
      }
    },
    pacer,
  });
  const processDeletions = createDeletionProcessor({
    pending: (maxRows) => rpc("pending_polar_customer_deletions", { max_rows: maxRows }),
    finish: (id, error) => rpc("finish_polar_customer_deletion", { id, error }),
    deleteCustomer: (externalId) => deletedOrAbsent(() => deleteExternal(externalId)),
    deleteCustomerById: (customerId) => deletedOrAbsent(() => deleteById(customerId)),
    pacer,
    teams: processTeamDeletions,
  });
  const flushUsage = createUsageFlush(createUsageFlushWiring({
    rpc: (name, args) => rpc(name, args),
    polar,
    pacer,
    budgetMs: options.usageBudgetMs ?? USAGE_FLUSH_BUDGET_MS,
  }));
  const applyState = (userId: string, change: unknown, deadline?: Deadline) =>
    rpc<ApplyResult>("apply_polar_state", { user_id: userId, change }, deadline);
  /** A user's sync, every call of it within the request's one deadline. */
  const userSync = (deadline?: Deadline) =>
    createUserSync({
      claim: (userId) =>
        rpc<UserSyncClaim>("claim_polar_user_sync", {
          user_id: userId,
          min_interval: `${SYNC_INTERVAL_SECONDS} seconds`,
          per_minute: config.userSyncCallsPerMinute,
          burst: USER_SYNC_BURST,
        }, deadline),
      takeBudget: () =>
        rpc<boolean>("take_polar_sync_budget", {
          per_minute: config.userSyncCallsPerMinute,
          burst: USER_SYNC_BURST,
        }, deadline),
      fetchState: (userId) =>
        orNullOnNotFound(() => getStateExternal(userId, polarCallOptions(deadline))).then(asRecord),
      fetchStateByCustomerId: (customerId) =>
        orNullOnNotFound(() => getState(customerId, polarCallOptions(deadline))).then(asRecord),
      unlinkMissing: (userId, customerId) =>
        rpc<boolean>("unlink_missing_polar_customer", {
          user_id: userId,
          customer_id: customerId,
        }, deadline),
      fetchSubscription: (id) => fetchSubscription(id, deadline),
      applyState: (userId, change) => applyState(userId, change, deadline),
      readState: async (user) => {
        const call = userClient.rpc("billing_state")
          .setHeader("Authorization", `Bearer ${user.accessToken}`);
        const { data, error } = await (deadline ? call.abortSignal(deadline.signal) : call);
        if (error) throw new Error(`billing_state failed: ${error.message}`, { cause: error });
        return data as BillingState;
      },
    });
  return {
    config,
    verifyUser: caller.verifyUser,
    isOperator: createOperatorCheck({
      secretKeys: config.operatorKeys,
      syncSecrets: config.syncSecrets,
    }),
    syncUser: (user) => userSync(user.deadline)(user),
    reconcile: createReconciler(createReconcileWiring({
      rpc: (name, args) => rpc(name, args),
      polar,
      pacer,
      processDeletions,
      budgetMs: options.reconcileBudgetMs ?? RECONCILE_BUDGET_MS,
      pageSize: options.reconcilePageSize,
      batchSize: options.reconcileBatchSize,
    })),
    processDeletions,
    flushUsage,
    refreshCatalog: createCatalogRefresh({
      listProducts: (page, limit) => listProductPage({ page, limit }),
      store: (products) => rpc("store_polar_products", { products }),
      pacer,
    }),
    doctor: createDoctor({
      config,
      databaseDoctor: (functions, jobs) =>
        rpc<DatabaseDoctorAnswer>("polar_doctor", {
          expected_functions: functions,
          expected_jobs: jobs,
        }),
    }),
  };
}

async function callRpc<T>(
  client: SupabaseClient,
  name: string,
  args: Record<string, unknown>,
  deadline?: Deadline,
): Promise<T> {
  const call = client.rpc(name, args);
  const { data, error } = await (deadline ? call.abortSignal(deadline.signal) : call);
  if (error) throw new Error(`${name} failed: ${error.message}`, { cause: error });
  return data as T;
}

/** A delete call's outcome: `absent` on Polar's 404. */
async function deletedOrAbsent(call: () => Promise<unknown>): Promise<"deleted" | "absent"> {
  return await orNullOnNotFound(() => call().then(() => true)) === null ? "absent" : "deleted";
}

function asRecord(value: unknown): Record<string, unknown> | null {
  return value as Record<string, unknown> | null;
}
