/**
 * What a caller may ask of the `sync` function: nothing (or `{"scope":"me"}`) to pull their own
 * state; with the service key, `{"scope":"all"}` to reconcile everyone (`"resume": true` only
 * continues an unfinished run), `{"scope":"deletions"}` to process the account-deletion outbox or
 * `{"scope":"usage"}` to send the usage outbox to Polar, or `{"scope":"doctor"}` to check the
 * deployed configuration.
 *
 * @module
 */
import { HttpError, STATUS } from "../_polar/http_error.ts";

/** The scopes of a sync request. */
export const SYNC_SCOPES = ["me", "all", "deletions", "usage", "catalog", "doctor"] as const;

/** A scope of {@linkcode SYNC_SCOPES}. */
export type SyncScope = typeof SYNC_SCOPES[number];

/** A validated sync request. */
export interface SyncRequest {
  /** What to sync. */
  scope: SyncScope;
  /** For `all`: only continue an unfinished run, never start one. */
  resume: boolean;
}

/**
 * Reads a sync request body (already parsed; `{}` when there was none).
 *
 * @param body the parsed JSON object
 * @returns the request
 * @throws {HttpError} 400 naming what is wrong
 * @example
 * ```ts
 * readSyncRequest({}); // { scope: "me", resume: false }
 * readSyncRequest({ scope: "all", resume: true }); // { scope: "all", resume: true }
 * readSyncRequest({ scope: "everyone" }); // throws HttpError 400 'Invalid scope "everyone"'
 * ```
 */
export function readSyncRequest(body: Record<string, unknown>): SyncRequest {
  const scope = body.scope ?? "me";
  if (typeof scope !== "string" || !(SYNC_SCOPES as readonly string[]).includes(scope)) {
    const shown = typeof scope === "string" ? `"${scope.slice(0, 40)}"` : typeof scope;
    throw new HttpError(
      STATUS.BadRequest,
      `Invalid scope ${shown}: expected "me", "all", "deletions", "usage", "catalog" or "doctor"`,
    );
  }
  const resume = body.resume ?? false;
  if (typeof resume !== "boolean") throw new HttpError(STATUS.BadRequest, "Invalid resume");
  return { scope: scope as SyncScope, resume };
}
