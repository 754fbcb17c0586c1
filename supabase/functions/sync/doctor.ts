/**
 * The doctor (`sync` with `{"scope":"doctor"}`): checks the deployed configuration from inside
 * Supabase and answers one line per check, each with the fix in words when it fails.
 *
 * - the Polar token is valid on `POLAR_SERVER` (when not, whether it is valid on the other one);
 * - each scope the functions need is granted: one harmless call per scope (a read, or a write
 *   with an empty body that Polar refuses with 422 after it has checked the scope, or a delete of
 *   an external id no user has), so a 403 names exactly the scope it needs;
 * - a webhook endpoint at `<SUPABASE_URL>/functions/v1/polar-webhooks` exists, is enabled, sends
 *   the raw format and every event `polar-webhooks` handles;
 * - each id in `POLAR_PRODUCT_IDS` exists and is not archived, with the benefits it grants and
 *   their `key`s;
 * - the migrations are applied and the schedule's jobs exist in `cron.job`
 *   (`public.polar_doctor`), and `POLAR_SYNC_SECRET` is set for the schedule to send;
 * - the token issuer the functions expect is the one the project's Auth names.
 *
 * A check that cannot run before another passes (the endpoint's settings before it is found, any
 * Polar call before the token is valid) is left out rather than reported as a second failure.
 *
 * @module
 */
import type { PolarConfig, PolarServer } from "../_polar/config.ts";
import { POLAR_SCOPES } from "../_polar/polar_scopes.ts";
import { HANDLED_EVENT_TYPES } from "../_polar/polar_webhooks.ts";

/** One check's outcome. */
export interface DoctorCheck {
  /** What was checked, such as `Webhook endpoint enabled`. */
  name: string;
  /** Whether it passed. */
  ok: boolean;
  /** When it failed: what to do, in words. */
  fix?: string;
  /** What was found, when it helps (a product's benefits and keys). */
  detail?: string;
}

/** What the doctor answers. */
export interface DoctorReport {
  /** Whether every check passed. */
  ok: boolean;
  /** Every check, in the order they are listed. */
  checks: DoctorCheck[];
}

/** What `public.polar_doctor` answers. */
export interface DatabaseDoctorAnswer {
  /** Expected public functions that do not exist. */
  missing_functions: string[];
  /** Whether `cron.job` exists. */
  cron_installed: boolean;
  /** The expected jobs that exist. */
  jobs: { name: string; schedule: string; active: boolean }[];
}

/** What the doctor depends on; tests pass their own. */
export interface DoctorDependencies {
  /** The sync function's settings the checks look at. */
  config: {
    supabaseUrl: string;
    authIssuer: string;
    polar: PolarConfig;
    productIds: readonly string[];
    syncSecrets: readonly string[];
  };
  /**
   * Calls `public.polar_doctor`; throws an error whose `code` is PostgREST's `PGRST202` when the
   * function does not exist (the migration is not applied).
   */
  databaseDoctor: (functions: readonly string[], jobs: readonly string[]) => Promise<
    DatabaseDoctorAnswer
  >;
  /** `fetch`, for Polar and the project's Auth; the global one by default. */
  fetch?: typeof fetch;
  /** Milliseconds each HTTP call may take; 5000 by default. */
  timeoutMs?: number;
}

/** The Polar API of each server, as `@polar-sh/sdk` names them. */
export const POLAR_API_URLS = {
  sandbox: "https://sandbox-api.polar.sh",
  production: "https://api.polar.sh",
} as const satisfies Record<PolarServer, string>;

/**
 * The public SQL functions the edge functions and the gates call: each must exist once the
 * migrations are applied.
 */
export const EXPECTED_SQL_FUNCTIONS = [
  "apply_polar_catalog_webhook",
  "apply_polar_reconcile_batch",
  "apply_polar_state",
  "apply_polar_states",
  "apply_polar_team_webhook",
  "apply_polar_team_change",
  "apply_polar_webhook",
  "begin_polar_reconcile",
  "billing_state",
  "claim_polar_usage_events",
  "claim_polar_user_sync",
  "consume_usage",
  "finish_polar_customer_deletion",
  "finish_polar_reconcile_stale",
  "finish_polar_usage_events",
  "has_active_subscription",
  "has_entitlement",
  "has_team_entitlement",
  "link_polar_customer",
  "pending_polar_customer_deletions",
  "pending_polar_usage_count",
  "polar_checkout_guard",
  "polar_reconcile_stale",
  "polar_seat_user_by_email",
  "polar_seat_user_by_id",
  "polar_skipped_deliveries",
  "polar_team_billing_state",
  "polar_team_role",
  "polar_unreconciled_users",
  "polar_unsent_usage",
  "polar_unverified_links",
  "record_usage",
  "release_polar_reconcile",
  "save_polar_reconcile",
  "stage_polar_reconcile_page",
  "store_polar_meters",
  "store_polar_products",
  "take_polar_sync_budget",
  "unlink_missing_polar_customer",
  "usage_balance",
] as const;

/** The jobs `ops/schedule_sync.sql` installs. */
export const EXPECTED_CRON_JOBS = [
  "polar-catalog",
  "polar-customer-deletions",
  "polar-reconcile",
  "polar-reconcile-resume",
  "polar-usage",
] as const;

/** An external id no user has (users' ids are UUIDs): the `customers:write` probe deletes it. */
const PROBE_EXTERNAL_ID = "polar-billing-doctor-probe";

/** A seat and subscription id no seat has (the nil UUID): the seat probes find nothing. */
const PROBE_SEAT_ID = "00000000-0000-0000-0000-000000000000";

/** One harmless call per scope, and who needs the scope for what. */
const SCOPE_PROBES = [
  {
    scope: "customers:read",
    method: "GET",
    path: "/v1/customers/?limit=1",
    why: "checkout finds the caller's customer; sync reads Customer State",
  },
  {
    scope: "customers:write",
    method: "DELETE",
    path: `/v1/customers/external/${PROBE_EXTERNAL_ID}`,
    why: "checkout creates the caller's customer; sync deletes deleted users' customers",
  },
  {
    scope: "checkouts:write",
    method: "POST",
    path: "/v1/checkouts/",
    why: "checkout creates checkouts",
  },
  {
    scope: "members:read",
    method: "GET",
    path: `/v1/customers/external/${PROBE_EXTERNAL_ID}/members?limit=1`,
    why: "checkout finds the caller's member of a team customer",
  },
  {
    scope: "members:write",
    method: "DELETE",
    path: `/v1/customers/external/${PROBE_EXTERNAL_ID}/members/${PROBE_EXTERNAL_ID}`,
    why: "checkout adds a team's biller as a member",
  },
  {
    scope: "customer_seats:read",
    method: "GET",
    path: `/v1/customer-seats?subscription_id=${PROBE_SEAT_ID}`,
    why: "seats lists a team's seats",
  },
  {
    scope: "customer_seats:write",
    method: "DELETE",
    path: `/v1/customer-seats/${PROBE_SEAT_ID}`,
    why: "seats assigns and revokes a team's seats",
  },
  {
    scope: "customer_sessions:write",
    method: "POST",
    path: "/v1/customer-sessions/",
    why: "portal creates customer portal sessions",
  },
  {
    scope: "subscriptions:read",
    method: "GET",
    path: "/v1/subscriptions/?limit=1",
    why: "sync reads subscriptions",
  },
  {
    scope: "benefits:read",
    method: "GET",
    path: "/v1/benefit-grants/?limit=1",
    why: "the reconcile reads benefit grants",
  },
  {
    scope: "customer_meters:read",
    method: "GET",
    path: "/v1/customer-meters/?limit=1",
    why: "the reconcile reads customer meters",
  },
  {
    scope: "meters:read",
    method: "GET",
    path: "/v1/meters/?limit=1",
    why: "the usage flush reads meter definitions",
  },
  {
    scope: "events:write",
    method: "POST",
    path: "/v1/events/ingest",
    why: "the usage flush sends usage events",
  },
  {
    scope: "webhooks:read",
    method: "GET",
    path: "/v1/webhooks/endpoints?limit=100",
    why: "the reconcile and this doctor check the webhook endpoint",
  },
  {
    scope: "products:read",
    method: "GET",
    path: "/v1/products/?limit=1",
    why: "the catalog scope pulls the price list; checkout and this doctor read products",
  },
  {
    scope: "organizations:read",
    method: "GET",
    path: "/v1/organizations/?limit=1",
    why:
      "checkout reads allow_multiple_subscriptions, unless POLAR_ALLOW_MULTIPLE_SUBSCRIPTIONS is set",
  },
] as const;

/** A Polar answer: status and parsed JSON body (`undefined` when it was none). */
interface PolarAnswer {
  status: number;
  body: unknown;
}

/**
 * Makes the doctor.
 *
 * @param deps the settings, the database check and `fetch`
 * @returns a function that runs every check
 * @example
 * ```ts
 * const doctor = createDoctor({ config, databaseDoctor: (f, j) => rpc("polar_doctor", { expected_functions: f, expected_jobs: j }) });
 * const report = await doctor(); // { ok: false, checks: [{ name: "Webhook endpoint enabled", ok: false, fix: "…" }, …] }
 * ```
 */
export function createDoctor(deps: DoctorDependencies): () => Promise<DoctorReport> {
  const { config } = deps;
  const doFetch = deps.fetch ?? fetch;
  const timeoutMs = deps.timeoutMs ?? 5000;
  const serverUrl = config.polar.apiUrl ?? POLAR_API_URLS[config.polar.server];
  const otherServer: PolarServer = config.polar.server === "sandbox" ? "production" : "sandbox";
  const webhookUrl = `${config.supabaseUrl}/functions/v1/polar-webhooks`;

  const polar = async (
    base: string,
    method: string,
    path: string,
  ): Promise<PolarAnswer> => {
    const response = await doFetch(`${base}${path}`, {
      method,
      headers: {
        Authorization: `Bearer ${config.polar.accessToken}`,
        Accept: "application/json",
        ...(method === "POST" && { "Content-Type": "application/json" }),
      },
      body: method === "POST" ? "{}" : undefined,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = text;
    }
    return { status: response.status, body };
  };

  const tokenCheck = async (answer: PolarAnswer | Error): Promise<DoctorCheck> => {
    const name = `Polar token (POLAR_SERVER=${config.polar.server})`;
    if (answer instanceof Error) {
      return {
        name,
        ok: false,
        fix: `Polar did not answer at ${serverUrl} (${answer.message}); try again, or check ` +
          `POLAR_API_URL if it is set`,
      };
    }
    if (answer.status !== 401) return { name, ok: true, detail: `valid on ${serverUrl}` };
    if (config.polar.apiUrl) {
      return {
        name,
        ok: false,
        fix: `Polar at POLAR_API_URL (${config.polar.apiUrl}) refuses POLAR_ACCESS_TOKEN; ` +
          `set a valid organization access token (with POLAR_API_URL set, the other server ` +
          `was not tried); the other checks run once the token is valid`,
      };
    }
    let elsewhere = false;
    try {
      elsewhere = (await polar(POLAR_API_URLS[otherServer], "GET", SCOPE_PROBES[0].path))
        .status !== 401;
    } catch { /* the other server's answer only adds a hint */ }
    return {
      name,
      ok: false,
      fix: elsewhere
        ? `POLAR_ACCESS_TOKEN is a ${otherServer} token: set POLAR_SERVER=${otherServer}, or ` +
          `make a ${config.polar.server} token (npx supabase secrets set POLAR_SERVER=${otherServer})`
        : `Polar refuses POLAR_ACCESS_TOKEN on both servers: make a new organization access ` +
          `token (Polar: Settings → Developers) with the scopes in docs/polar-setup.md and set ` +
          `it (npx supabase secrets set POLAR_ACCESS_TOKEN=…); the other checks run once it is valid`,
    };
  };

  const webhookChecks = (endpoints: unknown): DoctorCheck[] => {
    const items = (endpoints as { items?: unknown } | undefined)?.items;
    const list = Array.isArray(items) ? items as Record<string, unknown>[] : [];
    const endpoint = list.find((item) => sameUrl(String(item.url ?? ""), webhookUrl));
    if (!endpoint) {
      const others = list.map((item) => String(item.url)).filter(Boolean);
      return [{
        name: "Webhook endpoint exists",
        ok: false,
        fix: `add a webhook endpoint at ${webhookUrl} (Polar: Settings → Webhooks → Add ` +
          `Endpoint, format Raw, the events in docs/polar-setup.md), then set its secret: ` +
          `npx supabase secrets set POLAR_WEBHOOK_SECRET=…` +
          (others.length ? `; Polar has endpoints at ${others.join(", ")} only` : ""),
      }];
    }
    const events = Array.isArray(endpoint.events) ? endpoint.events.map(String) : [];
    const missing = HANDLED_EVENT_TYPES.filter((type) => !events.includes(type));
    return [
      { name: "Webhook endpoint exists", ok: true, detail: webhookUrl },
      endpoint.enabled === true ? { name: "Webhook endpoint enabled", ok: true } : {
        name: "Webhook endpoint enabled",
        ok: false,
        fix: "Polar has disabled the endpoint (after repeated failed deliveries): fix what " +
          "made polar-webhooks fail (its log), re-enable it in Polar (Settings → Webhooks), " +
          'then run sync with {"scope":"all"} to catch up',
      },
      endpoint.format === "raw" ? { name: "Webhook endpoint format raw", ok: true } : {
        name: "Webhook endpoint format raw",
        ok: false,
        fix: `the endpoint's format is "${endpoint.format}": edit it in Polar and choose Raw ` +
          `(polar-webhooks reads Polar's own payloads, not Discord or Slack messages)`,
      },
      missing.length === 0 ? { name: "Webhook endpoint events", ok: true } : {
        name: "Webhook endpoint events",
        ok: false,
        fix: `the endpoint does not send ${missing.join(", ")}: edit it in Polar and tick them`,
      },
    ];
  };

  const productChecks = async (): Promise<DoctorCheck[]> => {
    if (config.productIds.length === 0) {
      return [{
        name: "POLAR_PRODUCT_IDS",
        ok: true,
        detail: "not set: checkout accepts any product id of the organization",
      }];
    }
    return await Promise.all(config.productIds.map(async (id): Promise<DoctorCheck> => {
      const name = `Product ${id}`;
      try {
        const { status, body } = await polar(serverUrl, "GET", `/v1/products/${id}`);
        if (status === 404 || status === 422) {
          return {
            name,
            ok: false,
            fix: `Polar (${config.polar.server}) has no product ${id}: copy the id from ` +
              `Products → the product → ⋯ → Copy Product ID, on the server POLAR_SERVER names, ` +
              `and correct POLAR_PRODUCT_IDS`,
          };
        }
        if (status >= 300) return { name, ok: false, fix: `Polar answered ${status}; try again` };
        const product = body as Record<string, unknown>;
        const benefits = Array.isArray(product.benefits)
          ? product.benefits as Record<string, unknown>[]
          : [];
        const granted = benefits.map((benefit) => {
          const key = (benefit.metadata as Record<string, unknown> | undefined)?.key;
          return `${benefit.description ?? benefit.id} (${benefit.type}${
            typeof key === "string" ? `, key "${key}"` : ", no key"
          })`;
        });
        const detail = `"${product.name}" grants ${
          granted.length ? granted.join(", ") : "nothing"
        }`;
        if (product.is_archived === true) {
          return {
            name,
            ok: false,
            detail,
            fix: `the product is archived, so nobody can buy it: unarchive it in Polar or ` +
              `take it out of POLAR_PRODUCT_IDS`,
          };
        }
        return { name, ok: true, detail };
      } catch (error) {
        return { name, ok: false, fix: `Polar did not answer (${(error as Error).message})` };
      }
    }));
  };

  const databaseChecks = async (): Promise<DoctorCheck[]> => {
    let answer: DatabaseDoctorAnswer;
    try {
      answer = await deps.databaseDoctor(EXPECTED_SQL_FUNCTIONS, EXPECTED_CRON_JOBS);
    } catch (error) {
      const code = (error as { code?: unknown }).code ??
        ((error as { cause?: { code?: unknown } }).cause?.code);
      return [{
        name: "Migrations applied",
        ok: false,
        fix: code === "PGRST202"
          ? "the database has not got this project's migrations (public.polar_doctor is " +
            "missing): npx supabase db push"
          : `the database did not answer (${(error as Error).message})`,
      }];
    }
    const missingJobs = EXPECTED_CRON_JOBS.filter((name) =>
      !answer.jobs.some((job) => job.name === name)
    );
    const inactive = answer.jobs.filter((job) => !job.active).map((job) => job.name);
    const scheduleFix = !answer.cron_installed
      ? "pg_cron is not installed: enable pg_cron and pg_net (Database → Extensions), then run " +
        "ops/schedule_sync.sql in the SQL editor (docs/sync.md)"
      : missingJobs.length > 0
      ? `cron.job has no ${missingJobs.join(", ")}: run ops/schedule_sync.sql in the SQL ` +
        `editor (docs/sync.md)`
      : inactive.length > 0
      ? `${inactive.join(", ")} ${inactive.length === 1 ? "is" : "are"} inactive: ` +
        `select cron.alter_job(jobid, active => true) from cron.job where jobname = '…'`
      : undefined;
    return [
      answer.missing_functions.length === 0 ? { name: "Migrations applied", ok: true } : {
        name: "Migrations applied",
        ok: false,
        fix: `the database lacks public.${answer.missing_functions.join(", public.")}: ` +
          "npx supabase db push",
      },
      scheduleFix
        ? { name: "Schedule installed", ok: false, fix: scheduleFix }
        : { name: "Schedule installed", ok: true, detail: EXPECTED_CRON_JOBS.join(", ") },
      config.syncSecrets.length > 0 ? { name: "POLAR_SYNC_SECRET set", ok: true } : {
        name: "POLAR_SYNC_SECRET set",
        ok: false,
        fix: "the schedule authenticates with POLAR_SYNC_SECRET, which is not set: " +
          "openssl rand -hex 32, then npx supabase secrets set POLAR_SYNC_SECRET=<it> and " +
          "store the same value in Vault as polar_sync_secret (docs/sync.md)",
      },
    ];
  };

  const issuerCheck = async (): Promise<DoctorCheck> => {
    const name = "Token issuer";
    const url = `${config.supabaseUrl}/auth/v1/.well-known/openid-configuration`;
    try {
      const response = await doFetch(url, { signal: AbortSignal.timeout(timeoutMs) });
      const body = await response.json().catch(() => undefined) as { issuer?: unknown } | undefined;
      const issuer = typeof body?.issuer === "string" ? body.issuer.replace(/\/+$/, "") : "";
      if (!response.ok || !issuer) {
        return { name, ok: false, fix: `${url} answered ${response.status} with no issuer` };
      }
      if (issuer === config.authIssuer) return { name, ok: true, detail: issuer };
      return {
        name,
        ok: false,
        fix: `the functions expect user tokens from ${config.authIssuer} but the project's ` +
          `Auth issues them as ${issuer}, so every user gets 401: ` +
          `npx supabase secrets unset AUTH_JWT_ISSUER (it is for local use only)`,
      };
    } catch (error) {
      return { name, ok: false, fix: `could not read ${url} (${(error as Error).message})` };
    }
  };

  return async () => {
    const probes = await Promise.all(
      SCOPE_PROBES.map((probe) =>
        polar(serverUrl, probe.method, probe.path).catch((error: Error) => error)
      ),
    );
    const checks: DoctorCheck[] = [await tokenCheck(probes[0])];
    const tokenValid = checks[0].ok;
    if (tokenValid) {
      SCOPE_PROBES.forEach((probe, index) => {
        const answer = probes[index];
        const name = `Scope ${probe.scope}`;
        if (answer instanceof Error || answer.status >= 500) {
          checks.push({
            name,
            ok: false,
            fix: `Polar did not answer ${probe.method} ${probe.path.split("?")[0]} (${
              answer instanceof Error ? answer.message : answer.status
            }); try again`,
          });
        } else if (answer.status === 403) {
          checks.push({
            name,
            ok: false,
            fix: `the token lacks ${probe.scope} (${probe.why}): make a new organization ` +
              `access token with the scopes in docs/polar-setup.md and set POLAR_ACCESS_TOKEN`,
          });
        } else checks.push({ name, ok: true });
      });
      const granted = (scope: string) =>
        checks.some((check) => check.name === `Scope ${scope}` && check.ok);
      const endpoints = probes[SCOPE_PROBES.findIndex((p) => p.scope === "webhooks:read")];
      if (granted("webhooks:read")) checks.push(...webhookChecks((endpoints as PolarAnswer).body));
      if (granted("products:read")) checks.push(...await productChecks());
    }
    checks.push(...await databaseChecks(), await issuerCheck());
    return { ok: checks.every((check) => check.ok), checks };
  };
}

/** Whether two URLs are the same, ignoring a trailing slash. */
function sameUrl(a: string, b: string): boolean {
  return a.replace(/\/+$/, "") === b.replace(/\/+$/, "");
}

/** Every scope the doctor checks, which is every scope the functions need. */
export const DOCTOR_SCOPES: readonly string[] = SCOPE_PROBES.map((probe) => probe.scope);

// The probes cover every scope a function needs: a scope added to POLAR_SCOPES without a probe
// fails here at load time, in the tests.
for (const scope of new Set(Object.values(POLAR_SCOPES).flat())) {
  if (!DOCTOR_SCOPES.includes(scope)) throw new Error(`The doctor has no probe for ${scope}`);
}
