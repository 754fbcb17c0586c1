/**
 * The account-deletion outbox: each deleted Supabase user's Polar customer is deleted by external
 * id, which makes Polar cancel its subscriptions and revoke its benefits at once. A row stays
 * pending until Polar confirms (204, or 404 when there is no such customer), so nothing is lost
 * while Polar is down; each failed attempt is counted with its error.
 *
 * @module
 */
import { describeError } from "../_polar/log.ts";
import type { PolarPacer } from "../_polar/polar_pacer.ts";
import type { TeamDeletionReport } from "./team_deletions.ts";

/** One pending deletion. */
export interface PendingDeletion {
  /** The outbox row. */
  id: number;
  /** The deleted user: the customer's external id. */
  user_id: string;
  /** The customer the user was linked to, if any. */
  polar_customer_id: string | null;
  /** Failed attempts so far. */
  attempts: number;
}

/** What {@linkcode createDeletionProcessor} depends on. */
export interface DeletionDependencies {
  /** `public.pending_polar_customer_deletions`. */
  pending(maxRows: number): Promise<PendingDeletion[]>;
  /** `public.finish_polar_customer_deletion`: `null` when done, else the error. */
  finish(id: number, error: string | null): Promise<void>;
  /** `DELETE /v1/customers/external/{id}`: `deleted`, or `absent` on Polar's 404. */
  deleteCustomer(externalId: string): Promise<"deleted" | "absent">;
  /** `DELETE /v1/customers/{id}`: `deleted`, or `absent` on Polar's 404. */
  deleteCustomerById(customerId: string): Promise<"deleted" | "absent">;
  /** Paces the Polar calls. */
  pacer: PolarPacer;
  /** The pass over the team outbox (seats and members), run after the customers'. */
  teams?: () => Promise<TeamDeletionReport>;
}

/** What one pass did. */
export interface DeletionReport {
  /** Customers Polar deleted. */
  deleted: number;
  /** Deleted users Polar had no customer for (done too). */
  absent: number;
  /** Attempts that failed; those rows stay pending. */
  failed: number;
  /** The deleted users' seats and team members (`team_deletions.ts`), when that pass ran. */
  teams?: TeamDeletionReport;
}

/** Rows one pass takes at most. */
export const DELETIONS_PER_PASS = 50;

/**
 * Makes one pass over the pending deletions.
 *
 * @param deps the outbox, Polar's delete and the pacer
 * @returns the pass
 * @example
 * ```ts
 * const processDeletions = createDeletionProcessor(deps);
 * await processDeletions(); // { deleted: 1, absent: 0, failed: 0 }
 * ```
 */
export function createDeletionProcessor(deps: DeletionDependencies): () => Promise<DeletionReport> {
  /** By external id; when Polar knows none by it (a customer from before the integration, or an
   * external id stored in another case), by the customer id the user's row linked, so a row is
   * never closed as absent while that customer still exists. */
  const deleteCustomerOf = async (row: PendingDeletion) => {
    const byExternalId = await deps.pacer(() => deps.deleteCustomer(row.user_id.toLowerCase()));
    if (byExternalId === "deleted" || !row.polar_customer_id) return byExternalId;
    const customerId = row.polar_customer_id;
    return await deps.pacer(() => deps.deleteCustomerById(customerId));
  };
  return async () => {
    const report: DeletionReport = { deleted: 0, absent: 0, failed: 0 };
    for (const row of await deps.pending(DELETIONS_PER_PASS)) {
      try {
        report[await deleteCustomerOf(row)]++;
        await deps.finish(row.id, null);
      } catch (error) {
        report.failed++;
        await deps.finish(row.id, describeError(error).slice(0, 500));
      }
    }
    if (deps.teams) report.teams = await deps.teams();
    return report;
  };
}
