/**
 * What a caller may ask of the `checkout` function: which products, and where Polar sends the
 * buyer afterwards. Everything else about the checkout (who the customer is) comes from the
 * verified token and the database, never from the body, so other fields are ignored.
 *
 * @module
 */
import { UUID } from "../_polar/config.ts";
import { HttpError, STATUS } from "../_polar/http_error.ts";
import { quote, readTeamId } from "../_polar/team_input.ts";
import { createRedirectUrlValidator, type RedirectUrlOptions } from "../_polar/redirect_url.ts";
import { withCheckoutIdPlaceholder } from "./success_url.ts";

/** Most products one checkout may offer; Polar shows them as a choice, the first selected. */
export const MAX_PRODUCTS = 10;

/** A validated checkout request. */
export interface CheckoutRequest {
  /** Product ids, lowercase, without duplicates, in the caller's order. */
  products: string[];
  /** Where Polar sends the buyer after paying, with the `{CHECKOUT_ID}` placeholder. */
  successUrl: string;
  /** Where the checkout's back button leads; `undefined` when the caller gave none. */
  returnUrl: string | undefined;
  /** For a team's checkout: the team (lowercase uuid) and how many seats; else `undefined`. */
  team: TeamPurchase | undefined;
}

/** What a team's checkout buys. */
export interface TeamPurchase {
  /** The app's team id, a lowercase UUID. */
  teamId: string;
  /** How many seats, a whole number from 1 to {@linkcode MAX_SEATS}. */
  seats: number;
}

/** Most seats one checkout may buy (Polar: at most 1,000 seats per subscription). */
export const MAX_SEATS = 1000;

/** Options of {@linkcode createCheckoutRequestReader}. */
export interface CheckoutRequestOptions extends RedirectUrlOptions {
  /** Allowed product ids (`POLAR_PRODUCT_IDS`); empty allows any UUID. */
  productIds: readonly string[];
}

/**
 * Makes the reader of a checkout request body. The body names products as `product_id` (one) or
 * `products` (a list), exactly one of them; `success_url` and `return_url` are optional and must
 * point at an allowed origin. `null` counts as absent. Unknown fields are ignored, as the portal
 * ignores them, which also means `external_customer_id`, `customer_id`, `customer_email`,
 * `metadata` or `user_id` in a body have no effect.
 *
 * @param options the site URL, allowed origins and allowed products
 * @returns a function from the parsed body to a {@linkcode CheckoutRequest}
 * @throws {HttpError} 400 naming the first problem, from the returned function
 * @example
 * ```ts
 * const read = createCheckoutRequestReader({
 *   siteUrl: "https://app.example.com",
 *   allowedOrigins: ["https://app.example.com"],
 *   productIds: [],
 * });
 * read({ product_id: "7a0f6c3e-5f4e-4f57-9a43-2b1e8f7c9d10" });
 * // { products: ["7a0f6c3e-…"], successUrl: "https://app.example.com/?checkout_id={CHECKOUT_ID}", returnUrl: undefined }
 * read({ products: [] }); // throws HttpError 400 "Invalid products: the list is empty"
 * ```
 */
export function createCheckoutRequestReader(
  options: CheckoutRequestOptions,
): (body: Record<string, unknown>) => CheckoutRequest {
  const allowed = new Set(options.productIds.map((id) => id.toLowerCase()));
  const validateSuccessUrl = createRedirectUrlValidator("success_url", options);
  const validateReturnUrl = createRedirectUrlValidator("return_url", options);

  const readProductId = (value: unknown, label: string): string => {
    if (typeof value !== "string" || !UUID.test(value)) {
      throw badRequest(`Invalid ${label} ${quote(value)}: expected a UUID`);
    }
    const id = value.toLowerCase();
    if (allowed.size > 0 && !allowed.has(id)) throw badRequest(`Unknown ${label} ${quote(value)}`);
    return id;
  };

  const readProducts = (body: Record<string, unknown>): string[] => {
    const single = body.product_id ?? undefined;
    const list = body.products ?? undefined;
    if (single !== undefined && list !== undefined) {
      throw badRequest("Send product_id or products, not both");
    }
    if (single !== undefined) return [readProductId(single, "product_id")];
    if (list === undefined) throw badRequest("Missing product_id or products");
    if (!Array.isArray(list)) throw badRequest("Invalid products: expected a list of product ids");
    if (list.length === 0) throw badRequest("Invalid products: the list is empty");
    if (list.length > MAX_PRODUCTS) {
      throw badRequest(`Invalid products: at most ${MAX_PRODUCTS} product ids`);
    }
    const products: string[] = [];
    list.forEach((value, index) => {
      const id = readProductId(value, `products[${index}]`);
      if (products.includes(id)) {
        throw badRequest(`Duplicate product id ${quote(value)} in products`);
      }
      products.push(id);
    });
    return products;
  };

  return (body) => {
    const products = readProducts(body);
    const team = readTeamPurchase(body);
    const successUrl = withCheckoutIdPlaceholder(validateSuccessUrl(body.success_url));
    const returnUrl = body.return_url ?? undefined;
    return {
      products,
      successUrl,
      returnUrl: returnUrl === undefined ? undefined : validateReturnUrl(returnUrl),
      team,
    };
  };
}

/**
 * The team part of a checkout body: `team_id` (a UUID) with `seats` (required with it, refused
 * without it). `null` counts as absent.
 *
 * @param body the parsed body
 * @returns the purchase, or `undefined` for a user's own checkout
 * @throws {HttpError} 400 naming the problem
 * @example
 * ```ts
 * readTeamPurchase({ team_id: "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f", seats: 3 });
 * // { teamId: "c1d2e3f4-…", seats: 3 }
 * readTeamPurchase({ seats: 3 }); // throws HttpError 400 "seats needs a team_id"
 * ```
 */
export function readTeamPurchase(body: Record<string, unknown>): TeamPurchase | undefined {
  const teamId = body.team_id ?? undefined;
  const seats = body.seats ?? undefined;
  if (teamId === undefined) {
    if (seats !== undefined) throw badRequest("seats needs a team_id");
    return undefined;
  }
  const id = readTeamId(teamId);
  if (seats === undefined) {
    throw badRequest("Missing seats: a team's checkout names how many seats to buy");
  }
  if (typeof seats !== "number" || !Number.isInteger(seats) || seats < 1 || seats > MAX_SEATS) {
    throw badRequest(
      `Invalid seats ${quote(seats)}: expected a whole number from 1 to ${MAX_SEATS}`,
    );
  }
  return { teamId: id, seats };
}

function badRequest(message: string): HttpError {
  return new HttpError(STATUS.BadRequest, message);
}
