/**
 * Adversarial inputs against the three real functions, each case with its exact status and body,
 * and the database checked unchanged wherever the contract says nothing changes.
 *
 * Run by `deno task test:reliability`; on its own:
 * `DATABASE_URL=postgresql://… deno test -A reliability/adversarial_suite.ts`.
 */
import { bodyCases, methodCases } from "./cases/bodies.ts";
import { redirectCases } from "./cases/redirects.ts";
import { tokenCases } from "./cases/tokens.ts";
import { webhookCases } from "./cases/webhooks.ts";
import { runHttpCase } from "./cases/http_case.ts";
import { createCaseContext } from "./context.ts";
import { createFreshDatabase, serverUrl } from "./databases.ts";
import { startHarness } from "./harness.ts";
import { runCases } from "./report.ts";

Deno.test("adversarial inputs get the contract's answer and change nothing they should not", async (t) => {
  await using fresh = await createFreshDatabase(serverUrl());
  await using h = await startHarness(fresh.db);
  const ctx = await createCaseContext(h);
  const tables = [
    ["adversarial: tokens", tokenCases()],
    ["adversarial: bodies", bodyCases()],
    ["adversarial: methods", methodCases()],
    ["adversarial: redirect URLs", redirectCases()],
    ["adversarial: webhooks", webhookCases()],
  ] as const;
  for (const [group, cases] of tables) {
    await runCases(t, group, cases, (testCase) => runHttpCase(ctx, testCase));
  }
});
