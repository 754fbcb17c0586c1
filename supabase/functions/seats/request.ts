/**
 * What a caller may ask of the `seats` function: list a team's seats (`GET ?team_id=`), give
 * one to an app user by `user_id` or invite one by `email` (`POST`), or revoke one by `seat_id`
 * (`DELETE`). Who the seat goes to is always an app user the database knows; the email sent to
 * Polar is the one Supabase has for them. Other fields are ignored.
 *
 * @module
 */
import { readJsonObject } from "../_polar/body.ts";
import { HttpError, STATUS } from "../_polar/http_error.ts";
import { quote, readTeamId, readUuid } from "../_polar/team_input.ts";

/** Longest email address accepted (RFC 5321's path limit). */
export const MAX_EMAIL_LENGTH = 254;

/** A validated seats request. */
export type SeatsRequest =
  | { action: "list"; teamId: string }
  | { action: "assign"; teamId: string; userId: string }
  | { action: "invite"; teamId: string; email: string }
  | { action: "revoke"; teamId: string; seatId: string };

/**
 * Reads a seats request from its method, query and body (at most 64 KiB of JSON).
 *
 * @param request the request; its method is `GET`, `POST` or `DELETE`
 * @returns the request
 * @throws {HttpError} 400 naming the first problem (413, 415 for the body itself)
 * @example
 * ```ts
 * await readSeatsRequest(new Request("http://x/seats?team_id=c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f"));
 * // { action: "list", teamId: "c1d2e3f4-…" }
 * ```
 */
export async function readSeatsRequest(request: Request): Promise<SeatsRequest> {
  if (request.method === "GET") {
    return { action: "list", teamId: readTeamId(new URL(request.url).searchParams.get("team_id")) };
  }
  const body = await readJsonObject(request);
  const teamId = readTeamId(body.team_id);
  if (request.method === "DELETE") {
    return { action: "revoke", teamId, seatId: readUuid(body.seat_id, "seat_id") };
  }
  const userId = body.user_id ?? undefined;
  const email = body.email ?? undefined;
  if (userId !== undefined && email !== undefined) {
    throw badRequest("Send user_id or email, not both");
  }
  if (userId !== undefined) {
    return { action: "assign", teamId, userId: readUuid(userId, "user_id") };
  }
  if (email === undefined) throw badRequest("Missing user_id or email");
  return { action: "invite", teamId, email: readEmail(email) };
}

function readEmail(value: unknown): string {
  const email = typeof value === "string" ? value.trim() : "";
  if (
    email.length === 0 || email.length > MAX_EMAIL_LENGTH || !/^[^\s@]+@[^\s@]+$/.test(email)
  ) {
    throw badRequest(`Invalid email ${quote(value)}: expected an email address`);
  }
  return email;
}

function badRequest(message: string): HttpError {
  return new HttpError(STATUS.BadRequest, message);
}
