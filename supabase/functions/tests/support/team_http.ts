/**
 * Two teams for the team functions' HTTP tests: a loopback Supabase whose
 * `polar_may_bill_team` answers from a table of billers (as an app's would), the tests' fake
 * Polar with its team model, and a function started with `deno run`. Team A (Olive bills it and
 * owns its Polar customer, 2 seats of the Team plan) and team B (Quinn, 2 seats) are stored as
 * the webhooks would have stored them; Max is an app user with a confirmed email, in no team.
 *
 * @module
 */
import type { models } from "@polar-sh/sdk/2026-10";
import { insertUser } from "./database.ts";
import { type FakePolar, startFakePolar } from "./fake_polar.ts";
import { type FunctionProcess, startFunction } from "./loopback.ts";
import { createTestSupabase, type TestSupabase } from "./supabase_stand_in.ts";
import { prepareTeamDatabase, type TeamDatabase } from "./team_database.ts";

/** The site the functions redirect to. */
export const SITE_URL = "http://127.0.0.1:3000";

/** A user of the HTTP team world. */
export interface HttpTeamUser {
  /** The user's id. */
  id: string;
  /** The user's email. */
  email: string;
  /** A token for them. */
  token: string;
}

/** A team of the world. */
export interface HttpTeam {
  /** The app's team id. */
  id: string;
  /** Polar's team customer. */
  customer: models.CustomerTeam;
  /** Its live subscription of the Team plan. */
  subscription: models.Subscription;
}

/** The HTTP team world. */
export interface HttpTeamWorld extends TeamDatabase, AsyncDisposable {
  /** The loopback Supabase. */
  supabase: TestSupabase;
  /** The fake Polar. */
  polar: FakePolar;
  /** The function under test. */
  fn: FunctionProcess;
  /** Team A and team B. */
  teams: { a: HttpTeam; b: HttpTeam };
  /** Olive bills A, Quinn bills B, Max is in no team. */
  users: Record<"olive" | "quinn" | "max", HttpTeamUser>;
  /** Polar's requests other than reads, as `METHOD path`. */
  polarWrites(): string[];
  /** Every stored team row, to compare before and after a refusal. */
  snapshot(): Promise<string>;
  /** Calls the function as `supabase.functions.invoke` would. */
  invoke(
    method: string,
    token: string | undefined,
    body?: unknown,
    query?: string,
  ): Promise<Response>;
}

/**
 * Sets up the world and starts the function.
 *
 * @param name the function (`checkout`, `portal`, `seats`)
 * @param env extra variables for it
 * @returns the world; dispose of it at the end of the test
 * @example
 * ```ts
 * await using t = await createHttpTeamWorld("seats");
 * ```
 */
export async function createHttpTeamWorld(
  name: string,
  env: Record<string, string> = {},
): Promise<HttpTeamWorld> {
  const supabase = await createTestSupabase("loopback");
  const { db } = supabase;
  const polar = await startFakePolar();
  const { apply, letBill } = await prepareTeamDatabase(db);
  const user = async (name: string): Promise<HttpTeamUser> => {
    const email = `${name}@example.com`;
    const id = await insertUser(db, email);
    await db.query("update auth.users set email_confirmed_at = now() where id = $1", [id]);
    return { id, email, token: await supabase.userToken(id, email) };
  };
  const users = { olive: await user("olive"), quinn: await user("quinn"), max: await user("max") };
  const team = async (biller: HttpTeamUser): Promise<HttpTeam> => {
    const id = crypto.randomUUID();
    const { team: customer, owner } = await polar.addTeam({
      externalId: id,
      owner: { email: biller.email, externalId: biller.id },
    });
    const subscription = polar.addTeamSubscription(customer, 2);
    await apply("team_customer", customer);
    await apply("member", owner);
    await apply("subscription", subscription);
    await letBill(id, biller.id);
    return { id, customer, subscription };
  };
  const teams = { a: await team(users.olive), b: await team(users.quinn) };
  const fn = await startFunction(name, {
    SUPABASE_URL: supabase.url,
    SUPABASE_ANON_KEY: supabase.anonKey,
    SUPABASE_SERVICE_ROLE_KEY: supabase.serviceRoleKey,
    POLAR_ACCESS_TOKEN: "polar_oat_test_token",
    POLAR_API_URL: polar.url,
    SITE_URL,
    ...env,
  });
  polar.requests.length = 0;
  return {
    supabase,
    polar,
    fn,
    teams,
    users,
    letBill,
    apply,
    polarWrites: () =>
      polar.requests.filter((r) => !r.route.startsWith("GET ")).map((r) => r.route),
    snapshot: async () =>
      JSON.stringify(
        await db.query(
          `select (select jsonb_agg(t order by t::text) from public.polar_teams as t) as teams,
            (select jsonb_agg(m order by m::text) from public.polar_team_members as m) as members,
            (select jsonb_agg(s order by s::text) from public.polar_team_seats as s) as seats,
            (select jsonb_agg(s order by s::text) from public.polar_team_subscriptions as s) as subs`,
        ),
      ),
    invoke: (method, token, body, query = "") =>
      fetch(`${fn.url}/${query}`, {
        method,
        headers: {
          ...(token ? { Authorization: `Bearer ${token}` } : {}),
          ...(body !== undefined ? { "Content-Type": "application/json" } : {}),
          Origin: SITE_URL,
        },
        ...(body !== undefined && { body: typeof body === "string" ? body : JSON.stringify(body) }),
      }),
    async [Symbol.asyncDispose]() {
      await fn[Symbol.asyncDispose]();
      await polar[Symbol.asyncDispose]();
      await supabase[Symbol.asyncDispose]();
    },
  };
}
