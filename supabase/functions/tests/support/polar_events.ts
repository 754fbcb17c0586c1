/**
 * Polar webhook events for tests, typed with `@polar-sh/sdk`'s 2026-10 models so a change in
 * Polar's shapes breaks the type check, and a clock that hands out increasing timestamps.
 *
 * @module
 */
import type { models, webhooks } from "@polar-sh/sdk/2026-10";
import { customerFixture as apiCustomer } from "./fake_polar.ts";

const ORGANIZATION_ID = "8f3f0a5e-8a7b-4a53-9d8a-0a3c1e1f2b10";
const PRODUCT_ID = "5b2bd9c4-3f2c-4d3a-9a55-6a7b3b0c9e01";
const PERIOD_MS = 30 * 24 * 3600_000;
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
    ...apiCustomer(fields),
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
  const createdAt = fields.created_at ?? new Date(Date.now() - CREATED_AGO_MS).toISOString();
  const start = new Date(createdAt);
  const end = new Date(start.getTime() + PERIOD_MS);
  const price: models.ProductPriceFixed = {
    created_at: createdAt,
    modified_at: null,
    id: "1f0c6d0e-2b8e-4f7e-9a4e-9d1f2c3b4a50",
    source: "catalog",
    amount_type: "fixed",
    price_currency: "usd",
    tax_behavior: null,
    is_archived: false,
    product_id: PRODUCT_ID,
    price_amount: 1000,
  };
  return {
    created_at: createdAt,
    modified_at: null,
    id: crypto.randomUUID(),
    amount: 1000,
    currency: "usd",
    recurring_interval: "month",
    recurring_interval_count: 1,
    status: "incomplete",
    current_period_start: start.toISOString(),
    current_period_end: end.toISOString(),
    current_meter_period_start: null,
    current_meter_period_end: null,
    trial_start: null,
    trial_end: null,
    cancel_at_period_end: false,
    canceled_at: null,
    started_at: createdAt,
    ends_at: null,
    ended_at: null,
    pause_at_period_end: false,
    paused_at: null,
    resumes_at: null,
    customer_id: customer.id,
    product_id: PRODUCT_ID,
    discount_id: null,
    checkout_id: crypto.randomUUID(),
    units: null,
    customer_cancellation_reason: null,
    customer_cancellation_comment: null,
    metadata: {},
    customer,
    product: {
      id: PRODUCT_ID,
      created_at: createdAt,
      modified_at: null,
      trial_interval: null,
      trial_interval_count: null,
      name: "Pro",
      description: null,
      visibility: "public",
      recurring_interval: "month",
      recurring_interval_count: 1,
      meter_interval: null,
      meter_interval_count: null,
      is_recurring: true,
      is_archived: false,
      organization_id: ORGANIZATION_ID,
      metadata: {},
      is_deletable: false,
      prices: [price],
      benefits: [],
      medias: [],
      attached_custom_fields: [],
    },
    discount: null,
    prices: [price],
    meters: [],
    pending_update: null,
    ...fields,
  };
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
