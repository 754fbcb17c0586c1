/**
 * One structured log line per request. Only fields chosen here reach the log: never a token, a
 * key or a request body.
 *
 * @module
 */

/** What one request did. */
export interface RequestLog {
  /** The function's name, such as `portal`. */
  function: string;
  /** The request method. */
  method: string;
  /** The response status. */
  status: number;
  /** `ok` for 2xx, `rejected` for other 4xx, `failed` for 5xx. */
  outcome: "ok" | "rejected" | "failed";
  /** Milliseconds from receipt to response. */
  duration_ms: number;
  /** The error message sent to the client, when there was one. */
  error?: string;
  /** For a 5xx, what really went wrong. */
  cause?: string;
  /** For a failure an operator can fix (Polar refusing the token or a scope): what to check. */
  fix?: string;
  /** What the function chose to add, such as a webhook's event type; never a secret or a body. */
  detail?: Record<string, string>;
  /** Something an operator should look at although the request succeeded. */
  warning?: string;
}

/** Writes a {@linkcode RequestLog}. */
export type RequestLogger = (entry: RequestLog) => void;

/**
 * Writes the entry as one JSON line on standard output (5xx on standard error, and lines with a
 * warning through `console.warn`).
 *
 * @param entry what the request did
 * @example
 * ```ts
 * logRequest({ function: "portal", method: "POST", status: 200, outcome: "ok", duration_ms: 12 });
 * ```
 */
export function logRequest(entry: RequestLog): void {
  const line = JSON.stringify(entry);
  if (entry.outcome === "failed") console.error(line);
  else if (entry.warning) console.warn(line);
  else console.log(line);
}

/**
 * The outcome of a status.
 *
 * @param status a response status
 * @returns `ok`, `rejected` or `failed`
 * @example
 * ```ts
 * outcomeOf(404); // "rejected"
 * ```
 */
export function outcomeOf(status: number): RequestLog["outcome"] {
  if (status >= 500) return "failed";
  return status >= 400 ? "rejected" : "ok";
}

/**
 * Describes an error for the log: its name and message, and those of its causes. A plain object
 * with a `message` (as supabase-js returns database errors) shows its `code` and `message`.
 *
 * @param error anything thrown
 * @returns one line of text
 * @example
 * ```ts
 * describeError(new Error("outer", { cause: new TypeError("inner") })); // "Error: outer <- TypeError: inner"
 * describeError({ code: "40P01", message: "deadlock detected" }); // "40P01: deadlock detected"
 * ```
 */
export function describeError(error: unknown): string {
  const parts: string[] = [];
  for (let current = error, depth = 0; current !== undefined && depth < 4; depth++) {
    if (current instanceof Error) {
      parts.push(`${current.name}: ${current.message}`);
      current = current.cause;
    } else {
      parts.push(describeValue(current));
      break;
    }
  }
  return parts.join(" <- ").slice(0, 2000);
}

function describeValue(value: unknown): string {
  if (typeof value !== "object" || value === null) return String(value);
  const { code, message } = value as { code?: unknown; message?: unknown };
  if (typeof message !== "string") return Object.prototype.toString.call(value);
  return typeof code === "string" && code ? `${code}: ${message}` : message;
}
