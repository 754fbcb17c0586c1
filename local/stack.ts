/**
 * The local stack: the whole billing loop on one machine, without Docker or accounts. PGlite with
 * the project's schema, a Supabase-compatible API (Auth, PostgREST, Functions) and a Polar
 * stand-in, each on loopback; the functions run as their real `index.ts` processes.
 *
 * @module
 */
import { corsHeaders } from "@supabase/supabase-js/cors";
import { createAuthHandler, createPasswordUser } from "./auth.ts";
import { createSchemaPglite, type Database, pgliteDatabase } from "./database.ts";
import { apiKeyClaims, createNewApiKeys, createTestKeys } from "./keys.ts";
import {
  type FunctionProcess,
  type LoopbackServer,
  serveOnLoopback,
  startFunction,
} from "./loopback.ts";
import { installCronStandIn, startCronRunner } from "./cron.ts";
import { createExampleSite } from "./example_site.ts";
import { migrate, postgresDatabase } from "./postgres.ts";
import {
  createPolarStandIn,
  CREDIT_PACK_PRODUCT_ID,
  DEMO_CREDIT_UNITS,
  DEMO_ENTITLEMENT_KEY,
  DEMO_METER,
  DEMO_PRODUCT_ID,
  type PolarStandIn,
  PRO_YEARLY_PRODUCT_ID,
  TEAM_PRODUCT_ID,
} from "./polar_stand_in.ts";
import { createSupabaseApi, translateApiKey } from "./supabase_api.ts";
import { createWebhookSecret } from "./webhook_signing.ts";

/** Options of {@linkcode startStack}. */
export interface StackOptions {
  /** The Supabase API's port; 54321 as `supabase start` uses, 0 for any free one. */
  apiPort?: number;
  /** The Polar stand-in's port; 54330 by default, 0 for any free one. */
  polarPort?: number;
  /** The port that serves the example web app (`examples/web`); 3000 by default, 0 for any. */
  sitePort?: number;
  /** Your own web app's URL instead of the example's; the example is then not served. */
  siteUrl?: string;
  /** A PostgreSQL server to use instead of embedded PGlite. */
  databaseUrl?: string;
  /**
   * `false`: the database at {@linkcode databaseUrl} already has the schema (a project's own
   * migrations applied by `supabase migration up`), so nothing is applied; `true` by default.
   */
  migrate?: boolean;
  /**
   * The `supabase/functions/` folder to run the functions from (an installed copy in another
   * project), instead of this repository's and the example app's.
   */
  functionsDir?: URL;
  /** The functions to start; every folder of {@linkcode functionsDir} with an `index.ts` by default. */
  functions?: readonly string[];
  /** A real Polar sandbox token; when set, the functions talk to Polar instead of the stand-in. */
  polarAccessToken?: string;
  /** The real endpoint's secret, required with {@linkcode polarAccessToken}. */
  polarWebhookSecret?: string;
  /** Your sandbox products' ids, required with {@linkcode polarAccessToken}: the functions'
   * `POLAR_PRODUCT_IDS`, and the first is the example app's product. */
  polarProductIds?: readonly string[];
  /** Your sandbox's seat-based product for teams (`POLAR_TEAM_PRODUCT_ID`), optional with
   * {@linkcode polarAccessToken}; also allowed to the functions. */
  polarTeamProductId?: string;
  /** The metadata `key` of the feature flag your product grants (`has_entitlement(key)`), for the
   * example app; `pro` (the stand-in's) by default. */
  entitlementKey?: string;
  /**
   * Which API keys the functions get: `new` (default) the platform's `SUPABASE_PUBLISHABLE_KEYS`,
   * `SUPABASE_SECRET_KEYS` and `SUPABASE_JWKS`, as a project without legacy keys has; `legacy`
   * only `SUPABASE_ANON_KEY` and `SUPABASE_SERVICE_ROLE_KEY` (the functions then fetch the JWKS).
   * The API accepts both styles in `apikey` either way.
   */
  keyStyle?: KeyStyle;
  /** `off`: the stand-in sends no webhook, as if Polar had disabled the endpoint. */
  polarWebhooks?: "on" | "off";
  /** Milliseconds the stand-in waits after a customer's last event or credit before it
   * recomputes that customer's meters and sends `customer.state_changed` (Polar: 15 s to 180
   * min); 3000 by default. */
  polarMeterRecomputeDelayMs?: number;
  /**
   * Milliseconds between two usage flushes (`sync` with `{"scope":"usage"}`), as the schedule
   * runs them on a project (every minute with pg_cron, every 10 s with Supabase Cron); off by
   * default. One flush always runs at start, which stores Polar's meters.
   */
  usageFlushIntervalMs?: number;
  /** Polar calls per minute the sync function's reconcile allows itself (the stand-in has no
   * limit, so the local stack lets it run fast). */
  polarSyncRatePerMinute?: number;
  /** Polar calls per minute all users' syncs share (unlimited against the stand-in unless set,
   * Polar's share by default against real Polar). */
  polarUserSyncRatePerMinute?: number;
  /**
   * Runs the schedule of `ops/schedule_sync.sql` on PGlite, which has no pg_cron, with the cron
   * stand-in (`local/cron.ts`): its jobs in `cron.job`, each run at its minute by calling `sync`
   * with the sync secret. Off by default (tests count Polar calls); `deno task dev` turns it on.
   * Ignored with {@linkcode databaseUrl}, whose server has its own pg_cron or none.
   */
  schedule?: boolean;
  /** Progress messages. */
  log?: (message: string) => void;
  /** Each function's output lines as they come, for `deno task dev` to show; none by default. */
  onFunctionOutput?: (name: string, line: string) => void;
}

/** The two styles of Supabase API keys. */
export type KeyStyle = "new" | "legacy";

/** A demo user's credentials. */
export interface DemoUser {
  /** The email. */
  email: string;
  /** The password. */
  password: string;
}

/** What `supabase/.temp/dev-stack.json` holds. */
export interface StackInfo {
  /** The Supabase API, for `createClient`. */
  api_url: string;
  /** The publishable key (`sb_publishable_…`), for `createClient` in a browser. */
  publishable_key: string;
  /** The secret key (`sb_secret_…`), server only; bypasses RLS. */
  secret_key: string;
  /** The legacy anon key (a JWT of role `anon`); works like the publishable key. */
  anon_key: string;
  /** The legacy service role key (a JWT); works like the secret key. */
  service_role_key: string;
  /** Which keys the functions were given (see {@linkcode StackOptions.keyStyle}). */
  function_key_style: KeyStyle;
  /** The Polar API the functions call. */
  polar_api_url: string;
  /** The webhook signing secret. */
  polar_webhook_secret: string;
  /**
   * The sync function's `POLAR_SYNC_SECRET`, which the schedule sends as its bearer token: opens
   * `{"scope":"all"}` and `{"scope":"deletions"}` of `sync` and nothing else.
   */
  sync_secret: string;
  /** The web app's URL. */
  site_url: string;
  /** `pglite`, or the server's URL without its password. */
  database: string;
  /** The stand-in's product id. */
  product_id: string;
  /** The metadata `key` of the benefit the product grants: `has_entitlement(entitlement_key)`. */
  entitlement_key: string;
  /** The demo meter's name, as `GET /v1/meters/` lists it. */
  meter: string;
  /** The one-time credit pack product: its `meter_credit` benefit adds units to {@linkcode meter}. */
  credit_product_id: string;
  /** The seat-based "Team" plan (bought with `seats`; each claimed seat grants
   * {@linkcode entitlement_key} to its member); `null` against a real sandbox without one. */
  team_product_id: string | null;
  /** The units the demo subscription's `meter_credit` benefit grants per cycle. */
  credit_units: number;
  /** The demo users. */
  users: DemoUser[];
}

/** A running stack. */
export interface Stack extends AsyncDisposable {
  /** Where everything is. */
  info: StackInfo;
  /** The database. */
  db: Database;
  /** The Polar stand-in (absent when a real Polar token is used). */
  polar: PolarStandIn | undefined;
  /**
   * Restarts one function with its environment changed (`undefined` removes a variable), as
   * `supabase secrets set` and a redeploy would; the doctor's tests break settings this way.
   */
  restartFunction(name: string, env: Record<string, string | undefined>): Promise<void>;
  /** Stops everything. */
  close(): Promise<void>;
}

/** The demo users created at start. */
export const DEMO_USERS: readonly DemoUser[] = [
  { email: "ada@example.com", password: "ada-password" },
  { email: "bob@example.com", password: "bob-password" },
];

const FUNCTIONS_DIR = new URL("../supabase/functions/", import.meta.url);
/** The example app's own functions (its paid "Summarise"), served beside the project's. */
const EXAMPLE_FUNCTIONS_DIR = new URL("../examples/web/supabase/functions/", import.meta.url);

/**
 * Starts the stack and waits until every part answers.
 *
 * @param options ports, site URL, optional real Polar credentials, a logger
 * @returns the running stack
 * @throws {Error} when a port is taken or a migration fails
 * @example
 * ```ts
 * await using stack = await startStack({ apiPort: 0, polarPort: 0 });
 * const supabase = createClient(stack.info.api_url, stack.info.anon_key);
 * ```
 */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const log = options.log ?? (() => {});
  // Checked before anything starts, so a missing value costs nothing to learn.
  const productIds = options.polarAccessToken
    ? checkRealPolarOptions(options)
    : [DEMO_PRODUCT_ID, PRO_YEARLY_PRODUCT_ID, CREDIT_PACK_PRODUCT_ID];
  const teamProductId = options.polarAccessToken
    ? options.polarTeamProductId ?? null
    : TEAM_PRODUCT_ID;
  const cleanups: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  };
  try {
    const db = await openDatabase(options.databaseUrl, options.migrate ?? true, log);
    cleanups.push(() => db.close());

    const keys = await createTestKeys();
    const routes: { handle?: (request: Request) => Promise<Response> } = {};
    const api = await listen(
      "Supabase API",
      (request) => routes.handle!(request),
      options.apiPort ?? 54321,
    );
    cleanups.push(() => api.shutdown());
    const issuer = `${api.url}/auth/v1`;
    const anonKey = await keys.sign(apiKeyClaims("anon", issuer));
    const serviceRoleKey = await keys.sign(apiKeyClaims("service_role", issuer));
    const newKeys = createNewApiKeys();
    const keyStyle = options.keyStyle ?? "new";

    const siteRoutes: { handle?: (request: Request) => Promise<Response> } = {};
    let siteUrl = options.siteUrl;
    if (!siteUrl) {
      const site = await listen(
        "Example site",
        (request) => siteRoutes.handle!(request),
        options.sitePort ?? 3000,
      );
      cleanups.push(() => site.shutdown());
      siteUrl = site.url;
    }

    const realPolar = Boolean(options.polarAccessToken);
    const webhookSecret = options.polarWebhookSecret ?? createWebhookSecret();
    let polar: PolarStandIn | undefined;
    let polarUrl = "https://sandbox-api.polar.sh";
    if (!realPolar) {
      const state: { polar?: PolarStandIn } = {};
      const server = await listen(
        "Polar stand-in",
        (request) => state.polar!.handler(request),
        options.polarPort ?? 54330,
      );
      cleanups.push(() => server.shutdown());
      polarUrl = server.url;
      polar = state.polar = createPolarStandIn({
        baseUrl: server.url,
        webhookUrl: `${api.url}/functions/v1/polar-webhooks`,
        webhookSecret,
        webhooks: options.polarWebhooks,
        meterRecomputeDelayMs: options.polarMeterRecomputeDelayMs,
      });
      cleanups.push(() => Promise.resolve(state.polar?.close()));
    }

    // What Supabase provides to deployed functions: the new keys and the inline JWKS on a project
    // without legacy keys, or only the legacy ones.
    const keyEnv: Record<string, string> = keyStyle === "new"
      ? {
        SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: newKeys.publishable }),
        SUPABASE_SECRET_KEYS: JSON.stringify({ default: newKeys.secret }),
        SUPABASE_JWKS: JSON.stringify(keys.jwks),
      }
      : { SUPABASE_ANON_KEY: anonKey, SUPABASE_SERVICE_ROLE_KEY: serviceRoleKey };
    const functionEnv: Record<string, string> = {
      SUPABASE_URL: api.url,
      ...keyEnv,
      POLAR_ACCESS_TOKEN: options.polarAccessToken ?? "polar_oat_local_stand_in",
      POLAR_SERVER: "sandbox",
      ...(realPolar ? {} : { POLAR_API_URL: polarUrl }),
      POLAR_PRODUCT_IDS: [
        ...productIds,
        ...(teamProductId && !productIds.includes(teamProductId) ? [teamProductId] : []),
      ].join(","),
      POLAR_WEBHOOK_SECRET: webhookSecret,
      // Against the stand-in nothing needs pacing unless a test asks; against real Polar the
      // function's defaults (shares of Polar's limit) apply.
      ...paceEnv("POLAR_SYNC_RATE_PER_MINUTE", options.polarSyncRatePerMinute, realPolar),
      ...paceEnv("POLAR_USER_SYNC_RATE_PER_MINUTE", options.polarUserSyncRatePerMinute, realPolar),
      SITE_URL: siteUrl,
    };
    // The schedule's secret: only the sync function is given it, as a deployed project would be.
    const syncSecret = createSyncSecret();
    const functions = new Map<string, FunctionProcess>();
    // An app's own function gets what Supabase gives every function, none of Polar's secrets.
    const appEnv = { SUPABASE_URL: api.url, ...keyEnv };
    const dirOf = new Map<string, URL>();
    const envOf = (name: string) =>
      dirOf.get(name) === EXAMPLE_FUNCTIONS_DIR
        ? appEnv
        : name === "sync"
        ? { ...functionEnv, POLAR_SYNC_SECRET: syncSecret }
        : functionEnv;
    const launch = async (name: string, env: Record<string, string>) => {
      const process = await startFunction(name, env, {
        functionsDir: dirOf.get(name),
        onOutput: options.onFunctionOutput && ((line) => options.onFunctionOutput!(name, line)),
      });
      functions.set(name, process);
    };
    cleanups.push(async () => {
      for (const process of functions.values()) await process[Symbol.asyncDispose]();
    });
    // Another project's functions (an installed copy) run alone; else this project's and the
    // example app's.
    const dirs = options.functionsDir
      ? [options.functionsDir]
      : [FUNCTIONS_DIR, EXAMPLE_FUNCTIONS_DIR];
    for (const functionsDir of dirs) {
      const names = functionsDir === EXAMPLE_FUNCTIONS_DIR
        ? await functionNames(functionsDir)
        : options.functions ?? await functionNames(functionsDir);
      for (const name of names) {
        log(`function: ${name}`);
        dirOf.set(name, functionsDir);
        await launch(name, envOf(name));
      }
    }
    const restartFunction = async (name: string, changes: Record<string, string | undefined>) => {
      const running = functions.get(name);
      if (!running) throw new Error(`No function ${name}`);
      const env: Record<string, string> = { ...envOf(name) };
      for (const [key, value] of Object.entries(changes)) {
        if (value === undefined) delete env[key];
        else env[key] = value;
      }
      functions.delete(name);
      await running[Symbol.asyncDispose]();
      await launch(name, env);
    };

    const gateway = { ...newKeys, serviceRoleToken: serviceRoleKey };
    const supabaseApi = createSupabaseApi({ db, jwks: keys.jwks, issuer, gateway });
    const auth = createAuthHandler({ db, keys, issuer });
    routes.handle = async (request) => {
      const { pathname, search } = new URL(request.url);
      const functionName = pathname.match(/^\/functions\/v1\/([^/]+)/)?.[1];
      if (functionName) return await proxyToFunction(functions.get(functionName), request, search);
      if (request.method === "OPTIONS") {
        return withCors(request, new Response(null, { status: 204 }));
      }
      const routed = translateApiKey(request, gateway);
      if (routed instanceof Response) return withCors(request, routed);
      return withCors(request, (await auth(routed)) ?? (await supabaseApi(routed)));
    };

    /** An operator call of `sync`, as the schedule sends it: the sync secret as the bearer. */
    const callSync = (body: Record<string, unknown>) =>
      fetch(`${functions.get("sync")!.url}/`, {
        method: "POST",
        headers: { Authorization: `Bearer ${syncSecret}`, "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
    if (options.schedule && !options.databaseUrl) {
      log("schedule: the jobs of ops/schedule_sync.sql in the pg_cron stand-in");
      await installCronStandIn(db);
      const stopCron = startCronRunner(db, async (body) => {
        await (await callSync(body)).body?.cancel();
      });
      cleanups.push(() => Promise.resolve(stopCron()));
    }
    for (const user of DEMO_USERS) await createPasswordUser(db, user.email, user.password);
    if (!realPolar) {
      // The price list, pulled as an operator would after installing: sync's catalog scope.
      log('catalog: sync {"scope":"catalog"}');
      const response = await callSync({ scope: "catalog" });
      if (!response.ok) {
        throw new Error(
          `sync's catalog scope answered ${response.status}: ${await response.text()}`,
        );
      }
      await response.body?.cancel();
    }
    const flushUsage = () => flushUsageOnce(callSync, log);
    await flushUsage();
    if (options.usageFlushIntervalMs) {
      let flushing = Promise.resolve();
      const timer = setInterval(() => {
        flushing = flushing.then(flushUsage);
      }, options.usageFlushIntervalMs);
      cleanups.push(async () => {
        clearInterval(timer);
        await flushing;
      });
    }
    if (!options.siteUrl) {
      log("example site: bundling examples/web");
      siteRoutes.handle = await createExampleSite({
        api_url: api.url,
        anon_key: newKeys.publishable,
        entitlement_key: options.entitlementKey ?? DEMO_ENTITLEMENT_KEY,
        meter: DEMO_METER.name,
        credit_product_id: CREDIT_PACK_PRODUCT_ID,
        team_product_id: teamProductId,
      });
    }

    const info: StackInfo = {
      api_url: api.url,
      publishable_key: newKeys.publishable,
      secret_key: newKeys.secret,
      anon_key: anonKey,
      service_role_key: serviceRoleKey,
      function_key_style: keyStyle,
      polar_api_url: polarUrl,
      polar_webhook_secret: webhookSecret,
      sync_secret: syncSecret,
      site_url: siteUrl,
      database: options.databaseUrl ? withoutPassword(options.databaseUrl) : "pglite",
      product_id: productIds[0],
      entitlement_key: options.entitlementKey ?? DEMO_ENTITLEMENT_KEY,
      meter: DEMO_METER.name,
      credit_product_id: CREDIT_PACK_PRODUCT_ID,
      team_product_id: teamProductId,
      credit_units: DEMO_CREDIT_UNITS,
      users: [...DEMO_USERS],
    };
    return { info, db, polar, restartFunction, close, [Symbol.asyncDispose]: close };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * What a real sandbox needs besides the token: the endpoint's signing secret (Polar signs every
 * webhook with it; one made up here would make every delivery fail verification) and the
 * products to sell.
 *
 * @param options the stack's options, with a real token
 * @returns the product ids
 * @throws {Error} naming every missing value and where it comes from
 */
function checkRealPolarOptions(options: StackOptions): string[] {
  const problems: string[] = [];
  if (!options.polarWebhookSecret) {
    problems.push(
      "POLAR_WEBHOOK_SECRET is required with POLAR_ACCESS_TOKEN: create the webhook endpoint in " +
        "Polar first (Settings → Webhooks), then copy its secret (docs/polar-setup.md)",
    );
  }
  const ids = options.polarProductIds ?? [];
  if (ids.length === 0) {
    problems.push(
      "POLAR_PRODUCT_IDS is required with POLAR_ACCESS_TOKEN: your sandbox product ids, comma-" +
        "separated (Products → the product → ⋯ → Copy Product ID); the first is the example app's",
    );
  }
  if (problems.length > 0) throw new Error(problems.join("; "));
  return [...ids];
}

async function openDatabase(
  url: string | undefined,
  apply: boolean,
  log: (message: string) => void,
): Promise<Database> {
  if (!url) {
    log("database: PGlite, applying bootstrap, migrations and seed");
    return pgliteDatabase(await createSchemaPglite());
  }
  const db = postgresDatabase(url);
  if (!apply) {
    log(`database: ${withoutPassword(url)}, as it is`);
    return db;
  }
  log(`database: ${withoutPassword(url)}, applying what is new`);
  try {
    const applied = await migrate(db);
    log(`database: ${applied.length} migration(s) applied`);
    return db;
  } catch (error) {
    await db.close();
    throw error;
  }
}

function withoutPassword(url: string): string {
  const parsed = new URL(url);
  parsed.password = "";
  return parsed.href;
}

async function listen(
  name: string,
  handler: (request: Request) => Promise<Response>,
  port: number,
): Promise<LoopbackServer> {
  try {
    return await serveOnLoopback(handler, port);
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) {
      throw new Error(`${name}: port ${port} on 127.0.0.1 is already in use`, { cause: error });
    }
    throw error;
  }
}

async function functionNames(functionsDir: URL): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(functionsDir)) {
    if (!entry.isDirectory || entry.name.startsWith("_") || entry.name === "tests") continue;
    try {
      await Deno.stat(new URL(`${entry.name}/index.ts`, functionsDir));
      names.push(entry.name);
    } catch { /* not a function */ }
  }
  return names.sort();
}

/**
 * One usage flush as the schedule sends it: it stores Polar's meters, then sends the outbox. A
 * failure is logged, not thrown: the next flush tries again, as on a project.
 */
async function flushUsageOnce(
  callSync: (body: Record<string, unknown>) => Promise<Response>,
  log: (message: string) => void,
): Promise<void> {
  try {
    const response = await callSync({ scope: "usage" });
    const body = await response.text();
    if (!response.ok) log(`usage flush: ${response.status} ${body}`);
  } catch (error) {
    log(`usage flush: ${(error as Error).message}`);
  }
}

/** 32 random bytes as hex, as `openssl rand -hex 32` makes a `POLAR_SYNC_SECRET`. */
function createSyncSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

async function proxyToFunction(
  target: FunctionProcess | undefined,
  request: Request,
  search: string,
): Promise<Response> {
  if (!target) {
    return withCors(request, Response.json({ error: "Function not found" }, { status: 404 }));
  }
  const body = request.method === "GET" || request.method === "HEAD"
    ? undefined
    : await request.arrayBuffer();
  const response = await fetch(`${target.url}/${search}`, {
    method: request.method,
    headers: request.headers,
    body,
    redirect: "manual",
  });
  return new Response(response.body, { status: response.status, headers: response.headers });
}

// Supabase's gateway answers CORS for Auth and PostgREST itself, allowing whatever headers the
// client asks for (auth-js sends X-Supabase-Api-Version, which the functions' list leaves out).
function withCors(request: Request, response: Response): Response {
  const headers = new Headers(response.headers);
  for (const [name, value] of Object.entries(corsHeaders)) headers.set(name, value);
  const asked = request.headers.get("Access-Control-Request-Headers");
  if (asked) headers.set("Access-Control-Allow-Headers", asked);
  return new Response(response.body, { status: response.status, headers });
}

/** A pace variable for the functions: the caller's value, else unpaced for the stand-in. */
function paceEnv(name: string, value: number | undefined, realPolar: boolean) {
  const rate = value ?? (realPolar ? undefined : 60_000);
  return rate === undefined ? {} : { [name]: String(rate) };
}
