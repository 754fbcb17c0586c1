/**
 * Polar's customer endpoints (API 2026-10), as the Polar stand-in and the tests' fake answer them:
 * get by id or external id, list (by email, paged, `-created_at` first unless `sorting` says
 * otherwise), create, update, delete, and Customer State,
 * with Polar's refusals (a taken email or external id, an external id that is already set).
 * Checked against Polar's server (`server/polar/customer/service.py`): the same 422 locations and
 * messages, and 404 `ResourceNotFound` for an unknown or deleted customer.
 *
 * With a team model (`teams`), `POST /v1/customers/` also creates `type: "team"` customers (an
 * email of their own is optional) with their `owner` member, as Polar's member model does
 * (`member.created`, then `customer.created`); external ids and emails are unique across both
 * kinds; deleting a team removes its members first (`member.deleted` each, their seats and
 * grants revoked).
 *
 * @module
 */
import type { models } from "@polar-sh/sdk/2026-10";
import { customerModel, customerStateModel } from "./polar_models.ts";
import { listPage, sortItems } from "./polar_pages.ts";
import { teamCustomerModel, teamStateModel } from "./polar_team_models.ts";
import type { AnyCustomer, TeamModel } from "./polar_teams.ts";

/** Options of {@linkcode createPolarCustomerRoutes}. */
export interface PolarCustomerRoutesOptions {
  /** Called after a customer is created or updated, as Polar then sends `customer.*` webhooks. */
  onChange?: (
    type: "customer.created" | "customer.updated" | "customer.deleted",
    customer: models.CustomerIndividual,
  ) => void | Promise<void>;
  /** The customer's Customer State; by default one with no subscription, grant or meter. */
  stateOf?: (customer: models.CustomerIndividual) => models.CustomerStateIndividual;
  /** Team customers by id, and the model of their members: without them, no teams. */
  teams?: { customers: Map<string, models.CustomerTeam>; model: TeamModel };
  /** Called after a team customer is created, updated or deleted. */
  onTeamChange?: (
    type: "customer.created" | "customer.updated" | "customer.deleted",
    team: models.CustomerTeam,
  ) => void | Promise<void>;
  /** A team's Customer State; by default one with nothing in it. */
  teamStateOf?: (team: models.CustomerTeam) => models.CustomerStateTeam;
}

/** Answers a customer route, or `undefined` when the request is not one. */
export type PolarCustomerRoutes = (
  request: { method: string; url: URL; body: Record<string, unknown> },
) => Promise<Response | undefined>;

/**
 * Makes the customer routes over a map of customers (shared with whoever creates customers
 * otherwise, such as the stand-in's checkout page).
 *
 * @param customers customers by id
 * @param options what to do after a change
 * @returns the routes
 * @example
 * ```ts
 * const routes = createPolarCustomerRoutes(new Map());
 * const response = await routes({ method: "POST", url: new URL("http://x/v1/customers/"), body: { email, external_id } });
 * response?.status; // 201
 * ```
 */
export function createPolarCustomerRoutes(
  customers: Map<string, models.CustomerIndividual>,
  options: PolarCustomerRoutesOptions = {},
): PolarCustomerRoutes {
  const teams = options.teams;
  const live = (): AnyCustomer[] =>
    [...customers.values(), ...(teams?.customers.values() ?? [])].filter((c) =>
      c.deleted_at === null
    );
  const byEmail = (email: string) =>
    live().find((c) => c.email?.toLowerCase() === email.toLowerCase());
  const byExternalId = (externalId: string) => live().find((c) => c.external_id === externalId);
  const individualState = options.stateOf ?? ((customer) => customerStateModel(customer));
  const stateOf = (customer: AnyCustomer) =>
    customer.type === "team"
      ? (options.teamStateOf ?? ((team) => teamStateModel(team)))(customer)
      : individualState(customer);
  const changed = async (
    type: "customer.created" | "customer.updated" | "customer.deleted",
    customer: AnyCustomer,
  ) => {
    if (customer.type === "team") await options.onTeamChange?.(type, customer);
    else await options.onChange?.(type, customer);
  };

  return async ({ method, url, body }) => {
    const path = url.pathname;
    if (method === "GET" && path === "/v1/customers/") {
      const email = url.searchParams.get("email");
      const matching = email ? live().filter((c) => c === byEmail(email)) : live();
      return Response.json(
        listPage(
          url,
          sortItems(url, matching, "-created_at"),
        ) satisfies models.ListResourceCustomer,
      );
    }
    const state = path.match(/^\/v1\/customers\/(external\/)?([^/]+)\/state$/);
    if (method === "GET" && state) {
      const id = decodeURIComponent(state[2]);
      const customer = state[1] ? byExternalId(id) : live().find((c) => c.id === id);
      return customer ? Response.json(stateOf(customer)) : notFound();
    }
    if (method === "POST" && path === "/v1/customers/") {
      const email = typeof body.email === "string" ? body.email : null;
      const externalId = typeof body.external_id === "string" ? body.external_id : null;
      const team = body.type === "team" && teams !== undefined;
      if (!email && !team) return validationError("email", "Field required", "missing");
      const taken = [
        ...(email && byEmail(email)
          ? [refusal("email", "A customer with this email address already exists.")]
          : []),
        ...(externalId && byExternalId(externalId)
          ? [refusal("external_id", "A customer with this external ID already exists.")]
          : []),
      ];
      if (taken.length > 0) return Response.json({ detail: taken }, { status: 422 });
      if (team) return await createTeam(body, { email, externalId });
      const customer = customerModel({ externalId, email });
      customers.set(customer.id, customer);
      await options.onChange?.("customer.created", customer);
      return Response.json(customer, { status: 201 });
    }
    const external = path.match(/^\/v1\/customers\/external\/([^/]+)$/);
    const byId = path.match(/^\/v1\/customers\/([^/]+)$/);
    if ((external || byId) && ["GET", "PATCH", "DELETE"].includes(method)) {
      const customer = external
        ? byExternalId(decodeURIComponent(external[1]))
        : live().find((c) => c.id === decodeURIComponent(byId![1]));
      if (!customer || (external && method === "PATCH")) return notFound();
      if (method === "GET") return Response.json(customer);
      if (method === "PATCH") return await update(customer, body);
      // Polar removes the customer's members, cancels its subscriptions, revokes its benefits
      // and clears its external_id at once.
      if (customer.type === "team") await teams?.model.deleteCustomerMembers(customer.id);
      customer.deleted_at = new Date().toISOString();
      customer.external_id = null;
      customer.modified_at = customer.deleted_at;
      await changed("customer.deleted", customer);
      return new Response(null, { status: 204 });
    }
    return undefined;
  };

  async function createTeam(
    body: Record<string, unknown>,
    fields: { email: string | null; externalId: string | null },
  ) {
    const owner = typeof body.owner === "object" && body.owner !== null
      ? body.owner as Record<string, unknown>
      : {};
    const ownerEmail = typeof owner.email === "string" ? owner.email : fields.email;
    if (!ownerEmail) {
      return validationError("email", "An email is required to create an owner member.");
    }
    const team = teamCustomerModel({
      externalId: fields.externalId,
      email: fields.email,
      name: typeof body.name === "string" ? body.name : null,
    });
    teams!.customers.set(team.id, team);
    // Polar sends member.created in the request and customer.created from a job after it.
    await teams!.model.createOwner(team, {
      email: ownerEmail,
      name: typeof owner.name === "string" ? owner.name : null,
      externalId: typeof owner.external_id === "string" ? owner.external_id : null,
    });
    await changed("customer.created", team);
    return Response.json(team, { status: 201 });
  }

  async function update(customer: AnyCustomer, body: Record<string, unknown>) {
    const refusals = [];
    if ("external_id" in body && body.external_id !== customer.external_id) {
      if (customer.external_id !== null) {
        refusals.push(refusal("external_id", "Customer external ID cannot be updated."));
      } else if (typeof body.external_id === "string" && byExternalId(body.external_id)) {
        refusals.push(refusal("external_id", "A customer with this external ID already exists."));
      }
    }
    if (
      typeof body.email === "string" && body.email.toLowerCase() !== customer.email?.toLowerCase()
    ) {
      if (byEmail(body.email)) {
        refusals.push(refusal("email", "A customer with this email address already exists."));
      }
    }
    if (customer.type === "team" && "type" in body && body.type !== "team") {
      refusals.push(
        refusal("type", "Customer type cannot be downgraded from 'team' to 'individual'."),
      );
    }
    if (refusals.length > 0) return Response.json({ detail: refusals }, { status: 422 });
    if (typeof body.external_id === "string") customer.external_id = body.external_id;
    if (typeof body.email === "string") customer.email = body.email;
    customer.modified_at = new Date().toISOString();
    await changed("customer.updated", customer);
    return Response.json(customer);
  }
}

function refusal(field: string, msg: string) {
  return { type: "value_error", loc: ["body", field], msg, input: null };
}

function validationError(field: string, msg: string, type = "value_error"): Response {
  return Response.json({ detail: [{ type, loc: ["body", field], msg, input: null }] }, {
    status: 422,
  });
}

function notFound(): Response {
  return Response.json({ error: "ResourceNotFound", detail: "Not found" }, { status: 404 });
}
