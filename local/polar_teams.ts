/**
 * Polar's team model (API 2026-10, the organization's member model and seat-based pricing on),
 * as the Polar stand-in and the tests' fake keep it: members of customers, seats of seat-based
 * subscriptions, and the benefits a claimed seat grants to its member. The rules follow Polar's
 * server (`server/polar/member/service.py`, `customer_seat/service.py`, `customer_seat/tasks.py`,
 * `subscription/service.py`):
 *
 * - a member is created once per email per customer (creating it again answers the existing
 *   one); the only owner can be neither deleted nor demoted; a member given the `owner` role
 *   takes it from the owner, who becomes a `billing_manager`;
 * - deleting a member sends `member.deleted`, then revokes its seats and its grants;
 * - a seat is assigned by `member_id`, `external_member_id` (alone: an existing member; with
 *   `email`: that member, or the member with that email, which gets the external id) or `email`
 *   (the member with it, created if need be, without a `member.*` webhook, as Polar's
 *   `get_or_create_by_email` sends none); a revoked seat of the subscription is reused;
 *   `immediate_claim` claims at once, otherwise the seat is `pending` with an invitation token
 *   that expires in 24 hours;
 * - a claimed seat grants the product's benefits to its member (`customer_id` the team,
 *   `member_id` the member); revoking it (or its member, or the subscription ending) revokes
 *   them, and the revoked seat's `customer_id`, `member_id` and `email` become null;
 * - every change is a webhook in Polar's order: `customer_seat.claimed` before the
 *   `benefit_grant.created` of the job it queues, `customer_seat.revoked` before
 *   `benefit_grant.revoked`.
 *
 * @module
 */
import type { models, webhooks } from "@polar-sh/sdk/2026-10";
import { memberGrantModel, memberModel, monotonicNow, seatModel } from "./polar_team_models.ts";

/** A webhook the team model sends. */
export type TeamPayload =
  | webhooks.WebhookMemberCreatedPayload
  | webhooks.WebhookMemberUpdatedPayload
  | webhooks.WebhookMemberDeletedPayload
  | webhooks.WebhookCustomerSeatAssignedPayload
  | webhooks.WebhookCustomerSeatClaimedPayload
  | webhooks.WebhookCustomerSeatRevokedPayload
  | webhooks.WebhookBenefitGrantCreatedPayload
  | webhooks.WebhookBenefitGrantRevokedPayload;

/** A customer a member may belong to: an individual or a team. */
export type AnyCustomer = models.CustomerIndividual | models.CustomerTeam;

/** Polar's answer to a refused request: the status and the JSON body it sends. */
export class PolarRefusal extends Error {
  /**
   * @param status the HTTP status
   * @param body Polar's body: `{ error, detail }`, or `{ detail: [ValidationError] }` for 422
   */
  constructor(readonly status: number, readonly body: Record<string, unknown>) {
    super(JSON.stringify(body));
  }

  /** The refusal as Polar's response. */
  response(): Response {
    return Response.json(this.body, { status: this.status });
  }
}

/**
 * A refusal of Polar's kind `error` (its exception class name) with its words.
 *
 * @param status the HTTP status
 * @param error the exception class, such as `SeatNotAvailable`
 * @param detail the message
 * @returns the refusal
 * @example
 * ```ts
 * polarError(404, "ResourceNotFound", "Member not found").status; // 404
 * ```
 */
export function polarError(status: number, error: string, detail: string): PolarRefusal {
  return new PolarRefusal(status, { error, detail });
}

/**
 * A 422 refusal of one field, as Polar's `PolarRequestValidationError` answers it.
 *
 * @param loc where, such as `["body", "email"]`
 * @param msg the message
 * @param input the refused value
 * @returns the refusal
 * @example
 * ```ts
 * validationRefusal(["body", "role"], "Cannot change role. Customer must have exactly one owner.").status; // 422
 * ```
 */
export function validationRefusal(
  loc: (string | number)[],
  msg: string,
  input: unknown = null,
): PolarRefusal {
  return new PolarRefusal(422, { detail: [{ type: "value_error", loc, msg, input }] });
}

/** Options of {@linkcode createTeamModel}. */
export interface TeamModelOptions {
  /** The organization's subscriptions by id (seats belong to seat-based ones). */
  subscriptions: Map<string, models.Subscription>;
  /** The team customers by id. */
  teams: Map<string, models.CustomerTeam>;
  /** Sends a webhook (the stand-in signs and delivers it; the fake records it). */
  emit: (payload: TeamPayload) => Promise<void> | void;
  /** A member portal session's token, for a claimed seat's answer. */
  memberSessionToken?: (customer: AnyCustomer, member: models.Member) => string;
}

/** The team model: its state and the operations the routes call. */
export interface TeamModel {
  /** Every member by id, removed ones included (see {@linkcode removedMembers}). */
  members: Map<string, models.Member>;
  /** The ids of removed members. */
  removedMembers: Set<string>;
  /** Every seat by id. */
  seats: Map<string, models.CustomerSeat>;
  /** Pending seats' invitation tokens: token → seat id. */
  invitations: Map<string, string>;
  /** Every benefit grant to a member by id, granted or revoked. */
  grants: Map<string, models.BenefitGrant>;
  /** The customer's members that are not removed, oldest first. */
  liveMembers(customerId: string): models.Member[];
  /** The live member of the customer with this external id. */
  memberByExternalId(customerId: string, externalId: string): models.Member | undefined;
  /** A team's owner, as `POST /v1/customers` with `owner` creates it (`member.created`). */
  createOwner(
    team: AnyCustomer,
    owner: { email: string; name?: string | null; externalId?: string | null },
  ): Promise<models.Member>;
  /** `POST …/members`: Polar's create (an existing email answers the existing member). */
  createMember(customer: AnyCustomer, body: Record<string, unknown>): Promise<models.Member>;
  /** `PATCH …/members/{id}`: name, email, role. */
  updateMember(member: models.Member, body: Record<string, unknown>): Promise<models.Member>;
  /** `DELETE …/members/{id}`: `member.deleted`, then its seats and grants revoked. */
  deleteMember(member: models.Member, options?: { force?: boolean }): Promise<void>;
  /** Every member of a deleted customer removed, the only owner too (`member.deleted` each). */
  deleteCustomerMembers(customerId: string): Promise<void>;
  /** `POST /v1/customer-seats`. */
  assignSeat(body: Record<string, unknown>): Promise<models.CustomerSeat>;
  /** `POST /v1/customer-seats/claim`: the seat claimed and a member session's token. */
  claimSeat(token: string): Promise<{ seat: models.CustomerSeat; customer_session_token: string }>;
  /** The pending seat of a valid token, else `undefined`. */
  pendingSeat(token: string): models.CustomerSeat | undefined;
  /** `DELETE /v1/customer-seats/{id}` (a revoked seat answers as it is). */
  revokeSeat(seat: models.CustomerSeat): Promise<models.CustomerSeat>;
  /** Every seat of a subscription that ended revoked, as Polar does for seat-based products. */
  revokeSubscriptionSeats(subscription: models.Subscription): Promise<void>;
  /** A subscription's seats and the count still free (Polar's `SeatsList`). */
  seatsList(subscription: models.Subscription): models.SeatsList;
}

/** Whether a product is sold by the seat. */
export function isSeatBased(product: models.Product): boolean {
  return product.prices.some((price) => price.amount_type === "seat_based");
}

const ROLES: readonly models.MemberRole[] = ["owner", "billing_manager", "member"];
const INVITATION_MS = 24 * 3600_000;

/**
 * Makes the team model over the organization's subscriptions and team customers.
 *
 * @param options the subscriptions, the teams, and where webhooks go
 * @returns the model
 * @example
 * ```ts
 * const teams = createTeamModel({ subscriptions, teams: new Map(), emit: (p) => sent.push(p) });
 * const owner = await teams.createOwner(team, { email: "owner@example.com", externalId: userId });
 * ```
 */
export function createTeamModel(options: TeamModelOptions): TeamModel {
  const members = new Map<string, models.Member>();
  const removedMembers = new Set<string>();
  const seats = new Map<string, models.CustomerSeat>();
  const invitations = new Map<string, string>();
  const grants = new Map<string, models.BenefitGrant>();
  const emit = async (type: TeamPayload["type"], data: unknown) => {
    await options.emit(
      {
        type,
        timestamp: new Date().toISOString(),
        api_version: "2026-10",
        data: structuredClone(data),
      } as TeamPayload,
    );
  };

  const liveMembers = (customerId: string) =>
    [...members.values()].filter((m) => m.customer_id === customerId && !removedMembers.has(m.id));
  const byEmail = (customerId: string, email: string) =>
    liveMembers(customerId).find((m) => m.email.toLowerCase() === email.trim().toLowerCase());
  const memberByExternalId = (customerId: string, externalId: string) =>
    liveMembers(customerId).find((m) => m.external_id === externalId);

  const add = (member: models.Member) => {
    // Polar's partial unique index on (customer_id, external_id) of live members: an
    // IntegrityError its create does not turn into a 4xx.
    if (member.external_id !== null && memberByExternalId(member.customer_id, member.external_id)) {
      throw polarError(500, "InternalServerError", "Internal Server Error");
    }
    members.set(member.id, member);
    return member;
  };
  /** Polar's `get_or_create_by_email`: no webhook. */
  const getOrCreateByEmail = (customerId: string, email: string) =>
    byEmail(customerId, email) ?? add(memberModel(customerId, { email: email.trim() }));

  const seatsOf = (subscriptionId: string) =>
    [...seats.values()].filter((s) => s.subscription_id === subscriptionId);
  const available = (subscription: models.Subscription) =>
    Math.max(
      0,
      (subscription.seats ?? 0) -
        seatsOf(subscription.id).filter((s) => s.status !== "revoked").length,
    );

  const grantBenefits = async (seat: models.CustomerSeat) => {
    const subscription = options.subscriptions.get(seat.subscription_id ?? "");
    const team = options.teams.get(seat.customer_id ?? "");
    const member = members.get(seat.member_id ?? "");
    if (!subscription || !team || !member) return;
    for (const benefit of subscription.product.benefits) {
      if (benefit.type !== "feature_flag") continue;
      const grant = memberGrantModel(team, member, benefit, subscription.id);
      grants.set(grant.id, grant);
      await emit("benefit_grant.created", grant);
    }
  };
  const revokeGrants = async (
    match: (grant: models.BenefitGrant) => boolean,
  ) => {
    for (const grant of grants.values()) {
      if (!grant.is_granted || !match(grant)) continue;
      const now = monotonicNow();
      Object.assign(grant, {
        is_granted: false,
        is_revoked: true,
        revoked_at: now,
        modified_at: now,
      });
      await emit("benefit_grant.revoked", grant);
    }
  };

  const revokeSeat = async (seat: models.CustomerSeat) => {
    if (seat.status === "revoked") return seat;
    const memberId = seat.member_id;
    for (const [token, id] of invitations) if (id === seat.id) invitations.delete(token);
    const now = monotonicNow();
    Object.assign(seat, {
      status: "revoked",
      revoked_at: now,
      modified_at: now,
      customer_id: null,
      member_id: null,
      member: null,
      email: null,
      invitation_token_expires_at: null,
    });
    await emit("customer_seat.revoked", seat);
    // The benefit revocation job Polar queued before clearing the seat.
    await revokeGrants((g) =>
      g.member_id === memberId && g.subscription_id === seat.subscription_id
    );
    return seat;
  };

  const resolveMember = (customerId: string, body: Record<string, unknown>) => {
    const email = typeof body.email === "string" && body.email.trim() ? body.email.trim() : null;
    if (typeof body.member_id === "string") {
      const member = members.get(body.member_id);
      if (!member || member.customer_id !== customerId || removedMembers.has(member.id)) {
        throw polarError(404, "MemberNotFound", `Member not found: ${body.member_id}`);
      }
      return member;
    }
    if (typeof body.external_member_id === "string") {
      const externalId = body.external_member_id;
      const member = memberByExternalId(customerId, externalId);
      if (member) {
        if (email && member.email.toLowerCase() !== email.toLowerCase()) {
          throw mismatch(externalId, email);
        }
        return member;
      }
      if (!email) throw polarError(404, "MemberNotFound", `Member not found: ${externalId}`);
      const found = getOrCreateByEmail(customerId, email);
      if (found.external_id === null) {
        Object.assign(found, { external_id: externalId, modified_at: monotonicNow() });
      } else if (found.external_id !== externalId) throw mismatch(externalId, email);
      return found;
    }
    if (email) return getOrCreateByEmail(customerId, email);
    throw polarError(
      400,
      "InvalidSeatAssignmentRequest",
      "At least one of email, external_member_id, or member_id must be provided when member_model_enabled is true.",
    );
  };

  const model: TeamModel = {
    members,
    removedMembers,
    seats,
    invitations,
    grants,
    liveMembers,
    memberByExternalId,

    async createOwner(team, owner) {
      const existing = liveMembers(team.id).find((m) => m.role === "owner");
      if (existing) return existing;
      const member = add(memberModel(team.id, {
        email: owner.email.trim(),
        name: owner.name ?? team.name,
        externalId: owner.externalId ?? team.external_id ?? null,
        role: "owner",
      }));
      member.created_at = team.created_at;
      await emit("member.created", member);
      return member;
    },

    async createMember(customer, body) {
      if (typeof body.email !== "string" || !body.email.includes("@")) {
        throw new PolarRefusal(422, {
          detail: [{
            type: typeof body.email === "string" ? "value_error" : "missing",
            loc: ["body", "email"],
            msg: typeof body.email === "string"
              ? "value is not a valid email address: An email address must have an @-sign."
              : "Field required",
            input: body.email ?? null,
          }],
        });
      }
      const role = body.role ?? "member";
      if (role !== "member" && role !== "billing_manager") {
        throw new PolarRefusal(422, {
          detail: [{
            type: "literal_error",
            loc: ["body", "role"],
            msg: "Input should be 'member' or 'billing_manager'",
            input: role,
          }],
        });
      }
      if (customer.type === "individual" && liveMembers(customer.id).length >= 1) {
        throw polarError(
          403,
          "NotPermitted",
          "Individual customers can only have one member (the owner). Upgrade to a team customer to add more members.",
        );
      }
      const existing = byEmail(customer.id, body.email);
      if (existing) return existing;
      const member = add(memberModel(customer.id, {
        email: body.email.trim(),
        name: typeof body.name === "string" && body.name ? body.name : null,
        externalId: typeof body.external_id === "string" && body.external_id
          ? body.external_id
          : null,
        role,
      }));
      await emit("member.created", member);
      return member;
    },

    async updateMember(member, body) {
      const role = body.role ?? null;
      if (role !== null && !ROLES.includes(role as models.MemberRole)) {
        throw validationRefusal(
          ["body", "role"],
          "Input should be 'owner', 'billing_manager' or 'member'",
          role,
        );
      }
      const changes: Partial<models.Member> = {};
      let transferredFrom: models.Member | undefined;
      if (role !== null && role !== member.role) {
        const owner = liveMembers(member.customer_id).find((m) => m.role === "owner");
        if (role === "owner" && owner) transferredFrom = owner;
        else if (member.role === "owner") {
          throw validationRefusal(
            ["body", "role"],
            "Cannot change role. Customer must have exactly one owner.",
            role,
          );
        }
        changes.role = role as models.MemberRole;
      }
      if (typeof body.email === "string" && body.email.trim() !== member.email) {
        const taken = byEmail(member.customer_id, body.email);
        if (taken && taken.id !== member.id) {
          throw validationRefusal(
            ["body", "email"],
            "A member with this email already exists for this customer.",
            body.email,
          );
        }
        changes.email = body.email.trim();
      }
      if (typeof body.name === "string" && body.name !== member.name) changes.name = body.name;
      if (Object.keys(changes).length === 0) return member;
      if (transferredFrom) {
        // The owner becomes a billing manager in the same change.
        Object.assign(transferredFrom, { role: "billing_manager", modified_at: monotonicNow() });
        await emit("member.updated", transferredFrom);
      }
      Object.assign(member, changes, { modified_at: monotonicNow() });
      if (changes.email) {
        for (const seat of seats.values()) {
          if (seat.member_id === member.id) seat.email = member.email;
        }
      }
      await emit("member.updated", member);
      return member;
    },

    async deleteMember(member, { force = false } = {}) {
      if (
        !force && member.role === "owner" &&
        liveMembers(member.customer_id).filter((m) => m.role === "owner").length <= 1
      ) {
        throw validationRefusal(
          ["body"],
          "Cannot delete the only owner. Transfer ownership first.",
          member.id,
        );
      }
      removedMembers.add(member.id);
      await emit("member.deleted", member);
      // Polar's jobs: customer_seat.revoke_seats_for_member, then the member's grant deletions.
      for (const seat of seats.values()) {
        if (seat.member_id === member.id && seat.status !== "revoked") await revokeSeat(seat);
      }
      await revokeGrants((g) => g.member_id === member.id);
    },

    async deleteCustomerMembers(customerId) {
      for (const member of liveMembers(customerId)) {
        await model.deleteMember(member, { force: true });
      }
    },

    async assignSeat(body) {
      if (typeof body.subscription_id !== "string") {
        throw polarError(400, "BadRequest", "Either subscription_id or order_id must be provided");
      }
      const subscription = options.subscriptions.get(body.subscription_id);
      if (!subscription) throw polarError(404, "ResourceNotFound", "Subscription not found");
      if (available(subscription) <= 0) {
        throw polarError(400, "SeatNotAvailable", `No available seats for ${subscription.id}`);
      }
      if (typeof body.customer_id === "string" || typeof body.external_customer_id === "string") {
        // Polar's backward-compatible path (a customer's email) is not modelled here.
        throw polarError(
          400,
          "InvalidSeatAssignmentRequest",
          "Customer not found for the provided customer_id or external_customer_id.",
        );
      }
      const member = resolveMember(subscription.customer_id, body);
      const taken = seatsOf(subscription.id).find((s) =>
        s.status !== "revoked" && s.email?.toLowerCase() === member.email.toLowerCase()
      );
      if (taken) {
        throw polarError(
          400,
          "SeatAlreadyAssigned",
          `Seat already assigned to customer ${member.email}`,
        );
      }
      const immediate = body.immediate_claim === true;
      const now = monotonicNow();
      const fields: Partial<models.CustomerSeat> = {
        status: immediate ? "claimed" : "pending",
        customer_id: subscription.customer_id,
        member_id: member.id,
        member,
        email: member.email,
        customer_email: member.email,
        invitation_token_expires_at: immediate
          ? null
          : new Date(Date.parse(now) + INVITATION_MS).toISOString(),
        claimed_at: immediate ? now : null,
        revoked_at: null,
        seat_metadata: isRecord(body.metadata) ? body.metadata : {},
      };
      const reused = seatsOf(subscription.id).find((s) => s.status === "revoked");
      const seat = reused
        ? Object.assign(reused, fields, { modified_at: now })
        : seatModel(subscription.id, { ...fields, created_at: now });
      seats.set(seat.id, seat);
      if (immediate) {
        await emit("customer_seat.claimed", seat);
        await grantBenefits(seat);
      } else {
        invitations.set(`polar_seat_${crypto.randomUUID().replaceAll("-", "")}`, seat.id);
        await emit("customer_seat.assigned", seat);
      }
      return seat;
    },

    pendingSeat(token) {
      const seat = seats.get(invitations.get(token) ?? "");
      if (!seat || seat.status !== "pending") return undefined;
      if (Date.parse(seat.invitation_token_expires_at ?? "") < Date.now()) return undefined;
      return seat;
    },

    async claimSeat(token) {
      const seat = model.pendingSeat(token);
      const team = options.teams.get(seat?.customer_id ?? "");
      const member = members.get(seat?.member_id ?? "");
      if (!seat || !team || !member || removedMembers.has(member.id)) {
        throw polarError(400, "InvalidInvitationToken", "Invalid or expired invitation token");
      }
      invitations.delete(token);
      const now = monotonicNow();
      Object.assign(seat, { status: "claimed", claimed_at: now, modified_at: now });
      await emit("customer_seat.claimed", seat);
      await grantBenefits(seat);
      const sessionToken = options.memberSessionToken?.(team, member) ??
        `polar_mst_${crypto.randomUUID().replaceAll("-", "")}`;
      return { seat, customer_session_token: sessionToken };
    },

    revokeSeat,

    async revokeSubscriptionSeats(subscription) {
      for (const seat of seatsOf(subscription.id)) await revokeSeat(seat);
    },

    seatsList(subscription) {
      return {
        seats: seatsOf(subscription.id),
        available_seats: available(subscription),
        total_seats: subscription.seats ?? 0,
      };
    },
  };
  return model;
}

function mismatch(externalId: string, email: string) {
  return polarError(
    400,
    "MemberEmailMismatch",
    `Member with external_member_id '${externalId}' exists but has a different email than '${email}'`,
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
