/**
 * A stand-in for Polar (API 2026-10) on loopback, for the local stack: the API endpoints the
 * functions call (customers, checkouts, customer sessions, Customer State, and the
 * organization-wide lists of subscriptions, benefit grants and customer meters the reconcile
 * reads), a checkout page whose
 * "Pay" button creates an active subscription that grants the demo feature flag, a customer
 * portal page that can cancel at period end or end a subscription now, and signed webhooks
 * delivered in Polar's order, each change followed by `customer.state_changed`. Bodies are typed
 * with `@polar-sh/sdk`'s models. Usage: the meters list, event ingestion, and customer meters
 * recomputed after a debounced delay (`meterRecomputeDelayMs`), each recompute followed by
 * `customer.state_changed`; the demo subscription credits the demo meter per cycle and a one-time
 * credit pack adds more when paid.
 *
 * Products: two plans ("Pro" monthly, "Pro yearly") and the one-time credit pack
 * (`polar_products.ts`), listed by `GET /v1/products/`, and sent as `product.created` by
 * {@linkcode PolarStandIn.publishCatalog}. The organization (`GET /v1/organizations/`) has
 * `allow_multiple_subscriptions` off unless `allowMultipleSubscriptions` is set, and the checkout
 * page then refuses a second subscription with Polar's words (`polar_organizations.ts`).
 *
 * Teams (the organization's member model and seat-based pricing on, `polar_teams.ts`): team
 * customers with their owner, members (`polar_members.ts`), the seat-based "Team" plan bought
 * with `seats`, seats assigned, claimed (a claim page per invitation, `/claim/{token}`) and
 * revoked (`polar_seats.ts`), benefits granted to seat holders, member portal sessions
 * (`polar_customer_sessions.ts`) whose page shows owners and billing managers the team's seats,
 * and every change's webhooks in Polar's order.
 *
 * The checkout page behaves as Polar's does about the buyer's email: a checkout created with
 * `customer_id` is locked to that customer; one created without it lets the buyer edit the email,
 * and paying reuses an existing customer with that email (keeping its `external_id`), else
 * creates one with the checkout's `external_customer_id`. The identity tests replay attacks
 * through this.
 *
 * @module
 */
import type { models, webhooks } from "@polar-sh/sdk/2026-10";
import { createPolarBenefitGrantRoutes } from "./polar_benefit_grants.ts";
import {
  createCustomerMeterUsage,
  createPolarCustomerMeterRoutes,
} from "./polar_customer_meters.ts";
import { createCustomerSession, type PortalSession } from "./polar_customer_sessions.ts";
import { createPolarCustomerRoutes } from "./polar_customers.ts";
import { createPolarMemberRoutes, type CustomerFinder } from "./polar_members.ts";
import { createPolarSeatRoutes } from "./polar_seats.ts";
import { teamStateModel } from "./polar_team_models.ts";
import {
  type AnyCustomer,
  createTeamModel,
  isSeatBased,
  type TeamModel,
  type TeamPayload,
} from "./polar_teams.ts";
import { createPolarEventRoutes, type IngestedEvent } from "./polar_events.ts";
import { createPolarMeterRoutes, DEMO_METER, demoMeterModel } from "./polar_meters.ts";
import {
  benefitGrantModel,
  CREDIT_PACK_PRODUCT_ID,
  CREDIT_PACK_UNITS,
  customerModel,
  customerStateModel,
  DEMO_CREDIT_UNITS,
  DEMO_ENTITLEMENT_KEY,
  DEMO_PRODUCT_ID,
  listedBenefitGrantModel,
  meterCreditGrantModel,
  orderModel,
  stateGrantModel,
  stateMeterModel,
  stateSubscriptionModel,
  subscriptionModel,
  webhookEndpointModel,
} from "./polar_models.ts";
import {
  ALREADY_ACTIVE_SUBSCRIPTION_DETAIL,
  createPolarOrganizationRoutes,
  organizationModel,
  refusesSecondSubscription,
} from "./polar_organizations.ts";
import {
  checkoutSeats,
  createPolarProductRoutes,
  PRO_YEARLY_PRODUCT_ID,
  standInProducts,
  TEAM_PRODUCT_ID,
} from "./polar_products.ts";
import { HANDLED_EVENT_TYPES } from "../supabase/functions/_polar/polar_webhooks.ts";
import { createPolarSubscriptionRoutes } from "./polar_subscriptions.ts";
import { signWebhook } from "./webhook_signing.ts";

export {
  CREDIT_PACK_PRODUCT_ID,
  CREDIT_PACK_UNITS,
  DEMO_CREDIT_UNITS,
  DEMO_ENTITLEMENT_KEY,
  DEMO_METER,
  DEMO_PRODUCT_ID,
  PRO_YEARLY_PRODUCT_ID,
  TEAM_PRODUCT_ID,
};

/** The stand-in's default recompute delay of customer meters (Polar's is 15 s at least). */
export const DEFAULT_METER_RECOMPUTE_DELAY_MS = 3000;

const API_VERSION = "2026-10";

/** Options of {@linkcode createPolarStandIn}. */
export interface PolarStandInOptions {
  /** The stand-in's own public base URL, for the page links it hands out. */
  baseUrl: string;
  /** Where webhooks go: `${api}/functions/v1/polar-webhooks`. */
  webhookUrl: string;
  /** The endpoint's signing secret. */
  webhookSecret: string;
  /** `off` sends no webhook, as if Polar had disabled the endpoint; `on` by default. */
  webhooks?: "on" | "off";
  /** Milliseconds from a customer's last event or credit to its meters' recompute (and the
   * `customer.state_changed` after it); {@linkcode DEFAULT_METER_RECOMPUTE_DELAY_MS} by default. */
  meterRecomputeDelayMs?: number;
  /** The organization's `allow_multiple_subscriptions`; off by default, as in Polar. */
  allowMultipleSubscriptions?: boolean;
}

/** Every scope an organization access token can have that the stand-in checks. */
export const STAND_IN_SCOPES = [
  "benefits:read",
  "checkouts:write",
  "customer_meters:read",
  "customer_seats:read",
  "customer_seats:write",
  "customer_sessions:write",
  "customers:read",
  "customers:write",
  "events:write",
  "members:read",
  "members:write",
  "meters:read",
  "organizations:read",
  "products:read",
  "subscriptions:read",
  "webhooks:read",
] as const;

/**
 * The scopes of which a route needs one, as Polar's `server/polar/<resource>/auth.py` declares
 * them (a read route takes the write scope too), or `undefined` for a route the stand-in does not
 * guard.
 *
 * @param method the request method
 * @param pathname the path, such as `/v1/customers/`
 * @returns the scopes, any one of which is enough
 * @example
 * ```ts
 * requiredScopes("GET", "/v1/customers/"); // ["customers:read", "customers:write"]
 * ```
 */
export function requiredScopes(method: string, pathname: string): string[] | undefined {
  const read = method === "GET";
  const resource = pathname.match(/^\/v1\/([a-z-]+)/)?.[1];
  const pair = (name: string) => read ? [`${name}:read`, `${name}:write`] : [`${name}:write`];
  if (/^\/v1\/customers\/.+\/members(\/|$)/.test(pathname)) return pair("members");
  switch (resource) {
    case "customers":
      return pair("customers");
    case "customer-seats":
      // Claiming is open to anyone with the invitation token; the rest needs the seats scope.
      if (pathname.startsWith("/v1/customer-seats/claim")) return undefined;
      return read ? ["customer_seats:read"] : ["customer_seats:write"];
    case "checkouts":
      return pair("checkouts");
    case "customer-sessions":
      return ["customer_sessions:write"];
    case "subscriptions":
      return pair("subscriptions");
    case "benefit-grants":
      return pair("benefits");
    case "customer-meters":
      return ["customer_meters:read"];
    case "meters":
      return pair("meters");
    case "events":
      return read ? ["events:read", "events:write"] : ["events:write"];
    case "webhooks":
      return pair("webhooks");
    case "products":
      return pair("products");
    case "organizations":
      return pair("organizations");
    default:
      return undefined;
  }
}

/** The stand-in's webhook endpoint, as `GET /v1/webhooks/endpoints` lists it; tests change it. */
export interface StandInWebhookEndpoint {
  /** Where it sends (the stack's `polar-webhooks`). */
  url: string;
  /** `raw`, `discord` or `slack`. */
  format: string;
  /** The event types it sends. */
  events: string[];
}

/** One webhook the stand-in sent. */
export interface Delivery {
  /** The event type. */
  type: string;
  /** The function's answer (0 when it could not be reached, or was not sent). */
  status: number;
  /** Whether it was sent: not while the endpoint is disabled or when the drop rule says so. */
  sent: boolean;
}

type Payload =
  | TeamPayload
  | webhooks.WebhookCustomerCreatedPayload
  | webhooks.WebhookCustomerUpdatedPayload
  | webhooks.WebhookCustomerDeletedPayload
  | webhooks.WebhookSubscriptionCreatedPayload
  | webhooks.WebhookSubscriptionActivePayload
  | webhooks.WebhookSubscriptionUpdatedPayload
  | webhooks.WebhookSubscriptionCanceledPayload
  | webhooks.WebhookSubscriptionRevokedPayload
  | webhooks.WebhookCustomerStateChangedPayload
  | webhooks.WebhookOrderPaidPayload
  | webhooks.WebhookProductCreatedPayload;

/** The running stand-in. */
export interface PolarStandIn {
  /** Answers API and page requests. */
  handler: (request: Request) => Promise<Response>;
  /** Customers by id. */
  customers: Map<string, models.CustomerIndividual>;
  /** Team customers by id. */
  teams: Map<string, models.CustomerTeam>;
  /** Members, seats and members' benefit grants. */
  teamModel: TeamModel;
  /** A pending seat's claim link (the page Polar's invitation email links to), or `undefined`. */
  claimLink(seatId: string): string | undefined;
  /** Subscriptions by id. */
  subscriptions: Map<string, models.Subscription>;
  /** Benefit grants by id, granted and revoked: Customer State lists the granted ones. */
  grants: Map<string, models.BenefitGrant>;
  /** Customer meters by id: Customer State lists each customer's. */
  meters: Map<string, models.CustomerMeter>;
  /** The organization's meters, as `GET /v1/meters/` lists them (the demo meter). */
  meterDefinitions: models.Meter[];
  /** Every event ingested (duplicates are not stored). */
  events: IngestedEvent[];
  /** Resolves once no customer meter recompute is waiting or running. */
  metersSettled(): Promise<void>;
  /** Drops waiting recomputes (the stack calls it when it stops). */
  close(): void;
  /** Webhooks sent (or, while disabled or dropped, not sent) so far. */
  deliveries: Delivery[];
  /** Whether the webhook endpoint is enabled; Polar's webhook endpoints API says so too. */
  webhooksEnabled: boolean;
  /** Decides, per event, whether an enabled endpoint gets it (reliability tests drop some). */
  dropWebhook: (type: string) => boolean;
  /** Every API request so far, as `METHOD /v1/path` (what Polar counts against the rate limit). */
  apiRequests: string[];
  /** The organization's products: two plans and the credit pack. */
  products: models.Product[];
  /** The organization's `allow_multiple_subscriptions`; may be changed while running. */
  allowMultipleSubscriptions: boolean;
  /** Sends `product.created` for every product, as Polar does when a merchant adds them. */
  publishCatalog(): Promise<void>;
  /** The one bearer token it accepts, or `undefined` for any (the default); others get 401. */
  acceptedToken: string | undefined;
  /** The scopes the token has (all of {@linkcode STAND_IN_SCOPES} by default); a route that
   * needs another answers 403 `insufficient_scope`, as Polar does. */
  scopes: Set<string>;
  /** The webhook endpoint as Polar's API lists it (its `enabled` is {@linkcode webhooksEnabled}). */
  webhookEndpoint: StandInWebhookEndpoint;
}

/**
 * Makes the stand-in.
 *
 * @param options base URL, webhook URL and secret
 * @returns the stand-in; serve its `handler`
 * @example
 * ```ts
 * const polar = createPolarStandIn({ baseUrl, webhookUrl, webhookSecret });
 * Deno.serve({ hostname: "127.0.0.1", port: 54330 }, polar.handler);
 * ```
 */
export function createPolarStandIn(options: PolarStandInOptions): PolarStandIn {
  const customers = new Map<string, models.CustomerIndividual>();
  const teams = new Map<string, models.CustomerTeam>();
  const subscriptions = new Map<string, models.Subscription>();
  const checkouts = new Map<string, { checkout: CheckoutRecord; paid: boolean }>();
  const sessions = new Map<string, PortalSession>();
  const deliveries: Delivery[] = [];
  const apiRequests: string[] = [];
  const grants = new Map<string, models.BenefitGrant>();
  const meters = new Map<string, models.CustomerMeter>();
  const subscriptionRoutes = createPolarSubscriptionRoutes(subscriptions);
  const grantRoutes = createPolarBenefitGrantRoutes(() => [
    ...grants.values(),
    ...teamModel.grants.values(),
  ]);
  const meterRoutes = createPolarCustomerMeterRoutes(() => meters.values());
  const meterDefinitions = [demoMeterModel()];
  const meterDefinitionRoutes = createPolarMeterRoutes(() => meterDefinitions);
  const events: IngestedEvent[] = [];
  const products = standInProducts();
  const productRoutes = createPolarProductRoutes(() => products);
  const control = {
    webhooksEnabled: options.webhooks !== "off",
    dropWebhook: (_type: string) => false,
    allowMultipleSubscriptions: options.allowMultipleSubscriptions ?? false,
    acceptedToken: undefined as string | undefined,
    scopes: new Set<string>(STAND_IN_SCOPES),
    webhookEndpoint: {
      url: options.webhookUrl,
      format: "raw",
      events: [...HANDLED_EVENT_TYPES],
    } as StandInWebhookEndpoint,
  };
  const organizationRoutes = createPolarOrganizationRoutes(() =>
    organizationModel({ allowMultipleSubscriptions: control.allowMultipleSubscriptions })
  );
  const productOf = (id: string) => products.find((p) => p.id === id);
  const findCustomer: CustomerFinder = (ref) =>
    [...customers.values(), ...teams.values()].find((c) =>
      c.deleted_at === null && ("id" in ref ? c.id === ref.id : c.external_id === ref.externalId)
    );
  /** Polar's rule, as its checkout page applies it when the buyer confirms. */
  const refuses = (record: CheckoutRecord) =>
    refusesSecondSubscription(
      {
        recurring: productOf(record.product_id)?.is_recurring ?? false,
        customerId: record.customer_id,
      },
      { allowMultiple: control.allowMultipleSubscriptions, subscriptions: subscriptions.values() },
    );

  const deliver = async (payload: Payload) => {
    if (!control.webhooksEnabled || control.dropWebhook(payload.type)) {
      deliveries.push({ type: payload.type, status: 0, sent: false });
      return;
    }
    const body = JSON.stringify(payload);
    let status = 0;
    for (let attempt = 0; attempt < 3 && !(status >= 200 && status < 300); attempt++) {
      const headers = await signWebhook(body, options.webhookSecret);
      try {
        const response = await fetch(options.webhookUrl, {
          method: "POST",
          body,
          headers: { ...headers, "Content-Type": "application/json" },
        });
        status = response.status;
        await response.body?.cancel();
      } catch {
        status = 0;
      }
    }
    deliveries.push({ type: payload.type, status, sent: true });
  };

  const teamModel = createTeamModel({
    subscriptions,
    teams,
    emit: deliver,
    memberSessionToken: (customer, member) => {
      const token = `polar_cst_${crypto.randomUUID().replaceAll("-", "")}`;
      sessions.set(token, { customerId: customer.id, memberId: member.id, returnUrl: null });
      return token;
    },
  });
  const memberRoutes = createPolarMemberRoutes(teamModel, findCustomer);
  const seatRoutes = createPolarSeatRoutes(teamModel, subscriptions);

  /** Who pays: the locked customer, else the one with the typed email, else a new one. */
  const payingCustomer = async (
    record: CheckoutRecord,
    typedEmail: string | null,
  ): Promise<AnyCustomer> => {
    const locked = record.customer_id ? findCustomer({ id: record.customer_id }) : undefined;
    if (locked) return locked;
    const email = typedEmail || record.customer_email;
    const existing = [...customers.values()].find((c) =>
      c.deleted_at === null && email && c.email.toLowerCase() === email.toLowerCase()
    );
    if (existing) return existing;
    const customer = customerModel({ externalId: record.external_customer_id, email });
    customers.set(customer.id, customer);
    await deliver({
      type: "customer.created",
      timestamp: new Date().toISOString(),
      api_version: API_VERSION,
      data: customer,
    });
    return customer;
  };

  const stateOf = (customer: models.CustomerIndividual) =>
    customerStateModel(customer, {
      subscriptions: [...subscriptions.values()].filter((s) => s.customer_id === customer.id),
      grants: [...grants.values()]
        .filter((g) => g.customer_id === customer.id && g.is_granted)
        .map(stateGrantModel),
      meters: [...meters.values()].filter((m) => m.customer_id === customer.id).map(
        stateMeterModel,
      ),
    });
  /** The demo product grants its benefit while the subscription is live. */
  const grantDemoBenefit = (subscription: models.Subscription) => {
    const grant = listedBenefitGrantModel(
      subscription.customer as models.CustomerIndividual,
      benefitGrantModel({ granted_at: subscription.started_at ?? undefined }),
      { subscription_id: subscription.id },
    );
    grants.set(grant.id, grant);
  };
  /** Polar revokes a subscription's benefits when it ends. */
  const revokeBenefits = (subscription: models.Subscription, now: string) => {
    for (const grant of grants.values()) {
      if (grant.subscription_id !== subscription.id || !grant.is_granted) continue;
      Object.assign(grant, {
        is_granted: false,
        is_revoked: true,
        revoked_at: now,
        modified_at: now,
      });
    }
  };
  /** A team's state: its live subscriptions (with their seats) and its members' grants. */
  const teamStateOf = (team: models.CustomerTeam) =>
    teamStateModel(team, {
      subscriptions: [...subscriptions.values()]
        .filter((s) => s.customer_id === team.id && ["active", "trialing"].includes(s.status))
        .map((s) => ({ ...stateSubscriptionModel(s), seats: s.seats ?? null })),
      grants: [...teamModel.grants.values()]
        .filter((g) => g.customer_id === team.id && g.is_granted)
        .map(stateGrantModel),
    });
  /** Polar recomputes the state when it sends it, after the events of the change. */
  const deliverState = (customer: AnyCustomer) =>
    deliver({
      type: "customer.state_changed",
      timestamp: new Date().toISOString(),
      api_version: API_VERSION,
      data: customer.type === "team" ? teamStateOf(customer) : stateOf(customer),
    });

  const usage = createCustomerMeterUsage({
    meters: () => meterDefinitions,
    customers,
    events: () => events,
    customerMeters: meters,
    delayMs: options.meterRecomputeDelayMs ?? DEFAULT_METER_RECOMPUTE_DELAY_MS,
    onRecomputed: deliverState,
  });
  const eventRoutes = createPolarEventRoutes({ events, customers }, {
    onIngested: (inserted) => usage.ingested(inserted),
  });
  /**
   * A `meter_credit` benefit granted: the grant shows at once; its units count from the
   * customer's next meter recompute, which is scheduled when the returned function is called
   * (after the payment's webhooks, as Polar credits in a job after the order).
   */
  const grantCredits = (
    customer: models.CustomerIndividual,
    units: number,
    from: { subscription_id?: string; order_id?: string },
  ) => {
    const grant = meterCreditGrantModel(customer, { meter_id: DEMO_METER.id, units }, from);
    grants.set(grant.id, grant);
    return () => usage.credit(customer.id, DEMO_METER.id, units);
  };

  const customerRoutes = createPolarCustomerRoutes(customers, {
    stateOf,
    teams: { customers: teams, model: teamModel },
    teamStateOf,
    onTeamChange: async (type, team) => {
      const now = new Date().toISOString();
      if (type === "customer.deleted") {
        // Polar's subscription.cancel_customer job: each live subscription revoked, its seats too.
        for (const subscription of subscriptions.values()) {
          if (subscription.customer_id !== team.id || subscription.ended_at) continue;
          await endNow(subscription);
        }
      }
      await deliver({ type, timestamp: now, api_version: API_VERSION, data: team } as Payload);
      await deliverState(team);
    },
    onChange: async (type, customer) => {
      const now = new Date().toISOString();
      if (type === "customer.deleted") {
        // Polar cancels the deleted customer's subscriptions and revokes its benefits at once.
        for (const subscription of subscriptions.values()) {
          if (subscription.customer_id !== customer.id || subscription.ended_at) continue;
          revoke(subscription, now);
          revokeBenefits(subscription, now);
          await deliver({
            type: "subscription.revoked",
            timestamp: now,
            api_version: API_VERSION,
            data: subscription,
          });
        }
      }
      await deliver({ type, timestamp: now, api_version: API_VERSION, data: customer } as Payload);
      await deliverState(customer);
      // Events sent earlier under this customer's external_id count from now on.
      if (
        type !== "customer.deleted" && customer.external_id !== null &&
        events.some((e) => e.external_customer_id === customer.external_id)
      ) {
        usage.schedule(customer.id);
      }
    },
  });

  const pay = async (record: CheckoutRecord, typedEmail: string | null) => {
    const now = new Date().toISOString();
    const paying = await payingCustomer(record, typedEmail);
    if (paying.type === "team" || isSeatBased(productOf(record.product_id)!)) {
      await paySeats(record, paying);
      return;
    }
    const customer = paying;
    if (record.product_id === CREDIT_PACK_PRODUCT_ID) {
      // A one-time product: an order, no subscription; its meter_credit benefit adds units.
      const order = orderModel(customer, {
        product: productOf(CREDIT_PACK_PRODUCT_ID)!,
        amount: record.amount,
        checkoutId: record.id,
        metadata: record.metadata,
      });
      const credit = grantCredits(customer, CREDIT_PACK_UNITS, { order_id: order.id });
      await deliver({ type: "order.paid", timestamp: now, api_version: API_VERSION, data: order });
      await deliverState(customer);
      credit();
      return;
    }
    const subscription = subscriptionRecord(customer, record, productOf(record.product_id)!);
    subscriptions.set(subscription.id, subscription);
    grantDemoBenefit(subscription);
    const credit = grantCredits(customer, DEMO_CREDIT_UNITS, { subscription_id: subscription.id });
    await deliver({
      type: "subscription.created",
      timestamp: now,
      api_version: API_VERSION,
      data: subscription,
    });
    await deliver({
      type: "subscription.active",
      timestamp: now,
      api_version: API_VERSION,
      data: subscription,
    });
    await deliver({
      type: "order.paid",
      timestamp: now,
      api_version: API_VERSION,
      data: orderModel(customer, {
        product: productOf(record.product_id)!,
        amount: record.amount,
        subscriptionId: subscription.id,
        checkoutId: record.id,
        metadata: record.metadata,
      }),
    });
    await deliverState(customer);
    credit();
  };

  /**
   * A seat-based subscription: its benefits go to the seat holders when they claim a seat, not
   * to the paying customer, so it grants nothing now.
   */
  const paySeats = async (record: CheckoutRecord, customer: AnyCustomer) => {
    const now = new Date().toISOString();
    const product = productOf(record.product_id)!;
    const subscription = subscriptionRecord(customer, record, product);
    subscriptions.set(subscription.id, subscription);
    for (const type of ["subscription.created", "subscription.active"] as const) {
      await deliver({ type, timestamp: now, api_version: API_VERSION, data: subscription });
    }
    await deliver({
      type: "order.paid",
      timestamp: now,
      api_version: API_VERSION,
      data: orderModel(customer, {
        product,
        amount: record.amount,
        subscriptionId: subscription.id,
        checkoutId: record.id,
        metadata: record.metadata,
      }),
    });
    await deliverState(customer);
  };

  const cancel = async (subscription: models.Subscription) => {
    const now = new Date().toISOString();
    Object.assign(subscription, {
      cancel_at_period_end: true,
      canceled_at: now,
      ends_at: subscription.current_period_end,
      modified_at: now,
    });
    await deliver({
      type: "subscription.updated",
      timestamp: now,
      api_version: API_VERSION,
      data: subscription,
    });
    await deliver({
      type: "subscription.canceled",
      timestamp: now,
      api_version: API_VERSION,
      data: subscription,
    });
    await deliverState(subscription.customer as AnyCustomer);
  };

  /**
   * "End now": the subscription is revoked at once, and its benefit with it; a seat-based
   * subscription's seats are revoked after it (Polar's `revoke_all_seats_for_subscription`).
   */
  async function endNow(subscription: models.Subscription) {
    const now = new Date().toISOString();
    revoke(subscription, now);
    revokeBenefits(subscription, now);
    for (const type of ["subscription.updated", "subscription.revoked"] as const) {
      await deliver({ type, timestamp: now, api_version: API_VERSION, data: subscription });
    }
    await teamModel.revokeSubscriptionSeats(subscription);
    await deliverState(subscription.customer as AnyCustomer);
  }

  const handler = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    const { pathname } = url;
    const route = `${request.method} ${pathname}`;
    if (pathname.startsWith("/v1/")) {
      apiRequests.push(route);
      const bearer = request.headers.get("Authorization")?.match(/^Bearer (\S+)$/)?.[1];
      // Claiming a seat is the invitee's, with the invitation token and no access token.
      const open = pathname.startsWith("/v1/customer-seats/claim");
      if (
        !open &&
        (!bearer || (control.acceptedToken !== undefined && bearer !== control.acceptedToken))
      ) {
        // Polar's auth middleware, before any route: authlib's InvalidTokenError.
        return Response.json({
          error: "invalid_token",
          error_description:
            "The access token provided is expired, revoked, malformed, or invalid for other reasons.",
        }, {
          status: 401,
          headers: { "WWW-Authenticate": 'Bearer realm="polar", error="invalid_token"' },
        });
      }
      const needed = requiredScopes(request.method, pathname);
      if (needed && !needed.some((scope) => control.scopes.has(scope))) {
        // Polar's Authenticator dependency runs before the body is validated.
        return Response.json({
          error: "insufficient_scope",
          error_description:
            "The request requires higher privileges than provided by the access token.",
        }, {
          status: 403,
          headers: {
            "WWW-Authenticate": `Bearer realm="polar", error="insufficient_scope", scope="${
              needed.join(" ")
            }"`,
          },
        });
      }
      const body = await request.json().catch(() => ({}));
      if (route === "POST /v1/customer-sessions/") {
        return createCustomerSession(body, {
          findCustomer,
          teams: teamModel,
          sessions,
          portalUrl: (token) => `${options.baseUrl}/portal/${token}`,
        });
      }
      const teamAnswer = (await memberRoutes({ method: request.method, url, body })) ??
        (await seatRoutes({ method: request.method, url, body }));
      if (teamAnswer) return teamAnswer;
      const listAnswer = subscriptionRoutes({ method: request.method, url }) ??
        productRoutes({ method: request.method, url }) ??
        organizationRoutes({ method: request.method, url }) ??
        grantRoutes({ method: request.method, url }) ??
        meterRoutes({ method: request.method, url }) ??
        meterDefinitionRoutes({ method: request.method, url }) ??
        productRoutes({ method: request.method, url }) ??
        (await eventRoutes({ method: request.method, url, body }));
      if (listAnswer) return listAnswer;
      if (route === "GET /v1/webhooks/endpoints") {
        const endpoint = {
          ...webhookEndpointModel({
            url: control.webhookEndpoint.url,
            enabled: control.webhooksEnabled,
          }),
          format: control.webhookEndpoint.format as models.WebhookFormat,
          events: control.webhookEndpoint.events as models.WebhookEventType[],
        };
        return Response.json({ items: [endpoint], pagination: { total_count: 1, max_page: 1 } });
      }
      const customerAnswer = await customerRoutes({ method: request.method, url, body });
      if (customerAnswer) return customerAnswer;
      if (route === "POST /v1/checkouts/") {
        const products: unknown[] = Array.isArray(body.products) ? body.products : [];
        if (
          products.length === 0 ||
          products.some((id) => productOf(String(id))?.is_archived !== false)
        ) {
          return validationError("products", "Product does not exist.");
        }
        if (typeof body.customer_id === "string" && !findCustomer({ id: body.customer_id })) {
          return validationError("customer_id", "Customer does not exist.");
        }
        const seats = checkoutSeats(productOf(String(products[0]))!, body.seats);
        if (seats.refusal) return Response.json({ detail: [seats.refusal] }, { status: 422 });
        const record = checkoutRecord(options.baseUrl, body, seats);
        checkouts.set(record.client_secret, { checkout: record, paid: false });
        return Response.json(record, { status: 201 });
      }
      return Response.json({ detail: "Not Found" }, { status: 404 });
    }

    const [, page, key, action] = pathname.split("/");
    if (page === "checkout" && checkouts.has(key)) {
      const entry = checkouts.get(key)!;
      if (request.method === "POST" && action === "pay" && !entry.paid) {
        // Polar applies the one-subscription rule when the buyer confirms, and takes no money.
        if (refuses(entry.checkout)) {
          return html(checkoutPage(entry.checkout, false, undefined, true), 403);
        }
        entry.paid = true;
        const form = await request.formData().catch(() => undefined);
        const typedEmail = form?.get("email");
        await pay(entry.checkout, typeof typedEmail === "string" ? typedEmail.trim() : null);
        const successUrl = entry.checkout.success_url.replaceAll(
          "{CHECKOUT_ID}",
          entry.checkout.id,
        );
        return Response.redirect(successUrl, 303);
      }
      const locked = entry.checkout.customer_id
        ? findCustomer({ id: entry.checkout.customer_id })
        : undefined;
      const owner = locked?.type === "team"
        ? teamModel.liveMembers(locked.id).find((member) => member.role === "owner")
        : undefined;
      return html(
        checkoutPage(entry.checkout, entry.paid, locked, refuses(entry.checkout), owner?.email),
      );
    }
    if (page === "claim" && teamModel.pendingSeat(key)) {
      if (request.method === "POST") {
        // What Polar's claim page does: POST /v1/customer-seats/claim, then the member's portal.
        const claimed = await teamModel.claimSeat(key);
        return Response.redirect(
          `${options.baseUrl}/portal/${claimed.customer_session_token}`,
          303,
        );
      }
      return html(claimPage(key, teamModel.pendingSeat(key)!, subscriptions));
    }
    if (page === "portal" && sessions.get(key)?.memberId) {
      return await memberPortal(request, key, sessions.get(key)!, action, url);
    }
    if (page === "portal" && sessions.has(key)) {
      const session = sessions.get(key)!;
      const owned = [...subscriptions.values()].filter((s) => s.customer_id === session.customerId);
      if (request.method === "POST" && action === "cancel") {
        const active = owned.find((s) => s.status === "active" && !s.cancel_at_period_end);
        if (active) await cancel(active);
        return Response.redirect(`${options.baseUrl}/portal/${key}`, 303);
      }
      if (request.method === "POST" && action === "end") {
        const live = owned.find((s) => s.status === "active");
        if (live) await endNow(live);
        return Response.redirect(`${options.baseUrl}/portal/${key}`, 303);
      }
      return html(portalPage(key, customers.get(session.customerId)!, owned, session.returnUrl));
    }
    return new Response("Not found", { status: 404 });
  };

  /**
   * A member's portal (Polar's member session): owners and billing managers see the team's
   * seats and may revoke one or cancel the subscription; a member sees their own benefits.
   */
  const memberPortal = async (
    request: Request,
    key: string,
    session: PortalSession,
    action: string | undefined,
    url: URL,
  ) => {
    const customer = findCustomer({ id: session.customerId });
    const member = teamModel.liveMembers(session.customerId).find((m) => m.id === session.memberId);
    if (!customer || !member) return html(`<h1>Customer portal</h1><p>Session ended.</p>`, 401);
    const manager = member.role === "owner" || member.role === "billing_manager";
    const owned = [...subscriptions.values()].filter((s) => s.customer_id === customer.id);
    if (request.method === "POST" && manager) {
      const form = await request.formData().catch(() => undefined);
      if (action === "revoke") {
        const seat = teamModel.seats.get(String(form?.get("seat_id") ?? ""));
        const mine = seat && owned.some((s) => s.id === seat.subscription_id);
        if (mine) await teamModel.revokeSeat(seat);
      }
      const live = owned.find((s) => s.status === "active");
      if (action === "cancel" && live && !live.cancel_at_period_end) await cancel(live);
      if (action === "end" && live) await endNow(live);
      return Response.redirect(`${options.baseUrl}/portal/${key}`, 303);
    }
    void url;
    const seats = manager
      ? owned.flatMap((s) =>
        teamModel.seatsList(s).seats.map((seat) => ({ seat, subscription: s }))
      )
      : [];
    const benefits = [...teamModel.grants.values()].filter((g) =>
      g.member_id === member.id && g.is_granted
    );
    return html(memberPortalPage({ key, customer, member, owned, seats, benefits, session }));
  };

  const publishCatalog = async () => {
    for (const product of products) {
      await deliver({
        type: "product.created",
        timestamp: new Date().toISOString(),
        api_version: API_VERSION,
        data: product,
      });
    }
  };

  return Object.assign(control, {
    handler,
    products,
    publishCatalog,
    customers,
    teams,
    teamModel,
    claimLink: (seatId: string) => {
      const token = [...teamModel.invitations].find(([, id]) => id === seatId)?.[0];
      return token && teamModel.pendingSeat(token)
        ? `${options.baseUrl}/claim/${token}`
        : undefined;
    },
    subscriptions,
    grants,
    meters,
    meterDefinitions,
    events,
    metersSettled: () => usage.settled(),
    close: () => usage.close(),
    deliveries,
    apiRequests,
  });
}

interface CheckoutRecord {
  id: string;
  client_secret: string;
  url: string;
  status: string;
  success_url: string;
  return_url: string | null;
  customer_id: string | null;
  external_customer_id: string | null;
  customer_email: string | null;
  metadata: Record<string, string | number | boolean>;
  product_id: string;
  created_at: string;
  modified_at: string | null;
  expires_at: string;
  amount: number;
  /** The seats bought, for a seat-based product; `null` otherwise. */
  seats: number | null;
}

function checkoutRecord(
  baseUrl: string,
  body: Record<string, unknown>,
  price: { seats: number | null; amount: number },
): CheckoutRecord {
  const clientSecret = `polar_c_${crypto.randomUUID().replaceAll("-", "")}`;
  const text = (value: unknown) => (typeof value === "string" ? value : null);
  return {
    id: crypto.randomUUID(),
    client_secret: clientSecret,
    url: `${baseUrl}/checkout/${clientSecret}`,
    status: "open",
    success_url: text(body.success_url) ?? `${baseUrl}/`,
    return_url: text(body.return_url),
    customer_id: text(body.customer_id),
    external_customer_id: text(body.external_customer_id),
    customer_email: text(body.customer_email),
    metadata: (body.metadata ?? {}) as Record<string, string>,
    product_id: String((body.products as unknown[])[0]),
    created_at: new Date().toISOString(),
    modified_at: null,
    expires_at: new Date(Date.now() + 3600_000).toISOString(),
    amount: price.amount,
    seats: price.seats,
  };
}

function subscriptionRecord(
  customer: AnyCustomer,
  checkout: CheckoutRecord,
  product: models.Product,
): models.Subscription {
  const now = new Date().toISOString();
  const yearly = product.recurring_interval === "year";
  const periodEnd = new Date(Date.now() + (yearly ? 365 : 30) * 24 * 3600_000).toISOString();
  return subscriptionModel(customer, {
    created_at: now,
    modified_at: now,
    status: "active",
    checkout_id: checkout.id,
    metadata: checkout.metadata,
    product_id: product.id,
    product,
    prices: product.prices,
    amount: checkout.amount,
    recurring_interval: product.recurring_interval ?? "month",
    current_period_end: periodEnd,
    seats: checkout.seats,
  });
}

/** Ends a subscription now, as Polar's revoke does (its benefits go with it). */
function revoke(subscription: models.Subscription, now: string) {
  Object.assign(subscription, {
    status: "canceled",
    canceled_at: subscription.canceled_at ?? now,
    ends_at: now,
    ended_at: now,
    modified_at: now,
  });
}

function validationError(field: string, msg: string): Response {
  return Response.json(
    { detail: [{ loc: ["body", field], msg, type: "value_error", input: null }] },
    { status: 422 },
  );
}

function escape(value: string): string {
  return value.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

function html(body: string, status = 200): Response {
  return new Response(
    `<!doctype html><html><head><meta charset="utf-8"><title>Polar (local stand-in)</title>` +
      `<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}` +
      `button{font-size:1rem;padding:.5rem 1.25rem}.note{color:#666}</style></head>` +
      `<body>${body}<p class="note">Polar stand-in of the local stack: no money moves.</p></body></html>`,
    { status, headers: { "Content-Type": "text/html; charset=utf-8" } },
  );
}

function checkoutPage(
  checkout: CheckoutRecord,
  paid: boolean,
  customer: AnyCustomer | undefined,
  refused = false,
  ownerEmail?: string,
): string {
  // A checkout for a customer shows that customer's email, locked, as Polar's page does; a
  // team customer made without one is shown by its owner's.
  const shown = customer?.email ?? customer?.name ??
    (ownerEmail === undefined ? "" : `the team of ${ownerEmail}`);
  const email = customer
    ? `<p>For <strong class="email">${escape(shown)}</strong></p>`
    : `<label>Email <input name="email" type="email" value="${
      escape(checkout.customer_email ?? "")
    }"></label>`;
  const back = checkout.return_url
    ? `<p><a href="${escape(checkout.return_url)}">Back to the app</a></p>`
    : "";
  const what = checkout.product_id === CREDIT_PACK_PRODUCT_ID
    ? `Credit pack (${CREDIT_PACK_UNITS} ${DEMO_METER.name}), $${
      (checkout.amount / 100).toFixed(2)
    } once`
    : checkout.product_id === PRO_YEARLY_PRODUCT_ID
    ? `Pro yearly, $${(checkout.amount / 100).toFixed(2)} a year`
    : checkout.seats !== null
    ? `Team, ${checkout.seats} seats, $${(checkout.amount / 100).toFixed(2)} a month`
    : `Pro, $${(checkout.amount / 100).toFixed(2)} a month`;
  return `<h1>Checkout</h1><p>${escape(what)}</p>` +
    (paid
      ? `<p>Paid.</p>`
      : refused
      ? `<p class="error">${escape(ALREADY_ACTIVE_SUBSCRIPTION_DETAIL)}</p>`
      : `<form method="post" action="/checkout/${escape(checkout.client_secret)}/pay">` +
        `${email}<button type="submit">Pay</button></form>`) +
    back;
}

function portalPage(
  token: string,
  customer: models.CustomerIndividual,
  subscriptions: models.Subscription[],
  returnUrl: string | null,
): string {
  const rows = subscriptions.map((s) =>
    `<li><strong>${escape(s.product.name)}</strong>: <span class="status">${
      escape(s.status)
    }</span>` +
    (s.ended_at
      ? `, ended ${escape(s.ended_at.slice(0, 10))}`
      : s.cancel_at_period_end
      ? `, cancels at period end (${escape(s.current_period_end.slice(0, 10))})`
      : `, renews ${escape(s.current_period_end.slice(0, 10))}`) +
    `</li>`
  ).join("");
  const cancellable = subscriptions.some((s) => s.status === "active" && !s.cancel_at_period_end);
  const live = subscriptions.some((s) => s.status === "active");
  return `<h1>Customer portal</h1><p>${escape(customer.email)}</p><ul>${
    rows || "<li>No subscriptions</li>"
  }</ul>` +
    (cancellable
      ? `<form method="post" action="/portal/${escape(token)}/cancel">` +
        `<button type="submit">Cancel subscription</button></form>`
      : "") +
    (live
      ? `<form method="post" action="/portal/${escape(token)}/end">` +
        `<button type="submit">End now</button></form>`
      : "") +
    (returnUrl ? `<p><a href="${escape(returnUrl)}">Back to the app</a></p>` : "");
}

function claimPage(
  token: string,
  seat: models.CustomerSeat,
  subscriptions: Map<string, models.Subscription>,
): string {
  const product = subscriptions.get(seat.subscription_id ?? "")?.product.name ?? "a plan";
  return `<h1>Claim your seat</h1><p>A seat of <strong>${escape(product)}</strong> for ` +
    `<strong class="email">${escape(seat.email ?? "")}</strong>.</p>` +
    `<form method="post" action="/claim/${
      escape(token)
    }"><button type="submit">Claim seat</button></form>`;
}

function memberPortalPage(page: {
  key: string;
  customer: AnyCustomer;
  member: models.Member;
  owned: models.Subscription[];
  seats: { seat: models.CustomerSeat; subscription: models.Subscription }[];
  benefits: models.BenefitGrant[];
  session: PortalSession;
}): string {
  const { key, customer, member, owned, seats, benefits, session } = page;
  const manager = member.role === "owner" || member.role === "billing_manager";
  const who = `<p><span class="member">${escape(member.email)}</span> (<span class="role">${
    escape(member.role)
  }</span>) of <strong class="team">${
    escape(customer.name ?? customer.email ?? `team ${customer.external_id ?? customer.id}`)
  }</strong></p>`;
  const mine = `<h2>Your benefits</h2><ul class="benefits">${
    benefits.map((g) => `<li>${escape(g.benefit.description)}</li>`).join("") ||
    "<li>None</li>"
  }</ul>`;
  if (!manager) return `<h1>Customer portal</h1>${who}${mine}${back(session.returnUrl)}`;
  const live = owned.find((s) => s.status === "active");
  const rows = seats.map(({ seat }) =>
    `<li class="seat" data-seat-id="${escape(seat.id)}"><span class="status">${
      escape(seat.status)
    }</span> ${escape(seat.email ?? "(free)")}` +
    (seat.status === "revoked"
      ? ""
      : `<form method="post" action="/portal/${escape(key)}/revoke">` +
        `<input type="hidden" name="seat_id" value="${escape(seat.id)}">` +
        `<button type="submit">Revoke</button></form>`) +
    `</li>`
  ).join("");
  const subscription = owned.map((s) =>
    `<li><strong>${escape(s.product.name)}</strong>: <span class="status">${
      escape(s.status)
    }</span>` +
    (s.seats ? `, ${s.seats} seats` : "") +
    (s.cancel_at_period_end && !s.ended_at ? ", cancels at period end" : "") + `</li>`
  ).join("");
  return `<h1>Customer portal</h1>${who}<h2>Subscriptions</h2><ul>${
    subscription || "<li>No subscriptions</li>"
  }</ul><h2>Seats</h2><ul class="seats">${rows || "<li>No seats</li>"}</ul>` +
    (live && !live.cancel_at_period_end
      ? `<form method="post" action="/portal/${escape(key)}/cancel">` +
        `<button type="submit">Cancel subscription</button></form>`
      : "") +
    (live
      ? `<form method="post" action="/portal/${
        escape(key)
      }/end"><button type="submit">End now</button></form>`
      : "") +
    mine + back(session.returnUrl);
}

function back(returnUrl: string | null): string {
  return returnUrl ? `<p><a href="${escape(returnUrl)}">Back to the app</a></p>` : "";
}
