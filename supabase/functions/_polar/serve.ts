/**
 * Starts a handler with `Deno.serve`: on 127.0.0.1:`PORT` when `PORT` is set (plain `deno run`, the
 * local stack, the tests: nothing outside the machine can reach it), else on the runtime's default
 * (the Edge Runtime's own under Supabase; 0.0.0.0:8000 under a bare `deno run`).
 *
 * @module
 */
import { ConfigError } from "./config.ts";
import type { Handler } from "./json_handler.ts";

/**
 * Serves the handler.
 *
 * @param handler the function's handler
 * @returns the server
 * @example
 * ```ts
 * serve(createPortalHandler(createPortalDependencies(config)));
 * ```
 */
export function serve(handler: Handler): Deno.HttpServer {
  const port = Deno.env.get("PORT");
  if (port === undefined || port === "") return Deno.serve(handler);
  const number = Number(port);
  if (!Number.isInteger(number) || number < 0 || number > 65535) {
    throw new ConfigError("PORT", `is "${port}", not a port number`);
  }
  return Deno.serve({ hostname: "127.0.0.1", port: number }, handler);
}
