/**
 * CORS headers for every response, errors and preflights included. The header and method lists
 * come from `@supabase/supabase-js/cors`, which tracks what the Supabase clients send.
 *
 * @module
 */
import { corsHeaders } from "@supabase/supabase-js/cors";

/** Options of {@linkcode createCors}. */
export interface CorsOptions {
  /** The origins that may call the function. */
  allowedOrigins: readonly string[];
  /** Answer only {@linkcode allowedOrigins}; otherwise any origin (`*`), as Supabase's default does. */
  restrict: boolean;
}

/** Gives the CORS headers for one request. */
export type CorsHeadersFor = (request: Request) => Record<string, string>;

/**
 * Makes the CORS headers function of a handler; what depends only on the options is computed once.
 *
 * @param options allowed origins and whether to restrict to them
 * @returns a function from a request to its CORS headers
 * @example Any origin
 * ```ts
 * const cors = createCors({ allowedOrigins: ["https://app.example.com"], restrict: false });
 * cors(new Request("http://x/"))["Access-Control-Allow-Origin"]; // "*"
 * ```
 * @example Only the allowed origins
 * ```ts
 * const cors = createCors({ allowedOrigins: ["https://app.example.com"], restrict: true });
 * const request = new Request("http://x/", { headers: { Origin: "https://evil.example" } });
 * cors(request)["Access-Control-Allow-Origin"]; // "https://app.example.com"
 * ```
 */
export function createCors(options: CorsOptions): CorsHeadersFor {
  if (!options.restrict) {
    const headers = { ...corsHeaders };
    return () => headers;
  }
  const allowed = new Set(options.allowedOrigins);
  const [fallback] = options.allowedOrigins;
  return (request) => {
    const origin = request.headers.get("Origin");
    return {
      ...corsHeaders,
      // A browser refuses a response whose allowed origin is not its own.
      "Access-Control-Allow-Origin": origin && allowed.has(origin) ? origin : fallback,
      "Vary": "Origin",
    };
  };
}
