/**
 * The `portal` function: turns the caller's Supabase session into a Polar customer portal URL.
 *
 * @module
 */
import { createCustomerSessions } from "@polar-sh/sdk/2026-10/services/customer_sessions";
import { readJsonObject } from "../_polar/body.ts";
import {
  type CallerAccess,
  type CallerAccessOptions,
  createCallerAccess,
} from "../_polar/caller.ts";
import type { UserFunctionConfig } from "../_polar/config.ts";
import type { Deadline } from "../_polar/deadline.ts";
import { createCors } from "../_polar/cors.ts";
import { HttpError, jsonResponse, STATUS } from "../_polar/http_error.ts";
import { createJsonHandler, type Handler } from "../_polar/json_handler.ts";
import type { RequestLogger } from "../_polar/log.ts";
import { createPolarClient, isValidationErrorOn, polarCallOptions } from "../_polar/polar.ts";
import { createRedirectUrlValidator } from "../_polar/redirect_url.ts";
import { readTeamId } from "../_polar/team_input.ts";
import type { VerifiedUser } from "../_polar/auth.ts";

/** What the portal handler depends on; tests pass their own. */
export interface PortalDependencies extends CallerAccess {
  /** Site URL and allowed origins. */
  config: Pick<UserFunctionConfig, "siteUrl" | "allowedOrigins" | "restrictCorsOrigins">;
  /**
   * Creates a Polar customer session and returns its `customer_portal_url`, within the request's
   * deadline.
   */
  createPortalUrl: (customerId: string, returnUrl: string, deadline?: Deadline) => Promise<string>;
  /**
   * Creates Polar's member session for the caller in a team (`external_customer_id` = the team
   * id, `external_member_id` = the caller's id) and returns its `customer_portal_url`.
   */
  createTeamPortalUrl: (
    teamId: string,
    userId: string,
    returnUrl: string,
    deadline?: Deadline,
  ) => Promise<string>;
  /** Where the per-request log line goes. */
  log?: RequestLogger;
  /** A monotonic clock in milliseconds. */
  now?: () => number;
}

/**
 * Makes the portal handler: `GET` or `POST`, answers `{ url }` or a JSON error. With a
 * `team_id` (body, or query for `GET`) the URL is the caller's member portal in that team.
 *
 * @param deps configuration, user verification, the database read and the Polar call
 * @returns the handler
 * @example
 * ```ts
 * const handler = createPortalHandler(createPortalDependencies(config));
 * const response = await handler(new Request("http://x/portal", { method: "POST", headers }));
 * await response.json(); // { url: "https://polar.sh/…/portal?customer_session_token=…" }
 * ```
 */
export function createPortalHandler(deps: PortalDependencies): Handler {
  const { config } = deps;
  const validateReturnUrl = createRedirectUrlValidator("return_url", config);
  return createJsonHandler({
    name: "portal",
    methods: ["GET", "POST"],
    cors: createCors({
      allowedOrigins: config.allowedOrigins,
      restrict: config.restrictCorsOrigins,
    }),
    log: deps.log,
    now: deps.now,
  }, async (request) => {
    const user = await deps.verifyUser(request);
    const input = await readInput(request);
    const returnUrl = validateReturnUrl(input.return_url);
    if (input.team_id !== undefined && input.team_id !== null) {
      return jsonResponse({
        url: await teamPortalUrl(deps, readTeamId(input.team_id), user, returnUrl),
      });
    }
    const customerId = await deps.readCustomerId(user);
    if (!customerId) throw noSubscription();
    let url: string;
    try {
      url = await deps.createPortalUrl(customerId, returnUrl, user.deadline);
    } catch (error) {
      if (isValidationErrorOn(error, "customer_id")) throw noSubscription(error);
      throw error;
    }
    return jsonResponse({ url });
  });
}

/**
 * The production dependencies: the caller's access (signing keys, verifier, PostgREST reader) and
 * one Polar client, made once per instance. The Polar call gets what is left of the request's
 * deadline (`polarCallOptions`).
 *
 * @param config the validated configuration
 * @param options for the caller's access: `fetch` (tests), key cache timings
 * @returns dependencies for {@linkcode createPortalHandler}
 * @example
 * ```ts
 * createPortalHandler(createPortalDependencies(loadUserFunctionConfig((name) => Deno.env.get(name))));
 * ```
 */
export function createPortalDependencies(
  config: UserFunctionConfig,
  options: CallerAccessOptions = {},
): PortalDependencies {
  const createSession = createCustomerSessions(createPolarClient(config.polar));
  return {
    config,
    ...createCallerAccess(config, options),
    createPortalUrl: async (customerId, returnUrl, deadline) =>
      (await createSession(
        { customer_id: customerId, return_url: returnUrl },
        polarCallOptions(deadline),
      )).customer_portal_url,
    createTeamPortalUrl: async (teamId, userId, returnUrl, deadline) =>
      (await createSession(
        { external_customer_id: teamId, external_member_id: userId, return_url: returnUrl },
        polarCallOptions(deadline),
      )).customer_portal_url,
  };
}

/** The answer when Polar has no customer for the team. */
export const NO_TEAM_BILLING_MESSAGE = "No team billing found";

/** The answer when Polar has no member with the caller's id in the team. */
export const NOT_A_MEMBER_MESSAGE = "You are not a member of this team";

/**
 * The caller's own member portal in a team: the member is named by the caller's verified id, so
 * nobody can open another member's portal, nor a team they are no member of.
 */
async function teamPortalUrl(
  deps: PortalDependencies,
  teamId: string,
  user: VerifiedUser,
  returnUrl: string,
): Promise<string> {
  try {
    return await deps.createTeamPortalUrl(teamId, user.id, returnUrl, user.deadline);
  } catch (error) {
    if (isValidationErrorOn(error, "external_customer_id")) {
      throw new HttpError(STATUS.NotFound, NO_TEAM_BILLING_MESSAGE, { cause: error });
    }
    if (isValidationErrorOn(error, "external_member_id")) {
      throw new HttpError(STATUS.Forbidden, NOT_A_MEMBER_MESSAGE, { cause: error });
    }
    throw error;
  }
}

async function readInput(request: Request): Promise<Record<string, unknown>> {
  if (request.method === "GET") {
    const query = new URL(request.url).searchParams;
    return {
      return_url: query.get("return_url") ?? undefined,
      team_id: query.get("team_id") ?? undefined,
    };
  }
  return await readJsonObject(request);
}

function noSubscription(cause?: unknown): HttpError {
  return new HttpError(STATUS.NotFound, "No subscription found", { cause });
}
