import assert from "node:assert/strict";
import { judgeWebhookGoal, WEBHOOK_P99_BUDGET_MS } from "./goals.ts";
import type { WebhookPoint } from "./webhooks.ts";

function point(fields: Partial<WebhookPoint>): WebhookPoint {
  return {
    connections: 32,
    responses: 1000,
    non2xx: 0,
    errors: 0,
    perSecond: 200,
    p50Ms: 20,
    p99Ms: 60,
    reused: 0,
    generatorCpuMsPerResponse: 0.1,
    outcomes: { applied: 1000 },
    functionCpuMsPerResponse: 1,
    standInsCpuMsPerResponse: 1,
    ...fields,
  };
}

Deno.test("the webhook goal is judged from the PostgreSQL 15 figures at concurrency 32", async (t) => {
  const cases: [string, WebhookPoint[], boolean][] = [
    ["p99 under the budget, all 2xx", [point({ connections: 1, p99Ms: 500 }), point({})], true],
    ["p99 at the budget", [point({ p99Ms: WEBHOOK_P99_BUDGET_MS })], false],
    ["one non-2xx", [point({ non2xx: 1 })], false],
    ["one connection error", [point({ errors: 1 })], false],
    ["no point at 32", [point({ connections: 1 })], false],
  ];
  for (const [name, points, met] of cases) {
    await t.step(name, () => assert.equal(judgeWebhookGoal({ points }).met, met));
  }
});

Deno.test("the webhook goal is not met when PostgreSQL 15 was skipped", () => {
  const goal = judgeWebhookGoal({ notMeasured: "skipped: no PostgreSQL binaries" });
  assert.equal(goal.met, false);
  assert.match(goal.figure, /not measured \(skipped/);
});
