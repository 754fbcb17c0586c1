/**
 * The signed-in user's sync: at most once per {@linkcode SYNC_INTERVAL_SECONDS} per user, pull
 * their Customer State from Polar by external id and apply it through the same SQL and
 * staleness rules as the webhooks; then answer their current state, read under RLS.
 *
 * @module
 */
import type { VerifiedUser } from "../_shared/auth.ts";
import { customerStateChange, type WebhookChange } from "../_shared/polar_webhooks.ts";

/**
 * Seconds between two pulls for one user. A user coming back from checkout calls `sync` once or
 * twice; more often only costs Polar calls (the limit is per organization), so within this
 * interval the function answers from the database without calling Polar.
 */
export const SYNC_INTERVAL_SECONDS = 5;

/** A user's billing state, as `public.billing_state()` answers it. */
export type BillingState = Record<string, unknown> & { polar_customer_id: string | null };

/** What the database answered to a pulled state. */
export interface ApplyResult {
  /** `applied` (its clock was newer), `stale`, or `skipped` (see `reason`). */
  outcome: "applied" | "stale" | "skipped";
  /** Whether what the user is entitled to changed (subscriptions, grants, meters, link). */
  changed?: boolean;
  /** Why it was skipped. */
  reason?: string;
}

/** What {@linkcode createUserSync} depends on. */
export interface UserSyncDependencies {
  /** `public.claim_polar_sync`: whether Polar may be called for this user now. */
  claim(userId: string): Promise<boolean>;
  /** `GET /v1/customers/external/{id}/state`; `null` when Polar has no customer for the user. */
  fetchState(userId: string): Promise<Record<string, unknown> | null>;
  /** `public.apply_polar_state`. */
  applyState(userId: string, change: WebhookChange): Promise<ApplyResult>;
  /** `public.billing_state()`, called with the user's own token. */
  readState(user: VerifiedUser): Promise<BillingState>;
  /** A clock in milliseconds since the epoch; `Date.now` by default. */
  now?: () => number;
}

/** The sync function's answer to a user. */
export interface UserSyncAnswer {
  /** Whether Polar was asked this time (false within the interval). */
  synced: boolean;
  /** The user's state after the sync. */
  state: BillingState;
  /** Said when the user has no Polar customer yet. */
  message?: string;
}

/** What a user without a Polar customer is told. */
export const NO_CUSTOMER_MESSAGE = "No Polar customer yet: subscribe through checkout first";

/**
 * Makes the user sync.
 *
 * @param deps the claim, Polar's state, the apply and the read
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
  return async (user) => {
    const synced = await deps.claim(user.id);
    if (synced) {
      // The time the pull was sent: the snapshot Polar answers is at least this new.
      const at = new Date(now()).toISOString();
      const state = await deps.fetchState(user.id);
      if (state) {
        const result = await deps.applyState(user.id, customerStateChange(state, at));
        if (result.outcome === "skipped") {
          throw new Error(`The pulled state was not applied: ${result.reason}`);
        }
      }
    }
    const state = await deps.readState(user);
    return {
      synced,
      state,
      ...(state.polar_customer_id === null && { message: NO_CUSTOMER_MESSAGE }),
    };
  };
}
