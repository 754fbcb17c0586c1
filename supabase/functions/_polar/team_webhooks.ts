/**
 * Polar's team events reduced to what `public.apply_polar_team_change` stores: a team
 * customer, its members, seats, subscriptions and the benefits granted to its members (see the
 * migrations `20261201000900_teams.sql` and `20261201001000_team_seat_revocation.sql` for the
 * rules). Only the fields the database reads are kept, so a delivery stores no more of Polar's
 * payload than it needs.
 *
 * @module
 */

/** The seat events of Polar's 2026-10 API; each carries the whole seat. */
export const SEAT_EVENT_TYPES = [
  "customer_seat.assigned",
  "customer_seat.claimed",
  "customer_seat.revoked",
] as const;

/** The member events; each carries the whole member. */
export const MEMBER_EVENT_TYPES = ["member.created", "member.updated", "member.deleted"] as const;

/** The benefit grant events; a grant with a `member_id` is a team member's. */
export const BENEFIT_GRANT_EVENT_TYPES = [
  "benefit_grant.created",
  "benefit_grant.updated",
  "benefit_grant.cycled",
  "benefit_grant.revoked",
] as const;

/** What kind of team object a change carries. */
export type TeamChangeKind =
  | "team_customer"
  | "member"
  | "member_deleted"
  | "seat"
  | "subscription"
  | "grant";

/** One team object, as `public.apply_polar_team_change` takes it. */
export interface TeamChange {
  /** What the object is. */
  kind: TeamChangeKind;
  /** Polar's object, cut to the fields the database reads. */
  object: Record<string, unknown>;
}

const FIELDS: Record<TeamChangeKind, readonly string[]> = {
  team_customer: ["id", "type", "external_id", "deleted_at", "created_at", "modified_at"],
  member: ["id", "customer_id", "external_id", "role", "created_at", "modified_at"],
  member_deleted: ["id", "customer_id", "external_id", "role", "created_at", "modified_at"],
  seat: [
    "id",
    "customer_id",
    "member_id",
    "subscription_id",
    "order_id",
    "status",
    "email",
    "claimed_at",
    "revoked_at",
    "created_at",
    "modified_at",
  ],
  subscription: [
    "id",
    "customer_id",
    "product_id",
    "status",
    "seats",
    "current_period_end",
    "cancel_at_period_end",
    "ended_at",
    "created_at",
    "modified_at",
  ],
  grant: [
    "id",
    "customer_id",
    "member_id",
    "benefit_id",
    "subscription_id",
    "is_granted",
    "is_revoked",
    "created_at",
    "modified_at",
  ],
};

/** Every event type that may carry a team change and nothing else. */
export const TEAM_EVENT_TYPES = [
  ...SEAT_EVENT_TYPES,
  ...MEMBER_EVENT_TYPES,
  ...BENEFIT_GRANT_EVENT_TYPES,
] as const;

/** A value of {@linkcode TEAM_EVENT_TYPES}. */
export type TeamEventType = typeof TEAM_EVENT_TYPES[number];

const SEAT_STATUSES = ["pending", "claimed", "revoked"];
const MEMBER_ROLES = ["owner", "billing_manager", "member"];

/**
 * What is wrong with a team change the database would refuse, in words, or `undefined` when it
 * is well formed: an id, a `created_at`, a known seat status or member role, and a
 * `customer_id` (which a revoked seat may lack).
 *
 * @param change the change
 * @returns the problem, or `undefined`
 * @example
 * ```ts
 * teamChangeProblem({ kind: "seat", object: { id: "s", created_at, status: "taken" } });
 * // "Seat status must be pending, claimed or revoked"
 * ```
 */
export function teamChangeProblem(change: TeamChange): string | undefined {
  const { kind, object } = change;
  if (typeof object.id !== "string" || object.id === "") return "Event data has no id";
  if (typeof object.created_at !== "string" || Number.isNaN(Date.parse(object.created_at))) {
    return "Event data has no created_at";
  }
  if (kind === "seat" && !SEAT_STATUSES.includes(object.status as string)) {
    return "Seat status must be pending, claimed or revoked";
  }
  if (
    (kind === "member" || kind === "member_deleted") &&
    !MEMBER_ROLES.includes(object.role as string)
  ) {
    return "Member role must be owner, billing_manager or member";
  }
  // Polar clears a revoked seat's customer_id; the database finds its team by the seat.
  const mayLackCustomer = kind === "team_customer" ||
    (kind === "seat" && object.status === "revoked");
  if (!mayLackCustomer && typeof object.customer_id !== "string") {
    return "Event data has no customer_id";
  }
  return undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function pick(kind: TeamChangeKind, data: Record<string, unknown>): TeamChange {
  const object: Record<string, unknown> = {};
  for (const field of FIELDS[kind]) if (field in data) object[field] = data[field];
  return { kind, object };
}

/**
 * The team change an event carries, or `null` when it carries none (an event of another kind,
 * an individual customer's subscription, a grant to no member).
 *
 * @param type the event's type
 * @param data the event's `data`
 * @returns the change, or `null`
 * @example
 * ```ts
 * teamChangeOf("customer_seat.claimed", seat); // { kind: "seat", object: { id, status, … } }
 * teamChangeOf("subscription.active", individualSubscription); // null
 * ```
 */
export function teamChangeOf(type: string, data: unknown): TeamChange | null {
  if (!isObject(data)) return null;
  if ((SEAT_EVENT_TYPES as readonly string[]).includes(type)) return pick("seat", data);
  if (type === "member.deleted") return pick("member_deleted", data);
  if ((MEMBER_EVENT_TYPES as readonly string[]).includes(type)) return pick("member", data);
  if ((BENEFIT_GRANT_EVENT_TYPES as readonly string[]).includes(type)) {
    if (typeof data.member_id !== "string") return null;
    const change = pick("grant", data);
    const key = isObject(data.benefit) && isObject(data.benefit.metadata)
      ? data.benefit.metadata.key
      : undefined;
    // Only the benefit's key travels: the rest of the benefit is the operator's configuration.
    change.object.benefit = { metadata: typeof key === "string" ? { key } : {} };
    return change;
  }
  if (type.startsWith("customer.") && type !== "customer.state_changed") {
    if (data.type !== "team") return null;
    const change = pick("team_customer", data);
    // customer.deleted ends the team whatever else its payload says.
    if (type === "customer.deleted") {
      change.object.deleted_at ??= data.modified_at ?? data.created_at;
    }
    return change;
  }
  if (type.startsWith("subscription.")) {
    const customer = data.customer;
    if (!isObject(customer) || customer.type !== "team") return null;
    return pick("subscription", { ...data, customer_id: data.customer_id ?? customer.id });
  }
  return null;
}
