/**
 * Polar's products (API 2026-10), as the Polar stand-in and the tests' fake answer them: the
 * stand-in's catalog (two plans, the credit pack, and the seat-based "Team" plan), `GET /v1/products/` (paged; filters
 * `is_archived`, `is_recurring`, `id`; sorted by `-created_at` by default) and
 * `GET /v1/products/{id}` (404 `ResourceNotFound` for an unknown id). Checked against Polar's
 * server (`server/polar/product/endpoints.py`): archived products are listed unless
 * `is_archived=false`, as the reconcile needs to see them go off sale.
 *
 * @module
 */
import type { models } from "@polar-sh/sdk/2026-10";
import {
  CREDIT_PACK_BENEFIT_ID,
  CREDIT_PACK_PRODUCT_ID,
  CREDIT_PACK_UNITS,
  DEMO_BENEFIT_ID,
  DEMO_CREDIT_BENEFIT_ID,
  DEMO_CREDIT_UNITS,
  DEMO_ENTITLEMENT_KEY,
  DEMO_METER_ID,
  DEMO_PRODUCT_ID,
  ORGANIZATION_ID,
} from "./polar_models.ts";
import { booleanFilter, listPage, matchesAny, sortItems } from "./polar_pages.ts";

/** The second plan: "Pro yearly", $100 a year, the same benefits as the monthly plan. */
export const PRO_YEARLY_PRODUCT_ID = "c41d7e2a-8b3f-4c6e-a5d9-0f2b7e1c3a88";

/** The seat-based plan: "Team", monthly, per seat, granting the same "pro" flag to each seat. */
export const TEAM_PRODUCT_ID = "e7a3c915-2d4b-4f8a-9c61-5b0e8d2f7a14";

/** The Team plan's seat tiers (volume pricing): $8 a seat up to 9 seats, $6 from 10 to 1000. */
export const TEAM_SEAT_TIERS: readonly models.ProductPriceSeatTier[] = [
  { min_seats: 1, max_seats: 9, price_per_seat: 800 },
  { min_seats: 10, max_seats: 1000, price_per_seat: 600 },
];

/** What a plan or pack costs in the stand-in, in cents, by product id. */
export const PRICE_CENTS: Readonly<Record<string, number>> = {
  [DEMO_PRODUCT_ID]: 1000,
  [PRO_YEARLY_PRODUCT_ID]: 10000,
  [CREDIT_PACK_PRODUCT_ID]: 500,
};

const CATALOG_CREATED_AT = "2026-01-01T00:00:00.000Z";

/** The fields of a product the stand-in sets; everything else has Polar's defaults. */
export interface ProductFields {
  /** Polar's product id. */
  id: string;
  /** Its name. */
  name: string;
  /** Its description. */
  description?: string | null;
  /** `month` or `year` for a plan; `null` (the default) for a one-time product. */
  interval?: "month" | "year" | null;
  /** Its one fixed price, in cents (USD); ignored when {@linkcode ProductFields.seatTiers} is set. */
  priceCents: number;
  /** Seat tiers: the product's one price is then seat-based (`amount_type: "seat_based"`). */
  seatTiers?: readonly models.ProductPriceSeatTier[];
  /** The benefits it grants. */
  benefits?: models.Benefit[];
  /** Whether it is archived. */
  isArchived?: boolean;
  /** Its `modified_at`; `null` (never modified) by default. */
  modifiedAt?: string | null;
}

/**
 * A product as `GET /v1/products/` and the `product.*` webhooks carry it.
 *
 * @param fields id, name, interval, price and benefits
 * @returns the product
 * @example
 * ```ts
 * productModel({ id, name: "Pro", interval: "month", priceCents: 1000 }).is_recurring; // true
 * ```
 */
export function productModel(fields: ProductFields): models.Product {
  const interval = fields.interval ?? null;
  const common = {
    created_at: CATALOG_CREATED_AT,
    modified_at: null,
    id: `${fields.id.slice(0, 24)}aaaaaaaaaaaa`,
    source: "catalog",
    price_currency: "usd",
    tax_behavior: null,
    is_archived: false,
    product_id: fields.id,
  } as const;
  const tiers = fields.seatTiers;
  const price: models.ProductPriceFixed | models.ProductPriceSeatBased = tiers
    ? {
      ...common,
      amount_type: "seat_based",
      seat_tiers: {
        seat_tier_type: "volume",
        tiers: tiers.map((tier) => ({ ...tier })),
        minimum_seats: tiers[0].min_seats,
        maximum_seats: tiers[tiers.length - 1].max_seats ?? null,
      },
    }
    : { ...common, amount_type: "fixed", price_amount: fields.priceCents };
  return {
    id: fields.id,
    created_at: CATALOG_CREATED_AT,
    modified_at: fields.modifiedAt ?? null,
    trial_interval: null,
    trial_interval_count: null,
    name: fields.name,
    description: fields.description ?? null,
    visibility: "public",
    recurring_interval: interval,
    recurring_interval_count: interval ? 1 : null,
    meter_interval: null,
    meter_interval_count: null,
    is_recurring: interval !== null,
    is_archived: fields.isArchived ?? false,
    organization_id: ORGANIZATION_ID,
    metadata: {},
    is_deletable: false,
    prices: [price],
    benefits: fields.benefits ?? [],
    medias: [],
    attached_custom_fields: [],
  };
}

/**
 * The demo plans' feature flag, whose metadata `key` apps gate on (`has_entitlement('pro')`).
 *
 * @returns the benefit, as a product embeds it
 * @example
 * ```ts
 * proBenefitModel().metadata; // { key: "pro" }
 * ```
 */
export function proBenefitModel(): models.BenefitFeatureFlag {
  return {
    id: DEMO_BENEFIT_ID,
    created_at: CATALOG_CREATED_AT,
    modified_at: null,
    type: "feature_flag",
    description: "Members-only notes",
    selectable: true,
    deletable: true,
    is_deleted: false,
    organization_id: ORGANIZATION_ID,
    metadata: { key: DEMO_ENTITLEMENT_KEY },
    visibility: "public",
    properties: {},
    visibility_configurable: true,
  };
}

function creditBenefitModel(id: string, units: number, description: string) {
  return {
    id,
    created_at: CATALOG_CREATED_AT,
    modified_at: null,
    type: "meter_credit",
    description,
    selectable: true,
    deletable: true,
    is_deleted: false,
    organization_id: ORGANIZATION_ID,
    metadata: {},
    visibility: "public",
    properties: { meter_id: DEMO_METER_ID, units, rollover: false },
    visibility_configurable: true,
  } satisfies models.BenefitMeterCredit;
}

/**
 * The stand-in's catalog: "Pro" ($10 a month), "Pro yearly" ($100 a year), both granting the
 * "pro" flag and 100 credits a cycle, the one-time "Credit pack" (500 credits, $5), and the
 * seat-based "Team" plan (monthly, {@linkcode TEAM_SEAT_TIERS}) whose seats grant the "pro" flag.
 *
 * @returns the four products, fresh objects each call
 * @example
 * ```ts
 * standInProducts().map((p) => p.name); // ["Pro", "Pro yearly", "Credit pack", "Team"]
 * ```
 */
export function standInProducts(): models.Product[] {
  const credits = creditBenefitModel(
    DEMO_CREDIT_BENEFIT_ID,
    DEMO_CREDIT_UNITS,
    `${DEMO_CREDIT_UNITS} credits a month`,
  );
  return [
    productModel({
      id: DEMO_PRODUCT_ID,
      name: "Pro",
      description: "Members-only notes and 100 AI credits a month.",
      interval: "month",
      priceCents: PRICE_CENTS[DEMO_PRODUCT_ID],
      benefits: [proBenefitModel(), credits],
    }),
    productModel({
      id: PRO_YEARLY_PRODUCT_ID,
      name: "Pro yearly",
      description: "Everything in Pro, billed once a year: two months free.",
      interval: "year",
      priceCents: PRICE_CENTS[PRO_YEARLY_PRODUCT_ID],
      benefits: [proBenefitModel(), credits],
    }),
    productModel({
      id: CREDIT_PACK_PRODUCT_ID,
      name: "Credit pack",
      description: `${CREDIT_PACK_UNITS} AI credits, once. Never blocked by a subscription.`,
      priceCents: PRICE_CENTS[CREDIT_PACK_PRODUCT_ID],
      benefits: [
        creditBenefitModel(
          CREDIT_PACK_BENEFIT_ID,
          CREDIT_PACK_UNITS,
          `Credit pack: ${CREDIT_PACK_UNITS} credits`,
        ),
      ],
    }),
    productModel({
      id: TEAM_PRODUCT_ID,
      name: "Team",
      description: "Members-only notes for every seat of your team, billed monthly per seat.",
      interval: "month",
      priceCents: 0,
      seatTiers: TEAM_SEAT_TIERS,
      benefits: [proBenefitModel()],
    }),
  ];
}

/**
 * The seats of a checkout and what they cost, by Polar's rules
 * (`server/polar/checkout/service.py`): a seat-based product takes `seats` (its minimum when
 * left out) within its tiers; any other product refuses `seats`.
 *
 * @param product the product bought
 * @param seats the checkout's `seats`, as sent
 * @returns the seats (`null` for a product not sold by the seat) and the amount in cents, or
 *   Polar's 422 refusal as `{ refusal }`
 * @example
 * ```ts
 * checkoutSeats(team, 3); // { seats: 3, amount: 2400 }
 * checkoutSeats(pro, 3).refusal?.msg; // "Seats can only be set for seat-based pricing."
 * ```
 */
export function checkoutSeats(
  product: models.Product,
  seats: unknown,
):
  | { seats: number | null; amount: number; refusal?: undefined }
  | { refusal: { type: string; loc: string[]; msg: string; input: unknown } } {
  const price = product.prices.find((p): p is models.ProductPriceSeatBased =>
    p.amount_type === "seat_based"
  );
  if (!price) {
    if (seats === undefined || seats === null) {
      return { seats: null, amount: PRICE_CENTS[product.id] ?? 1000 };
    }
    return {
      refusal: {
        type: "value_error",
        loc: ["body", "seats"],
        msg: "Seats can only be set for seat-based pricing.",
        input: seats,
      },
    };
  }
  const { minimum_seats: min, maximum_seats: max, tiers } = price.seat_tiers;
  const count = seats === undefined || seats === null ? min : seats;
  if (typeof count !== "number" || !Number.isInteger(count)) {
    return {
      refusal: {
        type: "int_parsing",
        loc: ["body", "seats"],
        msg: "Input should be a valid integer",
        input: seats,
      },
    };
  }
  if (count < min) {
    return {
      refusal: {
        type: "greater_than_equal",
        loc: ["body", "seats"],
        msg: `Minimum ${min} seats required.`,
        input: count,
      },
    };
  }
  if (max !== null && count > max) {
    return {
      refusal: {
        type: "less_than_equal",
        loc: ["body", "seats"],
        msg: `Maximum ${max} seats allowed.`,
        input: count,
      },
    };
  }
  const tier = tiers.find((t) => count >= t.min_seats && (t.max_seats ?? Infinity) >= count)!;
  return { seats: count, amount: count * tier.price_per_seat };
}

/**
 * The product routes over the organization's products.
 *
 * @param products the products, read on every request
 * @returns the routes: an answer, or `undefined` when the request is not one of them
 * @example
 * ```ts
 * const routes = createPolarProductRoutes(() => standInProducts());
 * routes({ method: "GET", url: new URL("http://x/v1/products/?is_recurring=true") });
 * ```
 */
export function createPolarProductRoutes(
  products: () => Iterable<models.Product>,
): (request: { method: string; url: URL }) => Response | undefined {
  return ({ method, url }) => {
    if (method !== "GET") return undefined;
    if (url.pathname === "/v1/products/") {
      const archived = booleanFilter(url, "is_archived");
      const recurring = booleanFilter(url, "is_recurring");
      const matching = [...products()].filter((p) =>
        (archived === null || p.is_archived === archived) &&
        (recurring === null || p.is_recurring === recurring) &&
        matchesAny(url, "id", p.id)
      );
      return Response.json(
        listPage(url, sortItems(url, matching, "-created_at")) satisfies models.ListResourceProduct,
      );
    }
    const id = url.pathname.match(/^\/v1\/products\/([^/]+)$/)?.[1];
    if (!id) return undefined;
    const product = [...products()].find((p) => p.id === decodeURIComponent(id));
    return product
      ? Response.json(product)
      : Response.json({ error: "ResourceNotFound", detail: "Not found" }, { status: 404 });
  };
}
