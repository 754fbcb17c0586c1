/**
 * The signed-in user's sync: pull their Customer State from Polar by external id and apply it
 * through the same SQL and staleness rules as the webhooks; then answer their current state, read
 * under RLS. Polar is called only for a user linked to a customer, at most once per
 * {@linkcode SYNC_INTERVAL_SECONDS} per user, and only while the organization-wide budget that all
 * users' syncs share (in the database, across instances) allows it; otherwise the stored state is
 * the answer, marked `stale` when the budget was the reason.
 *
 * @module
 */
import type { VerifiedUser } from "../_polar/auth.ts";
import { applyPull, type PullDependencies } from "./pull.ts";

/**
 * Seconds between two pulls for one user. A user coming back from checkout calls `sync` once or
 * twice; more often only costs Polar calls (the limit is per organization), so within this
 * interval the function answers from the database without calling Polar.
 */
export const SYNC_INTERVAL_SECONDS = 5;

/**
 * Calls the users' budget lets through at once after a quiet spell; beyond that it paces them at
 * its rate per minute.
 */
export const USER_SYNC_BURST = 5;

/** A user's billing state, as `public.billing_state()` answers it. */
export type BillingState = Record<string, unknown> & { polar_customer_id: string | null };

/** What `public.claim_polar_user_sync` answers. */
export interface UserSyncClaim {
  /** `claimed` (call Polar), `recent` (pulled within the interval), `budget` (the shared budget
   * is spent for now) or `no_customer` (nothing to pull). */
  outcome: "claimed" | "recent" | "budget" | "no_customer";
  /** The customer the user's row links, if any. */
  polar_customer_id: string | null;
}

/** What {@linkcode createUserSync} depends on. */
export interface UserSyncDependencies extends Omit<PullDependencies, "now"> {
  /** `public.claim_polar_user_sync`: whether Polar may be called for this user now. */
  claim(userId: string): Promise<UserSyncClaim>;
  /** `public.take_polar_sync_budget`: one more call from the shared budget. */
  takeBudget(): Promise<boolean>;
  /** `GET /v1/customers/external/{id}/state`; `null` when Polar has no customer for the user. */
  fetchState(userId: string): Promise<Record<string, unknown> | null>;
  /** `GET /v1/customers/{id}/state`; `null` when Polar has no such customer. */
  fetchStateByCustomerId(customerId: string): Promise<Record<string, unknown> | null>;
  /** `public.unlink_missing_polar_customer`: the linked customer is gone. */
  unlinkMissing(userId: string, customerId: string): Promise<boolean>;
  /** `public.billing_state()`, called with the user's own token. */
  readState(user: VerifiedUser): Promise<BillingState>;
  /** A clock in milliseconds since the epoch; `Date.now` by default. */
  now?: () => number;
}

/** The sync function's answer to a user. */
export interface UserSyncAnswer {
  /** Whether Polar was asked this time. */
  synced: boolean;
  /** The user's state after the sync. */
  state: BillingState;
  /** True when Polar was not asked because the users' shared budget is spent for now: the state
   * is what the database last heard (webhooks keep it current meanwhile). */
  stale?: true;
  /** Said when the user has no Polar customer yet. */
  message?: string;
}

/** What a user without a Polar customer is told. */
export const NO_CUSTOMER_MESSAGE = "No Polar customer yet: subscribe through checkout first";

/**
 * Makes the user sync.
 *
 * @param deps the claim and budget, Polar's state and subscriptions, the apply and the read
 * @returns `syncUser(user)`
 * @throws {Error} from `syncUser` when Polar or the database fails, or the state is not the user's
 * @example
 * ```ts
 * const syncUser = createUserSync(deps);
 * await syncUser(user); // { synced: true, state: { polar_customer_id: "…", entitlements: ["pro"], … } }
 * ```
 */
export function createUserSync(
  deps: UserSyncDependencies,
): (user: VerifiedUser) => Promise<UserSyncAnswer> {
  const now = deps.now ?? Date.now;
  // A subscription the snapshot shows ended costs one more call; without budget it is left to
  // the reconcile (the snapshot alone already stops it counting).
  const pullDeps = {
    applyState: deps.applyState,
    fetchSubscription: async (id: string) =>
      (await deps.takeBudget()) ? deps.fetchSubscription(id) : null,
    now,
  };
  return async (user) => {
    const claim = await deps.claim(user.id);
    if (claim.outcome === "claimed" && claim.polar_customer_id) {
      await pull(user.id, claim.polar_customer_id);
    }
    const state = await deps.readState(user);
    return {
      synced: claim.outcome === "claimed",
      state,
      ...(claim.outcome === "budget" && { stale: true }),
      ...(state.polar_customer_id === null && { message: NO_CUSTOMER_MESSAGE }),
    };
  };

  /** By external id; when Polar knows no customer by it, by the stored link (a customer from
   * before the integration, or one Polar deleted), and only when that is gone too, unlink. */
  async function pull(userId: string, customerId: string) {
    // The time the pull was sent: the snapshot Polar answers is at least this new.
    const at = new Date(now()).toISOString();
    const state = await deps.fetchState(userId) ??
      (await deps.takeBudget() ? await deps.fetchStateByCustomerId(customerId) : undefined);
    if (state) await applyPull(pullDeps, userId, state, at);
    else if (state === null) await deps.unlinkMissing(userId, customerId);
  }
}
