/**
 * The reconcile's team phases (after `linked`; see `20261201001210_team_reconcile.sql`):
 *
 * - **teams**: each team customer the customers phase listed (type `team`, a uuid
 *   `external_id`) is read whole from Polar: its members (`GET /v1/customers/{id}/members`),
 *   its subscriptions (`GET /v1/subscriptions/?customer_id=`), the seats of each seat-based one
 *   (`GET /v1/customer-seats?subscription_id=`) and the benefit grants of its members
 *   (`GET /v1/benefit-grants/?customer_id=`, those with a `member_id`). Everything is stored
 *   through `public.apply_polar_team_change` (newest version wins, so a newer webhook is never
 *   undone), and what Polar no longer lists goes: a member is removed, a seat revoked, a grant
 *   no longer granted, each only if stored before the team's listing began. A list that fails
 *   removes nothing of its kind; the team is counted as a failure and the next run retries. A
 *   listed member whose `external_id` is a deleted user's is queued in the team outbox (the
 *   delete could not queue a member it had never stored). A team listed by the customers phase
 *   and deleted since (Polar answers its members with 404) loses its rows instead.
 * - **teams_gone**: each stored team the listing did not name is looked up by id
 *   (`GET /v1/customers/{id}`); when Polar has no such customer (404, or `deleted_at` set), its
 *   rows go, as `customer.deleted` does. A team that answers is kept.
 *
 * Each round does a few teams and saves, so the run stays resumable and within its budget; every
 * Polar call goes through the reconcile's pacer.
 *
 * @module
 */
import { describeError } from "../_polar/log.ts";
import type { PolarPacer } from "../_polar/polar_pacer.ts";
import { type TeamChange, teamChangeOf, teamChangeProblem } from "../_polar/team_webhooks.ts";
import type { PolarPage, ReconcileRun } from "./reconcile.ts";

/** A queued team, as `public.polar_reconcile_teams` answers it. */
export interface QueuedTeam {
  /** The team's Polar customer. */
  polar_customer_id: string;
  /** The app's team id (the customer's `external_id`). */
  team_id: string;
  /** The customer as the listing gave it. */
  customer: Record<string, unknown>;
}

/** What Polar listed of one team, for the removal of what it no longer lists. */
export interface TeamListing {
  /** When the listing began: only rows stored before it may be removed. */
  at: string;
  /** Every member id, or null when the list could not be read whole. */
  members: string[] | null;
  /** Every seat id of each subscription whose seats were read. */
  seats: Record<string, string[]>;
  /** Every grant id (members' or not), or null when the list could not be read whole. */
  grants: string[] | null;
}

/** What `public.reconcile_polar_team` answers. */
export interface TeamReconcileResult {
  /** Changes stored. */
  applied: number;
  /** Changes older than (or equal to) what was stored. */
  stale: number;
  /** Changes of nothing stored (a revoked seat never seen, a grant to no member). */
  ignored: number;
  /** Changes the database refused. */
  failed: number;
  /** Members Polar no longer lists, now removed. */
  members_removed: number;
  /** Seats Polar no longer lists, now revoked. */
  seats_revoked: number;
  /** Grants Polar no longer lists, now not granted. */
  grants_revoked: number;
  /** Listed members of deleted users, queued in the team outbox with their seats. */
  deletions_queued: number;
}

/** The counts the team phases add to a run's. */
export interface TeamCounts {
  /** Team customers reconciled. */
  teams: number;
  /** Members, subscriptions, seats and grants stored (or found current). */
  team_objects: number;
  /** Members removed because Polar no longer lists them. */
  team_members_removed: number;
  /** Seats revoked because Polar no longer lists them. */
  team_seats_revoked: number;
  /** Member grants ended because Polar no longer lists them. */
  team_grants_revoked: number;
  /** Stored teams whose Polar customer is gone: their rows were deleted. */
  teams_deleted: number;
  /**
   * Members of deleted users that Polar still lists and that no delete had queued (their webhooks
   * were lost): now queued for the deletion pass, with their seats.
   */
  team_deletions_queued: number;
  /** Items or teams that could not be reconciled this time (the next run retries). */
  failures: number;
}

/** What {@linkcode createTeamReconcile} depends on. */
export interface TeamReconcileDependencies {
  /** The database (service role), every write under the run's lease. */
  db: {
    /** `public.polar_reconcile_teams`. */
    pending(run: ReconcileRun, maxRows: number): Promise<QueuedTeam[]>;
    /** `public.reconcile_polar_team`. */
    reconcileTeam(
      run: ReconcileRun,
      customerId: string,
      changes: TeamChange[],
      listed: TeamListing,
    ): Promise<TeamReconcileResult>;
    /** `public.polar_reconcile_gone_teams`. */
    gone(run: ReconcileRun, maxRows: number): Promise<{ polar_customer_id: string }[]>;
    /** `public.finish_polar_reconcile_gone_team`: answers whether rows went. */
    finishGone(run: ReconcileRun, customerId: string, gone: boolean): Promise<boolean>;
  };
  /** Polar, each list a page at a time. */
  polar: {
    /** `GET /v1/customers/{id}/members`. */
    listMembers(customerId: string, page: number, limit: number): Promise<PolarPage>;
    /** `GET /v1/subscriptions/?customer_id=`, every status. */
    listSubscriptions(customerId: string, page: number, limit: number): Promise<PolarPage>;
    /** `GET /v1/customer-seats?subscription_id=`: every seat (one answer), or null on 404. */
    listSeats(subscriptionId: string): Promise<Record<string, unknown>[] | null>;
    /** `GET /v1/benefit-grants/?customer_id=`, granted and revoked. */
    listGrants(customerId: string, page: number, limit: number): Promise<PolarPage>;
    /** `GET /v1/customers/{id}`, or null on 404. */
    getCustomer(customerId: string): Promise<Record<string, unknown> | null>;
  };
  /** Paces every Polar call. */
  pacer: PolarPacer;
  /** A clock in milliseconds since the epoch. */
  now: () => number;
  /** Items per page. */
  pageSize: number;
  /** Where a failure's cause goes. */
  warn: (message: string) => void;
}

/** Teams reconciled per round (each takes 4 Polar calls or more), and gone teams checked. */
export const TEAMS_PER_ROUND = 5;

/** Stored teams looked up per round of `teams_gone`. */
export const GONE_TEAMS_PER_ROUND = 25;

/**
 * Makes the two rounds the reconcile runs in its team phases.
 *
 * @param deps database, Polar, pacer and clock
 * @returns `teamsRound` (answers whether queued teams remain) and `goneRound` (likewise)
 * @example
 * ```ts
 * const { teamsRound } = createTeamReconcile(deps);
 * while (await teamsRound(run, counts)) await save(run);
 * ```
 */
export function createTeamReconcile(deps: TeamReconcileDependencies): {
  teamsRound(run: ReconcileRun, counts: TeamCounts): Promise<boolean>;
  goneRound(run: ReconcileRun, counts: TeamCounts): Promise<boolean>;
} {
  const { db, polar, pacer } = deps;

  /** Every page of a list. */
  const readAll = async (read: (page: number) => Promise<PolarPage>, first?: PolarPage) => {
    const items: Record<string, unknown>[] = [];
    for (let page = 1;; page++) {
      const answer = page === 1 && first ? first : await pacer(() => read(page));
      items.push(...answer.items);
      if (page >= answer.maxPage || answer.items.length === 0) return items;
    }
  };

  /** A list's items, or null (and a warning) when it could not be read whole. */
  const readOrNull = async <T>(what: string, read: () => Promise<T>): Promise<T | null> => {
    try {
      return await read();
    } catch (error) {
      deps.warn(`Reconcile: ${what} could not be read: ${describeError(error)}`);
      return null;
    }
  };

  const reconcileOne = async (run: ReconcileRun, team: QueuedTeam, counts: TeamCounts) => {
    const id = team.polar_customer_id;
    const at = new Date(deps.now()).toISOString();
    // Listed by the customers phase, gone since (Polar answers 404 for its members): its rows go
    // now, as customer.deleted does; storing the listed customer would bring a deleted team back.
    let firstMembers: PolarPage | undefined;
    try {
      firstMembers = await pacer(() => polar.listMembers(id, 1, deps.pageSize));
    } catch (error) {
      if ((error as { statusCode?: unknown }).statusCode === 404) {
        if (await db.finishGone(run, id, true)) counts.teams_deleted++;
        return;
      }
      // Any other failure: read again below, where a list that fails removes nothing.
    }
    const changes: TeamChange[] = [];
    let failed = false;
    const add = (type: string, data: Record<string, unknown>) => {
      const change = teamChangeOf(type, data);
      if (!change) return;
      const problem = teamChangeProblem(change);
      if (problem) {
        counts.failures++;
        deps.warn(`Reconcile: team ${id}: ${change.kind} ${String(data.id)} left out: ${problem}`);
        return;
      }
      changes.push(change);
    };
    add("customer.updated", team.customer);

    const members = await readOrNull(
      `the members of ${id}`,
      () => readAll((page) => polar.listMembers(id, page, deps.pageSize), firstMembers),
    );
    for (const member of members ?? []) add("member.updated", { customer_id: id, ...member });

    const subscriptions = await readOrNull(
      `the subscriptions of ${id}`,
      () => readAll((page) => polar.listSubscriptions(id, page, deps.pageSize)),
    );
    const seats: Record<string, string[]> = {};
    for (const subscription of subscriptions ?? []) {
      add("subscription.updated", subscription);
      if (subscription.seats === null || subscription.seats === undefined) continue;
      const subscriptionId = String(subscription.id);
      const listed = await readOrNull(
        `the seats of ${subscriptionId}`,
        () => pacer(() => polar.listSeats(subscriptionId)),
      );
      if (listed === null) {
        deps.warn(`Reconcile: Polar has no seats of ${subscriptionId} (404)`);
        failed = true;
        continue;
      }
      seats[subscriptionId] = listed.map((seat) => String(seat.id));
      // A revoked seat carries no customer (Polar clears it): it is this subscription's seat.
      for (const seat of listed) {
        add("customer_seat.claimed", { ...seat, customer_id: seat.customer_id ?? id });
      }
    }

    const grants = await readOrNull(
      `the benefit grants of ${id}`,
      () => readAll((page) => polar.listGrants(id, page, deps.pageSize)),
    );
    for (const grant of grants ?? []) add("benefit_grant.updated", grant);

    if (members === null || subscriptions === null || grants === null) failed = true;
    const result = await db.reconcileTeam(run, id, changes, {
      at,
      members: members?.map((member) => String(member.id)) ?? null,
      seats,
      grants: grants?.map((grant) => String(grant.id)) ?? null,
    });
    counts.teams++;
    counts.team_objects += result.applied + result.stale;
    counts.team_members_removed += result.members_removed;
    counts.team_seats_revoked += result.seats_revoked;
    counts.team_grants_revoked += result.grants_revoked;
    counts.team_deletions_queued += result.deletions_queued;
    counts.failures += result.failed + (failed ? 1 : 0);
  };

  return {
    async teamsRound(run, counts) {
      const teams = await db.pending(run, TEAMS_PER_ROUND);
      for (const team of teams) await reconcileOne(run, team, counts);
      return teams.length === TEAMS_PER_ROUND;
    },
    async goneRound(run, counts) {
      const rows = await db.gone(run, GONE_TEAMS_PER_ROUND);
      for (const row of rows) {
        try {
          const customer = await pacer(() => polar.getCustomer(row.polar_customer_id));
          const gone = customer === null || typeof customer.deleted_at === "string";
          if (await db.finishGone(run, row.polar_customer_id, gone)) counts.teams_deleted++;
        } catch (error) {
          counts.failures++;
          deps.warn(
            `Reconcile: could not check team customer ${row.polar_customer_id}: ${
              describeError(error)
            }`,
          );
          // Checked for this run (kept): a failed lookup never deletes, and the next run retries.
          await db.finishGone(run, row.polar_customer_id, false);
        }
      }
      return rows.length === GONE_TEAMS_PER_ROUND;
    },
  };
}
