/**
 * The database side of the team tests: the app's own billing rule, as an app's migration would
 * make it (a table of who bills which team), and the two writes the tests make through it.
 *
 * @module
 */
import type { Database } from "../../../../local/database.ts";

/** What {@linkcode prepareTeamDatabase} gives a test. */
export interface TeamDatabase {
  /** Stores one Polar team object through `apply_polar_team_change`, as a webhook does. */
  apply(kind: string, object: unknown): Promise<void>;
  /** Lets a user bill a team: the app's `polar_may_bill_team` answers yes for them. */
  letBill(teamId: string, userId: string): Promise<void>;
}

/**
 * Replaces `polar_may_bill_team` with a rule read from `public.test_team_billers`.
 *
 * @param db the test's database, with every migration applied
 * @returns the writes the team tests make
 * @example
 * ```ts
 * const { apply, letBill } = await prepareTeamDatabase(db);
 * await letBill(teamId, userId);
 * ```
 */
export async function prepareTeamDatabase(db: Database): Promise<TeamDatabase> {
  await db.exec(`
    create table public.test_team_billers (team_id uuid not null, user_id uuid not null);
    revoke all on table public.test_team_billers from anon, authenticated;
    create or replace function public.polar_may_bill_team(team_id uuid) returns boolean
    language sql stable security definer set search_path = '' as $$
      select exists (select 1 from public.test_team_billers as b
        where b.team_id = polar_may_bill_team.team_id and b.user_id = (select auth.uid()));
    $$;`);
  return {
    apply: async (kind, object) => {
      await db.query("select public.apply_polar_team_change($1::jsonb)", [
        JSON.stringify({ kind, object }),
      ]);
    },
    letBill: async (teamId, userId) => {
      await db.query("insert into public.test_team_billers values ($1, $2)", [teamId, userId]);
    },
  };
}
