/**
 * What the team functions ask the database: whether the caller may bill a team (the app's
 * `public.polar_may_bill_team`, asked WITH THE CALLER'S TOKEN, so it answers for `auth.uid()`),
 * and, with the service role, the team's stored billing, the users to seat, a stored seat, and
 * each object Polar returned, stored through `public.apply_polar_team_change`.
 *
 * @module
 */
import type { SupabaseClient } from "@supabase/supabase-js";
import type { VerifiedUser } from "./auth.ts";
import type { Deadline } from "./deadline.ts";
import { withDeadline } from "./deadline.ts";
import { REST_TIMEOUT_MS } from "./rest.ts";
import type { TeamChangeKind } from "./team_webhooks.ts";

/** Options of {@linkcode createTeamBillingCheck}. */
export interface TeamBillingCheckOptions {
  /** The project URL; PostgREST answers at `${supabaseUrl}/rest/v1`. */
  supabaseUrl: string;
  /** The publishable (or anon) key, sent as `apikey`; never the secret key. */
  apiKey: string;
  /** The `fetch` to use; the global one by default. */
  fetch?: typeof fetch;
}

/**
 * Makes `mayBillTeam(user, teamId)`: `public.polar_may_bill_team(team_id)` through PostgREST's
 * `rpc` with the caller's own token, so the app's function answers for this caller. Only a JSON
 * `true` is a yes.
 *
 * @param options project URL, publishable key and `fetch`
 * @returns the check; it throws when PostgREST answers an error or does not answer in time
 * @example
 * ```ts
 * const mayBillTeam = createTeamBillingCheck({ supabaseUrl, apiKey: "sb_publishable_…" });
 * await mayBillTeam(user, "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f"); // false by default
 * ```
 */
export function createTeamBillingCheck(
  options: TeamBillingCheckOptions,
): (user: VerifiedUser, teamId: string) => Promise<boolean> {
  const baseFetch = options.fetch ?? globalThis.fetch;
  const url = `${options.supabaseUrl}/rest/v1/rpc/polar_may_bill_team`;
  return async (user, teamId) => {
    const response = await baseFetch(url, {
      method: "POST",
      headers: {
        apikey: options.apiKey,
        Authorization: `Bearer ${user.accessToken}`,
        Accept: "application/json",
        "Content-Type": "application/json",
      },
      body: JSON.stringify({ team_id: teamId }),
      signal: withDeadline(user.deadline, AbortSignal.timeout(REST_TIMEOUT_MS)),
    });
    const body = await response.json().catch(() => undefined);
    if (!response.ok) {
      const message = typeof body?.message === "string" ? body.message : "no message";
      throw new Error(`polar_may_bill_team failed: ${response.status} ${message}`);
    }
    return body === true;
  };
}

/** What `public.polar_team_billing_state` answers. */
export interface TeamBillingState {
  /** The team's Polar customer, when stored. */
  polar_customer_id: string | null;
  /** The team's newest `active` or `trialing` subscription, or `null`. */
  subscription: { id: string; seats: number | null; status: string } | null;
  /** Stored seats of that subscription that are not revoked. */
  taken_seats: number;
  /** Whether the user asked about holds a stored seat of the team that is not revoked. */
  user_has_seat: boolean;
  /** Whether the team id is also a user's id (bill the user instead). */
  team_id_is_user: boolean;
}

/** An app user to give a seat to, with the email Supabase has for them. */
export interface SeatUser {
  /** The user's id. */
  user_id: string;
  /** The user's email in `auth.users`. */
  email: string;
}

/** A seat as stored in `public.polar_team_seats`. */
export interface StoredSeat {
  /** Polar's seat id. */
  polar_seat_id: string;
  /** The team it belongs to. */
  team_id: string;
}

/** The service-role reads and writes of the team functions. */
export interface TeamStore {
  /** `public.polar_team_billing_state(team_id, user_id)`. */
  billingState(teamId: string, userId?: string, deadline?: Deadline): Promise<TeamBillingState>;
  /** `public.polar_seat_user_by_id`: `null` when there is no such (live) user. */
  seatUserById(userId: string, deadline?: Deadline): Promise<SeatUser | null>;
  /** `public.polar_seat_user_by_email`: the user whose confirmed email it is, or `null`. */
  seatUserByEmail(email: string, deadline?: Deadline): Promise<SeatUser | null>;
  /** The stored seat with this id IN THIS TEAM, or `null` (another team's seat, or none). */
  seatOfTeam(seatId: string, teamId: string, deadline?: Deadline): Promise<StoredSeat | null>;
  /** Stores one object Polar returned (`apply_polar_team_change`); answers the outcome. */
  apply(kind: TeamChangeKind, object: unknown, deadline?: Deadline): Promise<string>;
}

/**
 * Makes the {@linkcode TeamStore} on a service-role client.
 *
 * @param supabase a client made with the secret (service role) key
 * @returns the store; each call throws when PostgREST answers an error
 * @example
 * ```ts
 * const store = createTeamStore(createServerClient(url, secretKey));
 * (await store.billingState(teamId)).subscription; // { id: "…", seats: 3, status: "active" } or null
 * ```
 */
export function createTeamStore(supabase: SupabaseClient): TeamStore {
  // deno-lint-ignore no-explicit-any
  const run = async (name: string, query: any, deadline?: Deadline) => {
    const { data, error } = await (deadline ? query.abortSignal(deadline.signal) : query);
    if (error) throw new Error(`${name} failed: ${error.message}`, { cause: error });
    return data;
  };
  return {
    billingState: async (teamId, userId, deadline) => {
      const data = await run(
        "polar_team_billing_state",
        supabase.rpc("polar_team_billing_state", { team_id: teamId, user_id: userId ?? null }),
        deadline,
      );
      if (!isBillingState(data)) {
        throw new Error("polar_team_billing_state returned an unexpected value");
      }
      return data;
    },
    seatUserById: async (userId, deadline) =>
      seatUserOrNull(
        await run(
          "polar_seat_user_by_id",
          supabase.rpc("polar_seat_user_by_id", { user_id: userId }),
          deadline,
        ),
      ),
    seatUserByEmail: async (email, deadline) =>
      seatUserOrNull(
        await run(
          "polar_seat_user_by_email",
          supabase.rpc("polar_seat_user_by_email", { email }),
          deadline,
        ),
      ),
    seatOfTeam: async (seatId, teamId, deadline) => {
      const rows = await run(
        "Reading polar_team_seats",
        supabase.from("polar_team_seats").select("polar_seat_id, team_id")
          .eq("polar_seat_id", seatId).eq("team_id", teamId),
        deadline,
      );
      return Array.isArray(rows) && rows[0] ? rows[0] as StoredSeat : null;
    },
    apply: async (kind, object, deadline) => {
      const data = await run(
        "apply_polar_team_change",
        supabase.rpc("apply_polar_team_change", { change: { kind, object } }),
        deadline,
      );
      return String((data as { outcome?: unknown } | null)?.outcome);
    },
  };
}

function seatUserOrNull(value: unknown): SeatUser | null {
  const user = value as SeatUser | null;
  return user && typeof user.user_id === "string" && typeof user.email === "string" ? user : null;
}

function isBillingState(value: unknown): value is TeamBillingState {
  const state = value as TeamBillingState | null;
  return typeof state === "object" && state !== null &&
    typeof state.taken_seats === "number" && typeof state.user_has_seat === "boolean" &&
    typeof state.team_id_is_user === "boolean" &&
    (state.subscription === null || typeof state.subscription?.id === "string");
}
