/**
 * The `seats` function: a team's owners and billing managers (the app's `polar_may_bill_team`,
 * asked with the caller's token) list the team's seats, give one to an app user by id or invite
 * one by confirmed email, and revoke one. Every refusal comes before any Polar write, and each
 * seat Polar returns is stored at once (`apply_polar_team_change`).
 *
 * @module
 */
import type { models } from "@polar-sh/sdk/2026-10";
import type { VerifiedUser } from "../_polar/auth.ts";
import type { CallerAccess } from "../_polar/caller.ts";
import { createCallerAccess } from "../_polar/caller.ts";
import type { CheckoutFunctionConfig, UserFunctionConfig } from "../_polar/config.ts";
import { createCors } from "../_polar/cors.ts";
import { HttpError, jsonResponse, STATUS } from "../_polar/http_error.ts";
import { createJsonHandler, type Handler } from "../_polar/json_handler.ts";
import type { RequestLogger } from "../_polar/log.ts";
import { createPolarClient, isPolarNotFound } from "../_polar/polar.ts";
import { createServerClient } from "../_polar/supabase.ts";
import {
  createTeamBillingCheck,
  createTeamStore,
  type SeatUser,
  type TeamBillingState,
  type TeamStore,
} from "../_polar/team_billing.ts";
import { createPolarSeatsApi, polarErrorName, type PolarSeatsApi } from "./polar.ts";
import { readSeatsRequest } from "./request.ts";
import { seatView } from "./seat_view.ts";

/** The answer to a caller who may not manage the team's seats. */
export const MAY_NOT_MANAGE_SEATS_MESSAGE =
  "Only the team's owners and billing managers may manage its seats";

/** The answer when the team has no live subscription with seats. */
export const NO_SEATS_SUBSCRIPTION_MESSAGE = "This team has no active subscription with seats";

/** The answer to an invitation of an email no confirmed account has. */
export const NO_ACCOUNT_MESSAGE =
  "No account with this email yet: ask them to sign up, then invite them again";

/** The answer to a second seat for the same user. */
export const ALREADY_SEATED_MESSAGE = "This user already has a seat in this team";

/**
 * The answer when every seat is taken.
 *
 * @param seats how many seats the subscription has
 * @returns the message
 * @example
 * ```ts
 * seatsTakenMessage(3); // "All 3 seats are taken: revoke one or buy more"
 * ```
 */
export function seatsTakenMessage(seats: number): string {
  return `All ${seats} seats are taken: revoke one or buy more`;
}

/** How many listed seats are stored at once. */
const STORE_CONCURRENCY = 8;

/** What the seats handler depends on; tests pass their own. */
export interface SeatsDependencies extends Pick<CallerAccess, "verifyUser"> {
  /** Allowed origins, for CORS. */
  config: Pick<UserFunctionConfig, "allowedOrigins" | "restrictCorsOrigins">;
  /** `public.polar_may_bill_team(team_id)`, asked with the caller's token. */
  mayBillTeam: (user: VerifiedUser, teamId: string) => Promise<boolean>;
  /** The service-role reads and writes. */
  store: TeamStore;
  /** Polar's seat calls. */
  polar: PolarSeatsApi;
  /** Where the per-request log line goes. */
  log?: RequestLogger;
  /** A monotonic clock in milliseconds. */
  now?: () => number;
}

/**
 * Makes the seats handler: `GET ?team_id=` answers `{ seats, total_seats, available_seats }`,
 * `POST { team_id, user_id | email }` answers `201 { seat }`, `DELETE { team_id, seat_id }`
 * answers `{ seat }`, or a JSON error (see docs/teams.md, "The functions").
 *
 * @param deps configuration, the caller's verification, the database and Polar's seat calls
 * @returns the handler
 * @example
 * ```ts
 * const handler = createSeatsHandler(createSeatsDependencies(config));
 * const response = await handler(new Request("http://x/seats", {
 *   method: "POST",
 *   headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
 *   body: JSON.stringify({ team_id: teamId, user_id: userId }),
 * }));
 * response.status; // 201
 * ```
 */
export function createSeatsHandler(deps: SeatsDependencies): Handler {
  const { store, polar } = deps;

  const liveSubscription = (state: TeamBillingState) => {
    if (!state.subscription || !state.polar_customer_id) {
      throw new HttpError(STATUS.NotFound, NO_SEATS_SUBSCRIPTION_MESSAGE);
    }
    return state.subscription;
  };

  const giveSeat = async (
    user: VerifiedUser,
    teamId: string,
    holder: SeatUser,
    immediateClaim: boolean,
  ): Promise<Response> => {
    const state = await store.billingState(teamId, holder.user_id, user.deadline);
    const subscription = liveSubscription(state);
    if (state.user_has_seat) throw new HttpError(STATUS.Conflict, ALREADY_SEATED_MESSAGE);
    const seats = subscription.seats;
    if (seats !== null && state.taken_seats >= seats) {
      throw new HttpError(STATUS.Conflict, seatsTakenMessage(seats));
    }
    let seat: models.CustomerSeat;
    try {
      seat = await polar.assign({
        subscription_id: subscription.id,
        external_member_id: holder.user_id,
        email: holder.email,
        immediate_claim: immediateClaim,
      }, user.deadline);
    } catch (error) {
      // The database had not heard of every seat yet: Polar counts them itself.
      const name = polarErrorName(error, STATUS.BadRequest);
      if (name === "SeatNotAvailable") {
        throw new HttpError(STATUS.Conflict, seatsTakenMessage(seats ?? state.taken_seats), {
          cause: error,
        });
      }
      if (name === "SeatAlreadyAssigned") {
        throw new HttpError(STATUS.Conflict, ALREADY_SEATED_MESSAGE, { cause: error });
      }
      throw error;
    }
    if (seat.member) await store.apply("member", seat.member, user.deadline);
    await store.apply("seat", seat, user.deadline);
    return jsonResponse({ seat: seatView(seat) }, STATUS.Created);
  };

  return createJsonHandler({
    name: "seats",
    methods: ["GET", "POST", "DELETE"],
    cors: createCors({
      allowedOrigins: deps.config.allowedOrigins,
      restrict: deps.config.restrictCorsOrigins,
    }),
    log: deps.log,
    now: deps.now,
  }, async (request) => {
    const user = await deps.verifyUser(request);
    const input = await readSeatsRequest(request);
    // First, so that nobody else learns whether a user, an email or a seat exists.
    if (!await deps.mayBillTeam(user, input.teamId)) {
      throw new HttpError(STATUS.Forbidden, MAY_NOT_MANAGE_SEATS_MESSAGE);
    }
    switch (input.action) {
      case "list": {
        const state = await store.billingState(input.teamId, undefined, user.deadline);
        const subscription = liveSubscription(state);
        const list = await polar.list(subscription.id, user.deadline);
        // A few at a time: a subscription may have up to 1,000 seats, one database call each.
        for (let i = 0; i < list.seats.length; i += STORE_CONCURRENCY) {
          await Promise.all(
            list.seats.slice(i, i + STORE_CONCURRENCY).map((seat) =>
              store.apply("seat", seat, user.deadline)
            ),
          );
        }
        return jsonResponse({
          seats: list.seats.map(seatView),
          total_seats: list.total_seats,
          available_seats: list.available_seats,
        });
      }
      case "assign": {
        const holder = await store.seatUserById(input.userId, user.deadline);
        if (!holder) throw new HttpError(STATUS.NotFound, `No user ${input.userId}`);
        return await giveSeat(user, input.teamId, holder, true);
      }
      case "invite": {
        const holder = await store.seatUserByEmail(input.email, user.deadline);
        if (!holder) throw new HttpError(STATUS.NotFound, NO_ACCOUNT_MESSAGE);
        return await giveSeat(user, input.teamId, holder, false);
      }
      case "revoke": {
        const notFound = (cause?: unknown) =>
          new HttpError(STATUS.NotFound, `No seat ${input.seatId} in this team`, { cause });
        if (!await store.seatOfTeam(input.seatId, input.teamId, user.deadline)) throw notFound();
        let seat: models.CustomerSeat;
        try {
          seat = await polar.revoke(input.seatId, user.deadline);
        } catch (error) {
          if (isPolarNotFound(error)) throw notFound(error);
          throw error;
        }
        await store.apply("seat", seat, user.deadline);
        return jsonResponse({ seat: seatView(seat) });
      }
    }
  });
}

/**
 * The production dependencies: the caller's verification, the caller-token check, one
 * service-role client and one Polar client, made once per instance.
 *
 * @param config the validated configuration (as `checkout`'s: it needs the secret key)
 * @returns dependencies for {@linkcode createSeatsHandler}
 * @example
 * ```ts
 * createSeatsHandler(createSeatsDependencies(loadCheckoutFunctionConfig((name) => Deno.env.get(name))));
 * ```
 */
export function createSeatsDependencies(config: CheckoutFunctionConfig): SeatsDependencies {
  return {
    config,
    verifyUser: createCallerAccess(config).verifyUser,
    mayBillTeam: createTeamBillingCheck({
      supabaseUrl: config.supabaseUrl,
      apiKey: config.supabasePublishableKey,
    }),
    store: createTeamStore(createServerClient(config.supabaseUrl, config.supabaseSecretKey)),
    polar: createPolarSeatsApi(createPolarClient(config.polar)),
  };
}
