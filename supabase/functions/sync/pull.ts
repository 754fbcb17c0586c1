/**
 * Applying what a pull brought: a Customer State first, then each subscription the database still
 * holds as live although the state leaves it out (its ending events were lost), fetched by id so
 * that its own row says how it ended. The same SQL (`public.apply_polar_state`) and staleness
 * rules as the webhooks.
 *
 * @module
 */
import {
  customerStateChange,
  subscriptionChange,
  type WebhookChange,
} from "../_polar/polar_webhooks.ts";

/** What the database answered to a pulled change. */
export interface ApplyResult {
  /** `applied` (its clock was newer), `stale`, `skipped` (see `reason`), or, in a batch,
   * `failed` (the database raised; see `reason`). */
  outcome: "applied" | "stale" | "skipped" | "failed";
  /** Why it was skipped. */
  reason?: string;
  /** Whether what the user is entitled to changed (subscriptions, grants, meters, link). */
  changed?: boolean;
  /** Subscriptions stored as live that the latest snapshot leaves out: pull each by id. */
  stale_subscriptions?: string[];
}

/** What {@linkcode applyPull} depends on. */
export interface PullDependencies {
  /** `public.apply_polar_state`. */
  applyState(userId: string, change: WebhookChange): Promise<ApplyResult>;
  /** `GET /v1/subscriptions/{id}`; `null` when Polar has no such subscription. */
  fetchSubscription(id: string): Promise<Record<string, unknown> | null>;
  /** A clock in milliseconds since the epoch. */
  now: () => number;
}

/**
 * Applies a pulled Customer State for a user, then the subscriptions it shows ended.
 *
 * @param deps the apply, the subscription fetch and the clock
 * @param userId the user, whom the state's customer must name by external id
 * @param state the Customer State
 * @param at when the state's pull was sent
 * @returns whether what the user is entitled to changed
 * @throws {Error} when the database skips the change (it is not this user's) or a call fails
 * @example
 * ```ts
 * await applyPull(deps, user.id, await getStateExternal(user.id), sentAt); // { changed: true }
 * ```
 */
export async function applyPull(
  deps: PullDependencies,
  userId: string,
  state: Record<string, unknown>,
  at: string,
): Promise<{ changed: boolean }> {
  const apply = async (change: WebhookChange) => {
    const result = await deps.applyState(userId, change);
    if (result.outcome === "skipped" || result.outcome === "failed") {
      throw new Error(`The pulled state was not applied: ${result.reason}`);
    }
    return result;
  };
  const result = await apply(customerStateChange(state, at));
  let changed = result.changed ?? false;
  for (const id of result.stale_subscriptions ?? []) {
    const sentAt = new Date(deps.now()).toISOString();
    const subscription = await deps.fetchSubscription(id);
    if (subscription) {
      changed = (await apply(subscriptionChange(subscription, sentAt))).changed || changed;
    }
  }
  return { changed };
}
