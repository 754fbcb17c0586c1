/**
 * Polar webhook events reduced to what `public.user_subscriptions` stores: the `change` that
 * `public.apply_polar_webhook` applies (see the migration `20261124000200_polar_webhooks.sql` for
 * the staleness rule). `webhooks.validateEvent` checks the signature and the event type only, so
 * the fields read here are checked here.
 *
 * @module
 */

/** Every `subscription.*` event of Polar's 2026-10 API; each carries the whole subscription. */
export const SUBSCRIPTION_EVENT_TYPES = [
  "subscription.created",
  "subscription.active",
  "subscription.updated",
  "subscription.canceled",
  "subscription.uncanceled",
  "subscription.revoked",
  "subscription.past_due",
  "subscription.paused",
  "subscription.resumed",
  "subscription.cycled",
  "subscription.migrated",
] as const;

/** The `customer.*` events that change the user-to-customer link. */
export const CUSTOMER_EVENT_TYPES = [
  "customer.created",
  "customer.updated",
  "customer.deleted",
] as const;

/** An event type this project acts on. */
export type HandledEventType =
  | typeof SUBSCRIPTION_EVENT_TYPES[number]
  | typeof CUSTOMER_EVENT_TYPES[number];

/** The subscription part of a {@linkcode WebhookChange}. */
export interface SubscriptionChange {
  /** Polar's subscription id. */
  id: string;
  /** Polar's `status`. */
  status: string;
  /** The subscribed product. */
  product_id: string | null;
  /** End of the current billing period. */
  current_period_end: string | null;
  /** Whether it ends at the end of the current period. */
  cancel_at_period_end: boolean;
  /** When it was canceled. */
  canceled_at: string | null;
  /** When it ended. */
  ended_at: string | null;
  /** The subscription's version: `modified_at`, else `created_at`, else the event's timestamp. */
  version: string;
}

/** What one handled event may change, as `public.apply_polar_webhook` takes it. */
export interface WebhookChange {
  /** Polar's customer id. */
  customer_id: string;
  /** The customer's `external_id`: the Supabase user id, and the only link to a user. */
  external_id: string | null;
  /**
   * The subscription's `metadata.user_id`, which checkout sets. It links nothing; when it
   * disagrees with `external_id` the event is skipped as an identity conflict.
   */
  metadata_user_id: string | null;
  /** The customer's version: the later of `modified_at` and `deleted_at`, else `created_at`. */
  customer_version: string;
  /** Whether the event deletes the customer. */
  customer_deleted: boolean;
  /** The subscription's state; `null` for customer events. */
  subscription: SubscriptionChange | null;
}

/** One verified delivery, ready for the database. */
export interface WebhookDelivery {
  /** The `webhook-id` header: the same on every redelivery of one event. */
  webhookId: string;
  /** The event's `type`. */
  eventType: string;
  /** The event's `timestamp`. */
  eventTimestamp: string;
  /** What it changes; `null` for an event type this project does not use. */
  change: WebhookChange | null;
}

/** What the database did with a delivery. */
export const WEBHOOK_OUTCOMES = ["applied", "stale", "duplicate", "skipped", "ignored"] as const;

/** A value of {@linkcode WEBHOOK_OUTCOMES}. */
export type WebhookOutcome = typeof WEBHOOK_OUTCOMES[number];

/** `public.apply_polar_webhook`'s answer. */
export interface WebhookResult {
  /** What happened. */
  outcome: WebhookOutcome;
  /** Why a delivery was skipped. */
  reason?: string;
}

/** A verified body that is not an event this project can read; the message says which field. */
export class InvalidEventError extends Error {
  /** @param message what is wrong, sentence case */
  constructor(message: string) {
    super(message);
    this.name = "InvalidEventError";
  }
}

/**
 * Whether a type is one this project acts on.
 *
 * @param type an event's `type`
 * @returns `true` for {@linkcode SUBSCRIPTION_EVENT_TYPES} and {@linkcode CUSTOMER_EVENT_TYPES}
 * @example
 * ```ts
 * isHandledEventType("subscription.cycled"); // true
 * isHandledEventType("order.paid"); // false
 * ```
 */
export function isHandledEventType(type: string): type is HandledEventType {
  return (SUBSCRIPTION_EVENT_TYPES as readonly string[]).includes(type) ||
    (CUSTOMER_EVENT_TYPES as readonly string[]).includes(type);
}

/**
 * Reduces a verified event to a {@linkcode WebhookDelivery}. Events of other types keep only
 * their type and timestamp, so they are recorded and nothing else.
 *
 * @param webhookId the `webhook-id` header
 * @param event the parsed body, as `webhooks.validateEvent` returned it
 * @returns the delivery
 * @throws {InvalidEventError} when a field this project reads is missing or malformed
 * @example
 * ```ts
 * const delivery = toWebhookDelivery("msg_1", { type: "subscription.active", timestamp, data });
 * delivery.change?.subscription?.status; // "active"
 * ```
 */
export function toWebhookDelivery(webhookId: string, event: unknown): WebhookDelivery {
  if (!isRecord(event)) throw new InvalidEventError("Event is not an object");
  const eventType = event.type;
  if (typeof eventType !== "string" || eventType === "") {
    throw new InvalidEventError("Event has no type");
  }
  const eventTimestamp = readTimestamp(event, "timestamp", "event");
  if (eventTimestamp === null) throw new InvalidEventError("Event has no timestamp");
  const delivery = { webhookId, eventType, eventTimestamp };
  if (!isHandledEventType(eventType)) return { ...delivery, change: null };
  const data = event.data;
  if (!isRecord(data)) throw new InvalidEventError("Event has no data object");
  if (eventType.startsWith("customer.")) {
    return {
      ...delivery,
      change: {
        ...customerPart(data, "data", eventTimestamp),
        metadata_user_id: null,
        customer_deleted: eventType === "customer.deleted",
        subscription: null,
      },
    };
  }
  return { ...delivery, change: subscriptionChange(data, eventTimestamp) };
}

function subscriptionChange(data: Record<string, unknown>, eventTimestamp: string): WebhookChange {
  const id = readString(data, "id", "data");
  const status = readString(data, "status", "data");
  const customer = data.customer;
  if (!isRecord(customer)) throw new InvalidEventError("data.customer is not an object");
  const linked = customerPart(customer, "data.customer", eventTimestamp);
  if (typeof data.customer_id === "string" && data.customer_id !== linked.customer_id) {
    throw new InvalidEventError("data.customer_id does not match data.customer.id");
  }
  const cancelAtPeriodEnd = data.cancel_at_period_end ?? false;
  if (typeof cancelAtPeriodEnd !== "boolean") {
    throw new InvalidEventError("data.cancel_at_period_end is not a boolean");
  }
  const metadata = isRecord(data.metadata) ? data.metadata : {};
  return {
    ...linked,
    metadata_user_id: typeof metadata.user_id === "string" ? metadata.user_id : null,
    customer_deleted: false,
    subscription: {
      id,
      status,
      product_id: readOptionalString(data, "product_id", "data"),
      current_period_end: readTimestamp(data, "current_period_end", "data"),
      cancel_at_period_end: cancelAtPeriodEnd,
      canceled_at: readTimestamp(data, "canceled_at", "data"),
      ended_at: readTimestamp(data, "ended_at", "data"),
      version: versionOf(data, "data", eventTimestamp),
    },
  };
}

function customerPart(
  customer: Record<string, unknown>,
  path: string,
  eventTimestamp: string,
): Pick<WebhookChange, "customer_id" | "external_id" | "customer_version"> {
  return {
    customer_id: readString(customer, "id", path),
    external_id: readOptionalString(customer, "external_id", path),
    customer_version: versionOf(customer, path, eventTimestamp, ["deleted_at"]),
  };
}

/**
 * An object's version: the latest of `modified_at` and `extra` fields, else `created_at` (Polar
 * leaves `modified_at` null until the first change), else the event's timestamp.
 */
function versionOf(
  object: Record<string, unknown>,
  path: string,
  eventTimestamp: string,
  extra: string[] = [],
): string {
  const changes = ["modified_at", ...extra]
    .map((field) => readTimestamp(object, field, path))
    .filter((value): value is string => value !== null)
    .sort((a, b) => Date.parse(b) - Date.parse(a));
  return changes[0] ?? readTimestamp(object, "created_at", path) ?? eventTimestamp;
}

function readString(object: Record<string, unknown>, field: string, path: string): string {
  const value = object[field];
  if (typeof value !== "string" || value === "") {
    throw new InvalidEventError(`${path}.${field} is not a non-empty string`);
  }
  return value;
}

function readOptionalString(
  object: Record<string, unknown>,
  field: string,
  path: string,
): string | null {
  const value = object[field];
  if (value === undefined || value === null || value === "") return null;
  if (typeof value !== "string") throw new InvalidEventError(`${path}.${field} is not a string`);
  return value;
}

/** An ISO 8601 date-time with a zone, as Polar sends them; anything else is refused. */
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function readTimestamp(object: Record<string, unknown>, field: string, path: string) {
  const value = object[field];
  if (value === undefined || value === null) return null;
  if (typeof value !== "string" || !TIMESTAMP.test(value) || Number.isNaN(Date.parse(value))) {
    throw new InvalidEventError(`${path}.${field} is not a timestamp`);
  }
  return value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
