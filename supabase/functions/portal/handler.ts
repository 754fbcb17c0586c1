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
import { createPolarClient, isValidationErrorOn, POLAR_TIMEOUT_SECONDS } from "../_polar/polar.ts";
import { createRedirectUrlValidator } from "../_polar/redirect_url.ts";

/** What the portal handler depends on; tests pass their own. */
export interface PortalDependencies extends CallerAccess {
  /** Site URL and allowed origins. */
  config: Pick<UserFunctionConfig, "siteUrl" | "allowedOrigins" | "restrictCorsOrigins">;
  /**
   * Creates a Polar customer session and returns its `customer_portal_url`, within the request's
   * deadline.
   */
  createPortalUrl: (customerId: string, returnUrl: string, deadline?: Deadline) => Promise<string>;
  /** Where the per-request log line goes. */
  log?: RequestLogger;
  /** A monotonic clock in milliseconds. */
  now?: () => number;
}

/**
 * Makes the portal handler: `GET` or `POST`, answers `{ url }` or a JSON error.
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
    const returnUrl = validateReturnUrl(await readReturnUrl(request));
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
 * deadline, at most {@linkcode POLAR_TIMEOUT_SECONDS}.
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
        { timeout: deadline?.timeoutSeconds(POLAR_TIMEOUT_SECONDS) },
      )).customer_portal_url,
  };
}

async function readReturnUrl(request: Request): Promise<unknown> {
  if (request.method === "GET") {
    return new URL(request.url).searchParams.get("return_url") ?? undefined;
  }
  return (await readJsonObject(request)).return_url;
}

function noSubscription(cause?: unknown): HttpError {
  return new HttpError(STATUS.NotFound, "No subscription found", { cause });
}
