/**
 * A team's checkout: `team_id` and `seats` in the body. The caller must be allowed to bill the
 * team (the app's `polar_may_bill_team`, asked with the caller's token); the team may not already
 * have a live subscription (unless the organization allows several); then the team's Polar
 * customer is found or created, with the caller as a member, and the checkout names it by
 * `customer_id` with the number of seats. Every refusal comes before any Polar write.
 *
 * @module
 */
import { errors } from "@polar-sh/sdk/2026-10";
import type { VerifiedUser } from "../_polar/auth.ts";
import type { Deadline } from "../_polar/deadline.ts";
import { HttpError, jsonResponse, STATUS } from "../_polar/http_error.ts";
import { isAlreadyActiveSubscription } from "../_polar/subscription_rule.ts";
import type { TeamBillingState } from "../_polar/team_billing.ts";
import { TEAM_EMAIL_REQUIRED_MESSAGE, TEAM_ID_IS_USER_MESSAGE } from "../_polar/team_customer.ts";
import type { CheckoutCreate, CreatedCheckout } from "./handler.ts";
import type { CheckoutRequest, TeamPurchase } from "./request.ts";

/** The answer to a caller whom the app does not let bill the team. */
export const MAY_NOT_BUY_SEATS_MESSAGE = "You may not buy seats for this team";

/** The answer to a second subscription for a team. */
export const TEAM_ALREADY_SUBSCRIBED_MESSAGE =
  "This team already has an active subscription. Manage its seats from the billing portal.";

/** What a team's checkout depends on; tests pass their own. */
export interface TeamCheckoutDependencies {
  /** `public.polar_may_bill_team(team_id)`, asked with the caller's token. */
  mayBillTeam: (user: VerifiedUser, teamId: string) => Promise<boolean>;
  /** `public.polar_team_billing_state`, with the service role. */
  billingState: (
    teamId: string,
    userId?: string,
    deadline?: Deadline,
  ) => Promise<TeamBillingState>;
  /** Whether the organization allows several subscriptions per customer. */
  allowsMultipleSubscriptions: (deadline?: Deadline) => Promise<boolean>;
  /** The team's Polar customer id, found or created, the caller a member (`team_customer.ts`). */
  resolveTeamCustomer: (user: VerifiedUser, teamId: string) => Promise<string>;
}

/** What the checkout handler lends a team's checkout. */
export interface TeamCheckoutCalls {
  /** Creates the Polar checkout. */
  createCheckout: (body: CheckoutCreate, deadline?: Deadline) => Promise<CreatedCheckout>;
  /** Polar's 422 as the handler's 400. */
  refused: (error: errors.HTTPValidationError) => HttpError;
}

/**
 * Makes the team part of the checkout handler.
 *
 * @param deps the checks and the team's customer
 * @returns `(user, request, team, calls)`, answering `{ url, id }` or throwing an `HttpError`
 * @example
 * ```ts
 * const teamCheckout = createTeamCheckout(deps.team);
 * await teamCheckout(user, request, { teamId, seats: 3 }, { createCheckout, refused });
 * ```
 */
export function createTeamCheckout(
  deps: TeamCheckoutDependencies,
): (
  user: VerifiedUser,
  request: CheckoutRequest,
  team: TeamPurchase,
  calls: TeamCheckoutCalls,
) => Promise<Response> {
  return async (user, request, team, calls) => {
    if (!user.email) throw new HttpError(STATUS.BadRequest, TEAM_EMAIL_REQUIRED_MESSAGE);
    const [allowed, state, several] = await Promise.all([
      deps.mayBillTeam(user, team.teamId),
      deps.billingState(team.teamId, undefined, user.deadline),
      deps.allowsMultipleSubscriptions(user.deadline),
    ]);
    if (!allowed) throw new HttpError(STATUS.Forbidden, MAY_NOT_BUY_SEATS_MESSAGE);
    // Basejump's personal accounts share the user's id: such an account is billed as the user.
    if (state.team_id_is_user) {
      throw new HttpError(STATUS.Conflict, TEAM_ID_IS_USER_MESSAGE, {
        cause: "the team id is a user's id",
      });
    }
    if (state.subscription && !several) {
      throw teamAlreadySubscribed(state.subscription.id);
    }
    const customerId = await deps.resolveTeamCustomer(user, team.teamId);
    let checkout: CreatedCheckout;
    try {
      checkout = await calls.createCheckout({
        products: request.products,
        success_url: request.successUrl,
        ...(request.returnUrl && { return_url: request.returnUrl }),
        // Links nothing: the team is the customer's external_id. For the app's own reading.
        metadata: { team_id: team.teamId },
        customer_id: customerId,
        seats: team.seats,
      }, user.deadline);
    } catch (error) {
      if (error instanceof errors.HTTPValidationError) throw calls.refused(error);
      if (isAlreadyActiveSubscription(error)) throw teamAlreadySubscribed(error);
      throw error;
    }
    return jsonResponse({ url: checkout.url, id: checkout.id });
  };
}

function teamAlreadySubscribed(cause: unknown): HttpError {
  return new HttpError(STATUS.Conflict, TEAM_ALREADY_SUBSCRIBED_MESSAGE, { cause });
}
