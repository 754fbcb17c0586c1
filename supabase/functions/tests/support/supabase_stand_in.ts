/**
 * The Supabase a test talks to: a fresh PGlite database with the schema, signing keys, the anon
 * and service role keys, and the API stand-in (JWKS, `/auth/v1/user`, PostgREST) either routed
 * in-process (handler tests, no socket) or served on 127.0.0.1 (tests of the real functions).
 *
 * @module
 */
import type { Database } from "../../../../local/database.ts";
import { apiKeyClaims, createTestKeys, type TestKeys, userClaims } from "../../../../local/keys.ts";
import { serveOnLoopback } from "../../../../local/loopback.ts";
import { createSupabaseApi } from "../../../../local/supabase_api.ts";
import { createTestDatabase } from "./database.ts";
import { fetchFrom } from "./fetch.ts";

/** A test's Supabase. */
export interface TestSupabase extends AsyncDisposable {
  /** The project URL. */
  url: string;
  /** `${url}/auth/v1`, the issuer of every token. */
  issuer: string;
  /** The database. */
  db: Database;
  /** The signing keys. */
  keys: TestKeys;
  /** The anon key. */
  anonKey: string;
  /** The service role key. */
  serviceRoleKey: string;
  /** The path of every request the API received, to count upstream round trips. */
  upstream: string[];
  /** A `fetch` that reaches the API (in-process or over loopback). */
  fetch: typeof fetch;
  /** A signed-in user's access token. */
  userToken(userId: string, email?: string): Promise<string>;
  /** Takes the API off the network (loopback only): connections are refused from then on. */
  stop(): Promise<void>;
}

/** Where the API answers: routed in-process, or on a loopback port. */
export type Transport = "in-process" | "loopback";

/**
 * Sets up a test's Supabase.
 *
 * @param transport `in-process` (default) or `loopback`
 * @returns the Supabase; dispose of it at the end of the test
 * @example
 * ```ts
 * await using supabase = await createTestSupabase();
 * const client = createServerClient(supabase.url, supabase.anonKey, { fetch: supabase.fetch });
 * ```
 */
export async function createTestSupabase(
  transport: Transport = "in-process",
): Promise<TestSupabase> {
  const db = await createTestDatabase();
  const keys = await createTestKeys();
  const upstream: string[] = [];
  // The issuer names the URL, which a loopback server knows only once it listens.
  let api: (request: Request) => Promise<Response> = () => Promise.reject(new Error("not ready"));
  const handler = (request: Request) => api(request);
  let url = "http://supabase.test";
  let stop = () => Promise.resolve();
  if (transport === "loopback") {
    const server = await serveOnLoopback(handler);
    let running = true;
    url = server.url;
    stop = async () => {
      if (running) await server.shutdown();
      running = false;
    };
  }
  const issuer = `${url}/auth/v1`;
  api = createSupabaseApi({
    db,
    jwks: keys.jwks,
    issuer,
    onRequest: (path) => upstream.push(path),
  });
  return {
    url,
    issuer,
    db,
    keys,
    anonKey: await keys.sign(apiKeyClaims("anon", issuer)),
    serviceRoleKey: await keys.sign(apiKeyClaims("service_role", issuer)),
    upstream,
    fetch: transport === "loopback" ? globalThis.fetch : fetchFrom(handler),
    userToken: (userId, email) => keys.sign(userClaims({ issuer, sub: userId, email })),
    stop,
    async [Symbol.asyncDispose]() {
      await stop();
      await db.close();
    },
  };
}
