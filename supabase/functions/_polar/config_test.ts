import assert from "node:assert/strict";
import {
  ConfigError,
  loadCheckoutFunctionConfig,
  loadSyncFunctionConfig,
  loadUserFunctionConfig,
  loadWebhookFunctionConfig,
  readSupabaseKey,
  readSyncSecrets,
} from "./config.ts";

const BASE = {
  SUPABASE_URL: "http://127.0.0.1:54321",
  POLAR_ACCESS_TOKEN: "polar_oat_x",
  SITE_URL: "http://127.0.0.1:3000",
  POLAR_WEBHOOK_SECRET: "whsec_x",
};

function envOf(vars: Record<string, string>) {
  return (name: string) => vars[name];
}

Deno.test("readSupabaseKey takes the default key of the map, then the single key, then the legacy key", async (t) => {
  const cases: [string, Record<string, string>, string, string][] = [
    [
      "the map wins over the rest",
      {
        SUPABASE_PUBLISHABLE_KEYS: '{"default":"sb_publishable_map","web":"sb_publishable_web"}',
        SUPABASE_PUBLISHABLE_KEY: "sb_publishable_single",
        SUPABASE_ANON_KEY: "legacy-anon",
      },
      "publishable",
      "sb_publishable_map",
    ],
    [
      "the single key wins over the legacy one",
      {
        SUPABASE_PUBLISHABLE_KEY: "sb_publishable_single",
        SUPABASE_ANON_KEY: "legacy-anon",
      },
      "publishable",
      "sb_publishable_single",
    ],
    [
      "the legacy anon key alone",
      { SUPABASE_ANON_KEY: "legacy-anon" },
      "publishable",
      "legacy-anon",
    ],
    [
      "the secret map",
      {
        SUPABASE_SECRET_KEYS: '{"default":"sb_secret_map"}',
        SUPABASE_SERVICE_ROLE_KEY: "legacy-service",
      },
      "secret",
      "sb_secret_map",
    ],
    [
      "the single secret key",
      { SUPABASE_SECRET_KEY: "sb_secret_single" },
      "secret",
      "sb_secret_single",
    ],
    [
      "the legacy service role key alone",
      {
        SUPABASE_SERVICE_ROLE_KEY: "legacy-service",
      },
      "secret",
      "legacy-service",
    ],
    [
      "an empty map variable falls through",
      {
        SUPABASE_SECRET_KEYS: " ",
        SUPABASE_SECRET_KEY: "sb_secret_single",
      },
      "secret",
      "sb_secret_single",
    ],
  ];
  for (const [name, vars, kind, expected] of cases) {
    await t.step(name, () => {
      assert.equal(readSupabaseKey(envOf(vars), kind as "publishable" | "secret"), expected);
    });
  }
});

Deno.test("readSupabaseKey names every accepted variable when none is set", () => {
  assert.throws(() => readSupabaseKey(envOf({}), "publishable"), {
    name: "ConfigError",
    message:
      "Invalid configuration: SUPABASE_PUBLISHABLE_KEYS, SUPABASE_PUBLISHABLE_KEY or SUPABASE_ANON_KEY is required but none is set",
  });
  assert.throws(() => readSupabaseKey(envOf({ SUPABASE_ANON_KEY: "anon" }), "secret"), {
    message:
      "Invalid configuration: SUPABASE_SECRET_KEYS, SUPABASE_SECRET_KEY or SUPABASE_SERVICE_ROLE_KEY is required but none is set",
  });
});

Deno.test("readSupabaseKey refuses a malformed key map without showing it", async (t) => {
  for (const value of ["sb_secret_raw", "[]", "null", '{"web":"sb_secret_x"}', '{"default":""}']) {
    await t.step(value, () => {
      assert.throws(
        () => readSupabaseKey(envOf({ SUPABASE_SECRET_KEYS: value }), "secret"),
        (error: Error) =>
          error instanceof ConfigError &&
          error.message.startsWith("Invalid configuration: SUPABASE_SECRET_KEYS ") &&
          !error.message.includes("sb_secret_"),
      );
    });
  }
});

Deno.test("the function configs read the new keys", () => {
  const env = envOf({
    ...BASE,
    SUPABASE_PUBLISHABLE_KEYS: '{"default":"sb_publishable_p"}',
    SUPABASE_SECRET_KEYS: '{"default":"sb_secret_s"}',
  });
  assert.equal(loadUserFunctionConfig(env).supabasePublishableKey, "sb_publishable_p");
  assert.equal(loadCheckoutFunctionConfig(env).supabaseSecretKey, "sb_secret_s");
  assert.equal(loadWebhookFunctionConfig(env).supabaseSecretKey, "sb_secret_s");
});

Deno.test("the portal's config does not need the secret key; checkout's does", () => {
  const env = envOf({ ...BASE, SUPABASE_ANON_KEY: "anon" });
  assert.equal(loadUserFunctionConfig(env).supabasePublishableKey, "anon");
  assert.throws(() => loadCheckoutFunctionConfig(env), /SUPABASE_SECRET_KEYS, SUPABASE_SECRET_KEY/);
});

Deno.test("POLAR_ALLOW_MULTIPLE_SUBSCRIPTIONS is true, false or unset (Polar's setting decides)", async (t) => {
  const keys = { SUPABASE_ANON_KEY: "anon", SUPABASE_SERVICE_ROLE_KEY: "service" };
  const cases: [string | undefined, boolean | undefined][] = [
    [undefined, undefined],
    ["", undefined],
    ["true", true],
    ["false", false],
    [" true ", true],
  ];
  for (const [value, expected] of cases) {
    await t.step(JSON.stringify(value ?? null), () => {
      const env = envOf({
        ...BASE,
        ...keys,
        ...(value !== undefined && { POLAR_ALLOW_MULTIPLE_SUBSCRIPTIONS: value }),
      });
      assert.equal(loadCheckoutFunctionConfig(env).allowMultipleSubscriptions, expected);
    });
  }
  for (const value of ["yes", "1", "TRUE"]) {
    await t.step(`refuses ${value}`, () => {
      const env = envOf({ ...BASE, ...keys, POLAR_ALLOW_MULTIPLE_SUBSCRIPTIONS: value });
      assert.throws(
        () => loadCheckoutFunctionConfig(env),
        new RegExp(`POLAR_ALLOW_MULTIPLE_SUBSCRIPTIONS is "${value}"; expected true or false`),
      );
    });
  }
});

Deno.test("loadUserFunctionConfig restricts CORS only when ALLOWED_ORIGINS is set", async (t) => {
  const base = { ...BASE, SUPABASE_ANON_KEY: "anon", SITE_URL: "https://app.example.com/app/" };
  await t.step("unset: any origin, redirects to SITE_URL's origin only", () => {
    const config = loadUserFunctionConfig(envOf(base));
    assert.equal(config.restrictCorsOrigins, false);
    assert.deepEqual(config.allowedOrigins, ["https://app.example.com"]);
    assert.equal(config.siteUrl, "https://app.example.com/app");
  });
  await t.step("set: SITE_URL's origin and each listed origin, deduplicated", () => {
    const config = loadUserFunctionConfig(envOf({
      ...base,
      ALLOWED_ORIGINS:
        " https://admin.example.com/path , https://app.example.com,http://127.0.0.1:5173",
    }));
    assert.equal(config.restrictCorsOrigins, true);
    assert.deepEqual(config.allowedOrigins, [
      "https://app.example.com",
      "https://admin.example.com",
      "http://127.0.0.1:5173",
    ]);
  });
  await t.step("an entry that is not an http(s) URL is a start-up error", () => {
    assert.throws(
      () => loadUserFunctionConfig(envOf({ ...base, ALLOWED_ORIGINS: "admin.example.com" })),
      /ALLOWED_ORIGINS must be an http\(s\) URL/,
    );
  });
});

Deno.test("loadUserFunctionConfig reads SUPABASE_JWKS, or leaves it to a fetch", async (t) => {
  const base = { ...BASE, SUPABASE_ANON_KEY: "anon" };
  const key = { kty: "EC", kid: "k1", crv: "P-256", x: "x", y: "y" };
  await t.step("unset or empty: fetched", () => {
    assert.equal(loadUserFunctionConfig(envOf(base)).supabaseJwks, undefined);
    assert.equal(
      loadUserFunctionConfig(envOf({ ...base, SUPABASE_JWKS: " " })).supabaseJwks,
      undefined,
    );
  });
  await t.step("a key set, or a bare array of keys", () => {
    for (const value of [JSON.stringify({ keys: [key] }), JSON.stringify([key])]) {
      assert.deepEqual(
        loadUserFunctionConfig(envOf({ ...base, SUPABASE_JWKS: value })).supabaseJwks,
        { keys: [key] },
      );
    }
  });
  await t.step("anything else is a start-up error that names it", () => {
    for (const value of ["{", '"x"', '{"keys":{}}', '{"keys":[null]}']) {
      assert.throws(
        () => loadUserFunctionConfig(envOf({ ...base, SUPABASE_JWKS: value })),
        (error: Error) => error instanceof ConfigError && /SUPABASE_JWKS/.test(error.message),
      );
    }
  });
});

Deno.test("the sync paces follow POLAR_SERVER: a share of Polar's limit for each, the rest left", async (t) => {
  const env = (vars: Record<string, string> = {}) =>
    envOf({ ...BASE, SUPABASE_SECRET_KEY: "sb_secret_s", SUPABASE_ANON_KEY: "anon", ...vars });
  const paces = (vars?: Record<string, string>) => {
    const config = loadSyncFunctionConfig(env(vars));
    return [config.polarCallsPerMinute, config.userSyncCallsPerMinute];
  };
  await t.step("the sandbox (the default) allows 100 a minute", () => {
    assert.deepEqual(paces(), [60, 20]);
    assert.deepEqual(paces({ POLAR_SERVER: "sandbox" }), [60, 20]);
  });
  await t.step("production allows 500", () => {
    assert.deepEqual(paces({ POLAR_SERVER: "production" }), [300, 100]);
  });
  await t.step("each can be set", () => {
    assert.deepEqual(
      paces({ POLAR_SYNC_RATE_PER_MINUTE: "50", POLAR_USER_SYNC_RATE_PER_MINUTE: "7.5" }),
      [50, 7.5],
    );
  });
  for (
    const [name, value] of [
      ["POLAR_SYNC_RATE_PER_MINUTE", "0"],
      ["POLAR_USER_SYNC_RATE_PER_MINUTE", "-1"],
      ["POLAR_USER_SYNC_RATE_PER_MINUTE", "fast"],
    ]
  ) {
    await t.step(`${name}="${value}" is a start-up error naming it`, () => {
      assert.throws(
        () => paces({ [name]: value }),
        (error: unknown) => error instanceof ConfigError && error.message.includes(name),
      );
    });
  }
});

Deno.test("loadSyncFunctionConfig reads POLAR_SYNC_SECRET: optional, one value or two while rotating", async (t) => {
  const secret = "a".repeat(32);
  const old = "b".repeat(64);
  const cases: [string, string | undefined, string[]][] = [
    ["unset", undefined, []],
    ["empty", " ", []],
    ["one value", secret, [secret]],
    ["new and old, spaces trimmed", ` ${secret} , ${old} `, [secret, old]],
    ["the same value twice", `${secret},${secret}`, [secret]],
  ];
  for (const [name, value, expected] of cases) {
    await t.step(name, () => {
      const env = envOf({
        ...BASE,
        SUPABASE_ANON_KEY: "anon",
        SUPABASE_SERVICE_ROLE_KEY: "service",
        ...(value !== undefined && { POLAR_SYNC_SECRET: value }),
      });
      assert.deepEqual(loadSyncFunctionConfig(env).syncSecrets, expected);
    });
  }
});

Deno.test("POLAR_SYNC_SECRET that is short, a Supabase key or three values is a config error that shows no value", async (t) => {
  const serviceKey =
    "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2lnbmF0dXJlc2lnbmF0dXJl";
  const cases: [string, string, RegExp][] = [
    ["a value of 31 characters", "c".repeat(31), /shorter than 32 characters/],
    ["a short second value", `${"d".repeat(40)},short-old-one`, /shorter than 32 characters/],
    ["the project's secret key", `sb_secret_${"e".repeat(30)}`, /must not be a Supabase key/],
    ["a publishable key", `sb_publishable_${"f".repeat(30)}`, /must not be a Supabase key/],
    ["the legacy service role key", serviceKey, /must not be a Supabase key/],
    ["three values", ["1", "2", "3"].map((c) => c.repeat(32)).join(","), /has 3 values/],
  ];
  for (const [name, value, problem] of cases) {
    await t.step(name, () => {
      const env = envOf({
        ...BASE,
        SUPABASE_ANON_KEY: "anon",
        SUPABASE_SERVICE_ROLE_KEY: serviceKey,
        POLAR_SYNC_SECRET: value,
      });
      assert.throws(
        () => loadSyncFunctionConfig(env),
        (error: Error) =>
          error instanceof ConfigError &&
          error.message.startsWith("Invalid configuration: POLAR_SYNC_SECRET ") &&
          problem.test(error.message) &&
          value.split(",").every((part) => !error.message.includes(part)),
      );
    });
  }
  assert.throws(() => readSyncSecrets(envOf({ POLAR_SYNC_SECRET: "x" })), ConfigError);
});

Deno.test("every missing or malformed variable is named at once, in one message", () => {
  const env = envOf({
    SUPABASE_URL: "ftp://nope",
    POLAR_SERVER: "staging",
    POLAR_PRODUCT_IDS: "prod_1,also-bad",
    POLAR_SYNC_RATE_PER_MINUTE: "fast",
  });
  assert.throws(() => loadSyncFunctionConfig(env), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.deepEqual(error.problems, [
      "SUPABASE_URL must be an http(s) URL",
      "SITE_URL is required but not set",
      'POLAR_PRODUCT_IDS has "prod_1", "also-bad", not a UUID',
      "SUPABASE_PUBLISHABLE_KEYS, SUPABASE_PUBLISHABLE_KEY or SUPABASE_ANON_KEY is required but none is set",
      "POLAR_ACCESS_TOKEN is required but not set",
      'POLAR_SERVER is "staging"; expected "sandbox" or "production"',
      "SUPABASE_SECRET_KEYS, SUPABASE_SECRET_KEY or SUPABASE_SERVICE_ROLE_KEY is required but none is set",
      'POLAR_SYNC_RATE_PER_MINUTE is "fast", not a positive number',
    ]);
    assert.equal(error.message, `Invalid configuration: ${error.problems.join("; ")}`);
    return true;
  });
});
