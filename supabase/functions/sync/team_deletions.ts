/**
 * The team side of the account-deletion outbox (`polar.team_deletions`, written in the
 * transaction that deletes the user): each seat the deleted user's members held is revoked in
 * Polar, and each of those members is deleted. A row stays pending until Polar confirms (404
 * counts as done), so nothing is lost while Polar is down; each failed attempt is counted with
 * its error.
 *
 * Before a seat is revoked, its subscription's (or order's) seats are listed: Polar reuses a
 * revoked seat for the next assignment, so a seat id alone could by now be someone else's
 * seat. A seat no longer held by the deleted user's member is left alone (`not_held`).
 *
 * Polar refuses to delete a team's only owner (422 "Cannot delete the only owner"): the seats
 * are still revoked and the user's link already ended in the database; the member is kept
 * (`owner_kept`), reported, and tried again at most once an hour until the team has another
 * owner.
 *
 * @module
 */
import { describeError } from "../_polar/log.ts";
import type { PolarPacer } from "../_polar/polar_pacer.ts";

/** One pending row, as `public.pending_polar_team_deletions` answers it. */
export interface PendingTeamDeletion {
  /** The outbox row. */
  id: number;
  /** The deleted user. */
  user_id: string;
  /** A seat to revoke, or a member to delete. */
  kind: "seat" | "member";
  /** The seat's or the member's Polar id. */
  polar_id: string;
  /** The team's Polar customer. */
  polar_customer_id: string;
  /** The member the user was (for a seat: the holder it must still have). */
  polar_member_id: string;
  /** The member's role, for a member row. */
  role: string | null;
  /** The seat's subscription, if any. */
  polar_subscription_id: string | null;
  /** The seat's order, if any (a seat bought once). */
  polar_order_id: string | null;
  /** Attempts so far. */
  attempts: number;
  /** `owner_kept` when Polar kept the member as the team's only owner last time. */
  outcome: string | null;
}

/** A seat as Polar lists it (`GET /v1/customer-seats`): only what the check reads. */
export interface ListedSeat {
  /** The seat's id. */
  id: string;
  /** Its status. */
  status: string;
  /** Its holder, if any. */
  member_id?: string | null;
}

/** What one row ends as. */
export type TeamDeletionOutcome = "revoked" | "deleted" | "absent" | "not_held" | "owner_kept";

/** What {@linkcode createTeamDeletionProcessor} depends on. */
export interface TeamDeletionDependencies {
  /** `public.pending_polar_team_deletions`. */
  pending(maxRows: number): Promise<PendingTeamDeletion[]>;
  /** `public.finish_polar_team_deletion`: an outcome, or an error (then it stays pending). */
  finish(id: number, outcome: TeamDeletionOutcome | null, error: string | null): Promise<void>;
  /** `GET /v1/customer-seats?subscription_id=…` (or `order_id`): the seats, or null on 404. */
  listSeats(container: { subscriptionId?: string; orderId?: string }): Promise<
    ListedSeat[] | null
  >;
  /** `DELETE /v1/customer-seats/{id}`: `revoked`, or `absent` on Polar's 404. */
  revokeSeat(seatId: string): Promise<"revoked" | "absent">;
  /**
   * `DELETE /v1/customers/{customer_id}/members/{member_id}`: `deleted`, `absent` on 404, or
   * `owner_kept` when Polar refuses to delete the team's only owner.
   */
  deleteMember(customerId: string, memberId: string): Promise<"deleted" | "absent" | "owner_kept">;
  /** Paces the Polar calls. */
  pacer: PolarPacer;
  /** Where the kept owners are named (never a token). */
  warn?: (message: string) => void;
}

/** What one pass did. */
export interface TeamDeletionReport {
  /** Seats Polar revoked. */
  seats_revoked: number;
  /** Members Polar deleted. */
  members_deleted: number;
  /** Seats and members Polar no longer had, or seats no longer the deleted user's (done too). */
  absent: number;
  /** Members Polar kept as their team's only owner (still pending; see the docs). */
  owners_kept: number;
  /** Attempts that failed; those rows stay pending. */
  failed: number;
}

/** Rows one pass takes at most. */
export const TEAM_DELETIONS_PER_PASS = 50;

/**
 * Makes one pass over the pending seat revocations and member deletions.
 *
 * @param deps the outbox, Polar's calls and the pacer
 * @returns the pass
 * @example
 * ```ts
 * const pass = createTeamDeletionProcessor(deps);
 * await pass(); // { seats_revoked: 2, members_deleted: 2, absent: 0, owners_kept: 0, failed: 0 }
 * ```
 */
export function createTeamDeletionProcessor(
  deps: TeamDeletionDependencies,
): () => Promise<TeamDeletionReport> {
  const warn = deps.warn ?? ((message: string) => console.warn(message));

  const revoke = async (row: PendingTeamDeletion): Promise<TeamDeletionOutcome> => {
    const container = row.polar_subscription_id
      ? { subscriptionId: row.polar_subscription_id }
      : row.polar_order_id
      ? { orderId: row.polar_order_id }
      : null;
    // A seat with neither cannot be checked, and Polar has none such: nothing to revoke.
    if (!container) return "absent";
    const seats = await deps.pacer(() => deps.listSeats(container));
    const seat = seats?.find((item) => item.id === row.polar_id);
    if (!seat) return "absent";
    if (seat.status === "revoked" || seat.member_id !== row.polar_member_id) return "not_held";
    return await deps.pacer(() => deps.revokeSeat(row.polar_id));
  };

  return async () => {
    const report: TeamDeletionReport = {
      seats_revoked: 0,
      members_deleted: 0,
      absent: 0,
      owners_kept: 0,
      failed: 0,
    };
    for (const row of await deps.pending(TEAM_DELETIONS_PER_PASS)) {
      try {
        const outcome = row.kind === "seat"
          ? await revoke(row)
          : await deps.pacer(() => deps.deleteMember(row.polar_customer_id, row.polar_id));
        if (outcome === "owner_kept") {
          report.owners_kept++;
          warn(
            `Polar keeps member ${row.polar_id} of customer ${row.polar_customer_id} (deleted user ${row.user_id}) as the team's only owner: its seats are revoked; transfer ownership in Polar or delete the team customer`,
          );
          await deps.finish(
            row.id,
            outcome,
            "Polar refuses to delete the team's only owner: transfer ownership first",
          );
          continue;
        }
        if (outcome === "revoked") report.seats_revoked++;
        else if (outcome === "deleted") report.members_deleted++;
        else report.absent++;
        await deps.finish(row.id, outcome, null);
      } catch (error) {
        report.failed++;
        await deps.finish(row.id, null, describeError(error).slice(0, 500));
      }
    }
    return report;
  };
}
