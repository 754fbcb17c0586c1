/**
 * The doctor against the local stack, as an operator runs it (`deno task doctor --url …
 * --secret-key …` calling the real `sync` process): every check passes on the stack as it starts,
 * then each setting is broken in turn (in the Polar stand-in, the database, or the sync
 * function's environment, restarting it as a redeploy would) and exactly its ✗ appears, with its
 * fix, before the setting is put back.
 *
 * PGlite has no pg_cron: the stack runs with its pg_cron stand-in (`local/cron.ts`, as
 * `deno task dev` does), whose `cron.job` holds the five jobs `ops/schedule_sync.sql` schedules
 * (the file itself is tested on PostgreSQL 15 with pg_cron by `reliability/schedule_suite.ts`).
 */
import assert from "node:assert/strict";
import { callDoctor } from "../ops/doctor.ts";
import { DOCTOR_SCOPES } from "../supabase/functions/sync/doctor.ts";
import { HANDLED_EVENT_TYPES } from "../supabase/functions/_polar/polar_webhooks.ts";
import { CREDIT_PACK_PRODUCT_ID, DEMO_PRODUCT_ID } from "./polar_models.ts";
import { installCronStandIn } from "./cron.ts";
import { startStack } from "./stack.ts";

Deno.test("the doctor on the local stack: all pass, then each broken setting shows exactly its ✗", async (test) => {
  await using stack = await startStack({
    apiPort: 0,
    polarPort: 0,
    siteUrl: "http://127.0.0.1:3999",
    schedule: true,
  });
  const polar = stack.polar!;
  const doctor = async () => {
    const answer = await callDoctor({ url: stack.info.api_url, secretKey: stack.info.secret_key });
    assert.ok("report" in answer, JSON.stringify(answer));
    return answer.report;
  };
  /** Breaks a setting, expects exactly `names` to fail with a fix matching `fix`, then restores. */
  const expectOnly = async (
    names: string[],
    fix: RegExp,
    breakIt: () => unknown,
    restore: () => unknown,
  ) => {
    await breakIt();
    try {
      const failed = (await doctor()).checks.filter((check) => !check.ok);
      assert.deepEqual(failed.map((check) => check.name), names);
      assert.match(failed.map((check) => check.fix).join("\n"), fix);
    } finally {
      await restore();
    }
  };

  await test.step("as the stack starts, every check passes; the task prints ✔ and exits 0", async () => {
    const child = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net",
        "--allow-env",
        new URL("../ops/doctor.ts", import.meta.url).pathname,
        "--url",
        stack.info.api_url,
        "--secret-key",
        stack.info.secret_key,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const printed = new TextDecoder().decode(child.stdout);
    assert.equal(child.code, 0, printed + new TextDecoder().decode(child.stderr));
    assert.match(printed, /^✔ Polar token \(POLAR_SERVER=sandbox\)/);
    assert.match(printed, /All \d+ checks passed$/m);
    assert.doesNotMatch(printed, /✗/);
    assert.ok(!printed.includes(stack.info.secret_key), "the key is not printed");
  });

  await test.step("a token Polar refuses", () =>
    expectOnly(
      ["Polar token (POLAR_SERVER=sandbox)"],
      /refuses POLAR_ACCESS_TOKEN/,
      () => polar.acceptedToken = "polar_oat_another_token",
      () => polar.acceptedToken = undefined,
    ));

  for (const scope of DOCTOR_SCOPES) {
    // Polar lets a read scope's write partner read too, so a read scope is gone only with it.
    const taken = scope.endsWith(":read") ? [scope, scope.replace(":read", ":write")] : [scope];
    await test.step(`a token without ${taken.join(" and ")}`, () =>
      expectOnly(
        DOCTOR_SCOPES.filter((name) => taken.includes(name)).map((name) => `Scope ${name}`),
        new RegExp(`lacks ${scope}`),
        () => taken.forEach((name) => polar.scopes.delete(name)),
        () => taken.forEach((name) => polar.scopes.add(name)),
      ));
  }

  await test.step("the webhook endpoint at another URL", () => {
    const url = polar.webhookEndpoint.url;
    return expectOnly(
      ["Webhook endpoint exists"],
      new RegExp(`add a webhook endpoint at ${stack.info.api_url}/functions/v1/polar-webhooks`),
      () =>
        polar.webhookEndpoint.url = "https://old-project.supabase.co/functions/v1/polar-webhooks",
      () => polar.webhookEndpoint.url = url,
    );
  });
  await test.step("the webhook endpoint disabled", () =>
    expectOnly(
      ["Webhook endpoint enabled"],
      /re-enable it in Polar/,
      () => polar.webhooksEnabled = false,
      () => polar.webhooksEnabled = true,
    ));
  await test.step("the webhook endpoint's format not raw", () =>
    expectOnly(
      ["Webhook endpoint format raw"],
      /choose Raw/,
      () => polar.webhookEndpoint.format = "slack",
      () => polar.webhookEndpoint.format = "raw",
    ));
  await test.step("the webhook endpoint without customer.state_changed", () =>
    expectOnly(
      ["Webhook endpoint events"],
      /does not send customer\.state_changed/,
      () =>
        polar.webhookEndpoint.events = HANDLED_EVENT_TYPES.filter((type) =>
          type !== "customer.state_changed"
        ),
      () => polar.webhookEndpoint.events = [...HANDLED_EVENT_TYPES],
    ));

  await test.step("a product archived", () =>
    expectOnly(
      [`Product ${CREDIT_PACK_PRODUCT_ID}`],
      /archived/,
      () => polar.products.find((p) => p.id === CREDIT_PACK_PRODUCT_ID)!.is_archived = true,
      () => polar.products.find((p) => p.id === CREDIT_PACK_PRODUCT_ID)!.is_archived = false,
    ));
  const unknown = "0b1e9c6a-1111-4222-8333-444455556666";
  await test.step("POLAR_PRODUCT_IDS naming a product Polar does not have", () =>
    expectOnly(
      [`Product ${unknown}`],
      /has no product 0b1e9c6a-.*correct POLAR_PRODUCT_IDS/,
      () => stack.restartFunction("sync", { POLAR_PRODUCT_IDS: `${DEMO_PRODUCT_ID},${unknown}` }),
      () => stack.restartFunction("sync", {}),
    ));

  await test.step("a migration's function missing", () =>
    expectOnly(
      ["Migrations applied"],
      /lacks public\.billing_state: npx supabase db push/,
      () => stack.db.exec("alter function public.billing_state() rename to billing_state_gone"),
      () => stack.db.exec("alter function public.billing_state_gone() rename to billing_state"),
    ));
  await test.step("the doctor's own migration not applied", () =>
    expectOnly(
      ["Migrations applied"],
      /public\.polar_doctor is missing\): npx supabase db push/,
      () =>
        stack.db.exec("alter function public.polar_doctor(text[], text[]) rename to polar_gone"),
      () =>
        stack.db.exec("alter function public.polar_gone(text[], text[]) rename to polar_doctor"),
    ));

  await test.step("a scheduled job missing", () =>
    expectOnly(
      ["Schedule installed"],
      /cron\.job has no polar-usage: run ops\/schedule_sync\.sql in the SQL editor/,
      () => stack.db.exec("delete from cron.job where jobname = 'polar-usage'"),
      () => installCronStandIn(stack.db),
    ));
  await test.step("pg_cron not installed", () =>
    expectOnly(
      ["Schedule installed"],
      /pg_cron is not installed/,
      () => stack.db.exec("drop schema cron cascade"),
      () => installCronStandIn(stack.db),
    ));
  await test.step("POLAR_SYNC_SECRET unset", () =>
    expectOnly(
      ["POLAR_SYNC_SECRET set"],
      /npx supabase secrets set POLAR_SYNC_SECRET/,
      () => stack.restartFunction("sync", { POLAR_SYNC_SECRET: undefined }),
      () => stack.restartFunction("sync", {}),
    ));
  await test.step("AUTH_JWT_ISSUER set to another issuer", () =>
    expectOnly(
      ["Token issuer"],
      /secrets unset AUTH_JWT_ISSUER/,
      () => stack.restartFunction("sync", { AUTH_JWT_ISSUER: "http://kong:8000/auth/v1" }),
      () => stack.restartFunction("sync", {}),
    ));

  await test.step("put back, every check passes again", async () => {
    assert.deepEqual((await doctor()).checks.filter((check) => !check.ok), []);
  });
});
