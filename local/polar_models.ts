/**
 * Polar objects as the 2026-10 API returns them and webhooks carry them, typed with
 * `@polar-sh/sdk`'s models (so a change in Polar's shapes breaks the type check). Shared by the
 * Polar stand-in and the tests' fixtures.
 *
 * @module
 */
import type { models } from "@polar-sh/sdk/2026-10";

/** The organization every object belongs to. */
export const ORGANIZATION_ID = "8f3f0a5e-8a7b-4a53-9d8a-0a3c1e1f2b10";
/** The one product: "Pro", $10 a month. */
export const DEMO_PRODUCT_ID = "5b2bd9c4-3f2c-4d3a-9a55-6a7b3b0c9e01";
const PRICE_ID = "1f0c6d0e-2b8e-4f7e-9a4e-9d1f2c3b4a50";
const PRICE_CENTS = 1000;
const PERIOD_MS = 30 * 24 * 3600_000;

/**
 * A customer.
 *
 * @param fields id, external id (the Supabase user id) and email; random where left out
 * @returns the customer, created now and never modified
 * @example
 * ```ts
 * customerModel({ externalId: userId }).external_id; // userId
 * ```
 */
export function customerModel(
  fields: { id?: string; externalId?: string | null; email?: string | null } = {},
): models.CustomerIndividual {
  const id = fields.id ?? crypto.randomUUID();
  return {
    id,
    created_at: new Date().toISOString(),
    modified_at: null,
    metadata: {},
    external_id: fields.externalId ?? null,
    email: fields.email ?? `${id.slice(0, 8)}@example.com`,
    email_verified: true,
    type: "individual",
    name: null,
    billing_name: null,
    billing_address: null,
    tax_id: null,
    organization_id: ORGANIZATION_ID,
    deleted_at: null,
    first_user_event_at: null,
    avatar_url: null,
  };
}

/**
 * A monthly subscription to {@linkcode DEMO_PRODUCT_ID}, its period starting at `created_at`.
 *
 * @param customer the subscribed customer (embedded, as Polar embeds it)
 * @param fields fields to set; by default created now, never modified, `incomplete`
 * @returns the subscription
 * @example
 * ```ts
 * subscriptionModel(customer, { status: "active", modified_at: new Date().toISOString() });
 * ```
 */
export function subscriptionModel(
  customer: models.CustomerIndividual | models.CustomerTeam,
  fields: Partial<models.Subscription> = {},
): models.Subscription {
  const createdAt = fields.created_at ?? new Date().toISOString();
  const periodEnd = new Date(new Date(createdAt).getTime() + PERIOD_MS).toISOString();
  const price: models.ProductPriceFixed = {
    created_at: createdAt,
    modified_at: null,
    id: PRICE_ID,
    source: "catalog",
    amount_type: "fixed",
    price_currency: "usd",
    tax_behavior: null,
    is_archived: false,
    product_id: DEMO_PRODUCT_ID,
    price_amount: PRICE_CENTS,
  };
  return {
    created_at: createdAt,
    modified_at: null,
    id: crypto.randomUUID(),
    amount: PRICE_CENTS,
    currency: "usd",
    recurring_interval: "month",
    recurring_interval_count: 1,
    status: "incomplete",
    current_period_start: createdAt,
    current_period_end: periodEnd,
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
    product_id: DEMO_PRODUCT_ID,
    discount_id: null,
    checkout_id: crypto.randomUUID(),
    units: null,
    customer_cancellation_reason: null,
    customer_cancellation_comment: null,
    metadata: {},
    customer,
    product: {
      id: DEMO_PRODUCT_ID,
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

/** The demo product's benefit: a feature flag whose metadata `key` apps gate on. */
export const DEMO_BENEFIT_ID = "0c7d3c52-95a1-4b8e-8f0e-4c1f6b2a9d33";
/** The metadata `key` of {@linkcode DEMO_BENEFIT_ID}: `has_entitlement('pro')`. */
export const DEMO_ENTITLEMENT_KEY = "pro";

/**
 * A granted benefit as Customer State lists it; by default the demo product's feature flag.
 *
 * @param fields fields to set
 * @returns the grant, granted now
 * @example
 * ```ts
 * benefitGrantModel().benefit_metadata; // { key: "pro" }
 * ```
 */
export function benefitGrantModel(
  fields: Partial<models.CustomerStateBenefitGrant> = {},
): models.CustomerStateBenefitGrant {
  const now = new Date().toISOString();
  return {
    id: crypto.randomUUID(),
    created_at: now,
    modified_at: null,
    granted_at: now,
    benefit_id: DEMO_BENEFIT_ID,
    benefit_type: "feature_flag",
    benefit_metadata: { key: DEMO_ENTITLEMENT_KEY },
    properties: {},
    ...fields,
  };
}

/**
 * A subscription as Customer State lists it (its active subscriptions).
 *
 * @param subscription the subscription
 * @returns its Customer State form
 * @example
 * ```ts
 * stateSubscriptionModel(subscription).status; // "active"
 * ```
 */
export function stateSubscriptionModel(
  subscription: models.Subscription,
): models.CustomerStateSubscription {
  return {
    id: subscription.id,
    created_at: subscription.created_at,
    modified_at: subscription.modified_at,
    metadata: subscription.metadata,
    status: subscription.status as models.CustomerStateSubscription["status"],
    amount: subscription.amount,
    currency: subscription.currency,
    recurring_interval: subscription.recurring_interval,
    current_period_start: subscription.current_period_start,
    current_period_end: subscription.current_period_end,
    trial_start: subscription.trial_start,
    trial_end: subscription.trial_end,
    cancel_at_period_end: subscription.cancel_at_period_end,
    canceled_at: subscription.canceled_at,
    started_at: subscription.started_at,
    ends_at: subscription.ends_at,
    product_id: subscription.product_id,
    discount_id: subscription.discount_id,
    seats: null,
    units: null,
    meters: [],
  };
}

/**
 * A customer's Customer State: the customer with its active subscriptions (those active or
 * trialing among `subscriptions`), granted benefits and active meters.
 *
 * @param customer the customer
 * @param parts the customer's subscriptions (any status), grants and meters
 * @returns the state, as `customer.state_changed` and `GET …/state` carry it
 * @example
 * ```ts
 * customerStateModel(customer, { subscriptions: [active], grants: [benefitGrantModel()] });
 * ```
 */
export function customerStateModel(
  customer: models.CustomerIndividual,
  parts: {
    subscriptions?: models.Subscription[];
    grants?: models.CustomerStateBenefitGrant[];
    meters?: models.CustomerStateMeter[];
  } = {},
): models.CustomerStateIndividual {
  return {
    ...customer,
    active_subscriptions: (parts.subscriptions ?? [])
      .filter((s) => s.status === "active" || s.status === "trialing")
      .map(stateSubscriptionModel),
    granted_benefits: parts.grants ?? [],
    active_meters: parts.meters ?? [],
  };
}

/**
 * A webhook endpoint, as `GET /v1/webhooks/endpoints` lists it (its `secret` is a placeholder:
 * the sync function never reads or logs it).
 *
 * @param fields the endpoint's URL and whether Polar has it enabled
 * @returns the endpoint
 * @example
 * ```ts
 * webhookEndpointModel({ url, enabled: false }).enabled; // false
 * ```
 */
export function webhookEndpointModel(
  fields: { url: string; enabled: boolean },
): models.WebhookEndpoint {
  return {
    created_at: new Date().toISOString(),
    modified_at: null,
    id: crypto.randomUUID(),
    url: fields.url,
    name: null,
    api_version: "2026-10",
    format: "raw",
    secret: "polar_whs_placeholder",
    organization_id: ORGANIZATION_ID,
    events: ["customer.state_changed"],
    enabled: fields.enabled,
    uses_standard_webhook_signature: true,
  };
}

/** The demo meter's id (see {@linkcode DEMO_METER}). */
export const DEMO_METER_ID = "3d6a1c2e-7b4f-4e1a-9c8d-5f2e1a0b9c44";
/** The demo meter, in plain words: its name, the event name it counts and the property summed. */
export const DEMO_METER = {
  id: DEMO_METER_ID,
  name: "ai_credits",
  eventName: "ai_usage",
  unitsProperty: "units",
} as const;

/**
 * The demo meter as Polar answers it: events named {@linkcode DEMO_METER}`.eventName`, the sum
 * of their metadata property {@linkcode DEMO_METER}`.unitsProperty`.
 *
 * @param fields fields to set
 * @returns the meter
 * @example
 * ```ts
 * demoMeterModel().aggregation; // { func: "sum", property: "units" }
 * ```
 */
export function demoMeterModel(fields: Partial<models.Meter> = {}): models.Meter {
  return {
    metadata: {},
    created_at: "2026-01-01T00:00:00.000Z",
    modified_at: null,
    id: DEMO_METER.id,
    name: DEMO_METER.name,
    unit: "scalar",
    filter: {
      conjunction: "and",
      clauses: [{ property: "name", operator: "eq", value: DEMO_METER.eventName }],
    },
    aggregation: { func: "sum", property: DEMO_METER.unitsProperty },
    organization_id: ORGANIZATION_ID,
    archived_at: null,
    ...fields,
  };
}

/** The units the demo subscription's `meter_credit` benefit grants per cycle. */
export const DEMO_CREDIT_UNITS = 100;
/** The one-time credit pack: paying it grants {@linkcode CREDIT_PACK_UNITS} of the demo meter. */
export const CREDIT_PACK_PRODUCT_ID = "9a4e2f17-6c3b-4d85-b1a0-2e7f5c8d9b62";
/** The units the credit pack's `meter_credit` benefit adds. */
export const CREDIT_PACK_UNITS = 500;
/** The demo subscription's `meter_credit` benefit. */
export const DEMO_CREDIT_BENEFIT_ID = "6e1b9d40-2a7c-4f3e-8b5d-1c9a0e4f7a21";
/** The credit pack's `meter_credit` benefit. */
export const CREDIT_PACK_BENEFIT_ID = "b7c2e8a5-4d1f-4a9b-9e6c-3f0d2a1b8c75";

/**
 * A granted `meter_credit` benefit as `GET /v1/benefit-grants/` lists it.
 *
 * @param customer the customer it was granted to
 * @param properties the meter and the units it credits
 * @param from the subscription (per cycle) or the order (one-time) that granted it
 * @returns the grant, granted now
 * @example
 * ```ts
 * meterCreditGrantModel(customer, { meter_id: DEMO_METER_ID, units: 100 }).benefit.type; // "meter_credit"
 * ```
 */
export function meterCreditGrantModel(
  customer: models.CustomerIndividual,
  properties: { meter_id: string; units: number },
  from: { subscription_id?: string; order_id?: string } = {},
): models.BenefitGrant {
  const now = new Date().toISOString();
  const recurring = from.subscription_id !== undefined;
  const benefit: models.BenefitMeterCredit = {
    id: recurring ? DEMO_CREDIT_BENEFIT_ID : CREDIT_PACK_BENEFIT_ID,
    created_at: now,
    modified_at: null,
    type: "meter_credit",
    description: recurring
      ? `${properties.units} credits a month`
      : `Credit pack: ${properties.units} credits`,
    selectable: true,
    deletable: true,
    is_deleted: false,
    organization_id: ORGANIZATION_ID,
    metadata: {},
    visibility: "public",
    properties: { ...properties, rollover: false },
    visibility_configurable: true,
  };
  return {
    created_at: now,
    modified_at: null,
    id: crypto.randomUUID(),
    granted_at: now,
    is_granted: true,
    revoked_at: null,
    is_revoked: false,
    subscription_id: from.subscription_id ?? null,
    order_id: from.order_id ?? null,
    customer_id: customer.id,
    member_id: null,
    benefit_id: benefit.id,
    error: null,
    customer,
    member: null,
    benefit,
    properties: {} as models.BenefitGrant["properties"],
  };
}

/**
 * A benefit grant as Polar's organization-wide list (`GET /v1/benefit-grants/`) answers it: the
 * grant with its customer and benefit embedded.
 *
 * @param customer the customer it was granted to
 * @param grant the grant as Customer State lists it (by default the demo feature flag, now)
 * @param fields the list's own fields: whether it is still granted, when it was revoked, the
 *   subscription that granted it
 * @returns the grant
 * @example
 * ```ts
 * listedBenefitGrantModel(customer, benefitGrantModel()).benefit.metadata; // { key: "pro" }
 * ```
 */
export function listedBenefitGrantModel(
  customer: models.CustomerIndividual,
  grant: models.CustomerStateBenefitGrant = benefitGrantModel(),
  fields: { is_granted?: boolean; revoked_at?: string | null; subscription_id?: string | null } =
    {},
): models.BenefitGrant {
  const isGranted = fields.is_granted ?? true;
  const benefit: models.BenefitFeatureFlag = {
    id: grant.benefit_id,
    created_at: grant.created_at,
    modified_at: null,
    type: "feature_flag",
    description: `Feature ${String(grant.benefit_metadata.key ?? grant.benefit_id)}`,
    selectable: true,
    deletable: true,
    is_deleted: false,
    organization_id: ORGANIZATION_ID,
    metadata: grant.benefit_metadata,
    visibility: "public",
    properties: {},
    visibility_configurable: true,
  };
  return {
    created_at: grant.created_at,
    modified_at: grant.modified_at,
    id: grant.id,
    granted_at: grant.granted_at,
    is_granted: isGranted,
    revoked_at: fields.revoked_at ?? null,
    is_revoked: !isGranted,
    subscription_id: fields.subscription_id ?? null,
    order_id: null,
    customer_id: customer.id,
    member_id: null,
    benefit_id: grant.benefit_id,
    error: null,
    customer,
    member: null,
    // Customer State types the benefit by its type alone; the list embeds the whole benefit.
    benefit: { ...benefit, type: grant.benefit_type as "feature_flag" },
    properties: grant.properties as models.BenefitGrant["properties"],
  };
}

/**
 * A customer meter as `GET /v1/customer-meters/` answers it: the balance with its customer and
 * meter embedded.
 *
 * @param customer the customer
 * @param fields units and ids; by default the demo meter with 100 credited, 0 consumed
 * @returns the customer meter
 * @example
 * ```ts
 * customerMeterModel(customer, { consumed_units: 25 }).balance; // 75
 * ```
 */
export function customerMeterModel(
  customer: models.CustomerIndividual,
  fields: Partial<
    Pick<models.CustomerMeter, "id" | "meter_id" | "consumed_units" | "credited_units">
  > = {},
): models.CustomerMeter {
  const now = new Date().toISOString();
  const consumed = fields.consumed_units ?? 0;
  const credited = fields.credited_units ?? 100;
  const meterId = fields.meter_id ?? DEMO_METER_ID;
  return {
    id: fields.id ?? crypto.randomUUID(),
    created_at: now,
    modified_at: now,
    customer_id: customer.id,
    meter_id: meterId,
    consumed_units: consumed,
    credited_units: credited,
    balance: credited - consumed,
    customer,
    meter: demoMeterModel({ id: meterId }),
  };
}

/**
 * A customer meter as Customer State lists it (its active meters).
 *
 * @param meter the customer meter
 * @returns its Customer State form
 * @example
 * ```ts
 * stateMeterModel(customerMeterModel(customer)).balance; // 100
 * ```
 */
export function stateMeterModel(meter: models.CustomerMeter): models.CustomerStateMeter {
  return {
    id: meter.id,
    created_at: meter.created_at,
    modified_at: meter.modified_at,
    meter_id: meter.meter_id,
    consumed_units: meter.consumed_units,
    credited_units: meter.credited_units,
    balance: meter.balance,
  };
}

/**
 * A listed grant in its Customer State form.
 *
 * @param grant the grant as `GET /v1/benefit-grants/` lists it
 * @returns the grant as Customer State's `granted_benefits` carries it
 * @example
 * ```ts
 * stateGrantModel(listedBenefitGrantModel(customer)).benefit_metadata; // { key: "pro" }
 * ```
 */
export function stateGrantModel(grant: models.BenefitGrant): models.CustomerStateBenefitGrant {
  return {
    id: grant.id,
    created_at: grant.created_at,
    modified_at: grant.modified_at,
    granted_at: grant.granted_at ?? grant.created_at,
    benefit_id: grant.benefit_id,
    benefit_type: grant.benefit.type,
    benefit_metadata: grant.benefit.metadata,
    properties: grant.properties as models.CustomerStateBenefitGrant["properties"],
  };
}

/**
 * An order as `order.paid` and `order.refunded` carry it: paid, for `amount` cents, of the
 * product, with the customer embedded (as Polar embeds it).
 *
 * @param customer the paying customer
 * @param fields the product, its amount, the subscription it bills, and fields to set
 * @returns the order, created now
 * @example
 * ```ts
 * orderModel(customer, { product: standInProducts()[2], amount: 500 }).status; // "paid"
 * ```
 */
export function orderModel(
  customer: models.CustomerIndividual | models.CustomerTeam,
  fields: {
    product: models.Product;
    amount: number;
    subscriptionId?: string | null;
    checkoutId?: string | null;
  } & Partial<Pick<models.Order, "status" | "refunded_amount" | "modified_at" | "metadata">>,
): models.Order {
  const now = new Date().toISOString();
  const { product, amount } = fields;
  return {
    id: crypto.randomUUID(),
    created_at: now,
    modified_at: fields.modified_at ?? null,
    status: fields.status ?? "paid",
    paid: true,
    subtotal_amount: amount,
    discount_amount: 0,
    net_amount: amount,
    tax_amount: 0,
    total_amount: amount,
    applied_balance_amount: 0,
    due_amount: 0,
    refunded_amount: fields.refunded_amount ?? 0,
    refunded_tax_amount: 0,
    refundable_amount: amount - (fields.refunded_amount ?? 0),
    refundable_tax_amount: 0,
    currency: "usd",
    billing_reason: fields.subscriptionId ? "subscription_create" : "purchase",
    billing_name: null,
    billing_address: null,
    invoice_number: null,
    is_invoice_generated: false,
    receipt_number: null,
    units: null,
    customer_id: customer.id,
    product_id: product.id,
    discount_id: null,
    subscription_id: fields.subscriptionId ?? null,
    checkout_id: fields.checkoutId ?? null,
    metadata: fields.metadata ?? {},
    platform_fee_amount: 0,
    platform_fee_currency: null,
    customer: { ...customer, email_verified: customer.email_verified ?? true },
    product: {
      metadata: product.metadata,
      id: product.id,
      created_at: product.created_at,
      modified_at: product.modified_at,
      trial_interval: product.trial_interval,
      trial_interval_count: product.trial_interval_count,
      name: product.name,
      description: product.description,
      visibility: product.visibility,
      recurring_interval: product.recurring_interval,
      recurring_interval_count: product.recurring_interval_count,
      meter_interval: product.meter_interval,
      meter_interval_count: product.meter_interval_count,
      is_recurring: product.is_recurring,
      is_archived: product.is_archived,
      organization_id: product.organization_id,
    },
    discount: null,
    subscription: null,
    items: [],
    description: product.name,
  } satisfies models.Order;
}
