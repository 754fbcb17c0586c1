/**
 * `deno task dev`: starts the local stack, prints where everything is and the demo users, writes
 * `supabase/.temp/dev-stack.json`, and stops cleanly on Ctrl-C or SIGTERM.
 *
 * Ports and Polar come from the environment: `API_PORT` (54321), `POLAR_PORT` (54330), `SITE_URL`
 * (your app's URL; when unset, the example app is served on `SITE_PORT`, 3000), `DATABASE_URL` (a PostgreSQL server instead of embedded PGlite), and `POLAR_ACCESS_TOKEN` with `POLAR_WEBHOOK_SECRET` to use Polar's
 * sandbox instead of the stand-in. `POLAR_WEBHOOKS=off` runs the stand-in with deliveries switched off,
 * as if Polar had disabled the webhook endpoint (its webhook endpoints API then says so), to see the
 * `sync` function keep the database current without webhooks.
 *
 * @module
 */
import { absorbDriverNullSocketCrash } from "./postgres.ts";
import { startStack } from "./stack.ts";

const INFO_FILE = new URL("../supabase/.temp/dev-stack.json", import.meta.url);

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
      polarWebhooks: webhooksSetting(),
      log: (message) => console.log(`  starting ${message}`),
    });
    await Deno.mkdir(new URL(".", INFO_FILE), { recursive: true });
    await Deno.writeTextFile(INFO_FILE, JSON.stringify(stack.info, null, 2) + "\n");
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
  Anon key         ${info.anon_key}
  Product id       ${info.product_id}
  Entitlement key  ${info.entitlement_key}   (has_entitlement)
  Demo users       ${info.users.map((user) => `${user.email} / ${user.password}`).join(", ")}
  Details          supabase/.temp/dev-stack.json
Press Ctrl-C to stop.`);
    const stop = async () => {
      console.log("\nStopping the local stack…");
      await stack.close();
      Deno.exit(0);
    };
    Deno.addSignalListener("SIGINT", stop);
    Deno.addSignalListener("SIGTERM", stop);
  } catch (error) {
    console.error(`Local stack failed to start: ${(error as Error).message}`);
    Deno.exit(1);
  }
}
