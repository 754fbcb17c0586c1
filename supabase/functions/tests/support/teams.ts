/**
 * Two teams for the team functions' handler tests: a test Supabase whose
 * `polar_may_bill_team` answers from a table of billers (as an app's would, from its own
 * tables), team A (Olive bills it, Max is an app user without a seat) and team B (Quinn bills
 * it), both stored as Polar team customers with a live 3-seat and 2-seat subscription. Polar is
 * an in-memory model of its team customers, members and seats that applies Polar's own rules
 * (`server/polar/customer_seat/service.py`, `member/service.py`, `customer_session/service.py`)
 * and answers with the SDK's errors; every write it takes is recorded.
 *
 * @module
 */
import { PolarClientError } from "@polar-sh/sdk";
import { errors, type models } from "@polar-sh/sdk/2026-10";
import { createServerClient } from "../../_polar/supabase.ts";
import { createTeamBillingCheck, createTeamStore } from "../../_polar/team_billing.ts";
import type { PolarTeamApi } from "../../_polar/team_customer.ts";
import type { PolarSeatsApi } from "../../seats/polar.ts";
import { insertUser } from "./database.ts";
import { createTestSupabase, type TestSupabase } from "./supabase_stand_in.ts";

/** Polar's 422 with one item. */
export function validationError(loc: string[], msg: string): errors.HTTPValidationError {
  return new errors.HTTPValidationError(422, { detail: [{ loc, msg, type: "value_error" }] });
}

/** Polar's error body for a refusal of its own (`{ error, detail }`), as the SDK throws it. */
export function polarRefusal(status: number, error: string, detail: string): PolarClientError {
  return new PolarClientError(status, { error, detail });
}

const NOW = () => new Date().toISOString();

/** The in-memory Polar of the team tests. */
export class TeamPolar {
  /** Customers by id (team and individual). */
  customers = new Map<string, models.Customer>();
  /** Members by id. */
  members = new Map<string, models.Member>();
  /** Seats by id. */
  seats = new Map<string, models.CustomerSeat>();
  /** Subscriptions' seat counts and customers, by subscription id. */
  subscriptions = new Map<string, { customerId: string; seats: number }>();
  /** Every write, as `METHOD path`. */
  writes: string[] = [];
  /** Every call, reads included. */
  calls: string[] = [];
  /** Thrown by the next `POST /v1/customers/` (a concurrent create). */
  nextCreateError?: Error;

  /** A team customer. */
  addTeam(externalId: string): models.Customer {
    const customer = {
      id: crypto.randomUUID(),
      type: "team",
      external_id: externalId,
      email: null,
      name: null,
      created_at: NOW(),
      modified_at: null,
      deleted_at: null,
      metadata: {},
    } as unknown as models.Customer;
    this.customers.set(customer.id, customer);
    return customer;
  }

  /** An individual customer. */
  addIndividual(externalId: string): models.Customer {
    const customer = { ...this.addTeam(externalId), type: "individual" } as models.Customer;
    this.customers.set(customer.id, customer);
    return customer;
  }

  /** A member of a customer. */
  addMember(
    customerId: string,
    externalId: string | null,
    email: string,
    role: models.Member["role"] = "member",
  ): models.Member {
    const member: models.Member = {
      id: crypto.randomUUID(),
      customer_id: customerId,
      external_id: externalId,
      email,
      name: null,
      role,
      created_at: NOW(),
      modified_at: null,
    };
    this.members.set(member.id, member);
    return member;
  }

  /** A seat held by a member (claimed) of a subscription. */
  addSeat(subscriptionId: string, member: models.Member): models.CustomerSeat {
    const seat = this.newSeat(subscriptionId);
    Object.assign(seat, {
      customer_id: member.customer_id,
      member_id: member.id,
      member,
      email: member.email,
      status: "claimed",
      claimed_at: NOW(),
    });
    return seat;
  }

  private newSeat(subscriptionId: string): models.CustomerSeat {
    const seat = {
      id: crypto.randomUUID(),
      created_at: NOW(),
      modified_at: null,
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
      seat_metadata: null,
    } as models.CustomerSeat;
    this.seats.set(seat.id, seat);
    return seat;
  }

  private byExternalId(externalId: string) {
    return [...this.customers.values()].find((c) => c.external_id === externalId) ?? null;
  }

  private seatsOf(subscriptionId: string) {
    return [...this.seats.values()].filter((s) => s.subscription_id === subscriptionId);
  }

  /** `PolarTeamApi`, Polar's way. */
  teamApi(): PolarTeamApi {
    return {
      getCustomer: (externalId) => {
        this.calls.push(`GET customer ${externalId}`);
        return Promise.resolve(structuredClone(this.byExternalId(externalId)));
      },
      createTeamCustomer: (body) => {
        this.writes.push("POST /v1/customers/");
        const error = this.nextCreateError;
        this.nextCreateError = undefined;
        if (error) return Promise.reject(error);
        if (this.byExternalId(body.external_id ?? "")) {
          return Promise.reject(
            validationError(
              ["body", "external_id"],
              "A customer with this external ID already exists.",
            ),
          );
        }
        const customer = this.addTeam(body.external_id ?? "");
        if (body.owner) {
          this.addMember(customer.id, body.owner.external_id ?? null, body.owner.email, "owner");
        }
        return Promise.resolve(structuredClone(customer));
      },
      getMember: (teamId, userId) => {
        this.calls.push(`GET member ${teamId} ${userId}`);
        const customer = this.byExternalId(teamId);
        const member = [...this.members.values()].find((m) =>
          m.customer_id === customer?.id && m.external_id === userId
        );
        return Promise.resolve(member ? structuredClone(member) : null);
      },
      createMember: (customerId, body) => {
        this.writes.push(`POST /v1/customers/${customerId}/members`);
        // Polar answers an existing member with the same email as if it were created.
        const same = [...this.members.values()].find((m) =>
          m.customer_id === customerId && m.email === body.email
        );
        const member = same ??
          this.addMember(customerId, body.external_id ?? null, body.email, body.role ?? "member");
        return Promise.resolve(structuredClone(member));
      },
    };
  }

  /** `PolarSeatsApi`, Polar's way. */
  seatsApi(): PolarSeatsApi {
    return {
      list: (subscriptionId) => {
        this.calls.push(`GET seats ${subscriptionId}`);
        const subscription = this.subscriptions.get(subscriptionId);
        if (!subscription) {
          return Promise.reject(polarRefusal(404, "ResourceNotFound", "Subscription not found"));
        }
        const seats = this.seatsOf(subscriptionId);
        const taken = seats.filter((s) => s.status !== "revoked").length;
        return Promise.resolve(structuredClone({
          seats,
          total_seats: subscription.seats,
          available_seats: subscription.seats - taken,
        }));
      },
      assign: (body) => {
        this.writes.push("POST /v1/customer-seats");
        const subscription = this.subscriptions.get(body.subscription_id ?? "");
        if (!subscription) {
          return Promise.reject(polarRefusal(404, "ResourceNotFound", "Subscription not found"));
        }
        const seats = this.seatsOf(body.subscription_id!);
        if (seats.filter((s) => s.status !== "revoked").length >= subscription.seats) {
          return Promise.reject(
            polarRefusal(400, "SeatNotAvailable", `No available seats for ${body.subscription_id}`),
          );
        }
        let member = [...this.members.values()].find((m) =>
          m.customer_id === subscription.customerId && m.external_id === body.external_member_id
        );
        member ??= this.addMember(
          subscription.customerId,
          body.external_member_id ?? null,
          body.email!,
        );
        if (seats.some((s) => s.status !== "revoked" && s.email === member.email)) {
          return Promise.reject(
            polarRefusal(
              400,
              "SeatAlreadyAssigned",
              `Seat already assigned to customer ${member.email}`,
            ),
          );
        }
        // Polar reuses a revoked seat of the subscription before it makes a new one.
        const seat = seats.find((s) => s.status === "revoked") ??
          this.newSeat(body.subscription_id!);
        Object.assign(seat, {
          customer_id: subscription.customerId,
          member_id: member.id,
          member,
          email: member.email,
          status: body.immediate_claim ? "claimed" : "pending",
          claimed_at: body.immediate_claim ? NOW() : null,
          revoked_at: null,
          modified_at: NOW(),
        });
        return Promise.resolve(structuredClone(seat));
      },
      revoke: (seatId) => {
        this.writes.push(`DELETE /v1/customer-seats/${seatId}`);
        const seat = this.seats.get(seatId);
        if (!seat) return Promise.reject(polarRefusal(404, "ResourceNotFound", "Seat not found"));
        Object.assign(seat, {
          status: "revoked",
          customer_id: null,
          member_id: null,
          member: null,
          email: null,
          revoked_at: NOW(),
          modified_at: new Date(Date.now() + 1).toISOString(),
        });
        return Promise.resolve(structuredClone(seat));
      },
    };
  }

  /** The team portal session: `external_customer_id` and `external_member_id`, Polar's way. */
  teamPortal(teamId: string, userId: string): Promise<string> {
    this.writes.push("POST /v1/customer-sessions/");
    const customer = this.byExternalId(teamId);
    if (!customer) {
      return Promise.reject(
        validationError(["body", "external_customer_id"], "Customer does not exist."),
      );
    }
    const member = [...this.members.values()].find((m) =>
      m.customer_id === customer.id && m.external_id === userId
    );
    if (!member) {
      return Promise.reject(
        validationError(["body", "external_member_id"], "Member does not exist for this customer."),
      );
    }
    return Promise.resolve(`https://sandbox.polar.sh/acme/portal?member=${member.id}`);
  }
}

/** A user of the team world. */
export interface TeamUser {
  /** The user's id. */
  id: string;
  /** The user's email. */
  email: string;
  /** A token for them. */
  token: string;
}

/** The team world. */
export interface TeamWorld extends AsyncDisposable {
  /** The test's Supabase. */
  stand: TestSupabase;
  /** Polar. */
  polar: TeamPolar;
  /** Team A and team B: ids, Polar customers and subscriptions. */
  teams: Record<"a" | "b", { id: string; customer: models.Customer; subscriptionId: string }>;
  /** Olive bills team A, Quinn team B; Max is an app user in no team; Pia has not confirmed her email. */
  users: Record<"olive" | "quinn" | "max" | "pia", TeamUser>;
  /** `polar_may_bill_team` asked with the caller's token. */
  mayBillTeam: ReturnType<typeof createTeamBillingCheck>;
  /** The service-role store. */
  store: ReturnType<typeof createTeamStore>;
  /** Stores a Polar object as the webhooks would. */
  apply(kind: string, object: unknown): Promise<void>;
  /** Makes a user an app-side biller of a team. */
  letBill(teamId: string, userId: string): Promise<void>;
  /** Every stored team row, to compare before and after a refusal. */
  snapshot(): Promise<string>;
}

/**
 * Sets up the team world.
 *
 * @returns the world; dispose of it at the end of the test
 * @example
 * ```ts
 * await using world = await createTeamWorld();
 * ```
 */
export async function createTeamWorld(): Promise<TeamWorld> {
  const stand = await createTestSupabase();
  const { db } = stand;
  // The app's own rule, as an app's migration would make it: a table of who bills which team.
  await db.exec(`
    create table public.test_team_billers (team_id uuid not null, user_id uuid not null);
    revoke all on table public.test_team_billers from anon, authenticated;
    create or replace function public.polar_may_bill_team(team_id uuid) returns boolean
    language sql stable security definer set search_path = '' as $$
      select exists (select 1 from public.test_team_billers as b
        where b.team_id = polar_may_bill_team.team_id and b.user_id = (select auth.uid()));
    $$;`);
  const user = async (name: string, confirmed = true): Promise<TeamUser> => {
    const email = `${name}@example.com`;
    const id = await insertUser(db, email);
    if (confirmed) {
      await db.query("update auth.users set email_confirmed_at = now() where id = $1", [id]);
    }
    return { id, email, token: await stand.userToken(id, email) };
  };
  const users = {
    olive: await user("olive"),
    quinn: await user("quinn"),
    max: await user("max"),
    pia: await user("pia", false),
  };
  const admin = createServerClient(stand.url, stand.serviceRoleKey, { fetch: stand.fetch });
  const store = createTeamStore(admin);
  const polar = new TeamPolar();
  const apply = async (kind: string, object: unknown) => {
    await db.query("select public.apply_polar_team_change($1::jsonb)", [
      JSON.stringify({ kind, object }),
    ]);
  };
  const letBill = async (teamId: string, userId: string) => {
    await db.query("insert into public.test_team_billers values ($1, $2)", [teamId, userId]);
  };
  const team = async (biller: TeamUser, seats: number) => {
    const id = crypto.randomUUID();
    const customer = polar.addTeam(id);
    const owner = polar.addMember(customer.id, biller.id, biller.email, "owner");
    const subscriptionId = crypto.randomUUID();
    polar.subscriptions.set(subscriptionId, { customerId: customer.id, seats });
    await apply("team_customer", customer);
    await apply("member", owner);
    await apply("subscription", {
      id: subscriptionId,
      customer_id: customer.id,
      status: "active",
      seats,
      created_at: "2026-11-01T00:00:00Z",
    });
    await letBill(id, biller.id);
    return { id, customer, subscriptionId };
  };
  const teams = { a: await team(users.olive, 3), b: await team(users.quinn, 2) };
  return {
    stand,
    polar,
    teams,
    users,
    mayBillTeam: createTeamBillingCheck({
      supabaseUrl: stand.url,
      apiKey: stand.anonKey,
      fetch: stand.fetch,
    }),
    store,
    apply,
    letBill,
    snapshot: async () =>
      JSON.stringify(
        await db.query(
          `select (select jsonb_agg(t order by t::text) from public.polar_teams as t) as teams,
            (select jsonb_agg(m order by m::text) from public.polar_team_members as m) as members,
            (select jsonb_agg(s order by s::text) from public.polar_team_seats as s) as seats,
            (select jsonb_agg(s order by s::text) from public.polar_team_subscriptions as s) as subs`,
        ),
      ),
    [Symbol.asyncDispose]: () => stand[Symbol.asyncDispose](),
  };
}
