/**
 * Polar products and benefits reduced to what `public.polar_products` stores (see the migration
 * `20261201000600_catalog.sql`): the forms `public.apply_polar_catalog_webhook` and
 * `public.store_polar_products` take. Shared by the webhooks (`product.*`, `benefit.*`) and the
 * reconcile's pull (`GET /v1/products/`).
 *
 * @module
 */

/** The `product.*` and `benefit.*` events that change the catalog. */
export const CATALOG_EVENT_TYPES = [
  "product.created",
  "product.updated",
  "benefit.created",
  "benefit.updated",
  "benefit.deleted",
] as const;

/** A value of {@linkcode CATALOG_EVENT_TYPES}. */
export type CatalogEventType = typeof CATALOG_EVENT_TYPES[number];

/** A benefit as the catalog stores it. */
export interface BenefitChange {
  /** Polar's benefit id. */
  id: string;
  /** The benefit's type, such as `feature_flag` or `meter_credit`. */
  type: string;
  /** Its description, as Polar shows it to buyers. */
  description: string | null;
  /** Its metadata; `key` is what `has_entitlement` matches. */
  metadata: Record<string, unknown>;
  /** Whether Polar deleted it (`is_deleted`, or a `benefit.deleted` event). */
  deleted: boolean;
  /** Its version: `modified_at`, else `created_at`, else the event's timestamp. */
  version: string;
}

/** A product as the catalog stores it. */
export interface ProductChange {
  /** Polar's product id. */
  id: string;
  /** Its name. */
  name: string;
  /** Its description. */
  description: string | null;
  /** Whether buying it starts a subscription. */
  is_recurring: boolean;
  /** `month`, `year`, …; `null` for a one-time product. */
  recurring_interval: string | null;
  /** How many intervals a period lasts. */
  recurring_interval_count: number | null;
  /** Its prices, exactly as Polar gives them. */
  prices: unknown[];
  /** The benefits it grants. */
  benefits: BenefitChange[];
  /** Its metadata. */
  metadata: Record<string, unknown>;
  /** `public`, `private` or `draft`; the public list shows `public` only. */
  visibility: string;
  /** Whether it is archived (off sale). */
  is_archived: boolean;
  /** Its version: `modified_at`, else `created_at`, else the event's timestamp. */
  version: string;
}

/** What a catalog event changes: a product or a benefit. */
export type CatalogChange = { product: ProductChange } | { benefit: BenefitChange };

/** A Polar product or benefit that cannot be read; the message names the field. */
export class InvalidCatalogError extends Error {
  /** @param message what is wrong, sentence case */
  constructor(message: string) {
    super(message);
    this.name = "InvalidCatalogError";
  }
}

/**
 * Whether an event type changes the catalog.
 *
 * @param type an event's `type`
 * @returns `true` for {@linkcode CATALOG_EVENT_TYPES}
 * @example
 * ```ts
 * isCatalogEventType("product.updated"); // true
 * isCatalogEventType("order.paid"); // false
 * ```
 */
export function isCatalogEventType(type: string): type is CatalogEventType {
  return (CATALOG_EVENT_TYPES as readonly string[]).includes(type);
}

/**
 * A catalog event's data as the change the database applies.
 *
 * @param type the event's type
 * @param data the event's `data` (a product or a benefit)
 * @param eventTimestamp the event's timestamp, the version of an object without dates
 * @returns `{ product }` or `{ benefit }`
 * @throws {InvalidCatalogError} when a field the catalog needs is missing or malformed
 * @example
 * ```ts
 * catalogChange("benefit.deleted", benefit, timestamp); // { benefit: { …, deleted: true } }
 * ```
 */
export function catalogChange(
  type: CatalogEventType,
  data: Record<string, unknown>,
  eventTimestamp: string,
): CatalogChange {
  if (type.startsWith("product.")) return { product: productChange(data, eventTimestamp) };
  const benefit = benefitChange(data, "data", eventTimestamp);
  return { benefit: type === "benefit.deleted" ? { ...benefit, deleted: true } : benefit };
}

/**
 * A Polar product (an event's `data`, or an item of `GET /v1/products/`) as the catalog
 * stores it.
 *
 * @param product the product
 * @param fallbackVersion the version when the product has neither `modified_at` nor `created_at`
 * @param path where it is, for error messages
 * @returns the product change
 * @throws {InvalidCatalogError} when a field the catalog needs is missing or malformed
 * @example
 * ```ts
 * productChange(product, new Date().toISOString()).is_recurring; // true for a plan
 * ```
 */
export function productChange(
  product: Record<string, unknown>,
  fallbackVersion: string,
  path = "data",
): ProductChange {
  const isRecurring = product.is_recurring;
  if (typeof isRecurring !== "boolean") {
    throw new InvalidCatalogError(`${path}.is_recurring is not a boolean`);
  }
  const prices = product.prices ?? [];
  if (!Array.isArray(prices)) throw new InvalidCatalogError(`${path}.prices is not a list`);
  const benefits = product.benefits ?? [];
  if (!Array.isArray(benefits)) throw new InvalidCatalogError(`${path}.benefits is not a list`);
  const count = product.recurring_interval_count ?? null;
  if (count !== null && (typeof count !== "number" || !Number.isInteger(count))) {
    throw new InvalidCatalogError(`${path}.recurring_interval_count is not an integer`);
  }
  return {
    id: readString(product, "id", path),
    name: readString(product, "name", path),
    description: readOptionalString(product, "description", path),
    is_recurring: isRecurring,
    recurring_interval: readOptionalString(product, "recurring_interval", path),
    recurring_interval_count: count,
    prices,
    benefits: benefits.map((benefit, index) => {
      if (!isRecord(benefit)) {
        throw new InvalidCatalogError(`${path}.benefits[${index}] is not an object`);
      }
      return benefitChange(benefit, `${path}.benefits[${index}]`, fallbackVersion);
    }),
    metadata: isRecord(product.metadata) ? product.metadata : {},
    visibility: readOptionalString(product, "visibility", path) ?? "public",
    is_archived: product.is_archived === true,
    version: versionOf(product, fallbackVersion),
  };
}

function benefitChange(
  benefit: Record<string, unknown>,
  path: string,
  fallbackVersion: string,
): BenefitChange {
  return {
    id: readString(benefit, "id", path),
    type: readString(benefit, "type", path),
    description: readOptionalString(benefit, "description", path),
    metadata: isRecord(benefit.metadata) ? benefit.metadata : {},
    deleted: benefit.is_deleted === true,
    version: versionOf(benefit, fallbackVersion),
  };
}

function versionOf(object: Record<string, unknown>, fallback: string): string {
  for (const field of ["modified_at", "created_at"]) {
    const value = object[field];
    if (typeof value === "string" && !Number.isNaN(Date.parse(value))) return value;
  }
  return fallback;
}

function readString(object: Record<string, unknown>, field: string, path: string): string {
  const value = object[field];
  if (typeof value !== "string" || value === "") {
    throw new InvalidCatalogError(`${path}.${field} is not a non-empty string`);
  }
  return value;
}

function readOptionalString(
  object: Record<string, unknown>,
  field: string,
  path: string,
): string | null {
  const value = object[field];
  if (value === undefined || value === null) return null;
  if (typeof value !== "string") throw new InvalidCatalogError(`${path}.${field} is not a string`);
  return value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
