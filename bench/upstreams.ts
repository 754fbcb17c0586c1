/**
 * The upstreams both portal implementations face, on 127.0.0.1: the Supabase API stand-in
 * (JWKS, `/auth/v1/user`, PostgREST on PGlite or a PostgreSQL server) and the Polar stand-in,
 * each with an added latency per call and a counter of every call by kind.
 *
 * @module
 */
import type { Database } from "../local/database.ts";
import { apiKeyClaims, createTestKeys, type TestKeys, userClaims } from "../local/keys.ts";
import { type LoopbackServer, serveOnLoopback } from "../local/loopback.ts";
import { customerModel } from "../local/polar_models.ts";
import { createPolarStandIn, type PolarStandIn } from "../local/polar_stand_in.ts";
import { createSupabaseApi } from "../local/supabase_api.ts";
import { createWebhookSecret } from "../local/webhook_signing.ts";

/** The kinds of upstream call, as the stand-ins see them. */
export const UPSTREAM_CALLS = ["jwks", "auth_user", "rest", "polar"] as const;

/** One kind of upstream call. */
export type UpstreamCall = typeof UPSTREAM_CALLS[number];

/** Calls seen per kind, and the time the stand-ins spent answering them (added latency included). */
export interface CallCounts {
  /** Calls per kind. */
  calls: Record<UpstreamCall, number>;
  /** Total milliseconds from a call's arrival to its answer, over all calls. */
  busyMs: number;
}

/** The running upstreams. */
export interface Upstreams extends AsyncDisposable {
  /** The Supabase API's URL (`SUPABASE_URL`). */
  supabaseUrl: string;
  /** The Polar stand-in's URL (`POLAR_API_URL`). */
  polarUrl: string;
  /** The anon key. */
  anonKey: string;
  /** The service role key. */
  serviceRoleKey: string;
  /** The webhook signing secret the Polar stand-in and `polar-webhooks` share. */
  webhookSecret: string;
  /** The signing keys, to mint user tokens. */
  keys: TestKeys;
  /** The issuer of user tokens. */
  issuer: string;
  /** The database behind PostgREST. */
  db: Database;
  /** The Polar stand-in's state, to add customers. */
  polar: PolarStandIn;
  /** Sets the latency added to every upstream call from now on. */
  setLatency(ms: number): void;
  /** The counts since the last reset. */
  counts(): CallCounts;
  /** Sets every count back to zero. */
  resetCounts(): void;
}

/** A signed-in user whose Polar customer exists. */
export interface PortalUser {
  /** The user id. */
  userId: string;
  /** Their access token, valid for an hour. */
  accessToken: string;
}

/**
 * Starts both stand-ins on loopback ports.
 *
 * @param db the database PostgREST reads (schema applied)
 * @returns the upstreams; dispose to stop them
 * @example
 * ```ts
 * await using upstreams = await startUpstreams(pgliteDatabase(await createSchemaPglite()));
 * upstreams.setLatency(25);
 * ```
 */
export async function startUpstreams(db: Database): Promise<Upstreams> {
  const keys = await createTestKeys();
  let latencyMs = 0;
  let counts = emptyCounts();
  const measured = (
    classify: (path: string) => UpstreamCall | undefined,
    handler: (request: Request) => Promise<Response>,
  ) =>
  async (request: Request) => {
    const started = performance.now();
    const kind = classify(new URL(request.url).pathname);
    // The delay stands for the network and the service's own time: one per call, before it.
    if (latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, latencyMs));
    const response = await handler(request);
    if (kind) {
      counts.calls[kind]++;
      counts.busyMs += performance.now() - started;
    }
    return response;
  };

  const routes: { supabase?: (request: Request) => Promise<Response> } = {};
  const polarRoutes: { polar?: PolarStandIn } = {};
  const supabaseServer = await serveOnLoopback(
    measured(supabaseCallKind, (request) => routes.supabase!(request)),
  );
  const polarServer = await serveOnLoopback(
    measured(
      (path) => path.startsWith("/v1/") ? "polar" : undefined,
      (request) => polarRoutes.polar!.handler(request),
    ),
  );
  const issuer = `${supabaseServer.url}/auth/v1`;
  const webhookSecret = createWebhookSecret();
  routes.supabase = createSupabaseApi({ db, jwks: keys.jwks, issuer });
  const polar = polarRoutes.polar = createPolarStandIn({
    baseUrl: polarServer.url,
    webhookUrl: "http://127.0.0.1:9/unused",
    webhookSecret,
  });
  const stop = async () => {
    await Promise.all(
      [supabaseServer, polarServer].map((server: LoopbackServer) => server.shutdown()),
    );
  };
  return {
    supabaseUrl: supabaseServer.url,
    polarUrl: polarServer.url,
    anonKey: await keys.sign(apiKeyClaims("anon", issuer)),
    serviceRoleKey: await keys.sign(apiKeyClaims("service_role", issuer)),
    webhookSecret,
    keys,
    issuer,
    db,
    polar,
    setLatency: (ms) => {
      latencyMs = ms;
    },
    counts: () => structuredClone(counts),
    resetCounts: () => {
      counts = emptyCounts();
    },
    [Symbol.asyncDispose]: stop,
  };
}

/**
 * Adds a user to `auth.users`, links them to a new Polar customer in both the database and the
 * Polar stand-in, and signs them in.
 *
 * @param upstreams the upstreams
 * @returns the user and their token
 * @example
 * ```ts
 * const { accessToken } = await createPortalUser(upstreams);
 * ```
 */
export async function createPortalUser(upstreams: Upstreams): Promise<PortalUser> {
  const userId = crypto.randomUUID();
  const email = `${userId.slice(0, 8)}@example.com`;
  // Real Polar fills `avatar_url` (a Gravatar URL); the anchor's SDK (0.42) rejects `null` there.
  const customer = {
    ...customerModel({ externalId: userId, email }),
    avatar_url: `https://www.gravatar.com/avatar/${userId.replaceAll("-", "")}?d=404`,
  };
  upstreams.polar.customers.set(customer.id, customer);
  await upstreams.db.query("insert into auth.users (id, email) values ($1, $2)", [userId, email]);
  await upstreams.db.query(
    "insert into public.user_subscriptions (user_id, polar_customer_id, status) values ($1, $2, 'active')",
    [userId, customer.id],
  );
  const accessToken = await upstreams.keys.sign(
    userClaims({ issuer: upstreams.issuer, sub: userId, email }),
  );
  return { userId, accessToken };
}

function emptyCounts(): CallCounts {
  return { calls: { jwks: 0, auth_user: 0, rest: 0, polar: 0 }, busyMs: 0 };
}

function supabaseCallKind(path: string): UpstreamCall | undefined {
  if (path === "/auth/v1/.well-known/jwks.json") return "jwks";
  if (path === "/auth/v1/user") return "auth_user";
  if (path.startsWith("/rest/v1/")) return "rest";
  return undefined;
}
