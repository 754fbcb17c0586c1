/**
 * The inputs the team functions share: a team id, a user or seat id (UUIDs, answered in lower
 * case), and a rejected value quoted back in a 400, cut short.
 *
 * @module
 */
import { UUID } from "./config.ts";
import { HttpError, STATUS } from "./http_error.ts";

/** Longest piece of a rejected value quoted back in an error message. */
const MAX_QUOTED_LENGTH = 40;

/**
 * A `team_id` from a body or a query: a UUID, answered in lower case.
 *
 * @param value what the caller sent
 * @returns the team id
 * @throws {HttpError} 400 `Invalid team_id …: expected a UUID`
 * @example
 * ```ts
 * readTeamId("C1D2E3F4-A5B6-4C7D-8E9F-0A1B2C3D4E5F"); // "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f"
 * ```
 */
export function readTeamId(value: unknown): string {
  return readUuid(value, "team_id");
}

/**
 * An id field that must be a UUID, answered in lower case.
 *
 * @param value what the caller sent
 * @param field the field's name, for the message
 * @returns the id
 * @throws {HttpError} 400 `Invalid <field> …: expected a UUID` (`Missing <field>` when absent)
 * @example
 * ```ts
 * readUuid("x", "seat_id"); // throws HttpError 400 'Invalid seat_id "x": expected a UUID'
 * ```
 */
export function readUuid(value: unknown, field: string): string {
  if (value === undefined || value === null) throw badRequest(`Missing ${field}`);
  if (typeof value !== "string" || !UUID.test(value)) {
    throw badRequest(`Invalid ${field} ${quote(value)}: expected a UUID`);
  }
  return value.toLowerCase();
}

/**
 * The value as JSON, cut short: enough for the caller to spot it, never a whole body.
 *
 * @param value what the caller sent
 * @returns the quotation
 * @example
 * ```ts
 * quote("abc"); // '"abc"'
 * quote(3.5); // "3.5"
 * ```
 */
export function quote(value: unknown): string {
  const text = typeof value === "string" ? value : JSON.stringify(value) ?? String(value);
  const cut = text.length > MAX_QUOTED_LENGTH ? `${text.slice(0, MAX_QUOTED_LENGTH)}…` : text;
  return typeof value === "string" ? JSON.stringify(cut) : cut;
}

function badRequest(message: string): HttpError {
  return new HttpError(STATUS.BadRequest, message);
}
