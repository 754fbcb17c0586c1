/**
 * A stand-in for Supabase Auth's password endpoints, enough for supabase-js's `signUp`,
 * `signInWithPassword`, `refreshSession`, `getUser` and `signOut`. Sessions are ES256 tokens signed
 * with the stack's key, shaped like Supabase's; passwords are stored as PBKDF2 hashes in
 * `auth.users.encrypted_password`.
 *
 * @module
 */
import type { Database } from "./database.ts";
import { type TestKeys, userClaims } from "./keys.ts";

/** Options of {@linkcode createAuthHandler}. */
export interface AuthOptions {
  /** The database holding `auth.users`. */
  db: Database;
  /** The signing keys. */
  keys: TestKeys;
  /** The issuer, `${api_url}/auth/v1`. */
  issuer: string;
}

/** Seconds a session's access token lives, as Supabase's default. */
const SESSION_SECONDS = 3600;
const PBKDF2_ITERATIONS = 100_000;

/**
 * Adds a confirmed user with a password.
 *
 * @param db the database
 * @param email the email
 * @param password the password
 * @returns the user's id
 * @example
 * ```ts
 * const id = await createPasswordUser(db, "ada@example.com", "password-ada");
 * ```
 */
export async function createPasswordUser(
  db: Database,
  email: string,
  password: string,
): Promise<string> {
  const [row] = await db.query<{ id: string }>(
    // Confirmed at once, as Supabase Auth does with email confirmations off.
    `insert into auth.users (email, encrypted_password, email_confirmed_at) values ($1, $2, now())
     on conflict (email) do update set encrypted_password = excluded.encrypted_password
     returning id`,
    [email.toLowerCase(), await hashPassword(password)],
  );
  return row.id;
}

/**
 * Makes the handler for `/auth/v1/token`, `/auth/v1/signup` and `/auth/v1/logout`.
 *
 * @param options database, keys and issuer
 * @returns a handler; `undefined` for paths it does not serve
 * @example
 * ```ts
 * const auth = createAuthHandler({ db, keys, issuer });
 * await auth(new Request(`${api}/auth/v1/token?grant_type=password`, { method: "POST", body }));
 * ```
 */
export function createAuthHandler(
  options: AuthOptions,
): (request: Request) => Promise<Response | undefined> {
  const { db, keys, issuer } = options;
  const refreshTokens = new Map<string, string>();

  const session = async (user: { id: string; email: string }) => {
    const now = Math.floor(Date.now() / 1000);
    const refreshToken = crypto.randomUUID().replaceAll("-", "");
    refreshTokens.set(refreshToken, user.id);
    return Response.json({
      access_token: await keys.sign(userClaims({ issuer, sub: user.id, email: user.email, now })),
      token_type: "bearer",
      expires_in: SESSION_SECONDS,
      expires_at: now + SESSION_SECONDS,
      refresh_token: refreshToken,
      user: userJson(user),
    });
  };

  return async (request) => {
    const url = new URL(request.url);
    if (request.method !== "POST") return undefined;
    if (url.pathname === "/auth/v1/logout") return new Response(null, { status: 204 });
    const isToken = url.pathname === "/auth/v1/token";
    if (!isToken && url.pathname !== "/auth/v1/signup") return undefined;
    const body = await request.json().catch(() => ({}));
    const grant = url.searchParams.get("grant_type");

    if (isToken && grant === "refresh_token") {
      const userId = refreshTokens.get(String(body.refresh_token));
      if (!userId) return authError(400, "refresh_token_not_found", "Invalid Refresh Token");
      refreshTokens.delete(String(body.refresh_token));
      const [user] = await db.query<{ id: string; email: string }>(
        "select id, email from auth.users where id = $1",
        [userId],
      );
      return user ? await session(user) : authError(400, "user_not_found", "User not found");
    }
    const email = typeof body.email === "string" ? body.email.trim().toLowerCase() : "";
    const password = typeof body.password === "string" ? body.password : "";
    if (!email || !password) {
      return authError(400, "validation_failed", "Email and password are required");
    }
    if (!isToken) {
      if (password.length < 6) {
        return authError(422, "weak_password", "Password should be at least 6 characters.");
      }
      const exists = await db.query("select 1 from auth.users where email = $1", [email]);
      if (exists.length) return authError(422, "user_already_exists", "User already registered");
      return await session({ id: await createPasswordUser(db, email, password), email });
    }
    if (grant !== "password") return authError(400, "unsupported_grant_type", "Unsupported grant");
    const [user] = await db.query<{ id: string; email: string; encrypted_password: string }>(
      "select id, email, encrypted_password from auth.users where email = $1",
      [email],
    );
    if (!user || !(await verifyPassword(password, user.encrypted_password ?? ""))) {
      return authError(400, "invalid_credentials", "Invalid login credentials");
    }
    return await session(user);
  };
}

function userJson(user: { id: string; email: string }) {
  return {
    id: user.id,
    aud: "authenticated",
    role: "authenticated",
    email: user.email,
    email_confirmed_at: new Date(0).toISOString(),
    app_metadata: { provider: "email", providers: ["email"] },
    user_metadata: {},
    identities: [],
    created_at: new Date(0).toISOString(),
    updated_at: new Date(0).toISOString(),
    is_anonymous: false,
  };
}

function authError(status: number, code: string, message: string): Response {
  return Response.json({ code: status, error_code: code, msg: message }, { status });
}

async function hashPassword(password: string): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  return `pbkdf2$${toHex(salt)}$${toHex(await derive(password, salt))}`;
}

async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, saltHex, hashHex] = stored.split("$");
  if (scheme !== "pbkdf2" || !saltHex || !hashHex) return false;
  const salt = new Uint8Array(saltHex.match(/../g)!.map((byte) => parseInt(byte, 16)));
  return toHex(await derive(password, salt)) === hashHex;
}

async function derive(password: string, salt: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(password),
    "PBKDF2",
    false,
    ["deriveBits"],
  );
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt, iterations: PBKDF2_ITERATIONS },
    key,
    256,
  );
  return new Uint8Array(bits);
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}
