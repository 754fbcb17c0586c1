/**
 * A team's Polar customer, found or created server-side before a team checkout: `type: "team"`,
 * `external_id` = the app's team id, the caller as its owner member (`external_id` = the user's
 * id, the token's email). A caller allowed to bill who is not yet a member is added as a
 * `billing_manager`. The customer and the caller's member are stored at once, so the portal and
 * the seats function work before any webhook arrives.
 *
 * @module
 */
import type { models } from "@polar-sh/sdk/2026-10";
import { createCustomers, getExternalCustomers } from "@polar-sh/sdk/2026-10/services/customers";
import {
  createMembers,
  getExternalMembers,
} from "@polar-sh/sdk/2026-10/services/customers/members";
import type { VerifiedUser } from "./auth.ts";
import type { Deadline } from "./deadline.ts";
import { HttpError, STATUS } from "./http_error.ts";
import {
  isValidationErrorOn,
  orNullOnNotFound,
  polarCallOptions,
  type PolarCore,
} from "./polar.ts";
import type { TeamStore } from "./team_billing.ts";

/** The answer when the team id is a user's billing account (an individual customer). */
export const TEAM_ID_IS_USER_MESSAGE = "This team id is a user's billing account";

/** The answer when the team's Polar customer has a member of the caller's email, not theirs. */
export const EMAIL_IS_ANOTHER_MEMBER_MESSAGE =
  "Your email address belongs to another member of this team's billing: remove that member " +
  "in the team's billing portal, then try again";

/** The answer when the caller's token has no email (Polar needs one for a member). */
export const TEAM_EMAIL_REQUIRED_MESSAGE =
  "Your account has no email address: Polar needs one for a team's member";

/** Polar's customer and member calls a team checkout makes; each takes the request's deadline. */
export interface PolarTeamApi {
  /** `GET /v1/customers/external/{external_id}`; `null` when there is none. */
  getCustomer(externalId: string, deadline?: Deadline): Promise<models.Customer | null>;
  /** `POST /v1/customers/` with `type: "team"`. */
  createTeamCustomer(
    body: models.CustomerTeamCreate,
    deadline?: Deadline,
  ): Promise<models.Customer>;
  /** `GET /v1/customers/external/{external_id}/members/{external_member_id}`; `null` when none. */
  getMember(
    teamId: string,
    userId: string,
    deadline?: Deadline,
  ): Promise<models.Member | null>;
  /** `POST /v1/customers/{id}/members`. */
  createMember(
    customerId: string,
    body: models.MemberCreateFromCustomer,
    deadline?: Deadline,
  ): Promise<models.Member>;
}

/**
 * The calls of {@linkcode PolarTeamApi}, made with the SDK's per-service modules.
 *
 * @param polar the core client
 * @returns the calls
 * @example
 * ```ts
 * const api = createPolarTeamApi(createPolarClient(config.polar));
 * await api.getCustomer(teamId); // the team's customer, or null
 * ```
 */
export function createPolarTeamApi(polar: PolarCore): PolarTeamApi {
  const getExternal = getExternalCustomers(polar);
  const create = createCustomers(polar);
  const getMember = getExternalMembers(polar);
  const createMember = createMembers(polar);
  return {
    getCustomer: (externalId, deadline) =>
      orNullOnNotFound(() => getExternal(externalId, polarCallOptions(deadline))),
    createTeamCustomer: (body, deadline) => create(body, polarCallOptions(deadline)),
    getMember: (teamId, userId, deadline) =>
      orNullOnNotFound(() => getMember(teamId, userId, polarCallOptions(deadline))),
    createMember: (customerId, body, deadline) =>
      createMember(customerId, body, polarCallOptions(deadline)),
  };
}

/** What {@linkcode createTeamCustomerResolver} depends on. */
export interface TeamCustomerResolverDependencies {
  /** Polar's customer and member calls. */
  polar: PolarTeamApi;
  /** Stores what Polar returned (service role). */
  store: Pick<TeamStore, "apply">;
}

/**
 * Makes `resolveTeamCustomer(user, teamId)`: the team's Polar customer id, the customer created
 * when there is none and the caller made a member of it, both stored. Ask it only after
 * `polar_may_bill_team` said yes for the caller.
 *
 * A customer with that external id that is an individual: 409 {@linkcode TEAM_ID_IS_USER_MESSAGE},
 * nothing created. A team customer created by a concurrent request is found by reading again.
 *
 * @param deps Polar's calls and the store
 * @returns the resolver
 * @example
 * ```ts
 * const resolve = createTeamCustomerResolver({ polar: createPolarTeamApi(polar), store });
 * await resolve(user, teamId); // "3f1c…" (the team customer's id)
 * ```
 */
export function createTeamCustomerResolver(
  deps: TeamCustomerResolverDependencies,
): (user: VerifiedUser, teamId: string) => Promise<string> {
  const { polar, store } = deps;

  const findOrCreate = async (user: VerifiedUser, email: string, teamId: string) => {
    const found = await polar.getCustomer(teamId, user.deadline);
    if (found) return found;
    try {
      return await polar.createTeamCustomer({
        type: "team",
        external_id: teamId,
        owner: { email, external_id: user.id },
      }, user.deadline);
    } catch (error) {
      // A concurrent request made it first: Polar's 422 on external_id, then it is there.
      if (isValidationErrorOn(error, "external_id")) {
        const created = await polar.getCustomer(teamId, user.deadline);
        if (created) return created;
      }
      throw error;
    }
  };

  return async (user, teamId) => {
    const email = user.email;
    if (!email) throw new HttpError(STATUS.BadRequest, TEAM_EMAIL_REQUIRED_MESSAGE);
    const customer = await findOrCreate(user, email, teamId);
    if (customer.type !== "team" || customer.external_id !== teamId) {
      throw new HttpError(STATUS.Conflict, TEAM_ID_IS_USER_MESSAGE, {
        cause: `Polar customer ${customer.id} is of type ${customer.type}`,
      });
    }
    await store.apply("team_customer", customer, user.deadline);
    const member = await polar.getMember(teamId, user.id, user.deadline) ??
      await polar.createMember(customer.id, {
        email,
        external_id: user.id,
        role: "billing_manager",
      }, user.deadline);
    // Polar answers an existing member with the same email as "created": it must be this user's
    // (another account of the same email, a deleted one, or an invitation made in Polar).
    if (member.external_id !== user.id || member.customer_id !== customer.id) {
      throw new HttpError(STATUS.Conflict, EMAIL_IS_ANOTHER_MEMBER_MESSAGE, {
        cause: `Polar member ${member.id} of team customer ${customer.id} is not user ${user.id}'s`,
      });
    }
    await store.apply("member", member, user.deadline);
    return customer.id;
  };
}
