/**
 * The three real functions, each started with `deno run` as a user would, against loopback
 * stand-ins that can be faulted: the Supabase API (JWKS, Auth, PostgREST on a PostgreSQL
 * database) and the Polar API fake, each behind a TCP front that can drop or refuse connections.
 *
 * @module
 */
import type { Database } from "../local/database.ts";
import { apiKeyClaims, createTestKeys, type TestKeys, userClaims } from "../local/keys.ts";
import {
  type FunctionProcess,
  type LoopbackServer,
  serveOnLoopback,
  startFunction,
} from "../local/loopback.ts";
import { createSupabaseApi } from "../local/supabase_api.ts";
import { createWebhookSecret } from "../local/webhook_signing.ts";
import { type FakePolar, startFakePolar } from "../supabase/functions/tests/support/fake_polar.ts";
import { startTcpFront, type TcpFront } from "./tcp_front.ts";

/** The web app the functions serve; https, so that `http:` on the same host is another origin. */
export const SITE_URL = "https://app.example.com";

/** The one product `POLAR_PRODUCT_IDS` allows. */
export const PRODUCT_ID = "7a0f6c3e-5f4e-4f57-9a43-2b1e8f7c9d10";

/** The functions under test. */
export const FUNCTION_NAMES = ["portal", "checkout", "polar-webhooks"] as const;

/** A function's name. */
export type FunctionName = typeof FUNCTION_NAMES[number];

/** How a part of the Supabase API misbehaves. */
export const API_FAULTS = ["none", "unavailable", "hang", "late"] as const;

/**
 * A value of {@linkcode API_FAULTS}: `unavailable` answers 503 as PostgREST and Auth do when
 * their database is gone; `hang` never answers; `late` does the work, then answers only after
 * the caller gave up (a commit whose answer is lost).
 */
export type ApiFault = typeof API_FAULTS[number];

/** A running harness. */
export interface Harness extends AsyncDisposable {
  /** The database behind PostgREST. */
  db: Database;
  /** The signing keys the JWKS publishes. */
  keys: TestKeys;
  /** The issuer of user tokens. */
  issuer: string;
  /** The anon key. */
  anonKey: string;
  /** The endpoint's webhook secret. */
  webhookSecret: string;
  /** The Supabase API, as the functions reach it (through its TCP front). */
  apiFront: TcpFront;
  /** Faults of the API's parts, by path prefix. */
  apiFaults: { auth: ApiFault; rest: ApiFault };
  /** Paths the API was asked for. */
  upstream: string[];
  /** The Polar fake. */
  polar: FakePolar;
  /** Polar, as the functions reach it (through its TCP front). */
  polarFront: TcpFront;
  /** The running functions. */
  functions: Record<FunctionName, FunctionProcess>;
  /** Starts another process of a function with the same environment (a cold JWKS cache). */
  startFunction(name: FunctionName): Promise<FunctionProcess>;
  /** Signs a user's access token, with claims overridden or removed (`undefined`). */
  userToken(sub: string, overrides?: Record<string, unknown>): Promise<string>;
  /** A digest of every row the functions may write; equal digests mean nothing changed. */
  fingerprint(): Promise<string>;
  /** Stops everything. */
  close(): Promise<void>;
}

/** How long a `late` answer waits after the work is done: past the functions' 3 s limit. */
const LATE_ANSWER_MS = 5_000;
/** How long a `hang` waits before giving up on its own (the caller aborts long before). */
const HANG_MS = 30_000;

/**
 * Starts the stand-ins and the three functions.
 *
 * @param db a migrated database (see `databases.ts`)
 * @returns the harness; dispose of it to stop everything
 * @example
 * ```ts
 * await using h = await startHarness(fresh.db);
 * await fetch(h.functions.portal.url, { method: "POST", headers });
 * ```
 */
export async function startHarness(db: Database): Promise<Harness> {
  const cleanups: (() => PromiseLike<void> | void)[] = [];
  const close = async () => {
    for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => {});
  };
  try {
    const keys = await createTestKeys();
    const upstream: string[] = [];
    const apiFaults: Harness["apiFaults"] = { auth: "none", rest: "none" };
    const routes: { api?: (request: Request) => Promise<Response> } = {};
    const api: LoopbackServer = await serveOnLoopback(async (request) => {
      const path = new URL(request.url).pathname;
      const fault = path.startsWith("/rest/")
        ? apiFaults.rest
        : path.startsWith("/auth/")
        ? apiFaults.auth
        : "none";
      if (fault === "unavailable") {
        upstream.push(path);
        return Response.json(
          { code: "PGRST002", message: "Could not query the database", details: null, hint: null },
          { status: 503 },
        );
      }
      if (fault === "hang") {
        upstream.push(path);
        await delay(HANG_MS, request.signal);
        return new Response(null, { status: 504 });
      }
      const response = await routes.api!(request);
      if (fault === "late") await delay(LATE_ANSWER_MS, request.signal);
      return response;
    });
    cleanups.push(() => api.shutdown());
    const apiFront = startTcpFront(api.url);
    cleanups.push(() => apiFront.close());
    const issuer = `${apiFront.url}/auth/v1`;
    routes.api = createSupabaseApi({
      db,
      jwks: keys.jwks,
      issuer,
      onRequest: (path) => upstream.push(path),
    });

    const polar = await startFakePolar();
    cleanups.push(() => polar[Symbol.asyncDispose]());
    const polarFront = startTcpFront(polar.url);
    cleanups.push(() => polarFront.close());

    const anonKey = await keys.sign(apiKeyClaims("anon", issuer));
    const serviceRoleKey = await keys.sign(apiKeyClaims("service_role", issuer));
    const webhookSecret = createWebhookSecret();
    const envOf = (name: FunctionName): Record<string, string> =>
      name === "polar-webhooks"
        ? {
          SUPABASE_URL: apiFront.url,
          SUPABASE_SERVICE_ROLE_KEY: serviceRoleKey,
          POLAR_WEBHOOK_SECRET: webhookSecret,
        }
        : {
          SUPABASE_URL: apiFront.url,
          SUPABASE_ANON_KEY: anonKey,
          SUPABASE_SERVICE_ROLE_KEY: serviceRoleKey,
          POLAR_ACCESS_TOKEN: "polar_oat_reliability",
          POLAR_API_URL: polarFront.url,
          POLAR_PRODUCT_IDS: PRODUCT_ID,
          SITE_URL,
        };
    const start = async (name: FunctionName) => {
      const process = await startFunction(name, envOf(name));
      cleanups.push(() => process[Symbol.asyncDispose]());
      return process;
    };
    const [portal, checkout, webhooks] = await Promise.all(FUNCTION_NAMES.map(start));

    const harness: Harness = {
      db,
      keys,
      issuer,
      anonKey,
      webhookSecret,
      apiFront,
      apiFaults,
      upstream,
      polar,
      polarFront,
      functions: { portal, checkout, "polar-webhooks": webhooks },
      startFunction: start,
      userToken: async (sub, overrides = {}) => {
        const claims: Record<string, unknown> = { ...userClaims({ issuer, sub }), ...overrides };
        for (const [name, value] of Object.entries(overrides)) {
          if (value === undefined) delete claims[name];
        }
        return await keys.sign(claims);
      },
      fingerprint: () => fingerprint(db),
      close,
      [Symbol.asyncDispose]: close,
    };
    return harness;
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * A digest of `public.user_subscriptions`, `polar.webhook_deliveries` and `auth.users`.
 *
 * @param db the database
 * @returns an md5 over every row's text
 * @example
 * ```ts
 * const before = await fingerprint(db);
 * // … a request that must change nothing …
 * assert.equal(await fingerprint(db), before);
 * ```
 */
export async function fingerprint(db: Database): Promise<string> {
  const [row] = await db.query<{ digest: string }>(
    `select md5(
       coalesce((select string_agg(t::text, '|' order by t::text) from public.user_subscriptions t), '')
       || '#' || coalesce((select string_agg(d::text, '|' order by d::text) from polar.webhook_deliveries d), '')
       || '#' || coalesce((select string_agg(u::text, '|' order by u::text) from auth.users u), '')
     ) as digest`,
  );
  return row.digest;
}

/**
 * Waits `ms`, or less when `signal` aborts.
 *
 * @param ms milliseconds
 * @param signal an abort signal
 * @returns when the time is up or the signal aborted
 * @example
 * ```ts
 * await delay(100);
 * ```
 */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
