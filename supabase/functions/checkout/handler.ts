/**
 * The `checkout` function: finds or creates the signed-in caller's Polar customer by external id,
 * links it, creates a Polar checkout for that customer only, and answers its URL.
 *
 * @module
 */
import { errors, type models } from "@polar-sh/sdk/2026-10";
import { createCheckouts } from "@polar-sh/sdk/2026-10/services/checkouts";
import { readJsonObject } from "../_polar/body.ts";
import { type CallerAccess, createCallerAccess } from "../_polar/caller.ts";
import type { CheckoutFunctionConfig, UserFunctionConfig } from "../_polar/config.ts";
import {
  createCustomerResolver,
  createPolarCustomerApi,
  linkPolarCustomer,
} from "../_polar/customer_link.ts";
import { createCors } from "../_polar/cors.ts";
import { HttpError, jsonResponse, STATUS } from "../_polar/http_error.ts";
import { createJsonHandler, type Handler } from "../_polar/json_handler.ts";
import type { RequestLogger } from "../_polar/log.ts";
import type { Deadline } from "../_polar/deadline.ts";
import { createPolarClient, polarCallOptions, validationDetails } from "../_polar/polar.ts";
import { createServerClient } from "../_polar/supabase.ts";
import {
  alreadySubscribed,
  createCheckoutGuard,
  createOrganizationSetting,
  createProductRecurrence,
  createSubscriptionRule,
  isAlreadyActiveSubscription,
} from "../_polar/subscription_rule.ts";
import type { VerifiedUser } from "../_polar/auth.ts";
import { createTeamBillingCheck, createTeamStore } from "../_polar/team_billing.ts";
import { createPolarTeamApi, createTeamCustomerResolver } from "../_polar/team_customer.ts";
import { type CheckoutRequest, createCheckoutRequestReader } from "./request.ts";
import { createTeamCheckout, type TeamCheckoutDependencies } from "./team.ts";

/** The body of Polar's `POST /v1/checkouts/`. */
export type CheckoutCreate = models.CheckoutCreate;

/** What the handler needs of the checkout Polar created. */
export interface CreatedCheckout {
  /** The checkout's id. */
  id: string;
  /** The page to send the buyer to. */
  url: string;
}

/** What the checkout handler depends on; tests pass their own. */
export interface CheckoutDependencies extends Pick<CallerAccess, "verifyUser"> {
  /** Site URL, allowed origins and allowed products. */
  config: Pick<
    UserFunctionConfig,
    "siteUrl" | "allowedOrigins" | "restrictCorsOrigins" | "productIds"
  >;
  /** The caller's Polar customer id, found or created by external id and linked (see `customer_link.ts`). */
  resolveCustomerId: (user: VerifiedUser) => Promise<string>;
  /** Creates a Polar checkout, within the request's deadline when given. */
  createCheckout: (body: CheckoutCreate, deadline?: Deadline) => Promise<CreatedCheckout>;
  /**
   * One subscription unless the organization allows several: throws the 409 when the caller
   * already has a live subscription and a product offered recurs (see `subscription_rule.ts`).
   */
  enforceSubscriptionRule: (
    userId: string,
    products: string[],
    deadline?: Deadline,
  ) => Promise<void>;
  /** A team's checkout (`team_id` and `seats`): the checks and the team's customer (`team.ts`). */
  team: TeamCheckoutDependencies;
  /** Where the per-request log line goes. */
  log?: RequestLogger;
  /** A monotonic clock in milliseconds. */
  now?: () => number;
}

/** Longest Polar explanation passed on in a 400. */
const MAX_REFUSAL_LENGTH = 500;

/**
 * Makes the checkout handler: `POST` with `{ product_id }` or `{ products }` (and optional
 * `success_url`, `return_url`), answers `{ url, id }` or a JSON error.
 *
 * @param deps configuration, user verification, the database read and the Polar call
 * @returns the handler
 * @example
 * ```ts
 * const handler = createCheckoutHandler(createCheckoutDependencies(config));
 * const response = await handler(new Request("http://x/checkout", {
 *   method: "POST",
 *   headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
 *   body: JSON.stringify({ product_id: "7a0f6c3e-5f4e-4f57-9a43-2b1e8f7c9d10" }),
 * }));
 * await response.json(); // { url: "https://sandbox.polar.sh/checkout/polar_c_…", id: "…" }
 * ```
 */
export function createCheckoutHandler(deps: CheckoutDependencies): Handler {
  const { config } = deps;
  const readRequest = createCheckoutRequestReader(config);
  const teamCheckout = createTeamCheckout(deps.team);
  return createJsonHandler({
    name: "checkout",
    methods: ["POST"],
    cors: createCors({
      allowedOrigins: config.allowedOrigins,
      restrict: config.restrictCorsOrigins,
    }),
    log: deps.log,
    now: deps.now,
  }, async (request) => {
    const user = await deps.verifyUser(request);
    const checkoutRequest = readRequest(await readJsonObject(request));
    if (checkoutRequest.team) {
      return teamCheckout(user, checkoutRequest, checkoutRequest.team, {
        createCheckout: deps.createCheckout,
        refused: polarRefused,
      });
    }
    // The rule reads the database while the customer is found; a user it refuses has one.
    const [customerId] = await Promise.all([
      deps.resolveCustomerId(user),
      deps.enforceSubscriptionRule(user.id, checkoutRequest.products, user.deadline),
    ]);
    let checkout: CreatedCheckout;
    try {
      checkout = await deps.createCheckout(
        checkoutBody(user, customerId, checkoutRequest),
        user.deadline,
      );
    } catch (error) {
      if (error instanceof errors.HTTPValidationError) throw polarRefused(error);
      // Polar's own refusal of a second subscription (one the database has not heard of yet).
      if (isAlreadyActiveSubscription(error)) throw alreadySubscribed(error);
      throw error;
    }
    return jsonResponse({ url: checkout.url, id: checkout.id });
  });
}

/**
 * The production dependencies: the caller's verification, one Polar client, one secret-key
 * Supabase client for the link write and the subscription rule's read, and the organization's
 * `allow_multiple_subscriptions`, all made once per instance.
 *
 * @param config the validated configuration
 * @returns dependencies for {@linkcode createCheckoutHandler}
 * @example
 * ```ts
 * createCheckoutHandler(createCheckoutDependencies(loadCheckoutFunctionConfig((name) => Deno.env.get(name))));
 * ```
 */
export function createCheckoutDependencies(config: CheckoutFunctionConfig): CheckoutDependencies {
  const polar = createPolarClient(config.polar);
  const create = createCheckouts(polar);
  const admin = createServerClient(config.supabaseUrl, config.supabaseSecretKey);
  const allowsMultipleSubscriptions = createOrganizationSetting(
    config.allowMultipleSubscriptions,
    polar,
  );
  const teamStore = createTeamStore(admin);
  return {
    config,
    verifyUser: createCallerAccess(config).verifyUser,
    team: {
      mayBillTeam: createTeamBillingCheck({
        supabaseUrl: config.supabaseUrl,
        apiKey: config.supabasePublishableKey,
      }),
      billingState: teamStore.billingState,
      allowsMultipleSubscriptions,
      resolveTeamCustomer: createTeamCustomerResolver({
        polar: createPolarTeamApi(polar),
        store: teamStore,
      }),
    },
    resolveCustomerId: createCustomerResolver({
      polar: createPolarCustomerApi(polar),
      link: (userId, customer, deadline) =>
        linkPolarCustomer(admin, userId, customer, { deadline }),
    }),
    createCheckout: async (body, deadline) => {
      const { id, url } = await create(body, polarCallOptions(deadline));
      return { id, url };
    },
    enforceSubscriptionRule: createSubscriptionRule({
      allowsMultipleSubscriptions,
      checkoutGuard: createCheckoutGuard(admin),
      productIsRecurring: createProductRecurrence(polar),
    }),
  };
}

/**
 * Who the customer is comes from the verified token and Polar only: the customer whose
 * `external_id` is the user's id, named by `customer_id`, so Polar locks the checkout to it and
 * the buyer cannot switch customers by editing the email. `metadata.user_id` lands on the
 * subscription and order; it links nothing, but a webhook whose `metadata.user_id` disagrees
 * with the customer's `external_id` is recorded as an identity conflict.
 */
function checkoutBody(
  user: VerifiedUser,
  customerId: string,
  request: CheckoutRequest,
): CheckoutCreate {
  return {
    products: request.products,
    success_url: request.successUrl,
    ...(request.returnUrl && { return_url: request.returnUrl }),
    metadata: { user_id: user.id },
    customer_id: customerId,
  };
}

/**
 * Polar's 422 as a 400 a developer can act on: each refused field and Polar's reason. Only `loc`
 * and `msg` are used; Polar's `input` echo (which may hold the email) is left out, and the error
 * itself is not attached as the cause, so it never reaches the log either.
 *
 * @param error Polar's 422
 * @returns the 400 to answer
 * @example
 * ```ts
 * polarRefused(error).message; // "Polar refused the checkout: seats: Input should be less than or equal to 1000"
 * ```
 */
export function polarRefused(error: errors.HTTPValidationError): HttpError {
  const reasons = validationDetails(error).map(({ loc, msg }) => {
    const field = loc.filter((part) => part !== "body").join(".");
    const reason = msg.trim().replace(/\.$/, "");
    return field ? `${field}: ${reason}` : reason;
  }).filter(Boolean);
  const message = reasons.length > 0
    ? `Polar refused the checkout: ${reasons.join("; ")}`
    : "Polar refused the checkout";
  return new HttpError(STATUS.BadRequest, message.slice(0, MAX_REFUSAL_LENGTH));
}
