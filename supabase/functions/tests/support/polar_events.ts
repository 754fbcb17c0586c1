/**
 * Polar webhook events for tests, typed with `@polar-sh/sdk`'s 2026-10 models so a change in
 * Polar's shapes breaks the type check, and a clock that hands out increasing timestamps.
 *
 * @module
 */
import type { models, webhooks } from "@polar-sh/sdk/2026-10";
import { customerModel, subscriptionModel } from "../../../../local/polar_models.ts";

/** Fixtures are created before anything {@linkcode createClock} hands out. */
const CREATED_AGO_MS = 2 * 3600_000;

/**
 * A customer as Polar sends it in a webhook, created two hours ago (before the clock's first
 * tick), never modified.
 *
 * @param fields id, external id and email; random where left out
 * @returns the customer
 * @example
 * ```ts
 * customerFixture({ externalId: userId }).external_id; // userId
 * ```
 */
export function customerFixture(
  fields: { id?: string; externalId?: string; email?: string } = {},
): models.CustomerIndividual {
  return {
    ...customerModel(fields),
    created_at: new Date(Date.now() - CREATED_AGO_MS).toISOString(),
  };
}

/** A webhook event of any type the SDK knows. */
export type PolarEvent = webhooks.WebhookPayload;

/** A subscription event's type. */
export type SubscriptionEventType = Extract<PolarEvent["type"], `subscription.${string}`>;

/** A customer event's type. */
export type CustomerEventType = Extract<
  PolarEvent["type"],
  "customer.created" | "customer.updated" | "customer.deleted"
>;

/**
 * Timestamps that only go forward, one minute apart, starting an hour ago: `clock.next()`.
 *
 * @returns the clock
 * @example
 * ```ts
 * const clock = createClock();
 * clock.next() < clock.next(); // true (as ISO strings and as instants)
 * ```
 */
export function createClock(): { next(): string } {
  let time = Date.now() - 3600_000;
  return {
    next() {
      time += 60_000;
      return new Date(time).toISOString();
    },
  };
}

/**
 * A subscription as Polar sends it in a webhook.
 *
 * @param customer the subscribed customer (embedded, as Polar embeds it)
 * @param fields fields to override
 * @returns the subscription
 * @example
 * ```ts
 * subscriptionFixture(customer, { status: "active", modified_at: clock.next() });
 * ```
 */
export function subscriptionFixture(
  customer: models.CustomerIndividual,
  fields: Partial<models.Subscription> = {},
): models.Subscription {
  return subscriptionModel(customer, {
    created_at: new Date(Date.now() - CREATED_AGO_MS).toISOString(),
    ...fields,
  });
}

/**
 * A subscription event.
 *
 * @param type the event type
 * @param data the subscription
 * @param timestamp the event's timestamp; `data.modified_at`, else now, by default
 * @returns the event
 * @example
 * ```ts
 * subscriptionEvent("subscription.active", subscription);
 * ```
 */
export function subscriptionEvent(
  type: SubscriptionEventType,
  data: models.Subscription,
  timestamp?: string,
): PolarEvent {
  return {
    type,
    timestamp: timestamp ?? data.modified_at ?? new Date().toISOString(),
    api_version: "2026-10",
    data,
  } as PolarEvent;
}

/**
 * A customer event.
 *
 * @param type the event type
 * @param data the customer
 * @param timestamp the event's timestamp; now by default
 * @returns the event
 * @example
 * ```ts
 * customerEvent("customer.created", customerFixture({ externalId: userId }));
 * ```
 */
export function customerEvent(
  type: CustomerEventType,
  data: models.Customer,
  timestamp?: string,
): PolarEvent {
  return {
    type,
    timestamp: timestamp ?? new Date().toISOString(),
    api_version: "2026-10",
    data,
  } as PolarEvent;
}

/**
 * A `customer.state_changed` event.
 *
 * @param state the Customer State (see `customerStateModel` in `local/polar_models.ts`)
 * @param timestamp when Polar built it
 * @returns the event
 * @example
 * ```ts
 * customerStateEvent(customerStateModel(customer, { subscriptions: [active] }), clock.next());
 * ```
 */
export function customerStateEvent(
  state: models.CustomerStateIndividual,
  timestamp: string,
): PolarEvent {
  return { type: "customer.state_changed", timestamp, api_version: "2026-10", data: state };
}
