import assert from "node:assert/strict";
import { createPolarStandIn } from "../../../local/polar_stand_in.ts";
import { CREDIT_PACK_PRODUCT_ID, DEMO_PRODUCT_ID } from "../../../local/polar_models.ts";
import {
  createDoctor,
  type DatabaseDoctorAnswer,
  DOCTOR_SCOPES,
  type DoctorDependencies,
  EXPECTED_CRON_JOBS,
  EXPECTED_SQL_FUNCTIONS,
} from "./doctor.ts";
import { HANDLED_EVENT_TYPES } from "../_polar/polar_webhooks.ts";

const SUPABASE_URL = "http://supabase.test";
const POLAR_URL = "http://polar.test";

const healthyDatabase = (): DatabaseDoctorAnswer => ({
  missing_functions: [],
  cron_installed: true,
  jobs: EXPECTED_CRON_JOBS.map((name) => ({ name, schedule: "* * * * *", active: true })),
});

/** The doctor against the Polar stand-in (in process) and a project whose Auth names `issuer`. */
function setup(
  options: {
    config?: Partial<DoctorDependencies["config"]>;
    database?: () => Promise<DatabaseDoctorAnswer>;
    issuer?: string;
    servers?: Record<string, number>;
  } = {},
) {
  const polar = createPolarStandIn({
    baseUrl: POLAR_URL,
    webhookUrl: `${SUPABASE_URL}/functions/v1/polar-webhooks`,
    webhookSecret: "whsec_dGVzdA==",
  });
  const requests: string[] = [];
  const fakeFetch = (input: string | URL | Request, init?: RequestInit) => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    requests.push(`${request.method} ${url.origin}${url.pathname}`);
    if (url.origin === SUPABASE_URL) {
      return Promise.resolve(
        Response.json({ issuer: options.issuer ?? `${SUPABASE_URL}/auth/v1` }),
      );
    }
    if (url.origin === POLAR_URL) return polar.handler(request);
    const status = options.servers?.[url.host];
    if (status === undefined) return Promise.reject(new TypeError("no route to host"));
    return Promise.resolve(Response.json({}, { status }));
  };
  const doctor = createDoctor({
    config: {
      supabaseUrl: SUPABASE_URL,
      authIssuer: `${SUPABASE_URL}/auth/v1`,
      polar: { accessToken: "polar_oat_doctor", server: "sandbox", apiUrl: POLAR_URL },
      productIds: [DEMO_PRODUCT_ID, CREDIT_PACK_PRODUCT_ID],
      syncSecrets: ["0123456789abcdef0123456789abcdef"],
      ...options.config,
    },
    databaseDoctor: options.database ?? (() => Promise.resolve(healthyDatabase())),
    fetch: fakeFetch as typeof fetch,
  });
  const failed = async () => {
    const report = await doctor();
    return report.checks.filter((check) => !check.ok);
  };
  return { polar, doctor, failed, requests };
}

Deno.test("the doctor passes every check on a configuration without a fault", async () => {
  const t = setup();
  const report = await t.doctor();
  assert.deepEqual(report.checks.filter((check) => !check.ok), []);
  assert.equal(report.ok, true);
  assert.deepEqual(report.checks.map((check) => check.name), [
    "Polar token (POLAR_SERVER=sandbox)",
    ...DOCTOR_SCOPES.map((scope) => `Scope ${scope}`),
    "Webhook endpoint exists",
    "Webhook endpoint enabled",
    "Webhook endpoint format raw",
    "Webhook endpoint events",
    `Product ${DEMO_PRODUCT_ID}`,
    `Product ${CREDIT_PACK_PRODUCT_ID}`,
    "Migrations applied",
    "Schedule installed",
    "POLAR_SYNC_SECRET set",
    "Token issuer",
  ]);
  const pro = report.checks.find((check) => check.name === `Product ${DEMO_PRODUCT_ID}`);
  assert.match(pro?.detail ?? "", /"Pro" grants Members-only notes \(feature_flag, key "pro"\)/);
});

Deno.test("the doctor's Polar calls change nothing: reads, empty bodies Polar refuses, and a delete of no one", async () => {
  const t = setup();
  const customersBefore = t.polar.customers.size;
  await t.doctor();
  assert.equal(t.polar.customers.size, customersBefore);
  assert.equal(t.polar.events.length, 0);
  const writes = t.requests.filter((r) => !r.startsWith("GET"));
  assert.deepEqual(writes.sort(), [
    `DELETE ${POLAR_URL}/v1/customer-seats/00000000-0000-0000-0000-000000000000`,
    `DELETE ${POLAR_URL}/v1/customers/external/polar-billing-doctor-probe`,
    `DELETE ${POLAR_URL}/v1/customers/external/polar-billing-doctor-probe/members/polar-billing-doctor-probe`,
    `POST ${POLAR_URL}/v1/checkouts/`,
    `POST ${POLAR_URL}/v1/customer-sessions/`,
    `POST ${POLAR_URL}/v1/events/ingest`,
  ]);
});

Deno.test("a token Polar refuses is the one failure, and says so without the checks that need it", async () => {
  const t = setup();
  t.polar.acceptedToken = "polar_oat_another";
  const failed = await t.failed();
  assert.deepEqual(failed.map((check) => check.name), ["Polar token (POLAR_SERVER=sandbox)"]);
  assert.match(
    failed[0].fix ?? "",
    /POLAR_API_URL \(http:\/\/polar\.test\) refuses POLAR_ACCESS_TOKEN/,
  );
});

Deno.test("a production token with POLAR_SERVER=sandbox is told to set POLAR_SERVER=production", async () => {
  const t = setup({
    config: { polar: { accessToken: "polar_oat_x", server: "sandbox", apiUrl: undefined } },
    servers: { "sandbox-api.polar.sh": 401, "api.polar.sh": 200 },
  });
  const failed = await t.failed();
  assert.equal(failed[0].name, "Polar token (POLAR_SERVER=sandbox)");
  assert.match(failed[0].fix ?? "", /a production token: set POLAR_SERVER=production/);
});

Deno.test("a token valid on neither server is told to make a new one", async () => {
  const t = setup({
    config: { polar: { accessToken: "polar_oat_x", server: "production", apiUrl: undefined } },
    servers: { "sandbox-api.polar.sh": 401, "api.polar.sh": 401 },
  });
  const failed = await t.failed();
  assert.equal(failed[0].name, "Polar token (POLAR_SERVER=production)");
  assert.match(failed[0].fix ?? "", /on both servers: make a new organization access token/);
});

Deno.test("each scope taken from the token fails exactly its own check", async (test) => {
  for (const scope of DOCTOR_SCOPES) {
    await test.step(scope, async () => {
      const t = setup();
      // Polar lets a read scope's write partner read too, so a read scope is gone only with it.
      const taken = scope.endsWith(":read") ? [scope, scope.replace(":read", ":write")] : [scope];
      for (const name of taken) t.polar.scopes.delete(name);
      const failed = await t.failed();
      const expected = DOCTOR_SCOPES.filter((name) => taken.includes(name));
      assert.deepEqual(failed.map((check) => check.name), expected.map((name) => `Scope ${name}`));
      assert.match(failed[0].fix ?? "", new RegExp(`the token lacks ${scope} \\(`));
    });
  }
});

Deno.test("each webhook endpoint setting that is wrong fails exactly its check", async (test) => {
  const cases: [string, (t: ReturnType<typeof setup>) => void, string, RegExp][] = [
    [
      "another URL",
      (t) => t.polar.webhookEndpoint.url = "https://old.example/functions/v1/polar-webhooks",
      "Webhook endpoint exists",
      /add a webhook endpoint at http:\/\/supabase\.test\/functions\/v1\/polar-webhooks.*old\.example/,
    ],
    ["disabled", (t) => t.polar.webhooksEnabled = false, "Webhook endpoint enabled", /re-enable/],
    [
      "format discord",
      (t) => t.polar.webhookEndpoint.format = "discord",
      "Webhook endpoint format raw",
      /"discord".*choose Raw/,
    ],
    [
      "an event missing",
      (t) =>
        t.polar.webhookEndpoint.events = HANDLED_EVENT_TYPES.filter((type) =>
          type !== "subscription.revoked"
        ),
      "Webhook endpoint events",
      /does not send subscription\.revoked:/,
    ],
  ];
  for (const [name, breakIt, check, fix] of cases) {
    await test.step(name, async () => {
      const t = setup();
      breakIt(t);
      const failed = await t.failed();
      assert.deepEqual(failed.map((c) => c.name), [check]);
      assert.match(failed[0].fix ?? "", fix);
    });
  }
});

Deno.test("a product id Polar does not know, or an archived product, fails that product's check", async () => {
  const unknown = "00000000-0000-4000-8000-000000000000";
  const t = setup({ config: { productIds: [DEMO_PRODUCT_ID, unknown] } });
  t.polar.products.find((p) => p.id === DEMO_PRODUCT_ID)!.is_archived = true;
  const failed = await t.failed();
  assert.deepEqual(failed.map((c) => c.name), [`Product ${DEMO_PRODUCT_ID}`, `Product ${unknown}`]);
  assert.match(failed[0].fix ?? "", /archived/);
  assert.match(failed[1].fix ?? "", /has no product 0{8}-.*correct POLAR_PRODUCT_IDS/);
});

Deno.test("without POLAR_PRODUCT_IDS the doctor says checkout accepts any product", async () => {
  const report = await setup({ config: { productIds: [] } }).doctor();
  const check = report.checks.find((c) => c.name === "POLAR_PRODUCT_IDS");
  assert.equal(check?.ok, true);
  assert.match(check?.detail ?? "", /accepts any product/);
});

Deno.test("the database checks: migrations, the schedule's jobs and the sync secret", async (test) => {
  const cases: [
    string,
    Partial<Parameters<typeof setup>[0]>,
    string,
    RegExp,
  ][] = [
    [
      "no polar_doctor (migrations not applied)",
      {
        database: () =>
          Promise.reject(
            new Error("polar_doctor failed: Could not find the function", {
              cause: { code: "PGRST202" },
            }),
          ),
      },
      "Migrations applied",
      /db push/,
    ],
    [
      "a function missing",
      {
        database: () =>
          Promise.resolve({ ...healthyDatabase(), missing_functions: ["consume_usage"] }),
      },
      "Migrations applied",
      /lacks public\.consume_usage: npx supabase db push/,
    ],
    [
      "pg_cron not installed",
      {
        database: () => Promise.resolve({ ...healthyDatabase(), cron_installed: false, jobs: [] }),
      },
      "Schedule installed",
      /pg_cron is not installed/,
    ],
    [
      "a job missing",
      {
        database: () =>
          Promise.resolve({
            ...healthyDatabase(),
            jobs: healthyDatabase().jobs.filter((job) => job.name !== "polar-usage"),
          }),
      },
      "Schedule installed",
      /cron\.job has no polar-usage: run ops\/schedule_sync\.sql in the SQL editor/,
    ],
    [
      "a job inactive",
      {
        database: () =>
          Promise.resolve({
            ...healthyDatabase(),
            jobs: healthyDatabase().jobs.map((job) => ({
              ...job,
              active: job.name !== "polar-reconcile",
            })),
          }),
      },
      "Schedule installed",
      /polar-reconcile is inactive/,
    ],
    [
      "no sync secret",
      { config: { syncSecrets: [] } },
      "POLAR_SYNC_SECRET set",
      /openssl rand -hex 32/,
    ],
  ];
  for (const [name, options, check, fix] of cases) {
    await test.step(name, async () => {
      const failed = await setup(options).failed();
      assert.deepEqual(failed.map((c) => c.name), [check]);
      assert.match(failed[0].fix ?? "", fix);
    });
  }
});

Deno.test("an issuer the project's Auth does not use fails the token issuer check", async () => {
  const t = setup({ config: { authIssuer: "http://127.0.0.1:54321/auth/v1" } });
  const failed = await t.failed();
  assert.deepEqual(failed.map((c) => c.name), ["Token issuer"]);
  assert.match(
    failed[0].fix ?? "",
    /expect user tokens from http:\/\/127\.0\.0\.1:54321\/auth\/v1 but .* as http:\/\/supabase\.test\/auth\/v1.*secrets unset AUTH_JWT_ISSUER/,
  );
});

Deno.test("the doctor expects every public SQL function the functions call", async () => {
  const created = new Set<string>();
  const migrations = new URL("../../migrations/", import.meta.url);
  for await (const entry of Deno.readDir(migrations)) {
    const sql = await Deno.readTextFile(new URL(entry.name, migrations));
    for (
      const match of sql.matchAll(/create\s+(?:or\s+replace\s+)?function\s+public\.([a-z_]+)/gi)
    ) {
      created.add(match[1]);
    }
  }
  const called = new Set<string>();
  const walk = async (dir: URL) => {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isDirectory && entry.name !== "tests") {
        await walk(new URL(`${entry.name}/`, dir));
      } else if (entry.name.endsWith(".ts") && !entry.name.endsWith("_test.ts")) {
        const text = await Deno.readTextFile(new URL(entry.name, dir));
        for (const match of text.matchAll(/"([a-z_]+)"/g)) {
          if (created.has(match[1])) called.add(match[1]);
        }
      }
    }
  };
  await walk(new URL("../", import.meta.url));
  called.delete("polar_doctor"); // the doctor's own function: checked on its own
  const expected = new Set<string>(EXPECTED_SQL_FUNCTIONS);
  assert.deepEqual([...called].filter((name) => !expected.has(name)).sort(), []);
});
