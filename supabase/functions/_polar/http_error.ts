/**
 * One typed HTTP error, turned into a JSON `Response` in a single place.
 *
 * @module
 */

/** The HTTP statuses the functions answer with. */
export const STATUS = {
  OK: 200,
  Created: 201,
  Accepted: 202,
  NoContent: 204,
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  MethodNotAllowed: 405,
  Conflict: 409,
  PayloadTooLarge: 413,
  UnsupportedMediaType: 415,
  InternalServerError: 500,
} as const;

/** A status from {@linkcode STATUS}. */
export type Status = typeof STATUS[keyof typeof STATUS];

/** Options of {@linkcode HttpError}. */
export interface HttpErrorOptions {
  /** What really went wrong; logged, never sent to the client. */
  cause?: unknown;
  /** Extra response headers, such as `Allow` on a 405. */
  headers?: HeadersInit;
}

/**
 * An error whose message is safe to show to the client.
 *
 * @example Answer 404 with a fixed body
 * ```ts
 * const error = new HttpError(404, "No subscription found");
 * error.toResponse().status; // 404
 * ```
 */
export class HttpError extends Error {
  /** The response status. */
  readonly status: Status;
  /** Extra response headers. */
  readonly headers: HeadersInit | undefined;

  /**
   * @param status the response status
   * @param message the `error` field of the JSON body
   * @param options the cause (for the log) and extra headers
   */
  constructor(status: Status, message: string, options: HttpErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = "HttpError";
    this.status = status;
    this.headers = options.headers;
  }

  /**
   * The error as `{ "error": message }` with its status.
   *
   * @returns the JSON response
   * @example
   * ```ts
   * await new HttpError(400, "Invalid JSON body").toResponse().json(); // { error: "Invalid JSON body" }
   * ```
   */
  toResponse(): Response {
    return jsonResponse({ error: this.message }, this.status, this.headers);
  }
}

/**
 * A JSON response.
 *
 * @param body what to serialize
 * @param status the status, 200 by default
 * @param headers extra headers
 * @returns the response, with `Content-Type: application/json`
 * @example
 * ```ts
 * jsonResponse({ url: "https://polar.sh/portal" }).headers.get("content-type"); // "application/json"
 * ```
 */
export function jsonResponse(body: unknown, status: Status = STATUS.OK, headers?: HeadersInit) {
  return Response.json(body, { status, headers });
}

/** The message of every unexpected failure; the cause stays in the log. */
export const INTERNAL_ERROR_MESSAGE = "Something went wrong";
