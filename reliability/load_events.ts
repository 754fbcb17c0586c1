/**
 * The webhook load: for each user, a customer and one subscription going through a realistic
 * life (created, active, canceled at period end, uncanceled, renewed, customer edits) ending in
 * one of four states, each event a minute after the last; then 20% redeliveries, shuffled by a
 * seeded generator so a failing order can be replayed (`RELIABILITY_SEED`).
 *
 * @module
 */
import type { models } from "@polar-sh/sdk/2026-10";
import {
  customerEvent,
  customerFixture,
  type PolarEvent,
  subscriptionEvent,
  type SubscriptionEventType,
  subscriptionFixture,
} from "../supabase/functions/tests/support/polar_events.ts";
import { shuffled } from "./random.ts";

/** One unique event, with the `webhook-id` Polar gives it. */
export interface UniqueEvent {
  /** The delivery id. */
  id: string;
  /** The user it is about. */
  userId: string;
  /** The signed body. */
  body: string;
}

/** One delivery of the load: an event, and whether it is a redelivery. */
export interface LoadDelivery {
  /** The event. */
  event: UniqueEvent;
  /** Whether an earlier delivery in the list carries the same id. */
  redelivery: boolean;
}

const MINUTE_MS = 60_000;
const PERIOD_MS = 30 * 24 * 3600_000;
/** Everything happens in the past two days, so no version is in the future. */
const HISTORY_MS = 2 * 24 * 3600_000;

/**
 * The events of one user's history, in the order Polar produced them.
 *
 * @param userId the user (the customer's `external_id`)
 * @param count how many events, at least 4
 * @param ending which of the four final states (0 to 3)
 * @returns the events
 * @example
 * ```ts
 * userHistory(userId, 34, 2).at(-1)!.body; // a subscription.revoked event
 * ```
 */
export function userHistory(userId: string, count: number, ending: number): UniqueEvent[] {
  const base = Date.now() - HISTORY_MS;
  const at = (step: number) => new Date(base + step * MINUTE_MS).toISOString();
  let customer: models.CustomerIndividual = {
    ...customerFixture({ externalId: userId }),
    created_at: at(-1),
  };
  const subscriptionId = crypto.randomUUID();
  let state = {
    status: "incomplete" as models.SubscriptionStatus,
    cancel_at_period_end: false,
    canceled_at: null as string | null,
    ended_at: null as string | null,
    current_period_end: new Date(base + PERIOD_MS).toISOString(),
  };
  const events: PolarEvent[] = [];
  const subscription = (type: SubscriptionEventType, step: number) =>
    subscriptionEvent(
      type,
      subscriptionFixture(customer, {
        id: subscriptionId,
        created_at: at(0),
        modified_at: at(step),
        metadata: { user_id: userId },
        ...state,
      }),
      at(step),
    );
  for (let step = 0; step < count; step++) {
    if (step === 0) {
      events.push(customerEvent("customer.created", customer, at(step)));
    } else if (step === 1) {
      events.push(subscription("subscription.created", step));
    } else if (step === 2) {
      state = { ...state, status: "active" };
      events.push(subscription("subscription.active", step));
    } else if (step === count - 1) {
      events.push(finalEvent(ending, step));
    } else {
      events.push(middleEvent(step));
    }
  }
  return events.map((event) => ({
    id: `msg_${crypto.randomUUID().replaceAll("-", "")}`,
    userId,
    body: JSON.stringify(event),
  }));

  function middleEvent(step: number): PolarEvent {
    switch (step % 5) {
      case 0:
        customer = { ...customer, modified_at: at(step), email: `${step}-${customer.email}` };
        return customerEvent("customer.updated", customer, at(step));
      case 1:
        state = { ...state, cancel_at_period_end: true, canceled_at: at(step) };
        return subscription("subscription.canceled", step);
      case 2:
        state = { ...state, cancel_at_period_end: false, canceled_at: null };
        return subscription("subscription.uncanceled", step);
      case 3:
        state = {
          ...state,
          current_period_end: new Date(Date.parse(state.current_period_end) + PERIOD_MS)
            .toISOString(),
        };
        return subscription("subscription.cycled", step);
      default:
        return subscription("subscription.updated", step);
    }
  }

  function finalEvent(kind: number, step: number): PolarEvent {
    switch (kind % 4) {
      case 0:
        return subscription("subscription.updated", step);
      case 1:
        state = { ...state, cancel_at_period_end: true, canceled_at: at(step) };
        return subscription("subscription.canceled", step);
      case 2:
        state = { ...state, status: "canceled", canceled_at: at(step), ended_at: at(step) };
        return subscription("subscription.revoked", step);
      default:
        state = { ...state, status: "past_due" };
        return subscription("subscription.past_due", step);
    }
  }
}

/**
 * Shuffles the events and adds redeliveries: a share of them right next to their first delivery
 * (so the two are in flight together), the rest anywhere after it.
 *
 * @param events the unique events
 * @param duplicates how many redeliveries to add
 * @param random the generator
 * @returns the deliveries, and how many redeliveries sit next to their original
 * @example
 * ```ts
 * const { deliveries } = withRedeliveries(events, 425, seededRandom(1));
 * ```
 */
export function withRedeliveries(
  events: readonly UniqueEvent[],
  duplicates: number,
  random: () => number,
): { deliveries: LoadDelivery[]; adjacent: number } {
  const order = shuffled(events, random);
  const deliveries: LoadDelivery[] = order.map((event) => ({ event, redelivery: false }));
  let adjacent = 0;
  for (let n = 0; n < duplicates; n++) {
    const original = Math.floor(random() * order.length);
    const at = deliveries.findIndex((delivery) => delivery.event === order[original]);
    const nextTo = n % 2 === 0;
    if (nextTo) adjacent++;
    const position = nextTo ? at + 1 : at + 1 + Math.floor(random() * (deliveries.length - at));
    deliveries.splice(position, 0, { event: order[original], redelivery: true });
  }
  return { deliveries, adjacent };
}
