/**
 * The pages a reconcile run reads from Polar's organization-wide lists, reduced to what the
 * database stages: each customer (its link and version), each active subscription, each granted
 * benefit and each customer meter, in the change format the webhooks apply (the same reduction as
 * a Customer State's items, so a snapshot assembled from pages is stored exactly as a
 * `customer.state_changed` one would be).
 *
 * Polar lists 100 objects a page at most (`API_PAGINATION_MAX_LIMIT`), and every item of these
 * lists embeds its `customer` with `external_id`.
 *
 * @module
 */
import { customerLink, customerStateChange, subscriptionChange } from "../_polar/polar_webhooks.ts";

/** The lists a run reads, in order. */
export const RECONCILE_LISTS = ["customer", "subscription", "grant", "meter"] as const;

/** A list of {@linkcode RECONCILE_LISTS}. */
export type ReconcileList = typeof RECONCILE_LISTS[number];

/** The most items Polar answers per page (`API_PAGINATION_MAX_LIMIT` in Polar's server). */
export const POLAR_MAX_PAGE_SIZE = 100;

/** One staged item, as `public.stage_polar_reconcile_page` takes it. */
export interface StagedItem {
  /** The object's id (the customer's, the subscription's, the grant's, the customer meter's). */
  id: string;
  /** Its customer. */
  customer_id: string;
  /** Its customer's `external_id`, if any. */
  external_id: string | null;
  /** The change-format body: `{version}` for a customer, else the state item. */
  body: Record<string, unknown>;
}

/** What one page reduced to: the items, and each item it could not read (with why). */
export interface StagedPage {
  /** The items to stage. */
  items: StagedItem[];
  /** Items left out, by id (or index), with the reason. */
  refused: { id: string; reason: string }[];
}

/**
 * Reduces one page of a list to staged items.
 *
 * @param list which list the page is of
 * @param items the page's items, as Polar answers them
 * @param at when the run started (the version of last resort, as a webhook's timestamp is)
 * @returns the staged items and the refused ones
 * @example
 * ```ts
 * const { items } = stagePage("grant", (await listBenefitGrants(polar)({ is_granted: true })).items, at);
 * items[0].body; // { id, benefit_id, benefit_type: "feature_flag", benefit_metadata: { key: "pro" }, … }
 * ```
 */
export function stagePage(
  list: ReconcileList,
  items: readonly object[],
  at: string,
): StagedPage {
  const page: StagedPage = { items: [], refused: [] };
  (items as readonly Record<string, unknown>[]).forEach((item, index) => {
    try {
      page.items.push(STAGERS[list](item, at));
    } catch (error) {
      const id = typeof item.id === "string" ? item.id : `#${index}`;
      page.refused.push({ id, reason: error instanceof Error ? error.message : String(error) });
    }
  });
  return page;
}

const STAGERS: Record<ReconcileList, (item: Record<string, unknown>, at: string) => StagedItem> = {
  customer: (customer, at) => {
    const link = customerLink(customer, at);
    return {
      id: link.customer_id,
      customer_id: link.customer_id,
      external_id: link.external_id,
      body: { version: link.customer_version },
    };
  },
  subscription: (subscription, at) => {
    const change = subscriptionChange(subscription, at);
    return {
      id: change.subscription!.id,
      customer_id: change.customer_id,
      external_id: change.external_id,
      body: { ...change.subscription },
    };
  },
  grant: (grant, at) => {
    const benefit = record(grant.benefit, "benefit");
    const state = stateOf(grant, at, {
      granted_benefits: [{
        id: grant.id,
        benefit_id: grant.benefit_id ?? benefit.id,
        benefit_type: benefit.type,
        benefit_metadata: benefit.metadata,
        properties: grant.properties,
        granted_at: grant.granted_at,
      }],
    });
    return { ...state.item, body: { ...state.change.state!.grants[0] } };
  },
  meter: (meter, at) => {
    const state = stateOf(meter, at, {
      active_meters: [{
        meter_id: meter.meter_id,
        consumed_units: meter.consumed_units,
        credited_units: meter.credited_units,
        balance: meter.balance,
      }],
    });
    return { ...state.item, id: String(meter.id), body: { ...state.change.state!.meters[0] } };
  },
};

/** Reduces one item as a Customer State holding it alone would be reduced. */
function stateOf(item: Record<string, unknown>, at: string, parts: Record<string, unknown[]>) {
  const customer = record(item.customer, "customer");
  if (typeof item.customer_id === "string" && item.customer_id !== customer.id) {
    throw new Error("customer_id does not match customer.id");
  }
  const change = customerStateChange({
    ...customer,
    active_subscriptions: [],
    granted_benefits: [],
    active_meters: [],
    ...parts,
  }, at);
  if (typeof item.id !== "string" || item.id === "") throw new Error("id is not a string");
  return {
    change,
    item: { id: item.id, customer_id: change.customer_id, external_id: change.external_id },
  };
}

function record(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error(`${field} is not an object`);
  }
  return value as Record<string, unknown>;
}
