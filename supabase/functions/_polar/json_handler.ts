/**
 * The shell every function's handler shares: CORS on every response, the preflight answered
 * before anything else, 405 for other methods, `HttpError`s turned into JSON, anything else into
 * a 500 whose cause goes to the log only, and one log line per request.
 *
 * @module
 */
import type { CorsHeadersFor } from "./cors.ts";
import { HttpError, INTERNAL_ERROR_MESSAGE, STATUS } from "./http_error.ts";
import { describeError, logRequest, outcomeOf, type RequestLogger } from "./log.ts";
import { polarAuthFix } from "./polar_scopes.ts";

/** A request handler: a Web-standard `Request` in, a `Response` out. */
export type Handler = (request: Request) => Promise<Response>;

/** What the function-specific part may add to the request's log line. */
export interface RequestContext {
  /** Fields for the log line's `detail`; never a token, a key or a body. */
  detail: Record<string, string>;
  /** Set to log the line as a warning, with this text. */
  warning?: string;
}

/** Options of {@linkcode createJsonHandler}. */
export interface JsonHandlerOptions {
  /** The function's name, for the log. */
  name: string;
  /** The methods it answers besides `OPTIONS`. */
  methods: readonly string[];
  /** The CORS headers of a request. */
  cors: CorsHeadersFor;
  /** Where the per-request line goes; {@linkcode logRequest} by default. */
  log?: RequestLogger;
  /** A monotonic clock in milliseconds, for durations; `performance.now` by default. */
  now?: () => number;
}

/**
 * Wraps the part of a handler that is particular to one function.
 *
 * @param options name, methods, CORS, log and clock
 * @param handle answers a request whose method is allowed; throws `HttpError` for client errors;
 *   may add log fields through its context
 * @returns the complete handler
 * @example
 * ```ts
 * const handler = createJsonHandler(
 *   { name: "hello", methods: ["POST"], cors: () => ({}) },
 *   () => Promise.resolve(Response.json({ hello: "world" })),
 * );
 * (await handler(new Request("http://x/", { method: "DELETE" }))).status; // 405
 * ```
 */
export function createJsonHandler(
  options: JsonHandlerOptions,
  handle: (request: Request, context: RequestContext) => Promise<Response>,
): Handler {
  const { name, methods, cors } = options;
  // `??` rather than a spread, so an explicit `undefined` also means "the default".
  const log = options.log ?? logRequest;
  const now = options.now ?? (() => performance.now());
  const allow = ["OPTIONS", ...methods].join(", ");

  return async (request) => {
    const startedAt = now();
    const context: RequestContext = { detail: {} };
    let response: Response;
    let error: HttpError | undefined;
    if (request.method === "OPTIONS") {
      response = new Response(null, { status: STATUS.NoContent });
    } else {
      try {
        if (!methods.includes(request.method)) {
          throw new HttpError(STATUS.MethodNotAllowed, "Method not allowed", {
            headers: { Allow: allow },
          });
        }
        response = await handle(request, context);
      } catch (thrown) {
        error = thrown instanceof HttpError
          ? thrown
          : new HttpError(STATUS.InternalServerError, INTERNAL_ERROR_MESSAGE, { cause: thrown });
        response = error.toResponse();
      }
    }
    for (const [header, value] of Object.entries(cors(request))) {
      response.headers.set(header, value);
    }
    const fix = error?.cause === undefined ? undefined : polarAuthFix(name, error.cause);
    log({
      function: name,
      method: request.method,
      status: response.status,
      outcome: outcomeOf(response.status),
      duration_ms: Math.round((now() - startedAt) * 10) / 10,
      ...(error && { error: error.message }),
      ...(error?.cause !== undefined && { cause: describeError(error.cause) }),
      ...(fix && { fix }),
      ...(Object.keys(context.detail).length > 0 && { detail: context.detail }),
      ...(context.warning && { warning: context.warning }),
    });
    return response;
  };
}
