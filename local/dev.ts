/**
 * `deno task dev`: starts the local stack, prints where everything is and the demo users, writes
 * `supabase/.temp/dev-stack.json` and `supabase/.temp/dev-stack.pid`, shows each function's log
 * lines prefixed with its name, and stops cleanly on Ctrl-C or SIGTERM.
 *
 * Started in the background through `npx`, signals sent to `npx` do not reach the stack (npm does
 * not pass them on); `kill $(cat supabase/.temp/dev-stack.pid)` sends SIGTERM to the stack itself,
 * which stops every part and removes the file.
 *
 * Ports and Polar come from the environment: `API_PORT` (54321), `POLAR_PORT` (54330), `SITE_URL`
 * (your app's URL; when unset, the example app is served on `SITE_PORT`, 3000), `DATABASE_URL` (a PostgreSQL server instead of embedded PGlite), and `POLAR_ACCESS_TOKEN` with `POLAR_WEBHOOK_SECRET` and
 * `POLAR_PRODUCT_IDS` (all three required together; `POLAR_ENTITLEMENT_KEY`, default `pro`, is the
 * key the example app gates on) to use Polar's sandbox instead of the stand-in. `POLAR_WEBHOOKS=off` runs the stand-in with deliveries switched off,
 * as if Polar had disabled the webhook endpoint (its webhook endpoints API then says so), to see the
 * `sync` function keep the database current without webhooks. `POLAR_METER_RECOMPUTE_DELAY_MS`
 * (3000) is how long the stand-in waits after a customer's last event or credit before it
 * recomputes that customer's meters and sends `customer.state_changed`. On PGlite the schedule of
 * `ops/schedule_sync.sql` runs in the pg_cron stand-in (`local/cron.ts`). `STACK_INFO_DIR` moves the two files
 * (default `supabase/.temp`).
 *
 * @module
 */
import { absorbDriverNullSocketCrash } from "./postgres.ts";
import { startStack } from "./stack.ts";

const INFO_DIR = Deno.env.get("STACK_INFO_DIR") ||
  new URL("../supabase/.temp/", import.meta.url).pathname;
const INFO_FILE = `${INFO_DIR.replace(/\/+$/, "")}/dev-stack.json`;
const PID_FILE = `${INFO_DIR.replace(/\/+$/, "")}/dev-stack.pid`;

function port(name: string, fallback: number): number {
  const value = Deno.env.get(name);
  if (!value) return fallback;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 0 || number > 65535) {
    throw new Error(`${name} is "${value}", not a port number`);
  }
  return number;
}

function webhooksSetting(): "on" | "off" {
  const value = Deno.env.get("POLAR_WEBHOOKS") || "on";
  if (value !== "on" && value !== "off") {
    throw new Error(`POLAR_WEBHOOKS is "${value}", expected "on" or "off"`);
  }
  return value;
}

function delaySetting(): number | undefined {
  const value = Deno.env.get("POLAR_METER_RECOMPUTE_DELAY_MS");
  if (!value) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 0) {
    throw new Error(`POLAR_METER_RECOMPUTE_DELAY_MS is "${value}", not a number of milliseconds`);
  }
  return number;
}

if (import.meta.main) {
  try {
    // Keeps a PostgreSQL restart from taking the stack down (see absorbDriverNullSocketCrash).
    if (Deno.env.get("DATABASE_URL")) absorbDriverNullSocketCrash();
    const started = performance.now();
    const stack = await startStack({
      apiPort: port("API_PORT", 54321),
      polarPort: port("POLAR_PORT", 54330),
      sitePort: port("SITE_PORT", 3000),
      siteUrl: Deno.env.get("SITE_URL") || undefined,
      databaseUrl: Deno.env.get("DATABASE_URL") || undefined,
      polarAccessToken: Deno.env.get("POLAR_ACCESS_TOKEN") || undefined,
      polarWebhookSecret: Deno.env.get("POLAR_WEBHOOK_SECRET") || undefined,
      polarProductIds: (Deno.env.get("POLAR_PRODUCT_IDS") ?? "").split(",").map((id) => id.trim())
        .filter(Boolean),
      polarTeamProductId: Deno.env.get("POLAR_TEAM_PRODUCT_ID") || undefined,
      entitlementKey: Deno.env.get("POLAR_ENTITLEMENT_KEY") || undefined,
      polarWebhooks: webhooksSetting(),
      polarMeterRecomputeDelayMs: delaySetting(),
      // The schedule's jobs (ops/schedule_sync.sql) run in the pg_cron stand-in, as on a project.
      schedule: true,
      log: (message) => console.log(`  starting ${message}`),
      onFunctionOutput: (name, line) => console.log(`[${name}] ${line}`),
    });
    await Deno.mkdir(INFO_DIR, { recursive: true });
    await Deno.writeTextFile(INFO_FILE, JSON.stringify(stack.info, null, 2) + "\n");
    await Deno.writeTextFile(PID_FILE, `${Deno.pid}\n`);
    const { info } = stack;
    console.log(`
Local stack ready in ${((performance.now() - started) / 1000).toFixed(1)} s
  Supabase API     ${info.api_url}   (auth, rest, functions/v1/*)
  Polar            ${info.polar_api_url}${
      stack.polar
        ? `   (stand-in; webhooks ${stack.polar.webhooksEnabled ? "on" : "off"})`
        : "   (real sandbox)"
    }
  Database         ${info.database}
  Site URL         ${info.site_url}
  Publishable key  ${info.publishable_key}   (legacy anon key in dev-stack.json)
  Sync secret      in dev-stack.json (sync_secret): the reconcile's bearer token
  Product id       ${info.product_id}
  Team product id  ${info.team_product_id ?? "none (POLAR_TEAM_PRODUCT_ID)"}   (seat-based)
  Entitlement key  ${info.entitlement_key}   (has_entitlement)
  Meter            ${info.meter}   (credit pack ${info.credit_product_id}; ${info.credit_units} a cycle)
  Demo users       ${info.users.map((user) => `${user.email} / ${user.password}`).join(", ")}
  Details          ${INFO_FILE}
Press Ctrl-C to stop (in the background: kill $(cat ${PID_FILE})).`);
    let stopping = false;
    const stop = async () => {
      if (stopping) return;
      stopping = true;
      console.log("\nStopping the local stack…");
      await stack.close();
      await Deno.remove(PID_FILE).catch(() => {});
      Deno.exit(0);
    };
    Deno.addSignalListener("SIGINT", stop);
    Deno.addSignalListener("SIGTERM", stop);
  } catch (error) {
    console.error(`Local stack failed to start: ${(error as Error).message}`);
    Deno.exit(1);
  }
}
