/**
 * Starts a function with `Deno.serve`: on 127.0.0.1:`PORT` when `PORT` is set (plain `deno run`, the
 * local stack, the tests: nothing outside the machine can reach it), else on the runtime's default
 * (the Edge Runtime's own under Supabase; 0.0.0.0:8000 under a bare `deno run`).
 *
 * The handler is made inside: when its configuration is invalid, one log line at start-up names
 * every variable to fix (no stack trace), and the function still serves, answering every request
 * with the contract's JSON 500 and CORS headers, so a browser sees an error rather than a crashed
 * worker.
 *
 * @module
 */
import { ConfigError } from "./config.ts";
import { createCors } from "./cors.ts";
import { HttpError, INTERNAL_ERROR_MESSAGE, STATUS } from "./http_error.ts";
import { createJsonHandler, type Handler } from "./json_handler.ts";

/** Options of {@linkcode serve}. */
export interface ServeOptions {
  /** Where the start-up line goes; `console.error` by default. */
  logError?: (line: string) => void;
}

/**
 * Makes the function's handler and serves it.
 *
 * @param name the function's name, for the log
 * @param makeHandler reads the configuration and makes the handler; a `ConfigError` from it is
 *   logged and answered as a 500 on every request
 * @param options where the start-up line goes
 * @returns the server
 * @throws {ConfigError} when `PORT` is set but not a port number
 * @example
 * ```ts
 * serve("portal", () => createPortalHandler(createPortalDependencies(loadUserFunctionConfig(env))));
 * ```
 */
export function serve(
  name: string,
  makeHandler: () => Handler,
  options: ServeOptions = {},
): Deno.HttpServer {
  const port = Deno.env.get("PORT");
  let number: number | undefined;
  if (port !== undefined && port !== "") {
    number = Number(port);
    if (!Number.isInteger(number) || number < 0 || number > 65535) {
      throw new ConfigError("PORT", `is "${port}", not a port number`);
    }
  }
  const handler = makeHandlerOrFallback(name, makeHandler, options.logError ?? console.error);
  return number === undefined
    ? Deno.serve(handler)
    : Deno.serve({ hostname: "127.0.0.1", port: number }, handler);
}

/**
 * The function's handler, or, when its configuration is invalid, one that answers every request
 * with a JSON 500 (`OPTIONS` with the preflight) after logging the problem once.
 *
 * @param name the function's name
 * @param makeHandler makes the handler
 * @param logError where the start-up line goes
 * @returns the handler
 * @example
 * ```ts
 * const handler = makeHandlerOrFallback("portal", () => { throw new ConfigError("SITE_URL", "is required but not set"); }, console.error);
 * (await handler(new Request("http://x/", { method: "POST" }))).status; // 500
 * ```
 */
export function makeHandlerOrFallback(
  name: string,
  makeHandler: () => Handler,
  logError: (line: string) => void,
): Handler {
  try {
    return makeHandler();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    logError(JSON.stringify({
      function: name,
      startup: "failed",
      error: error.message,
      fix: "set or correct these with `npx supabase secrets set NAME=value` (see docs/deploy.md)",
    }));
    return createJsonHandler({
      name,
      methods: ["GET", "POST", "PUT", "PATCH", "DELETE"],
      cors: createCors({ allowedOrigins: [], restrict: false }),
    }, () => {
      throw new HttpError(STATUS.InternalServerError, INTERNAL_ERROR_MESSAGE, {
        cause: `${error.message} (at start-up)`,
      });
    });
  }
}
