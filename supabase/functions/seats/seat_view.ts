/**
 * A seat as the `seats` function answers it: `{ id, status, user_id, email, claimed_at,
 * revoked_at }`, `user_id` from the seat's member's `external_id` only (never from an email).
 *
 * @module
 */
import type { models } from "@polar-sh/sdk/2026-10";
import { UUID } from "../_polar/config.ts";

/** A seat in the function's answers. */
export interface SeatView {
  /** Polar's seat id. */
  id: string;
  /** `pending`, `claimed` or `revoked`. */
  status: string;
  /** The app user holding it: the member's `external_id` when it is a user id, else `null`. */
  user_id: string | null;
  /** The holder's email, as Polar has it. */
  email: string | null;
  /** When it was claimed. */
  claimed_at: string | null;
  /** When it was revoked. */
  revoked_at: string | null;
}

/**
 * The seat's view.
 *
 * @param seat Polar's seat
 * @returns the view
 * @example
 * ```ts
 * seatView(seat); // { id: "…", status: "claimed", user_id: "0b9e…", email: "max@example.com", … }
 * ```
 */
export function seatView(seat: models.CustomerSeat): SeatView {
  const externalId = seat.member?.external_id;
  return {
    id: seat.id,
    status: seat.status,
    user_id: typeof externalId === "string" && UUID.test(externalId)
      ? externalId.toLowerCase()
      : null,
    email: seat.email ?? seat.member?.email ?? null,
    claimed_at: seat.claimed_at ?? null,
    revoked_at: seat.revoked_at ?? null,
  };
}
