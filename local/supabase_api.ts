/**
 * A stand-in for the parts of a Supabase project's API that the functions call: Auth's JWKS and
 * `/auth/v1/user`, and PostgREST at `/rest/v1`. Tokens are checked with `jose` against the same
 * JWKS that is published, as Supabase Auth and PostgREST do with asymmetric keys; `apikey` takes
 * both the legacy JWT keys and the new `sb_publishable_…` / `sb_secret_…` ones, as the gateway
 * does.
 *
 * @module
 */
import { createLocalJWKSet, type JWK, jwtVerify } from "jose";
import type { Database } from "./database.ts";
import { createPostgrestHandler } from "./postgrest.ts";

/** Options of {@linkcode createSupabaseApi}. */
export interface SupabaseApiOptions {
  /** The database PostgREST reads. */
  db: Database;
  /** The published signing keys. */
  jwks: { keys: JWK[] };
  /** The issuer tokens must carry. */
  issuer: string;
  /** Called with the path of every request, so tests can count upstream round trips. */
  onRequest?: (path: string) => void;
  /** The new-style API keys the gateway accepts in `apikey`; without them, only JWT keys. */
  gateway?: GatewayKeys;
}

/** What the gateway needs to accept new-style API keys. */
export interface GatewayKeys {
  /** The `sb_publishable_…` key: requests run as `anon`. */
  publishable: string;
  /** The `sb_secret_…` key: requests run as `service_role`. */
  secret: string;
  /** A `service_role` JWT, which the gateway puts in place of the secret key for Auth and PostgREST. */
  serviceRoleToken: string;
}

/**
 * What Supabase's gateway does with a new-style key in `apikey` (header or query): an unknown
 * `sb_…` key is refused with 401; a known one stands in for the legacy JWT of its role when the
 * request carries no user token (no `Authorization`, or the key itself as the bearer): the
 * publishable key runs as `anon`, the secret key as `service_role`. A user's token in
 * `Authorization` is left alone, so RLS sees the user. Legacy JWT keys pass unchanged.
 *
 * @param request the incoming request
 * @param keys the project's new-style keys
 * @returns the request to route on, or the gateway's 401
 * @example
 * ```ts
 * const routed = translateApiKey(request, gateway);
 * if (routed instanceof Response) return routed;
 * ```
 */
export function translateApiKey(request: Request, keys: GatewayKeys): Request | Response {
  const apikey = request.headers.get("apikey") ?? new URL(request.url).searchParams.get("apikey");
  if (!apikey?.startsWith("sb_")) return request;
  const role = apikey === keys.publishable ? "anon" : apikey === keys.secret ? "service_role" : "";
  if (!role) {
    return Response.json(
      { message: "Invalid API key", hint: "Double check your Supabase API key." },
      { status: 401 },
    );
  }
  const authorization = request.headers.get("Authorization");
  if (authorization && authorization !== `Bearer ${apikey}`) return request;
  const headers = new Headers(request.headers);
  if (role === "anon") headers.delete("Authorization");
  else headers.set("Authorization", `Bearer ${keys.serviceRoleToken}`);
  return new Request(request, { headers });
}

/**
 * Makes the API handler.
 *
 * @param options database, keys and issuer
 * @returns a handler for `/auth/v1/…` and `/rest/v1/…`
 * @example
 * ```ts
 * const api = createSupabaseApi({ db, jwks: keys.jwks, issuer });
 * Deno.serve({ hostname: "127.0.0.1", port: 0 }, api);
 * ```
 */
export function createSupabaseApi(
  options: SupabaseApiOptions,
): (request: Request) => Promise<Response> {
  const keySet = createLocalJWKSet(options.jwks);
  const verifyToken = async (token: string) => {
    try {
      const { payload } = await jwtVerify(token, keySet, {
        issuer: options.issuer,
        algorithms: ["ES256", "RS256"],
      });
      return payload as Record<string, unknown>;
    } catch {
      return null;
    }
  };
  const rest = createPostgrestHandler({ db: options.db, verifyToken });

  /** `DELETE /auth/v1/admin/users/{id}`, as GoTrue answers it: the service key only. With
   * `{"should_soft_delete": true}` (`auth.admin.deleteUser(id, true)`) the row stays and only
   * `deleted_at` is set, as GoTrue's soft delete does. */
  const deleteUser = async (request: Request, id: string) => {
    const token = request.headers.get("Authorization")?.match(/^Bearer (.+)$/)?.[1];
    const claims = token ? await verifyToken(token) : null;
    if (claims?.role !== "service_role") {
      return Response.json({ code: 403, error_code: "not_admin", msg: "User not allowed" }, {
        status: 403,
      });
    }
    const body = await request.json().catch(() => ({}));
    const deleted = await options.db.query(
      body?.should_soft_delete === true
        ? "update auth.users set deleted_at = now() where id = $1 and deleted_at is null returning id"
        : "delete from auth.users where id = $1 returning id",
      [id],
    );
    return deleted.length
      ? Response.json({})
      : Response.json({ code: 404, error_code: "user_not_found", msg: "User not found" }, {
        status: 404,
      });
  };

  return async (incoming) => {
    const { pathname } = new URL(incoming.url);
    options.onRequest?.(pathname);
    if (pathname === "/auth/v1/.well-known/jwks.json") return Response.json(options.jwks);
    // Supabase Auth's OpenID discovery document: the doctor reads the project's issuer here.
    if (pathname === "/auth/v1/.well-known/openid-configuration") {
      return Response.json({
        issuer: options.issuer,
        jwks_uri: `${options.issuer}/.well-known/jwks.json`,
        id_token_signing_alg_values_supported: ["ES256", "RS256", "HS256"],
      });
    }
    const request = options.gateway ? translateApiKey(incoming, options.gateway) : incoming;
    if (request instanceof Response) return request;
    if (pathname === "/auth/v1/user" && request.method === "GET") {
      const token = request.headers.get("Authorization")?.match(/^Bearer (.+)$/)?.[1];
      const claims = token ? await verifyToken(token) : null;
      if (!claims || typeof claims.sub !== "string") {
        return Response.json(
          {
            code: 403,
            error_code: "bad_jwt",
            msg: "invalid JWT: unable to parse or verify signature",
          },
          { status: 403 },
        );
      }
      return Response.json({
        id: claims.sub,
        aud: claims.aud,
        role: claims.role,
        email: claims.email,
        app_metadata: claims.app_metadata ?? {},
        user_metadata: claims.user_metadata ?? {},
        created_at: new Date(0).toISOString(),
      });
    }
    const adminUser = pathname.match(/^\/auth\/v1\/admin\/users\/([0-9a-f-]{36})$/i);
    if (adminUser && request.method === "DELETE") return await deleteUser(request, adminUser[1]);
    if (pathname.startsWith("/rest/v1/")) return await rest(request);
    return Response.json({ message: "Not found" }, { status: 404 });
  };
}
