/**
 * A loopback fake of Polar's API (2026-10) for the functions' HTTP tests: the endpoints the
 * functions call, bodies shaped by `@polar-sh/sdk`'s types, and switches for Polar's failures.
 * The organization-wide lists of benefit grants and customer meters are read from the Customer
 * States the test sets (`states`), so a pull and a list never disagree; subscriptions are listed
 * from `subscriptions`. Usage: `GET /v1/meters/` lists `meters` (the stand-in's demo meter by
 * default) and `POST /v1/events/ingest` applies Polar's rules (see `local/polar_events.ts`) and
 * keeps what it inserted in `events`; the fake does not recompute customer meters from them (set
 * `states` for the balances a test wants).
 *
 * Teams, with the stand-in's modules (`local/polar_teams.ts`): `POST /v1/customers/` with
 * `type: "team"` and its owner, the members routes, the seats routes, member sessions, and
 * checkouts with `seats` (refused for a product not sold by the seat). The webhooks Polar would
 * send for them are kept in `teamWebhooks`, not delivered. `addTeam` and `addTeamSubscription`
 * set a test's starting point.
 *
 * @module
 */
import type { models } from "@polar-sh/sdk/2026-10";
import { createPolarBenefitGrantRoutes } from "../../../../local/polar_benefit_grants.ts";
import { createPolarCustomerMeterRoutes } from "../../../../local/polar_customer_meters.ts";
import { createPolarCustomerRoutes } from "../../../../local/polar_customers.ts";
import {
  createCustomerSession,
  type PortalSession,
} from "../../../../local/polar_customer_sessions.ts";
import { createPolarMemberRoutes, type CustomerFinder } from "../../../../local/polar_members.ts";
import { createPolarSeatRoutes } from "../../../../local/polar_seats.ts";
import { teamCustomerModel, teamSubscriptionModel } from "../../../../local/polar_team_models.ts";
import {
  createTeamModel,
  type TeamModel,
  type TeamPayload,
} from "../../../../local/polar_teams.ts";
import { createPolarEventRoutes, type IngestedEvent } from "../../../../local/polar_events.ts";
import { createPolarMeterRoutes, demoMeterModel } from "../../../../local/polar_meters.ts";
import {
  customerMeterModel,
  customerModel,
  customerStateModel,
  listedBenefitGrantModel,
} from "../../../../local/polar_models.ts";
import {
  alreadyActiveSubscription,
  createPolarOrganizationRoutes,
  organizationModel,
  refusesSecondSubscription,
} from "../../../../local/polar_organizations.ts";
import {
  checkoutSeats,
  createPolarProductRoutes,
  standInProducts,
  TEAM_PRODUCT_ID,
} from "../../../../local/polar_products.ts";
import { createPolarSubscriptionRoutes } from "../../../../local/polar_subscriptions.ts";
import { serveOnLoopback } from "./loopback.ts";

/** How the fake answers the next requests. */
export type FakePolarMode = "ok" | "server_error" | "rate_limited" | "hang" | "drop";

/** One request the fake received. */
export interface RecordedPolarRequest {
  /** `POST /v1/customer-sessions/` and so on. */
  route: string;
  /** The query string, `?…` (empty when none). */
  search: string;
  /** The request headers. */
  headers: Headers;
  /** The parsed JSON body. */
  body: Record<string, unknown>;
}

/** The running fake. */
export interface FakePolar extends AsyncDisposable {
  /** Base URL, for `POLAR_API_URL`. */
  url: string;
  /** Every request so far. */
  requests: RecordedPolarRequest[];
  /** Customers Polar knows, by id. */
  customers: Map<string, models.CustomerIndividual>;
  /** How to answer from now on. */
  mode: FakePolarMode;
  /** Milliseconds every answer waits before it is made (0 by default). */
  delayMs: number;
  /** Subscriptions by id, as `GET /v1/subscriptions/` lists them. */
  subscriptions: Map<string, models.Subscription>;
  /** The webhook endpoints `GET /v1/webhooks/endpoints` lists. */
  webhookEndpoints: models.WebhookEndpoint[];
  /** Customer States by customer id; a customer without one has an empty state. Their grants
   * and meters are also what `GET /v1/benefit-grants/` and `GET /v1/customer-meters/` list. */
  states: Map<string, models.CustomerStateIndividual>;
  /** The meters `GET /v1/meters/` lists: the stand-in's demo meter unless a test changes it. */
  meters: models.Meter[];
  /** The events `POST /v1/events/ingest` inserted (duplicates and refused batches are not kept). */
  events: IngestedEvent[];
  /**
   * The products `GET /v1/products/` lists: the stand-in's catalog without the "Team" plan
   * (which tests of the catalog predate) unless a test changes it. Checkouts know the Team plan
   * either way ({@linkcode teamProduct}).
   */
  products: models.Product[];
  /** The stand-in's seat-based "Team" plan, which checkouts with `seats` buy. */
  teamProduct: models.Product;
  /** The organization's `allow_multiple_subscriptions` (Polar's default: off). */
  allowMultipleSubscriptions: boolean;
  /**
   * Whether `POST /v1/checkouts/` applies Polar's one-subscription rule to the customer's
   * subscriptions (403 `AlreadyActiveSubscriptionError`). Polar applies it on its checkout page;
   * a test turns it on to see the function's answer to Polar's refusal.
   */
  refuseSecondSubscriptionAtCreation: boolean;
  /** Adds a customer and returns it. */
  addCustomer(
    fields?: { id?: string; externalId?: string; email?: string },
  ): models.CustomerIndividual;
  /** Team customers by id. */
  teams: Map<string, models.CustomerTeam>;
  /** Members, seats and members' grants, with the stand-in's rules. */
  teamModel: TeamModel;
  /** The team webhooks Polar would have sent (members, seats, members' grants), in order. */
  teamWebhooks: TeamPayload[];
  /** Member and customer sessions created, by token. */
  sessions: Map<string, PortalSession>;
  /**
   * Adds a team customer and its owner member (no webhook recorded) and returns both.
   */
  addTeam(
    fields: { externalId: string; name?: string; owner: { email: string; externalId: string } },
  ): Promise<{ team: models.CustomerTeam; owner: models.Member }>;
  /** Adds an active monthly subscription of the seat-based "Team" plan with `seats` seats. */
  addTeamSubscription(team: models.CustomerTeam, seats: number): models.Subscription;
}

/**
 * Starts the fake on 127.0.0.1 with a random port.
 *
 * @returns the fake; dispose of it to stop it
 * @example
 * ```ts
 * await using polar = await startFakePolar();
 * const customer = polar.addCustomer();
 * ```
 */
export async function startFakePolar(): Promise<FakePolar> {
  const customers = new Map<string, models.CustomerIndividual>();
  const teams = new Map<string, models.CustomerTeam>();
  const teamWebhooks: TeamPayload[] = [];
  const sessions = new Map<string, PortalSession>();
  const states = new Map<string, models.CustomerStateIndividual>();
  const webhookEndpoints: models.WebhookEndpoint[] = [];
  const subscriptions = new Map<string, models.Subscription>();
  const subscriptionRoutes = createPolarSubscriptionRoutes(subscriptions);
  const teamModel = createTeamModel({
    subscriptions,
    teams,
    emit: (payload) => void teamWebhooks.push(payload),
    memberSessionToken: (customer, member) => {
      const token = `polar_cst_${crypto.randomUUID().replaceAll("-", "")}`;
      sessions.set(token, { customerId: customer.id, memberId: member.id, returnUrl: null });
      return token;
    },
  });
  const findCustomer: CustomerFinder = (ref) =>
    [...customers.values(), ...teams.values()].find((c) =>
      c.deleted_at === null && ("id" in ref ? c.id === ref.id : c.external_id === ref.externalId)
    );
  const memberRoutes = createPolarMemberRoutes(teamModel, findCustomer);
  const seatRoutes = createPolarSeatRoutes(teamModel, subscriptions);
  const customerRoutes = createPolarCustomerRoutes(customers, {
    stateOf: (customer) => ({ ...(states.get(customer.id) ?? customerStateModel(customer)) }),
    teams: { customers: teams, model: teamModel },
  });
  const live = () => [...states.values()].filter((state) => customers.has(state.id));
  const grantRoutes = createPolarBenefitGrantRoutes(() =>
    live().flatMap((state) =>
      state.granted_benefits.map((grant) =>
        listedBenefitGrantModel(customers.get(state.id)!, grant)
      )
    )
  );
  const meterRoutes = createPolarCustomerMeterRoutes(() =>
    live().flatMap((state) =>
      state.active_meters.map((meter) => customerMeterOf(customers.get(state.id)!, meter))
    )
  );
  const meters = [demoMeterModel()];
  const meterDefinitionRoutes = createPolarMeterRoutes(() => meters);
  const events: IngestedEvent[] = [];
  const eventRoutes = createPolarEventRoutes({ events, customers });
  const requests: RecordedPolarRequest[] = [];
  const catalog = standInProducts();
  const teamProduct = catalog.find((p) => p.id === TEAM_PRODUCT_ID)!;
  const products = catalog.filter((p) => p !== teamProduct);
  const productRoutes = createPolarProductRoutes(() => products);
  const state = {
    mode: "ok" as FakePolarMode,
    delayMs: 0,
    allowMultipleSubscriptions: false,
    refuseSecondSubscriptionAtCreation: false,
  };
  const organizationRoutes = createPolarOrganizationRoutes(() =>
    organizationModel({ allowMultipleSubscriptions: state.allowMultipleSubscriptions })
  );
  const server = await serveOnLoopback(async (request) => {
    const url = new URL(request.url);
    const { pathname } = url;
    const route = `${request.method} ${pathname}`;
    const body = await request.json().catch(() => ({}));
    requests.push({ route, search: url.search, headers: request.headers, body });
    if (request.headers.get("Authorization")?.startsWith("Bearer ") !== true) {
      return Response.json({ error: "Unauthorized", detail: "Invalid token" }, { status: 401 });
    }
    if (state.delayMs > 0) {
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, state.delayMs);
        request.signal.addEventListener("abort", () => resolve(clearTimeout(timer)));
      });
    }
    switch (state.mode) {
      case "server_error":
        return new Response("Internal Server Error", { status: 502 });
      case "rate_limited":
        return Response.json({ detail: "Too many requests" }, {
          status: 429,
          headers: { "Retry-After": "1" },
        });
      case "hang":
        await new Promise((resolve) => {
          const timer = setTimeout(resolve, 30_000);
          request.signal.addEventListener("abort", () => resolve(clearTimeout(timer)));
        });
        return new Response(null, { status: 504 });
      case "drop":
        throw new Error("connection dropped by the fake");
    }
    if (route === "POST /v1/customer-sessions/") {
      return createCustomerSession(body, {
        findCustomer,
        teams: teamModel,
        sessions,
        portalUrl: (token) =>
          `https://sandbox.polar.sh/acme/portal?customer_session_token=${token}`,
      });
    }
    const teamAnswer = (await memberRoutes({ method: request.method, url, body })) ??
      (await seatRoutes({ method: request.method, url, body }));
    if (teamAnswer) return teamAnswer;
    if (route === "POST /v1/checkouts/") {
      const first = Array.isArray(body.products)
        ? products.find((p) => p.id === body.products[0])
        : undefined;
      if (
        state.refuseSecondSubscriptionAtCreation &&
        refusesSecondSubscription(
          {
            recurring: first?.is_recurring ?? true,
            customerId: typeof body.customer_id === "string" ? body.customer_id : null,
          },
          {
            allowMultiple: state.allowMultipleSubscriptions,
            subscriptions: subscriptions.values(),
          },
        )
      ) {
        return alreadyActiveSubscription();
      }
      return createCheckout(findCustomer, [...products, teamProduct], body);
    }
    const listAnswer = subscriptionRoutes({ method: request.method, url }) ??
      productRoutes({ method: request.method, url }) ??
      organizationRoutes({ method: request.method, url }) ??
      grantRoutes({ method: request.method, url }) ??
      meterRoutes({ method: request.method, url }) ??
      meterDefinitionRoutes({ method: request.method, url }) ??
      (await eventRoutes({ method: request.method, url, body }));
    if (listAnswer) return listAnswer;
    if (route === "GET /v1/webhooks/endpoints") {
      return Response.json({
        items: webhookEndpoints,
        pagination: { total_count: webhookEndpoints.length, max_page: 1 },
      });
    }
    const answer = await customerRoutes({ method: request.method, url, body });
    if (answer) return answer;
    return Response.json({ detail: "Not Found" }, { status: 404 });
  });
  return {
    url: server.url,
    requests,
    customers,
    states,
    subscriptions,
    webhookEndpoints,
    meters,
    events,
    get mode() {
      return state.mode;
    },
    set mode(mode) {
      state.mode = mode;
    },
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(ms) {
      state.delayMs = ms;
    },
    products,
    teamProduct,
    get allowMultipleSubscriptions() {
      return state.allowMultipleSubscriptions;
    },
    set allowMultipleSubscriptions(allowed) {
      state.allowMultipleSubscriptions = allowed;
    },
    get refuseSecondSubscriptionAtCreation() {
      return state.refuseSecondSubscriptionAtCreation;
    },
    set refuseSecondSubscriptionAtCreation(refuse) {
      state.refuseSecondSubscriptionAtCreation = refuse;
    },
    addCustomer(fields = {}) {
      const customer = customerFixture(fields);
      customers.set(customer.id, customer);
      return customer;
    },
    teams,
    teamModel,
    teamWebhooks,
    sessions,
    async addTeam(fields) {
      const team = teamCustomerModel({ externalId: fields.externalId, name: fields.name });
      teams.set(team.id, team);
      const before = teamWebhooks.length;
      const owner = await teamModel.createOwner(team, fields.owner);
      teamWebhooks.splice(before);
      return { team, owner };
    },
    addTeamSubscription(team, seats) {
      const subscription = teamSubscriptionModel(team, teamProduct, seats);
      subscriptions.set(subscription.id, subscription);
      return subscription;
    },
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** A customer as Polar returns it (see `local/polar_models.ts`). */
export const customerFixture = customerModel;

/** A Customer State's meter as `GET /v1/customer-meters/` lists it. */
function customerMeterOf(
  customer: models.CustomerIndividual,
  meter: models.CustomerStateMeter,
): models.CustomerMeter {
  return {
    ...customerMeterModel(customer, meter),
    created_at: meter.created_at,
    modified_at: meter.modified_at,
  };
}

/** Polar's 422 body for a field it refuses. */
export function validationError(field: string, msg: string): Response {
  return Response.json({
    detail: [{ loc: ["body", field], msg, type: "value_error", input: null }],
  }, { status: 422 });
}

function createCheckout(
  findCustomer: CustomerFinder,
  catalog: models.Product[],
  body: Record<string, unknown>,
): Response {
  if (typeof body.customer_id === "string" && !findCustomer({ id: body.customer_id })) {
    return validationError("customer_id", "Customer does not exist.");
  }
  const products = Array.isArray(body.products) ? body.products : [];
  if (products.length === 0) return validationError("products", "Field required");
  // Polar's seat rules for the product bought (an unknown product has none here).
  const product = catalog.find((p) => p.id === products[0]);
  const seats = product ? checkoutSeats(product, body.seats) : { seats: null, amount: 1000 };
  if (seats.refusal) return Response.json({ detail: [seats.refusal] }, { status: 422 });
  const id = crypto.randomUUID();
  const clientSecret = `polar_c_${crypto.randomUUID().replaceAll("-", "")}`;
  // The fields the functions read, with the rest of Polar's Checkout left out.
  const checkout = {
    id,
    created_at: new Date().toISOString(),
    modified_at: null,
    payment_processor: "stripe",
    status: "open",
    client_secret: clientSecret,
    url: `https://sandbox.polar.sh/checkout/${clientSecret}`,
    expires_at: new Date(Date.now() + 3600_000).toISOString(),
    success_url: String(body.success_url ?? "https://polar.sh/"),
    return_url: typeof body.return_url === "string" ? body.return_url : null,
    embed_origin: null,
    amount: seats.amount,
    seats: seats.seats,
    customer_id: typeof body.customer_id === "string" ? body.customer_id : null,
    external_customer_id: typeof body.external_customer_id === "string"
      ? body.external_customer_id
      : null,
    customer_email: typeof body.customer_email === "string" ? body.customer_email : null,
    metadata: body.metadata ?? {},
    products: products.map((productId) => ({ id: productId })),
  } satisfies Partial<Record<keyof models.Checkout, unknown>>;
  return Response.json(checkout, { status: 201 });
}
