/**
 * Polar's seat routes (API 2026-10, the SDK's `customerSeats` service), as the Polar stand-in
 * and the tests' fake answer them: `POST /v1/customer-seats` (assign),
 * `GET /v1/customer-seats?subscription_id=` (`{ seats, available_seats, total_seats }`),
 * `DELETE /v1/customer-seats/{seat_id}` (revoke), `GET /v1/customer-seats/claim/{token}` (claim
 * info) and `POST /v1/customer-seats/claim` (`{ invitation_token }`). Checked against Polar's
 * server (`server/polar/customer_seat/endpoints.py`, `service.py`): refusals are
 * `{ error, detail }` with Polar's classes and words (400 `SeatNotAvailable`,
 * `SeatAlreadyAssigned`, `InvalidInvitationToken`; 404 "Subscription not found", "Seat not
 * found"). The rules are the team model's (`polar_teams.ts`).
 *
 * @module
 */
import type { models } from "@polar-sh/sdk/2026-10";
import { polarError, PolarRefusal, type TeamModel } from "./polar_teams.ts";

/**
 * The seat routes.
 *
 * @param teams the team model
 * @param subscriptions the organization's subscriptions by id
 * @returns the routes: an answer, or `undefined` when the request is not one of them
 * @example
 * ```ts
 * const routes = createPolarSeatRoutes(teams, subscriptions);
 * await routes({ method: "POST", url: new URL("http://x/v1/customer-seats"), body: { subscription_id, email } });
 * ```
 */
export function createPolarSeatRoutes(
  teams: TeamModel,
  subscriptions: Map<string, models.Subscription>,
): (
  request: { method: string; url: URL; body: Record<string, unknown> },
) => Promise<Response | undefined> {
  return async ({ method, url, body }) => {
    const path = url.pathname.replace(/\/$/, "");
    if (!path.startsWith("/v1/customer-seats")) return undefined;
    try {
      if (path === "/v1/customer-seats" && method === "POST") {
        return Response.json(await teams.assignSeat(body));
      }
      if (path === "/v1/customer-seats" && method === "GET") {
        const id = url.searchParams.get("subscription_id");
        if (!id) {
          throw polarError(
            400,
            "BadRequest",
            "Either subscription_id or order_id must be provided",
          );
        }
        const subscription = subscriptions.get(id);
        if (!subscription) throw polarError(404, "ResourceNotFound", "Subscription not found");
        return Response.json(teams.seatsList(subscription) satisfies models.SeatsList);
      }
      if (path === "/v1/customer-seats/claim" && method === "POST") {
        const token = typeof body.invitation_token === "string" ? body.invitation_token : "";
        return Response.json(
          (await teams.claimSeat(token)) satisfies models.CustomerSeatClaimResponse,
        );
      }
      const claimInfo = path.match(/^\/v1\/customer-seats\/claim\/([^/]+)$/);
      if (claimInfo && method === "GET") {
        const seat = teams.pendingSeat(decodeURIComponent(claimInfo[1]));
        const subscription = subscriptions.get(seat?.subscription_id ?? "");
        if (!seat || !subscription) {
          throw polarError(404, "ResourceNotFound", "Invalid or expired invitation token");
        }
        return Response.json(
          {
            product_name: subscription.product.name,
            product_id: subscription.product_id,
            organization_name: "Polar billing demo",
            organization_slug: "polar-billing-demo",
            customer_email: seat.email ?? "",
            can_claim: true,
          } satisfies models.SeatClaimInfo,
        );
      }
      const revoke = path.match(/^\/v1\/customer-seats\/([^/]+)$/);
      if (revoke && method === "DELETE") {
        const seat = teams.seats.get(decodeURIComponent(revoke[1]));
        if (!seat) throw polarError(404, "ResourceNotFound", "Seat not found");
        return Response.json(await teams.revokeSeat(seat));
      }
      return undefined;
    } catch (error) {
      if (error instanceof PolarRefusal) return error.response();
      throw error;
    }
  };
}
