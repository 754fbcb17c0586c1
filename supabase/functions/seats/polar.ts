/**
 * Polar's seat calls the `seats` function makes (`/v1/customer-seats`), and how Polar's refusals
 * of an assignment are recognised: `SeatNotAvailable` (400 "No available seats for …") and
 * `SeatAlreadyAssigned` (400 "Seat already assigned to customer …"), as
 * `server/polar/customer_seat/service.py` raises them.
 *
 * @module
 */
import type { models } from "@polar-sh/sdk/2026-10";
import {
  assignSeatCustomerSeats,
  listSeatsCustomerSeats,
  revokeSeatCustomerSeats,
} from "@polar-sh/sdk/2026-10/services/customer_seats";
import type { Deadline } from "../_polar/deadline.ts";
import { polarCallOptions, type PolarCore } from "../_polar/polar.ts";

/** The seat calls; each takes the request's deadline. */
export interface PolarSeatsApi {
  /** `GET /v1/customer-seats?subscription_id=…`. */
  list(subscriptionId: string, deadline?: Deadline): Promise<models.SeatsList>;
  /** `POST /v1/customer-seats`. */
  assign(body: models.SeatAssign, deadline?: Deadline): Promise<models.CustomerSeat>;
  /** `DELETE /v1/customer-seats/{seat_id}`. */
  revoke(seatId: string, deadline?: Deadline): Promise<models.CustomerSeat>;
}

/**
 * The calls of {@linkcode PolarSeatsApi}, made with the SDK's customer seats service.
 *
 * @param polar the core client
 * @returns the calls
 * @example
 * ```ts
 * const seats = createPolarSeatsApi(createPolarClient(config.polar));
 * (await seats.list(subscriptionId)).available_seats; // 2
 * ```
 */
export function createPolarSeatsApi(polar: PolarCore): PolarSeatsApi {
  const list = listSeatsCustomerSeats(polar);
  const assign = assignSeatCustomerSeats(polar);
  const revoke = revokeSeatCustomerSeats(polar);
  return {
    list: (subscriptionId, deadline) =>
      list({ subscription_id: subscriptionId }, polarCallOptions(deadline)),
    assign: (body, deadline) => assign(body, polarCallOptions(deadline)),
    revoke: (seatId, deadline) => revoke(seatId, polarCallOptions(deadline)),
  };
}

/**
 * Polar's error name (`SeatNotAvailable`, …) of a refused call with this status, or `undefined`
 * for any other failure. The SDK throws its per-status errors holding Polar's parsed body
 * (`{ error, detail }`); they are recognised by shape, as the package root is not imported.
 *
 * @param error what a seat call threw
 * @param status the HTTP status expected
 * @returns the `error` field of Polar's body
 * @example
 * ```ts
 * polarErrorName(error, 400); // "SeatNotAvailable"
 * ```
 */
export function polarErrorName(error: unknown, status: number): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const { statusCode, error: body } = error as Error & { statusCode?: unknown; error?: unknown };
  if (statusCode !== status) return undefined;
  let parsed = body;
  if (typeof body === "string") {
    try {
      parsed = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  const name = (parsed as { error?: unknown } | null)?.error;
  return typeof name === "string" ? name : undefined;
}
