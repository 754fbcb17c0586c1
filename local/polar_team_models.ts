/**
 * Polar's team objects as the 2026-10 API returns them and webhooks carry them, typed with
 * `@polar-sh/sdk`'s models: a team customer, its members, its seats, the benefit grants of its
 * members, and its Customer State. Shared by the Polar stand-in and the tests' fake (see
 * `polar_teams.ts` for the rules that change them).
 *
 * @module
 */
import type { models } from "@polar-sh/sdk/2026-10";
import { ORGANIZATION_ID, subscriptionModel } from "./polar_models.ts";
import { checkoutSeats } from "./polar_products.ts";

/**
 * A team customer (`type: "team"`). A team may have no email of its own, as in Polar.
 *
 * @param fields the team's id, `external_id` (the app's team id), name and email
 * @returns the team, created now and never modified
 * @example
 * ```ts
 * teamCustomerModel({ externalId: teamId, name: "Acme" }).type; // "team"
 * ```
 */
export function teamCustomerModel(
  fields: { id?: string; externalId?: string | null; name?: string | null; email?: string | null } =
    {},
): models.CustomerTeam {
  return {
    id: fields.id ?? crypto.randomUUID(),
    created_at: monotonicNow(),
    modified_at: null,
    metadata: {},
    external_id: fields.externalId ?? null,
    email: fields.email ?? null,
    email_verified: false,
    type: "team",
    name: fields.name ?? null,
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
 * A member of a customer, as `member.*` webhooks and the members routes carry it.
 *
 * @param customerId the customer (a team) the member belongs to
 * @param fields email, name, `external_id` (the app's user id) and role (`member` by default)
 * @returns the member, created now
 * @example
 * ```ts
 * memberModel(team.id, { email: "a@example.com", externalId: userId, role: "owner" }).role; // "owner"
 * ```
 */
export function memberModel(
  customerId: string,
  fields: {
    email: string;
    name?: string | null;
    externalId?: string | null;
    role?: models.MemberRole;
  },
): models.Member {
  return {
    id: crypto.randomUUID(),
    created_at: monotonicNow(),
    modified_at: null,
    customer_id: customerId,
    email: fields.email,
    name: fields.name ?? null,
    external_id: fields.externalId ?? null,
    role: fields.role ?? "member",
  };
}

/**
 * A seat of a subscription, as the seats routes and `customer_seat.*` webhooks carry it. With
 * Polar's member model its `customer_id` is the billing (team) customer, its `member_id` and
 * `email` the holder's.
 *
 * @param subscriptionId the seat-based subscription
 * @param fields the seat's status, customer, member, and the rest of Polar's fields
 * @returns the seat, created now
 * @example
 * ```ts
 * seatModel(subscription.id, { status: "pending", customer_id: team.id, member, email }).status;
 * ```
 */
export function seatModel(
  subscriptionId: string,
  fields: Partial<models.CustomerSeat> = {},
): models.CustomerSeat {
  return {
    created_at: monotonicNow(),
    modified_at: null,
    id: crypto.randomUUID(),
    subscription_id: subscriptionId,
    order_id: null,
    status: "pending",
    customer_id: null,
    member_id: null,
    member: null,
    email: null,
    customer_email: null,
    invitation_token_expires_at: null,
    claimed_at: null,
    revoked_at: null,
    seat_metadata: {},
    ...fields,
  };
}

/**
 * A benefit granted to a member through a seat: `customer_id` is the team, `member_id` the
 * seat holder, as Polar's `benefit.enqueue_benefits_grants` creates it for a claimed seat.
 *
 * @param team the billing customer
 * @param member the seat holder
 * @param benefit the benefit of the seat-based product
 * @param subscriptionId the subscription whose seat granted it
 * @returns the grant, granted now
 * @example
 * ```ts
 * memberGrantModel(team, member, proBenefitModel(), subscription.id).member_id; // member.id
 * ```
 */
export function memberGrantModel(
  team: models.CustomerTeam,
  member: models.Member,
  benefit: models.BenefitFeatureFlag,
  subscriptionId: string,
): models.BenefitGrant {
  const now = monotonicNow();
  return {
    created_at: now,
    modified_at: null,
    id: crypto.randomUUID(),
    granted_at: now,
    is_granted: true,
    revoked_at: null,
    is_revoked: false,
    subscription_id: subscriptionId,
    order_id: null,
    customer_id: team.id,
    member_id: member.id,
    benefit_id: benefit.id,
    error: null,
    customer: team,
    member,
    benefit,
    properties: {},
  };
}

/**
 * A team's Customer State: the team, its active subscriptions, and the benefits granted to its
 * members (Polar lists them without their `member_id`), and no meters.
 *
 * @param team the team customer
 * @param parts its subscriptions (any status) and its granted benefits in Customer State form
 * @returns the state
 * @example
 * ```ts
 * teamStateModel(team, { subscriptions: [subscription], grants: [] }).type; // "team"
 * ```
 */
export function teamStateModel(
  team: models.CustomerTeam,
  parts: {
    subscriptions?: models.CustomerStateSubscription[];
    grants?: models.CustomerStateBenefitGrant[];
  } = {},
): models.CustomerStateTeam {
  return {
    ...team,
    active_subscriptions: parts.subscriptions ?? [],
    granted_benefits: parts.grants ?? [],
    active_meters: [],
  };
}

let lastTimestamp = 0;

/**
 * Now, as an ISO timestamp strictly later than the last one this module handed out: Polar's
 * clock has microseconds, so two changes of one object never share a version, and neither may
 * the stand-in's (the database keeps an object's newest version and ignores an equal one).
 *
 * @returns the timestamp
 * @example
 * ```ts
 * monotonicNow() < monotonicNow(); // true
 * ```
 */
export function monotonicNow(): string {
  lastTimestamp = Math.max(Date.now(), lastTimestamp + 1);
  return new Date(lastTimestamp).toISOString();
}

/**
 * An active monthly subscription of a seat-based product for a team, priced as a checkout of
 * that many seats would be: a test's or the stand-in's starting point.
 *
 * @param team the team customer
 * @param product the seat-based product (the stand-in's "Team" plan)
 * @param seats the seats bought
 * @returns the subscription
 * @example
 * ```ts
 * teamSubscriptionModel(team, teamProduct, 3).seats; // 3
 * ```
 */
export function teamSubscriptionModel(
  team: models.CustomerTeam,
  product: models.Product,
  seats: number,
): models.Subscription {
  const price = checkoutSeats(product, seats);
  return subscriptionModel(team, {
    status: "active",
    product_id: product.id,
    product,
    prices: product.prices,
    seats,
    amount: price.refusal ? 0 : price.amount,
  });
}
