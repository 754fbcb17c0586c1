/**
 * The functions' configuration, read from the environment once at start-up and validated, so a
 * missing or malformed variable is a clear start-up error that names it.
 *
 * @module
 */

/** Reads one environment variable; `Deno.env.get` in production, a record's lookup in tests. */
export type EnvReader = (name: string) => string | undefined;

/** Polar API environments, as `@polar-sh/sdk` names them. */
export const POLAR_SERVERS = ["sandbox", "production"] as const;

/** A Polar API environment. */
export type PolarServer = typeof POLAR_SERVERS[number];

/** What the portal and checkout functions need. */
export interface UserFunctionConfig {
  /** The project URL (`SUPABASE_URL`). */
  supabaseUrl: string;
  /** The publishable key, sent as `apikey` with the caller's token (see {@linkcode readSupabaseKey}). */
  supabasePublishableKey: string;
  /** The `iss` that user tokens must carry (`AUTH_JWT_ISSUER`, default `${SUPABASE_URL}/auth/v1`). */
  authIssuer: string;
  /**
   * The project's signing keys inline (`SUPABASE_JWKS`); when set, tokens are verified against
   * them and the JWKS is never fetched.
   */
  supabaseJwks: InlineJwks | undefined;
  /** How to reach Polar. */
  polar: PolarConfig;
  /** The web app's URL (`SITE_URL`): default return URL and an allowed origin. */
  siteUrl: string;
  /** Origins that CORS answers and redirect URLs may point at: `SITE_URL`'s and `ALLOWED_ORIGINS`. */
  allowedOrigins: readonly string[];
  /** Whether `ALLOWED_ORIGINS` was set, which restricts CORS to {@linkcode allowedOrigins}. */
  restrictCorsOrigins: boolean;
  /** Allowed product ids (`POLAR_PRODUCT_IDS`); empty means any. */
  productIds: readonly string[];
}

/** A JSON Web Key Set, as `SUPABASE_JWKS` holds it. */
export interface InlineJwks {
  /** The public keys (and, on projects that publish it, the legacy shared secret as `oct`). */
  keys: Record<string, unknown>[];
}

/** How to reach Polar's API. */
export interface PolarConfig {
  /** The organization access token (`POLAR_ACCESS_TOKEN`). */
  accessToken: string;
  /** `sandbox` or `production` (`POLAR_SERVER`). */
  server: PolarServer;
  /** A base URL that overrides {@linkcode server} (`POLAR_API_URL`). */
  apiUrl: string | undefined;
}

/** What the checkout function needs: the user functions' settings and the secret key. */
export interface CheckoutFunctionConfig extends UserFunctionConfig {
  /** The secret key, for writing the caller's customer link (see {@linkcode readSupabaseKey}). */
  supabaseSecretKey: string;
  /**
   * Whether a customer may hold several subscriptions (`POLAR_ALLOW_MULTIPLE_SUBSCRIPTIONS`,
   * `true` or `false`); `undefined` when unset: then Polar's organization setting decides.
   */
  allowMultipleSubscriptions: boolean | undefined;
}

/** What the sync function needs: the checkout function's settings, the keys that open the
 * operator's mode, and its pace towards Polar. */
export interface SyncFunctionConfig extends CheckoutFunctionConfig {
  /** Every secret or service role key set (see {@linkcode readOperatorKeys}). */
  operatorKeys: readonly string[];
  /** The schedule's secret (`POLAR_SYNC_SECRET`), one or two values (see {@linkcode readSyncSecrets}). */
  syncSecrets: readonly string[];
  /** Polar calls per minute a reconcile run allows itself (`POLAR_SYNC_RATE_PER_MINUTE`). */
  polarCallsPerMinute: number;
  /** Polar calls per minute all users' syncs share, across instances
   * (`POLAR_USER_SYNC_RATE_PER_MINUTE`). */
  userSyncCallsPerMinute: number;
}

/** What the webhook function needs. */
export interface WebhookFunctionConfig {
  /** The project URL (`SUPABASE_URL`). */
  supabaseUrl: string;
  /** The secret key, which bypasses RLS (see {@linkcode readSupabaseKey}). */
  supabaseSecretKey: string;
  /** The endpoint's signing secret (`POLAR_WEBHOOK_SECRET`). */
  polarWebhookSecret: string;
}

/**
 * One or more variables that are missing or malformed; the message names every one of them, in
 * one line, and never shows a secret.
 *
 * @example
 * ```ts
 * new ConfigError("SITE_URL", "is required but not set").message;
 * // "Invalid configuration: SITE_URL is required but not set"
 * ConfigError.of([new ConfigError("A", "is required but not set"), new ConfigError("B", "must be an http(s) URL")]).message;
 * // "Invalid configuration: A is required but not set; B must be an http(s) URL"
 * ```
 */
export class ConfigError extends Error {
  /** Each problem, as `<VARIABLE> <what is wrong>`. */
  readonly problems: readonly string[];

  /**
   * @param variable the variable's name
   * @param problem what is wrong with it
   */
  constructor(variable: string, problem: string) {
    super(`Invalid configuration: ${variable} ${problem}`);
    this.name = "ConfigError";
    this.problems = [`${variable} ${problem}`];
  }

  /**
   * One error that names the problems of several.
   *
   * @param errors the errors, at least one
   * @returns an error whose message lists them all
   */
  static of(errors: readonly ConfigError[]): ConfigError {
    if (errors.length === 1) return errors[0];
    const problems = errors.flatMap((error) => error.problems);
    const error = new ConfigError(problems[0], "");
    error.message = `Invalid configuration: ${problems.join("; ")}`;
    (error as { problems: readonly string[] }).problems = problems;
    return error;
  }
}

/**
 * Reads every part of a configuration, going on after a part's `ConfigError`, so one start-up
 * message names every variable to fix.
 */
class ConfigReader {
  readonly #errors: ConfigError[] = [];

  /** Runs one part; on a `ConfigError`, records it and answers `fallback`. */
  read<T>(part: () => T, fallback: T): T {
    try {
      return part();
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      this.#errors.push(error);
      return fallback;
    }
  }

  /** Throws one `ConfigError` naming every problem recorded, if any. */
  done(): void {
    if (this.#errors.length > 0) throw ConfigError.of(this.#errors);
  }
}

/**
 * Reads and validates the portal's and checkout's variables.
 *
 * @param env reads a variable
 * @returns the validated configuration
 * @throws {ConfigError} naming every variable that is missing or invalid
 * @example
 * ```ts
 * const env: Record<string, string> = {
 *   SUPABASE_URL: "http://127.0.0.1:54321",
 *   SUPABASE_PUBLISHABLE_KEYS: '{"default":"sb_publishable_x"}',
 *   POLAR_ACCESS_TOKEN: "polar_oat_x",
 *   SITE_URL: "http://127.0.0.1:3000",
 * };
 * loadUserFunctionConfig((name) => env[name]).authIssuer; // "http://127.0.0.1:54321/auth/v1"
 * ```
 */
export function loadUserFunctionConfig(env: EnvReader): UserFunctionConfig {
  const reader = new ConfigReader();
  const config = readUserFunctionConfig(env, reader);
  reader.done();
  return config;
}

function readUserFunctionConfig(env: EnvReader, reader: ConfigReader): UserFunctionConfig {
  const supabaseUrl = reader.read(() => readSupabaseUrl(env), "http://invalid");
  const siteUrl = reader.read(() => readUrl(env, "SITE_URL"), "http://invalid");
  const extraOrigins = reader.read(
    () => readList(env, "ALLOWED_ORIGINS").map((origin) => originOf("ALLOWED_ORIGINS", origin)),
    [],
  );
  const productIds = reader.read(() => {
    const ids = readList(env, "POLAR_PRODUCT_IDS");
    const bad = ids.filter((id) => !UUID.test(id));
    if (bad.length > 0) {
      throw new ConfigError(
        "POLAR_PRODUCT_IDS",
        `has ${bad.map((id) => `"${id.slice(0, 60)}"`).join(", ")}, not a UUID`,
      );
    }
    return ids;
  }, []);
  return {
    supabaseUrl,
    supabasePublishableKey: reader.read(() => readSupabaseKey(env, "publishable"), ""),
    authIssuer: reader.read(() => readOptionalUrl(env, "AUTH_JWT_ISSUER"), undefined) ??
      `${supabaseUrl}/auth/v1`,
    supabaseJwks: reader.read(() => readJwks(env), undefined),
    polar: readPolarConfig(env, reader),
    siteUrl,
    allowedOrigins: [...new Set([new URL(siteUrl).origin, ...extraOrigins])],
    restrictCorsOrigins: extraOrigins.length > 0,
    productIds,
  };
}

/**
 * Reads and validates the webhook function's variables.
 *
 * @param env reads a variable
 * @returns the validated configuration
 * @throws {ConfigError} naming every variable that is missing or invalid
 * @example
 * ```ts
 * const env: Record<string, string> = {
 *   SUPABASE_URL: "http://127.0.0.1:54321",
 *   SUPABASE_SECRET_KEYS: '{"default":"sb_secret_x"}',
 *   POLAR_WEBHOOK_SECRET: "whsec_abc",
 * };
 * loadWebhookFunctionConfig((name) => env[name]).polarWebhookSecret; // "whsec_abc"
 * ```
 */
export function loadWebhookFunctionConfig(env: EnvReader): WebhookFunctionConfig {
  const reader = new ConfigReader();
  const config = {
    supabaseUrl: reader.read(() => readSupabaseUrl(env), ""),
    supabaseSecretKey: reader.read(() => readSupabaseKey(env, "secret"), ""),
    polarWebhookSecret: reader.read(() => readRequired(env, "POLAR_WEBHOOK_SECRET"), ""),
  };
  reader.done();
  return config;
}

/**
 * Reads and validates the checkout function's variables: those of
 * {@linkcode loadUserFunctionConfig}, the secret key and `POLAR_ALLOW_MULTIPLE_SUBSCRIPTIONS`.
 *
 * @param env reads a variable
 * @returns the validated configuration
 * @throws {ConfigError} naming every variable that is missing or invalid
 * @example
 * ```ts
 * loadCheckoutFunctionConfig((name) => Deno.env.get(name)).supabaseSecretKey; // "sb_secret_…"
 * ```
 */
export function loadCheckoutFunctionConfig(env: EnvReader): CheckoutFunctionConfig {
  const reader = new ConfigReader();
  const config = readCheckoutFunctionConfig(env, reader);
  reader.done();
  return config;
}

function readCheckoutFunctionConfig(env: EnvReader, reader: ConfigReader): CheckoutFunctionConfig {
  return {
    ...readUserFunctionConfig(env, reader),
    supabaseSecretKey: reader.read(() => readSupabaseKey(env, "secret"), ""),
    allowMultipleSubscriptions: reader.read(
      () => readBoolean(env, "POLAR_ALLOW_MULTIPLE_SUBSCRIPTIONS"),
      undefined,
    ),
  };
}

/** `true` or `false` from `name`; `undefined` when it is not set; anything else refused. */
function readBoolean(env: EnvReader, name: string): boolean | undefined {
  const value = env(name)?.trim();
  if (value === undefined || value === "") return undefined;
  if (value === "true" || value === "false") return value === "true";
  throw new ConfigError(name, `is "${value}"; expected true or false`);
}

/**
 * Polar's documented rate limits (requests per minute per organization) are 500 in production
 * and 100 in the sandbox; a reconcile run takes 60% of that by default, users' syncs 20%
 * ({@linkcode DEFAULT_USER_SYNC_CALLS_PER_MINUTE}), and the remaining 20% is left to checkout
 * and portal, which are never paced.
 */
export const DEFAULT_POLAR_CALLS_PER_MINUTE = { production: 300, sandbox: 60 } as const;

/** What all users' syncs share by default: 20% of Polar's documented rate limits. */
export const DEFAULT_USER_SYNC_CALLS_PER_MINUTE = { production: 100, sandbox: 20 } as const;

/**
 * Reads and validates the sync function's variables: those of
 * {@linkcode loadCheckoutFunctionConfig}, every operator key, `POLAR_SYNC_RATE_PER_MINUTE` and
 * `POLAR_USER_SYNC_RATE_PER_MINUTE`.
 *
 * @param env reads a variable
 * @returns the validated configuration
 * @throws {ConfigError} naming every variable that is missing or invalid
 * @example
 * ```ts
 * loadSyncFunctionConfig((name) => Deno.env.get(name)).polarCallsPerMinute; // 60 in the sandbox
 * ```
 */
export function loadSyncFunctionConfig(env: EnvReader): SyncFunctionConfig {
  const reader = new ConfigReader();
  const config = readCheckoutFunctionConfig(env, reader);
  const server = config.polar.server;
  // The secret key's own problem is already recorded; its map is not read twice.
  const operatorKeys = config.supabaseSecretKey ? readOperatorKeys(env) : [];
  const sync = {
    ...config,
    operatorKeys,
    syncSecrets: reader.read(
      () => readSyncSecrets(env, [...operatorKeys, config.supabasePublishableKey]),
      [],
    ),
    polarCallsPerMinute: reader.read(
      () => readRate(env, "POLAR_SYNC_RATE_PER_MINUTE", DEFAULT_POLAR_CALLS_PER_MINUTE[server]),
      0,
    ),
    userSyncCallsPerMinute: reader.read(
      () =>
        readRate(
          env,
          "POLAR_USER_SYNC_RATE_PER_MINUTE",
          DEFAULT_USER_SYNC_CALLS_PER_MINUTE[server],
        ),
      0,
    ),
  };
  reader.done();
  return sync;
}

/** A positive number of calls per minute from `name`, or `fallback` when it is not set. */
function readRate(env: EnvReader, name: string, fallback: number): number {
  const value = env(name)?.trim();
  if (!value) return fallback;
  const rate = Number(value);
  if (!(rate > 0) || !Number.isFinite(rate)) {
    throw new ConfigError(name, `is "${value}", not a positive number`);
  }
  return rate;
}

/** The fewest characters a value of `POLAR_SYNC_SECRET` may have (`openssl rand -hex 32` gives 64). */
export const SYNC_SECRET_MIN_LENGTH = 32;

/**
 * Reads `POLAR_SYNC_SECRET`, the secret the schedule sends instead of a Supabase key: unset means
 * none; during a rotation it holds two comma-separated values, the new and the old. Each value has
 * at least {@linkcode SYNC_SECRET_MIN_LENGTH} characters and is no Supabase key, so the schedule
 * never carries one. No message shows a value.
 *
 * @param env reads a variable
 * @param supabaseKeys the project's keys, none of which the sync secret may be
 * @returns the values, without duplicates (empty when unset)
 * @throws {ConfigError} naming `POLAR_SYNC_SECRET` when a value is short, has spaces, is a
 *   Supabase key, or there are more than two
 * @example
 * ```ts
 * readSyncSecrets(() => undefined); // []
 * readSyncSecrets(() => "0123456789abcdef0123456789abcdef"); // ["0123456789abcdef0123456789abcdef"]
 * readSyncSecrets(() => "short"); // throws ConfigError: POLAR_SYNC_SECRET has a value shorter than 32 characters; …
 * ```
 */
export function readSyncSecrets(env: EnvReader, supabaseKeys: readonly string[] = []): string[] {
  const name = "POLAR_SYNC_SECRET";
  const values = [...new Set(readList(env, name))];
  if (values.length > 2) {
    throw new ConfigError(name, `has ${values.length} values; expected one, or two while rotating`);
  }
  for (const value of values) {
    if (value.length < SYNC_SECRET_MIN_LENGTH) {
      throw new ConfigError(
        name,
        `has a value shorter than ${SYNC_SECRET_MIN_LENGTH} characters; generate one with \`openssl rand -hex 32\``,
      );
    }
    if (/\s/.test(value)) throw new ConfigError(name, "has a value with white space in it");
    if (
      supabaseKeys.includes(value) || /^sb_(secret|publishable)_/.test(value) || JWT.test(value)
    ) {
      throw new ConfigError(name, "must not be a Supabase key; generate its own value");
    }
  }
  return values;
}

/** Three base64url parts, the first a JSON header: a JWT, as the legacy keys are. */
const JWT = /^eyJ[\w-]*\.[\w-]+\.[\w-]*$/;

/**
 * Every key that may call the sync function as the operator: each entry of
 * `SUPABASE_SECRET_KEYS`, `SUPABASE_SECRET_KEY` and the legacy `SUPABASE_SERVICE_ROLE_KEY`.
 *
 * @param env reads a variable
 * @returns the keys that are set, without duplicates
 * @example
 * ```ts
 * readOperatorKeys(() => undefined); // []
 * ```
 */
export function readOperatorKeys(env: EnvReader): string[] {
  const names = SUPABASE_KEY_VARIABLES.secret;
  const keys: string[] = [];
  const map = env(names.map)?.trim();
  if (map) {
    readDefaultKey(names.map, map); // validates the map
    for (const value of Object.values(JSON.parse(map) as Record<string, unknown>)) {
      if (typeof value === "string" && value.trim()) keys.push(value.trim());
    }
  }
  for (const name of [names.single, names.legacy]) {
    const value = env(name)?.trim();
    if (value) keys.push(value);
  }
  return [...new Set(keys)];
}

/** Where each kind of Supabase API key is read from, first match wins. */
export const SUPABASE_KEY_VARIABLES = {
  publishable: {
    map: "SUPABASE_PUBLISHABLE_KEYS",
    single: "SUPABASE_PUBLISHABLE_KEY",
    legacy: "SUPABASE_ANON_KEY",
  },
  secret: {
    map: "SUPABASE_SECRET_KEYS",
    single: "SUPABASE_SECRET_KEY",
    legacy: "SUPABASE_SERVICE_ROLE_KEY",
  },
} as const;

/** A kind of Supabase API key. */
export type SupabaseKeyKind = keyof typeof SUPABASE_KEY_VARIABLES;

/**
 * Reads a Supabase API key the way the platform provides it: the `default` entry of the JSON map
 * (`SUPABASE_PUBLISHABLE_KEYS`, `SUPABASE_SECRET_KEYS`), else the single new-style variable, else
 * the legacy JWT key (`SUPABASE_ANON_KEY`, `SUPABASE_SERVICE_ROLE_KEY`).
 *
 * @param env reads a variable
 * @param kind `publishable` or `secret`
 * @returns the key
 * @throws {ConfigError} when none is set (naming every accepted variable), or the map is malformed
 * @example
 * ```ts
 * readSupabaseKey(() => '{"default":"sb_publishable_abc"}', "publishable"); // "sb_publishable_abc"
 * ```
 */
export function readSupabaseKey(env: EnvReader, kind: SupabaseKeyKind): string {
  const names = SUPABASE_KEY_VARIABLES[kind];
  const map = env(names.map)?.trim();
  if (map) return readDefaultKey(names.map, map);
  const key = env(names.single)?.trim() || env(names.legacy)?.trim();
  if (key) return key;
  throw new ConfigError(
    `${names.map}, ${names.single} or ${names.legacy}`,
    "is required but none is set",
  );
}

function readDefaultKey(name: string, value: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new ConfigError(name, 'is not JSON; expected {"default":"<key>"}');
  }
  const key = typeof parsed === "object" && parsed !== null
    ? (parsed as Record<string, unknown>).default
    : undefined;
  if (typeof key !== "string" || key.trim() === "") {
    throw new ConfigError(name, 'has no "default" key');
  }
  return key.trim();
}

/**
 * Reads `SUPABASE_JWKS`: `{"keys":[…]}`, or a bare array of keys as some tools write it. Unset or
 * empty means "fetch the JWKS"; anything else that is not a key set stops the function at start-up
 * rather than failing every request later.
 *
 * @param env reads a variable
 * @returns the key set, or `undefined` when the variable is unset or empty
 * @throws {ConfigError} when it is set but not a key set
 * @example
 * ```ts
 * readJwks(() => '{"keys":[{"kty":"EC","kid":"k1","crv":"P-256","x":"…","y":"…"}]}')?.keys.length; // 1
 * ```
 */
export function readJwks(env: EnvReader): InlineJwks | undefined {
  const value = env("SUPABASE_JWKS")?.trim();
  if (!value) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new ConfigError("SUPABASE_JWKS", 'is not JSON; expected {"keys":[…]}');
  }
  const keys = Array.isArray(parsed) ? parsed : (parsed as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || !keys.every((key) => typeof key === "object" && key !== null)) {
    throw new ConfigError("SUPABASE_JWKS", 'is not a key set; expected {"keys":[…]}');
  }
  return { keys };
}

/**
 * Reads and validates how to reach Polar: `POLAR_ACCESS_TOKEN`, `POLAR_SERVER` and the optional
 * `POLAR_API_URL`.
 *
 * @param env reads a variable
 * @returns the Polar configuration
 * @throws {ConfigError} naming every variable that is missing or invalid
 * @example
 * ```ts
 * loadPolarConfig(() => undefined); // throws: POLAR_ACCESS_TOKEN is required but not set
 * ```
 */
export function loadPolarConfig(env: EnvReader): PolarConfig {
  const reader = new ConfigReader();
  const config = readPolarConfig(env, reader);
  reader.done();
  return config;
}

function readPolarConfig(env: EnvReader, reader: ConfigReader): PolarConfig {
  return {
    accessToken: reader.read(() => readRequired(env, "POLAR_ACCESS_TOKEN"), ""),
    server: reader.read(() => readPolarServer(env), "sandbox"),
    apiUrl: reader.read(() => readOptionalUrl(env, "POLAR_API_URL"), undefined),
  };
}

/**
 * Reads and validates the project URL (`SUPABASE_URL`).
 *
 * @param env reads a variable
 * @returns the URL without a trailing slash
 * @throws {ConfigError} when it is missing or not an http(s) URL
 * @example
 * ```ts
 * readSupabaseUrl(() => "https://ref.supabase.co/"); // "https://ref.supabase.co"
 * ```
 */
export function readSupabaseUrl(env: EnvReader): string {
  return readUrl(env, "SUPABASE_URL");
}

/** The canonical textual form of a UUID, any version. */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function readRequired(env: EnvReader, name: string): string {
  const value = env(name)?.trim();
  if (!value) throw new ConfigError(name, "is required but not set");
  return value;
}

function readUrl(env: EnvReader, name: string): string {
  return parseHttpUrl(name, readRequired(env, name));
}

function readOptionalUrl(env: EnvReader, name: string): string | undefined {
  const value = env(name)?.trim();
  return value ? parseHttpUrl(name, value) : undefined;
}

function parseHttpUrl(name: string, value: string): string {
  const url = URL.parse(value);
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) {
    throw new ConfigError(name, "must be an http(s) URL");
  }
  return value.replace(/\/+$/, "");
}

function originOf(name: string, value: string): string {
  return new URL(parseHttpUrl(name, value)).origin;
}

function readList(env: EnvReader, name: string): string[] {
  return (env(name) ?? "").split(",").map((item) => item.trim()).filter(Boolean);
}

function readPolarServer(env: EnvReader): PolarServer {
  const value = env("POLAR_SERVER")?.trim() || "sandbox";
  if (!(POLAR_SERVERS as readonly string[]).includes(value)) {
    throw new ConfigError("POLAR_SERVER", `is "${value}"; expected "sandbox" or "production"`);
  }
  return value as PolarServer;
}
