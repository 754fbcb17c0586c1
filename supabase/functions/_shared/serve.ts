/**
 * Starts a handler with `Deno.serve`: on `PORT` when it is set (plain `deno run`), else on the
 * runtime's default (8000 under `deno run`, the Edge Runtime's own under Supabase).
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
  return Deno.serve({ port: number }, handler);
}
