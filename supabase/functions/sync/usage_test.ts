import assert from "node:assert/strict";
import { createPolarPacer } from "../_polar/polar_pacer.ts";
import {
  createUsageFlush,
  type IngestOutcome,
  type PendingUsage,
  USAGE_EVENTS_PER_BATCH,
  type UsageEvent,
  usageEvents,
  type UsageFlushDependencies,
} from "./usage.ts";

const USER = "6b0e7f1c-2d3a-4b5c-8d9e-0f1a2b3c4d5e";

function row(id: number, fields: Partial<PendingUsage> = {}): PendingUsage {
  return {
    id,
    user_id: USER,
    event_name: "ai_usage",
    units_property: "units",
    units: 1,
    external_id: `usage_${id}`,
    metadata: {},
    recorded_at: "2026-12-01T10:00:00.000Z",
    ...fields,
  };
}

/** An outbox in memory and a Polar that stores events by external_id, refusing `poisoned`. */
function harness(rows: PendingUsage[], options: { poisoned?: Set<string> } = {}) {
  const outbox = new Map(rows.map((r) => [r.id, { row: r, state: "pending", reason: "" }]));
  const stored = new Set<string>();
  const batches: number[] = [];
  const polar = { mode: "ok" as "ok" | "down" };
  const meters: unknown[][] = [];
  const deps: UsageFlushDependencies = {
    listMeters: () => Promise.resolve([{ id: "m" }]),
    storeMeters: (list) => Promise.resolve(void meters.push(list)),
    claim: (maxRows) =>
      Promise.resolve(
        [...outbox.values()].filter((o) => o.state === "pending").slice(0, maxRows).map((o) =>
          o.row
        ),
      ),
    finish: (delivered, refused, _released) => {
      for (const id of delivered) outbox.get(id)!.state = "delivered";
      for (const { id, reason } of refused) {
        Object.assign(outbox.get(id)!, { state: "refused", reason });
      }
      return Promise.resolve([...outbox.values()].filter((o) => o.state === "pending").length);
    },
    pendingCount: () =>
      Promise.resolve([...outbox.values()].filter((o) => o.state === "pending").length),
    ingest: (events: UsageEvent[]): Promise<IngestOutcome> => {
      batches.push(events.length);
      if (polar.mode === "down") return Promise.reject(new Error("502 Bad Gateway"));
      const bad = events.filter((e) => options.poisoned?.has(e.external_id));
      if (bad.length > 0) {
        return Promise.resolve({ ok: false, refused: true, reason: `bad ${bad[0].external_id}` });
      }
      let inserted = 0;
      for (const e of events) {
        if (!stored.has(e.external_id)) inserted++;
        stored.add(e.external_id);
      }
      return Promise.resolve({ ok: true, inserted, duplicates: events.length - inserted });
    },
    pacer: createPolarPacer({ perMinute: 1e9 }),
    budgetMs: 60_000,
  };
  return { deps, outbox, stored, batches, polar, meters };
}

Deno.test("usageEvents sends a sum meter's row as one event carrying the units", () => {
  const events = usageEvents(row(1, { units: "2.5", metadata: { feature: "summarise" } }));
  assert.deepEqual(events, [{
    name: "ai_usage",
    external_customer_id: USER,
    external_id: "usage_1",
    timestamp: "2026-12-01T10:00:00.000Z",
    metadata: { feature: "summarise", units: 2.5 },
  }]);
});

Deno.test("usageEvents sends a count meter's row of n units as n events suffixed :1 to :n", () => {
  const events = usageEvents(row(1, { units_property: null, units: 3, metadata: { a: true } }));
  assert.deepEqual(events.map((e) => e.external_id), ["usage_1:1", "usage_1:2", "usage_1:3"]);
  assert.deepEqual(events.map((e) => e.metadata), [{ a: true }, { a: true }, { a: true }]);
});

Deno.test("the usage flush refreshes the meters, then sends in batches of at most 1,000 events", async () => {
  const rows = Array.from({ length: 2500 }, (_, i) => row(i + 1));
  const t = harness(rows);
  const report = await createUsageFlush(t.deps)();
  assert.deepEqual(t.meters, [[{ id: "m" }]]);
  assert.deepEqual(report, { sent: 2500, duplicates: 0, failed: 0, pending: 0 });
  assert.ok(t.batches.every((n) => n <= USAGE_EVENTS_PER_BATCH));
  assert.deepEqual(t.batches, [1000, 1000, 500]);
});

Deno.test("the usage flush batches a count meter's events across rows at 1,000", async () => {
  const t = harness([row(1, { units_property: null, units: 1500 }), row(2)]);
  const report = await createUsageFlush(t.deps)();
  assert.deepEqual(t.batches, [1000, 501]);
  assert.deepEqual(report, { sent: 1501, duplicates: 0, failed: 0, pending: 0 });
  assert.equal(t.outbox.get(1)!.state, "delivered");
});

Deno.test("a 422 is split in halves until the one poisoned row is isolated; the rest are delivered", async () => {
  const rows = Array.from({ length: 1000 }, (_, i) => row(i + 1));
  const t = harness(rows, { poisoned: new Set(["usage_777"]) });
  const report = await createUsageFlush(t.deps)();
  assert.deepEqual(report, { sent: 999, duplicates: 0, failed: 1, pending: 0 });
  assert.deepEqual(t.outbox.get(777), {
    row: rows[776],
    state: "refused",
    reason: "bad usage_777",
  });
  assert.equal([...t.outbox.values()].filter((o) => o.state === "delivered").length, 999);
  // 1 whole batch, then two halves per level down to one event: 1 + 2 * log2(1000) calls at most.
  assert.ok(t.batches.length <= 1 + 2 * 10, `${t.batches.length} calls`);
});

Deno.test("a 5xx leaves everything pending, and the next flush sends each event once in effect", async () => {
  const rows = Array.from({ length: 1200 }, (_, i) => row(i + 1));
  const t = harness(rows);
  t.polar.mode = "down";
  assert.deepEqual(await createUsageFlush(t.deps)(), {
    sent: 0,
    duplicates: 0,
    failed: 0,
    pending: 1200,
  });
  assert.equal(t.batches.length, 1, "it stops at the first failure");
  assert.equal(t.stored.size, 0);
  t.polar.mode = "ok";
  assert.deepEqual(await createUsageFlush(t.deps)(), {
    sent: 1200,
    duplicates: 0,
    failed: 0,
    pending: 0,
  });
  assert.equal(t.stored.size, 1200);
});

Deno.test("the usage flush counts Polar's duplicates and marks those rows delivered", async () => {
  const t = harness([row(1), row(2, { units_property: null, units: 2 })]);
  t.stored.add("usage_1");
  t.stored.add("usage_2:2");
  const report = await createUsageFlush(t.deps)();
  assert.deepEqual(report, { sent: 1, duplicates: 2, failed: 0, pending: 0 });
  assert.deepEqual([...t.outbox.values()].map((o) => o.state), ["delivered", "delivered"]);
});

Deno.test("the usage flush stops sending when its budget is spent and leaves the rest pending", async () => {
  let clock = 0;
  const t = harness(Array.from({ length: 3000 }, (_, i) => row(i + 1)));
  const ingest = t.deps.ingest;
  t.deps.ingest = (events) => {
    clock += 40_000;
    return ingest(events);
  };
  const report = await createUsageFlush({ ...t.deps, now: () => clock })();
  assert.deepEqual(report, { sent: 2000, duplicates: 0, failed: 0, pending: 1000 });
});
