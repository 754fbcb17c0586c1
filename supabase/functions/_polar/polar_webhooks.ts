/**
 * Polar webhook events reduced to what `public.user_subscriptions` stores: the `change` that
 * `public.apply_polar_webhook` applies (see the migration `20261124000200_polar_webhooks.sql` for
 * the staleness rule). `webhooks.validateEvent` checks the signature and the event type only, so
 * the fields read here are checked here.
 *
 * @module
 */
import {
  CATALOG_EVENT_TYPES,
  type CatalogChange,
  catalogChange,
  type CatalogEventType,
  InvalidCatalogError,
  isCatalogEventType,
} from "./catalog.ts";
import {
  TEAM_EVENT_TYPES,
  type TeamChange,
  teamChangeOf,
  teamChangeProblem,
  type TeamEventType,
} from "./team_webhooks.ts";

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

/** The `order.*` events recorded as billing changes (`public.polar_billing_changes`). */
export const ORDER_EVENT_TYPES = ["order.paid", "order.refunded"] as const;

/** The `customer.*` events that change the user-to-customer link. */
export const CUSTOMER_EVENT_TYPES = [
  "customer.created",
  "customer.updated",
  "customer.deleted",
] as const;

/** Polar's Customer State webhook: one snapshot of the customer's whole state. */
export const CUSTOMER_STATE_EVENT_TYPE = "customer.state_changed";

/** An event type this project acts on. */
export type HandledEventType =
  | typeof SUBSCRIPTION_EVENT_TYPES[number]
  | typeof CUSTOMER_EVENT_TYPES[number]
  | typeof ORDER_EVENT_TYPES[number]
  | CatalogEventType
  | TeamEventType
  | typeof CUSTOMER_STATE_EVENT_TYPE;

/** Every event type `polar-webhooks` acts on: what Polar's webhook endpoint must send. */
export const HANDLED_EVENT_TYPES: readonly HandledEventType[] = [
  ...SUBSCRIPTION_EVENT_TYPES,
  ...CUSTOMER_EVENT_TYPES,
  ...ORDER_EVENT_TYPES,
  ...CATALOG_EVENT_TYPES,
  ...TEAM_EVENT_TYPES,
  CUSTOMER_STATE_EVENT_TYPE,
];

/** The subscription part of a {@linkcode WebhookChange}. */
export interface SubscriptionChange {
  /** Polar's subscription id. */
  id: string;
  /** Polar's `status`. */
  status: string;
  /** The subscribed product. */
  product_id: string | null;
  /** Start of the current billing period. */
  current_period_start: string | null;
  /** End of the current billing period. */
  current_period_end: string | null;
  /** Start of the current meter period, where Polar says (a subscription, not a Customer
   * State's subscription): the usage balance counts delivered units from it. */
  current_meter_period_start?: string | null;
  /** End of the trial, if any. */
  trial_end: string | null;
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
  /** The customer's whole state; only for `customer.state_changed`. */
  state?: CustomerStateChange;
  /** The order; only for `order.paid` and `order.refunded`. */
  order?: OrderChange;
}

/** An order event, as `public.polar_billing_changes` records it. */
export interface OrderChange {
  /** Polar's order id. */
  id: string;
  /** `order_paid` or `order_refunded`: the billing change it records. */
  kind: "order_paid" | "order_refunded";
  /** The product bought. */
  product_id: string | null;
  /** The subscription it bills, if any. */
  subscription_id: string | null;
  /** What the customer paid, in cents. */
  total_amount: number | null;
  /** What has been refunded so far, in cents; each new amount is a new refund. */
  refunded_amount: number | null;
  /** The currency. */
  currency: string | null;
  /** The order's version: `modified_at`, else `created_at`, else the event's timestamp. */
  version: string;
}

/** A Customer State snapshot, reduced to what the database stores. */
export interface CustomerStateChange {
  /** When Polar built it: the event's timestamp, or when a pull asked for it. */
  at: string;
  /** The active (or trialing) subscriptions; any other of the user's is not active at `at`. */
  subscriptions: SubscriptionChange[];
  /** The granted benefits. */
  grants: BenefitGrantChange[];
  /** The active meters. */
  meters: MeterChange[];
}

/** One granted benefit of a {@linkcode CustomerStateChange}. */
export interface BenefitGrantChange {
  /** The grant's id. */
  id: string;
  /** The benefit's id. */
  benefit_id: string;
  /** The benefit's type, such as `feature_flag` or `license_keys`. */
  benefit_type: string;
  /** The benefit's metadata; its `key` is what `has_entitlement` matches. */
  benefit_metadata: Record<string, unknown>;
  /** The grant's properties a user may see (see {@linkcode VISIBLE_GRANT_PROPERTIES}). */
  properties: Record<string, unknown>;
  /** When it was granted. */
  granted_at: string | null;
}

/** One active meter of a {@linkcode CustomerStateChange}. */
export interface MeterChange {
  /** The meter's id. */
  meter_id: string;
  /** Units consumed in the current period. */
  consumed_units: number;
  /** Units credited in the current period. */
  credited_units: number;
  /** Credited minus consumed. */
  balance: number;
}

/**
 * The grant properties stored for the user to read: what identifies what they were granted (a
 * license key's display key and id, the Discord guild and role, the GitHub repository, the files,
 * the Slack channel). Anything else Polar adds (a user-provided key, an invite URL, an email) is
 * left out, so a new property is hidden until someone decides it may be shown.
 */
export const VISIBLE_GRANT_PROPERTIES = [
  "display_key",
  "license_key_id",
  "account_id",
  "guild_id",
  "role_id",
  "repository_owner",
  "repository_name",
  "permission",
  "files",
  "channel_id",
  "channel_name",
] as const;

/** One verified delivery, ready for the database. */
export interface WebhookDelivery {
  /** The `webhook-id` header: the same on every redelivery of one event. */
  webhookId: string;
  /** The event's `type`. */
  eventType: string;
  /** The event's `timestamp`. */
  eventTimestamp: string;
  /** What it changes for a user; `null` for a catalog event or a type this project does not use. */
  change: WebhookChange | null;
  /** What it changes in the catalog (`product.*`, `benefit.*`); absent otherwise. */
  catalog?: CatalogChange;
  /** What it changes for a team (a seat, a member, a member's grant, a team customer or its
   * subscription); absent otherwise. */
  team?: TeamChange;
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
 * @returns `true` for every type of {@linkcode HANDLED_EVENT_TYPES}
 * @example
 * ```ts
 * isHandledEventType("subscription.cycled"); // true
 * isHandledEventType("order.created"); // false
 * ```
 */
export function isHandledEventType(type: string): type is HandledEventType {
  return (HANDLED_EVENT_TYPES as readonly string[]).includes(type);
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
  // A team customer's events (and seats, members, members' grants) go to the team tables only.
  const team = teamChangeOf(eventType, data);
  if (team) {
    const problem = teamChangeProblem(team);
    if (problem) throw new InvalidEventError(problem);
    return { ...delivery, change: null, team };
  }
  if ((TEAM_EVENT_TYPES as readonly string[]).includes(eventType)) {
    return { ...delivery, change: null }; // a grant to no member: the Customer State has it
  }
  if (isCatalogEventType(eventType)) {
    try {
      return { ...delivery, change: null, catalog: catalogChange(eventType, data, eventTimestamp) };
    } catch (error) {
      if (error instanceof InvalidCatalogError) throw new InvalidEventError(error.message);
      throw error;
    }
  }
  if (eventType === "order.paid" || eventType === "order.refunded") {
    return { ...delivery, change: orderChange(eventType, data, eventTimestamp) };
  }
  if (eventType === CUSTOMER_STATE_EVENT_TYPE) {
    return { ...delivery, change: customerStateChange(data, eventTimestamp) };
  }
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

/**
 * Reduces a Customer State (the `customer.state_changed` event's data, or the answer of
 * `GET /v1/customers/external/{id}/state`) to the change `apply_polar_webhook` takes.
 *
 * @param state the Customer State
 * @param at when it was built: the event's timestamp, or when the pull was sent
 * @returns the change
 * @throws {InvalidEventError} when a field this project reads is missing or malformed
 * @example
 * ```ts
 * customerStateChange(await getStateExternal(userId), new Date().toISOString()).state?.grants;
 * ```
 */
export function customerStateChange(state: Record<string, unknown>, at: string): WebhookChange {
  const list = (field: string) => {
    const value = state[field];
    if (!Array.isArray(value)) throw new InvalidEventError(`data.${field} is not a list`);
    return value.map((item, index) => {
      if (!isRecord(item)) throw new InvalidEventError(`data.${field}[${index}] is not an object`);
      return [item, `data.${field}[${index}]`] as const;
    });
  };
  return {
    ...customerPart(state, "data", at),
    metadata_user_id: null,
    customer_deleted: false,
    subscription: null,
    state: {
      at,
      subscriptions: list("active_subscriptions").map(([item, path]) =>
        subscriptionPart(item, path, at)
      ),
      grants: list("granted_benefits").map(([item, path]) => ({
        id: readString(item, "id", path),
        benefit_id: readString(item, "benefit_id", path),
        benefit_type: readString(item, "benefit_type", path),
        benefit_metadata: isRecord(item.benefit_metadata) ? item.benefit_metadata : {},
        properties: visibleProperties(item.properties),
        granted_at: readTimestamp(item, "granted_at", path),
      })),
      meters: list("active_meters").map(([item, path]) => ({
        meter_id: readString(item, "meter_id", path),
        consumed_units: readNumber(item, "consumed_units", path),
        credited_units: readNumber(item, "credited_units", path),
        balance: readNumber(item, "balance", path),
      })),
    },
  };
}

function visibleProperties(properties: unknown): Record<string, unknown> {
  if (!isRecord(properties)) return {};
  return Object.fromEntries(
    VISIBLE_GRANT_PROPERTIES.filter((key) => properties[key] !== undefined).map((
      key,
    ) => [key, properties[key]]),
  );
}

/**
 * Reduces a subscription (a `subscription.*` event's data, or the answer of
 * `GET /v1/subscriptions/{id}`) to the change `apply_polar_webhook` takes.
 *
 * @param data the subscription, with its customer embedded
 * @param eventTimestamp the event's timestamp, or when the pull was sent (the version of last
 *   resort, for an object without `modified_at` and `created_at`)
 * @returns the change
 * @throws {InvalidEventError} when a field this project reads is missing or malformed
 * @example
 * ```ts
 * subscriptionChange(await getSubscription(id), new Date().toISOString()).subscription?.status;
 * ```
 */
export function subscriptionChange(
  data: Record<string, unknown>,
  eventTimestamp: string,
): WebhookChange {
  return {
    ...ownerOf(data, eventTimestamp),
    customer_deleted: false,
    subscription: subscriptionPart(data, "data", eventTimestamp),
  };
}

/**
 * The customer part of a change: Polar's id, the `external_id` (the Supabase user id) and the
 * customer's version, read as the webhooks read a customer.
 *
 * @param customer a Polar customer (an item of `GET /v1/customers/`, or one embedded in another
 *   object)
 * @param eventTimestamp when it was read (the version of last resort)
 * @returns the id, external id and version
 * @throws {InvalidEventError} when a field this project reads is missing or malformed
 * @example
 * ```ts
 * customerLink({ id: "c1", external_id: userId, created_at }, now).customer_version; // created_at
 * ```
 */
export function customerLink(
  customer: Record<string, unknown>,
  eventTimestamp: string,
): Pick<WebhookChange, "customer_id" | "external_id" | "customer_version"> {
  return customerPart(customer, "data", eventTimestamp);
}

/** The customer a subscription or an order embeds, its link, and the object's `user_id` metadata. */
function ownerOf(
  data: Record<string, unknown>,
  eventTimestamp: string,
): Pick<WebhookChange, "customer_id" | "external_id" | "customer_version" | "metadata_user_id"> {
  const customer = data.customer;
  if (!isRecord(customer)) throw new InvalidEventError("data.customer is not an object");
  const linked = customerPart(customer, "data.customer", eventTimestamp);
  if (typeof data.customer_id === "string" && data.customer_id !== linked.customer_id) {
    throw new InvalidEventError("data.customer_id does not match data.customer.id");
  }
  const metadata = isRecord(data.metadata) ? data.metadata : {};
  return {
    ...linked,
    metadata_user_id: typeof metadata.user_id === "string" ? metadata.user_id : null,
  };
}

/** An order event: the customer's link, and the order as a billing change. */
function orderChange(
  type: typeof ORDER_EVENT_TYPES[number],
  data: Record<string, unknown>,
  eventTimestamp: string,
): WebhookChange {
  const amount = (field: string) => {
    const value = data[field];
    if (value === undefined || value === null) return null;
    return readNumber(data, field, "data");
  };
  return {
    ...ownerOf(data, eventTimestamp),
    customer_deleted: false,
    subscription: null,
    order: {
      id: readString(data, "id", "data"),
      kind: type === "order.paid" ? "order_paid" : "order_refunded",
      product_id: readOptionalString(data, "product_id", "data"),
      subscription_id: readOptionalString(data, "subscription_id", "data"),
      total_amount: amount("total_amount"),
      refunded_amount: amount("refunded_amount"),
      currency: readOptionalString(data, "currency", "data"),
      version: versionOf(data, "data", eventTimestamp),
    },
  };
}

/** A subscription, from an event or a Customer State, as the database stores it. */
function subscriptionPart(
  data: Record<string, unknown>,
  path: string,
  eventTimestamp: string,
): SubscriptionChange {
  const cancelAtPeriodEnd = data.cancel_at_period_end ?? false;
  if (typeof cancelAtPeriodEnd !== "boolean") {
    throw new InvalidEventError(`${path}.cancel_at_period_end is not a boolean`);
  }
  return {
    id: readString(data, "id", path),
    status: readString(data, "status", path),
    product_id: readOptionalString(data, "product_id", path),
    current_period_start: readTimestamp(data, "current_period_start", path),
    current_period_end: readTimestamp(data, "current_period_end", path),
    ...("current_meter_period_start" in data && {
      current_meter_period_start: readTimestamp(data, "current_meter_period_start", path),
    }),
    trial_end: readTimestamp(data, "trial_end", path),
    cancel_at_period_end: cancelAtPeriodEnd,
    canceled_at: readTimestamp(data, "canceled_at", path),
    ended_at: readTimestamp(data, "ended_at", path),
    version: versionOf(data, path, eventTimestamp),
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

function readNumber(object: Record<string, unknown>, field: string, path: string): number {
  const value = object[field];
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new InvalidEventError(`${path}.${field} is not a number`);
  }
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
