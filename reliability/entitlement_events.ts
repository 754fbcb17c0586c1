/**
 * Histories of customers with several subscriptions and benefits, as Polar would send them: after
 * each change, the changed subscription's event and a Customer State snapshot built just after it.
 * The final truth (every subscription's last state, the last snapshot's grants) is returned with
 * the events, so a test can compare what the database stored once every event was delivered in
 * any order.
 *
 * @module
 */
import type { models } from "@polar-sh/sdk/2026-10";
import { benefitGrantModel, customerStateModel } from "../local/polar_models.ts";
import {
  customerEvent,
  customerFixture,
  customerStateEvent,
  type PolarEvent,
  subscriptionEvent,
  type SubscriptionEventType,
  subscriptionFixture,
} from "../supabase/functions/tests/support/polar_events.ts";
import type { UniqueEvent } from "./load_events.ts";

/** The two products of the histories and the benefit key each grants. */
export const PRODUCTS = [
  { id: "3b0e4c1a-6a8f-4f0e-9a51-0c2d7e9b1a01", key: "pro" },
  { id: "3b0e4c1a-6a8f-4f0e-9a51-0c2d7e9b1a02", key: "team" },
] as const;

/** A subscription's final state, in the columns the database keeps. */
export interface SubscriptionTruth {
  /** The subscription id. */
  id: string;
  /** Its product. */
  product_id: string;
  /** Its last status. */
  status: string;
  /** Whether it ends at the end of the period. */
  cancel_at_period_end: boolean;
}

/** What Polar holds for one user once the history is over. */
export interface EntitlementHistory {
  /** The user. */
  userId: string;
  /** The events, in Polar's order. */
  events: UniqueEvent[];
  /** Every subscription's final state. */
  subscriptions: SubscriptionTruth[];
  /** The benefit keys the user holds at the end. */
  keys: string[];
  /** Whether the user has an active subscription at the end. */
  active: boolean;
}

const SECOND_MS = 1000;
const PERIOD_MS = 30 * 24 * 3600_000;

/**
 * One user's history: `steps` changes among creating a subscription of either product,
 * canceling at period end, uncanceling, revoking, and falling past due.
 *
 * @param userId the user (the customer's `external_id`)
 * @param steps how many changes after the first subscription
 * @param random a seeded generator
 * @returns the events and the final truth
 * @example
 * ```ts
 * const history = entitlementHistory(userId, 8, seededRandom(1));
 * history.events.length; // 1 + 2 × 9 (a customer, then an event and a snapshot per change)
 * ```
 */
export function entitlementHistory(
  userId: string,
  steps: number,
  random: () => number,
): EntitlementHistory {
  const base = Date.now() - 3600_000;
  let clock = 0;
  const tick = () => new Date(base + ++clock * SECOND_MS).toISOString();
  const customer: models.CustomerIndividual = {
    ...customerFixture({ externalId: userId }),
    created_at: tick(),
  };
  const subscriptions: models.Subscription[] = [];
  const grantIds = new Map<string, string>();
  const events: PolarEvent[] = [customerEvent("customer.created", customer, customer.created_at)];

  const change = (
    type: SubscriptionEventType,
    subscription: models.Subscription,
    fields: Partial<models.Subscription>,
  ) => {
    Object.assign(subscription, fields, { modified_at: tick() });
    events.push(subscriptionEvent(type, { ...subscription }, subscription.modified_at!));
    events.push(customerStateEvent(snapshot(), tick()));
  };
  const snapshot = () =>
    customerStateModel(customer, {
      subscriptions: subscriptions.map((s) => ({ ...s })),
      grants: live().map((s) => {
        const product = PRODUCTS.find((p) => p.id === s.product_id)!;
        const id = grantIds.get(s.id) ?? crypto.randomUUID();
        grantIds.set(s.id, id);
        return benefitGrantModel({
          id,
          benefit_id: `benefit-${product.key}`,
          benefit_metadata: { key: product.key },
        });
      }),
    });
  const live = () => subscriptions.filter((s) => s.status === "active" || s.status === "trialing");
  const create = () => {
    const product = PRODUCTS[Math.floor(random() * PRODUCTS.length)];
    const createdAt = tick();
    const subscription = subscriptionFixture(customer, {
      created_at: createdAt,
      product_id: product.id,
      current_period_start: createdAt,
      current_period_end: new Date(Date.parse(createdAt) + PERIOD_MS).toISOString(),
      metadata: { user_id: userId },
    });
    subscriptions.push(subscription);
    change("subscription.active", subscription, { status: "active" });
  };

  create();
  for (let step = 0; step < steps; step++) {
    const alive = live();
    const pick = alive[Math.floor(random() * alive.length)];
    const action = alive.length === 0 ? 0 : Math.floor(random() * 5);
    if (action === 0) create();
    else if (action === 1) {
      change("subscription.canceled", pick, { cancel_at_period_end: true, canceled_at: tick() });
    } else if (action === 2) {
      change("subscription.uncanceled", pick, { cancel_at_period_end: false, canceled_at: null });
    } else if (action === 3) {
      const at = tick();
      change("subscription.revoked", pick, { status: "canceled", canceled_at: at, ended_at: at });
    } else change("subscription.past_due", pick, { status: "past_due" });
  }

  return {
    userId,
    events: events.map((event) => ({
      id: `msg_${crypto.randomUUID().replaceAll("-", "")}`,
      userId,
      body: JSON.stringify(event),
    })),
    subscriptions: subscriptions.map((s) => ({
      id: s.id,
      product_id: s.product_id,
      status: s.status,
      cancel_at_period_end: s.cancel_at_period_end,
    })).sort((a, b) => a.id.localeCompare(b.id)),
    keys: [...new Set(live().map((s) => PRODUCTS.find((p) => p.id === s.product_id)!.key))].sort(),
    active: live().length > 0,
  };
}
