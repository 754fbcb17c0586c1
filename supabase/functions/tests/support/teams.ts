/**
 * Two teams for the team functions' handler tests: a test Supabase whose
 * `polar_may_bill_team` answers from a table of billers (as an app's would, from its own
 * tables), team A (Olive bills it, Max is an app user without a seat) and team B (Quinn bills
 * it), both stored as Polar team customers with a live 3-seat and 2-seat subscription. Polar is
 * the stand-in's team model (`local/polar_teams.ts`) behind its customer, member, seat and
 * customer session routes, called in-process: its refusals are thrown as the SDK throws them,
 * and every write it takes is recorded.
 *
 * @module
 */
import { PolarClientError, PolarServerError } from "@polar-sh/sdk";
import { errors, type models } from "@polar-sh/sdk/2026-10";
import { createPolarCustomerRoutes } from "../../../../local/polar_customers.ts";
import {
  createCustomerSession,
  type PortalSession,
} from "../../../../local/polar_customer_sessions.ts";
import { createPolarMemberRoutes, type CustomerFinder } from "../../../../local/polar_members.ts";
import { customerModel } from "../../../../local/polar_models.ts";
import { standInProducts, TEAM_PRODUCT_ID } from "../../../../local/polar_products.ts";
import { createPolarSeatRoutes } from "../../../../local/polar_seats.ts";
import { teamCustomerModel, teamSubscriptionModel } from "../../../../local/polar_team_models.ts";
import {
  createTeamModel,
  polarError,
  PolarRefusal,
  type TeamPayload,
  validationRefusal,
} from "../../../../local/polar_teams.ts";
import { orNullOnNotFound } from "../../_polar/polar.ts";
import { createServerClient } from "../../_polar/supabase.ts";
import { createTeamBillingCheck, createTeamStore } from "../../_polar/team_billing.ts";
import type { PolarTeamApi } from "../../_polar/team_customer.ts";
import type { PolarSeatsApi } from "../../seats/polar.ts";
import { insertUser } from "./database.ts";
import { createTestSupabase, type TestSupabase } from "./supabase_stand_in.ts";
import { prepareTeamDatabase, type TeamDatabase } from "./team_database.ts";

/**
 * A refusal as the SDK throws it. The handlers read a 422 by its class
 * (`errors.HTTPValidationError`) and any other refusal by its `statusCode` and Polar's body
 * (`isPolarNotFound`, `polarErrorName`), which the SDK's per-route classes carry parsed.
 *
 * @param refusal Polar's status and body
 * @returns the error
 * @example
 * ```ts
 * sdkError(polarError(404, "ResourceNotFound", "Seat not found")).statusCode; // 404
 * ```
 */
export function sdkError(refusal: PolarRefusal): PolarClientError | PolarServerError {
  const { status, body } = refusal;
  if (status >= 500) return new PolarServerError(status, JSON.stringify(body));
  return status === 422
    ? new errors.HTTPValidationError(422, body as models.HTTPValidationError)
    : new PolarClientError(status, body);
}

/** Polar's 422 with one item, as the SDK throws it. */
export function validationError(loc: string[], msg: string): errors.HTTPValidationError {
  return sdkError(validationRefusal(loc, msg)) as errors.HTTPValidationError;
}

/** Polar's refusal of its own (`{ error, detail }`), as the SDK throws it. */
export function polarRefusal(status: number, error: string, detail: string): PolarClientError {
  return sdkError(polarError(status, error, detail)) as PolarClientError;
}

/** The handler tests' Polar: the team model and its routes, called in-process. */
export class TeamPolar {
  /** Individual customers by id. */
  readonly individuals = new Map<string, models.CustomerIndividual>();
  /** Team customers by id. */
  readonly teams = new Map<string, models.CustomerTeam>();
  /** Subscriptions by id. */
  readonly subscriptions = new Map<string, models.Subscription>();
  /** The webhooks Polar would have sent, not delivered. */
  readonly webhooks: TeamPayload[] = [];
  /** Members, seats and their rules. */
  readonly model = createTeamModel({
    subscriptions: this.subscriptions,
    teams: this.teams,
    emit: (payload) => void this.webhooks.push(payload),
  });
  /** Every write, as `METHOD path`. */
  writes: string[] = [];
  /** Every read, as `GET customer|member|seats …`. */
  calls: string[] = [];
  /** Thrown by the next `POST /v1/customers/` (a concurrent create). */
  nextCreateError?: Error;

  private readonly sessions = new Map<string, PortalSession>();
  private readonly findCustomer: CustomerFinder = (ref) =>
    [...this.individuals.values(), ...this.teams.values()].find((c) =>
      c.deleted_at === null && ("id" in ref ? c.id === ref.id : c.external_id === ref.externalId)
    );
  private readonly routes = [
    createPolarMemberRoutes(this.model, this.findCustomer),
    createPolarSeatRoutes(this.model, this.subscriptions),
    createPolarCustomerRoutes(this.individuals, {
      teams: { customers: this.teams, model: this.model },
    }),
    ({ url, body }: { url: URL; body: Record<string, unknown> }) =>
      Promise.resolve(
        url.pathname === "/v1/customer-sessions/"
          ? createCustomerSession(body, {
            findCustomer: this.findCustomer,
            teams: this.model,
            sessions: this.sessions,
            portalUrl: (token) =>
              `https://sandbox.polar.sh/acme/portal?member=${this.sessions.get(token)?.memberId}`,
          })
          : undefined,
      ),
  ];

  /** Every customer (individual and team) by id. */
  get customers(): Map<string, models.Customer> {
    return new Map<string, models.Customer>([...this.individuals, ...this.teams]);
  }
  /** Every member by id (the model's). */
  get members(): Map<string, models.Member> {
    return this.model.members;
  }
  /** Every seat by id (the model's: deleting one makes Polar forget it). */
  get seats(): Map<string, models.CustomerSeat> {
    return this.model.seats;
  }

  /** A team customer, without its owner. */
  addTeam(externalId: string): models.CustomerTeam {
    const team = teamCustomerModel({ externalId });
    this.teams.set(team.id, team);
    return team;
  }

  /** An individual customer. */
  addIndividual(externalId: string): models.CustomerIndividual {
    const customer = customerModel({ externalId });
    this.individuals.set(customer.id, customer);
    return customer;
  }

  /** A member of a customer, made by the model (an existing email answers its member). */
  addMember(
    customerId: string,
    externalId: string | null,
    email: string,
    role: models.MemberRole = "member",
  ): Promise<models.Member> {
    const customer = this.findCustomer({ id: customerId })!;
    return role === "owner"
      ? this.model.createOwner(customer, { email, externalId })
      : this.model.createMember(customer, { email, external_id: externalId, role });
  }

  /** An active subscription of the stand-in's "Team" plan with `seats` seats. */
  addSubscription(team: models.CustomerTeam, seats: number): models.Subscription {
    const product = standInProducts().find((p) => p.id === TEAM_PRODUCT_ID)!;
    const subscription = teamSubscriptionModel(team, product, seats);
    this.subscriptions.set(subscription.id, subscription);
    return subscription;
  }

  /** A seat of a subscription assigned to a member and claimed at once, by the model. */
  addSeat(subscriptionId: string, member: models.Member): Promise<models.CustomerSeat> {
    return this.model.assignSeat({
      subscription_id: subscriptionId,
      member_id: member.id,
      immediate_claim: true,
    });
  }

  /** `PolarTeamApi`: the customer and member routes. */
  teamApi(): PolarTeamApi {
    return {
      getCustomer: (externalId) => {
        this.calls.push(`GET customer ${externalId}`);
        return orNullOnNotFound(() => this.request("GET", `/v1/customers/external/${externalId}`));
      },
      createTeamCustomer: (body) => {
        const error = this.nextCreateError;
        this.nextCreateError = undefined;
        if (!error) return this.request("POST", "/v1/customers/", body);
        this.writes.push("POST /v1/customers/");
        return Promise.reject(error);
      },
      getMember: (teamId, userId) => {
        this.calls.push(`GET member ${teamId} ${userId}`);
        const path = `/v1/customers/external/${teamId}/members/${userId}`;
        return orNullOnNotFound(() => this.request("GET", path));
      },
      createMember: (customerId, body) =>
        this.request("POST", `/v1/customers/${customerId}/members`, body),
    };
  }

  /** `PolarSeatsApi`: the seat routes. */
  seatsApi(): PolarSeatsApi {
    return {
      list: (subscriptionId) => {
        this.calls.push(`GET seats ${subscriptionId}`);
        return this.request("GET", `/v1/customer-seats?subscription_id=${subscriptionId}`);
      },
      assign: (body) => this.request("POST", "/v1/customer-seats", body),
      revoke: (seatId) => this.request("DELETE", `/v1/customer-seats/${seatId}`),
    };
  }

  /** The team portal: a member session by `external_customer_id` and `external_member_id`. */
  async teamPortal(teamId: string, userId: string): Promise<string> {
    const session = await this.request<models.CustomerSession>("POST", "/v1/customer-sessions/", {
      external_customer_id: teamId,
      external_member_id: userId,
    });
    return session.customer_portal_url;
  }

  /** A request to the routes, answered as the SDK reads it: the JSON body, or its error. */
  private async request<T>(method: string, path: string, body: object = {}): Promise<T> {
    if (method !== "GET") this.writes.push(`${method} ${path.split("?")[0]}`);
    const request = { method, url: new URL(path, "http://polar.test"), body: { ...body } };
    let response: Response | undefined;
    for (const route of this.routes) response ??= await route(request);
    if (!response) throw new Error(`No route for ${method} ${path}`);
    const text = await response.text();
    const answer = text ? JSON.parse(text) : null;
    if (response.status >= 400) throw sdkError(new PolarRefusal(response.status, answer));
    return answer as T;
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
export interface TeamWorld extends TeamDatabase, AsyncDisposable {
  /** The test's Supabase. */
  stand: TestSupabase;
  /** Polar. */
  polar: TeamPolar;
  /** Team A and team B: ids, Polar customers and subscriptions. */
  teams: Record<
    "a" | "b",
    { id: string; customer: models.CustomerTeam; subscriptionId: string }
  >;
  /** Olive bills team A, Quinn team B; Max is an app user in no team; Pia has not confirmed her email. */
  users: Record<"olive" | "quinn" | "max" | "pia", TeamUser>;
  /** `polar_may_bill_team` asked with the caller's token. */
  mayBillTeam: ReturnType<typeof createTeamBillingCheck>;
  /** The service-role store. */
  store: ReturnType<typeof createTeamStore>;
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
  const { apply, letBill } = await prepareTeamDatabase(db);
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
  const team = async (biller: TeamUser, seats: number) => {
    const id = crypto.randomUUID();
    const customer = polar.addTeam(id);
    const owner = await polar.addMember(customer.id, biller.id, biller.email, "owner");
    const subscriptionId = polar.addSubscription(customer, seats).id;
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
