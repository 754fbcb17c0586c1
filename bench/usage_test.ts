import assert from "node:assert/strict";
import {
  CONSUME_GOAL_RATIO,
  type FlushFigures,
  judgeUsageGoals,
  type SpendPoint,
  USAGE_CONCURRENCY,
  USAGE_USERS,
  type UsageBench,
} from "./usage.ts";

function spend(fields: Partial<SpendPoint>): SpendPoint {
  return {
    call: "consume_usage",
    users: USAGE_USERS,
    concurrency: USAGE_CONCURRENCY,
    history: 0,
    calls: 1000,
    perSecond: 500,
    p50Ms: 20,
    p99Ms: 60,
    admitted: 1000,
    ...fields,
  };
}

function bench(consume: Partial<SpendPoint>, flush: Partial<FlushFigures> = {}): UsageBench {
  return {
    serverVersion: "15.20",
    durationSeconds: 5,
    spends: [
      spend({ users: 1, p50Ms: 500 }),
      spend({ history: 50_000, concurrency: 1, users: 1, p50Ms: 900 }),
      spend(consume),
      spend({ call: "insert", p50Ms: 10 }),
    ],
    flush: {
      events: 10_000,
      rows: 10_000,
      polarCalls: 10,
      ingestCalls: 10,
      callsPer10k: 10,
      seconds: 1,
      eventsPerSecond: 10_000,
      report: { sent: 10_000, duplicates: 0, failed: 0, pending: 0 },
      stored: 10_000,
      ...flush,
    },
  };
}

Deno.test("the spend goal compares consume_usage's uncontended p50 with the insert's, no other point", async (t) => {
  const cases: [string, Partial<SpendPoint>, boolean][] = [
    ["at 2× the insert's p50", { p50Ms: 10 * CONSUME_GOAL_RATIO }, true],
    ["just over 2×", { p50Ms: 10 * CONSUME_GOAL_RATIO + 0.01 }, false],
    ["a call refused (the balance ran out: the point is void)", { admitted: 999 }, false],
  ];
  for (const [name, consume, met] of cases) {
    await t.step(name, () => assert.equal(judgeUsageGoals(bench(consume))[0].met, met));
  }
});

Deno.test("the flush goal counts every Polar call per 10,000 events, and needs every event stored", async (t) => {
  const cases: [string, Partial<FlushFigures>, boolean][] = [
    ["10 calls", {}, true],
    ["10 ingest calls and the meters list", { polarCalls: 11, callsPer10k: 11 }, false],
    ["an event not stored", { stored: 9_999 }, false],
  ];
  for (const [name, flush, met] of cases) {
    await t.step(name, () => assert.equal(judgeUsageGoals(bench({}, flush))[1].met, met));
  }
});
