import assert from "node:assert/strict";
import { customerModel } from "../../../local/polar_models.ts";
import { HttpError } from "../_polar/http_error.ts";
import { createPolarPacer } from "../_polar/polar_pacer.ts";
import type { ReconcileList } from "./pages.ts";
import {
  createReconciler,
  type PolarPage,
  RECONCILE_BUSY_MESSAGE,
  type ReconcileDependencies,
  type ReconcileRun,
} from "./reconcile.ts";

const RUN: ReconcileRun = {
  id: 1,
  started_at: "2026-12-01T03:00:00.000Z",
  next_page: 1,
  phase: "customers",
  counts: {},
  resumed: false,
  lease: "lease-1",
  since: "2026-11-30T03:00:00.000Z",
};

/** A reconcile over in-memory stubs; `lists` answers each list's pages in turn. */
function stubbed(
  overrides: {
    begin?: ReconcileDependencies["db"]["begin"];
    lists?: Partial<Record<ReconcileList | "ended", PolarPage[]>>;
  } = {},
) {
  const calls: string[] = [];
  const staged: { list: ReconcileList; ids: string[] }[] = [];
  let deletionPasses = 0;
  const empty: PolarPage = { items: [], maxPage: 0, totalCount: 0 };
  const next = (list: ReconcileList | "ended", page: number) => {
    calls.push(`${list} ${page}`);
    return Promise.resolve(overrides.lists?.[list]?.shift() ?? empty);
  };
  const deps: ReconcileDependencies = {
    db: {
      begin: overrides.begin ?? (() => Promise.resolve({ ...RUN })),
      save: () => Promise.resolve(),
      release: () => Promise.resolve(),
      stage: (_run, list, items) => {
        staged.push({ list, ids: items.map((item) => (item as { id: string }).id) });
        return Promise.resolve();
      },
      applyBatch: () =>
        Promise.resolve({
          customers: 0,
          checked: 0,
          changed: 0,
          unchanged: 0,
          orphaned: 0,
          no_external_id: 0,
          failures: 0,
          remaining: false,
        }),
      applyStates: (changes) =>
        Promise.resolve(changes.map(() => ({ outcome: "applied" as const, changed: true }))),
      stale: () => Promise.resolve([]),
      finishStale: () => Promise.resolve(),
      applyState: () => Promise.resolve({ outcome: "applied", changed: false }),
      unreconciled: () => Promise.resolve([]),
      unlink: () => Promise.resolve(true),
      skippedDeliveries: () => Promise.resolve(0),
      unverifiedLinks: () => Promise.resolve([]),
      unsentUsage: () => Promise.resolve({ refused: 0, stale: 0, older_than: "1 day", events: [] }),
    },
    polar: {
      listPage: (list, page) => next(list, page),
      listEnded: (page) => next("ended", page),
      getState: () => Promise.resolve(null),
      getStateByExternalId: () => Promise.resolve(null),
      getSubscription: () => Promise.resolve(null),
      listWebhookEndpoints: () => {
        calls.push("webhook endpoints");
        return Promise.resolve([]);
      },
    },
    pacer: createPolarPacer({ perMinute: 1e9 }),
    processDeletions: () => {
      deletionPasses++;
      return Promise.resolve({ deleted: 0, absent: 0, failed: 0 });
    },
    budgetMs: 60_000,
    now: Date.now,
    pageSize: 2,
  };
  return { reconcile: createReconciler(deps), calls, staged, deletions: () => deletionPasses };
}

const customers = (...ids: string[]) =>
  ids.map((id) => customerModel({ id }) as unknown as Record<string, unknown>);

Deno.test("reconcile takes the lease before anything: a busy run answers 409 with no Polar call and no deletions pass", async () => {
  const t = stubbed({
    begin: () => Promise.resolve({ busy: true, id: 1, lease_expires_at: RUN.started_at }),
  });
  await assert.rejects(
    () => t.reconcile({ resumeOnly: false }),
    (error) =>
      error instanceof HttpError && error.status === 409 &&
      error.message === RECONCILE_BUSY_MESSAGE,
  );
  assert.deepEqual(t.calls, []);
  assert.equal(t.deletions(), 0);
});

Deno.test("reconcile with nothing to resume answers idle with no Polar call", async () => {
  const t = stubbed({ begin: () => Promise.resolve(null) });
  const report = await t.reconcile({ resumeOnly: true });
  assert.equal(report.status, "idle");
  assert.deepEqual(t.calls, []);
  assert.equal(t.deletions(), 0);
});

Deno.test("reconcile steps back a page when a list shrinks while it is read, so nothing still listed is skipped", async () => {
  // c1 leaves the list after page 1 was read: c3 moves onto page 1 and would be skipped.
  const t = stubbed({
    lists: {
      customer: [
        { items: customers("c1", "c2"), maxPage: 2, totalCount: 4 },
        { items: customers("c4"), maxPage: 2, totalCount: 3 },
        { items: customers("c2", "c3"), maxPage: 2, totalCount: 3 },
        { items: customers("c4"), maxPage: 2, totalCount: 3 },
      ],
    },
  });
  const report = await t.reconcile({ resumeOnly: false });
  assert.equal(report.status, "done");
  assert.deepEqual(
    t.calls.filter((call) => call.startsWith("customer")),
    ["customer 1", "customer 2", "customer 1", "customer 2"],
  );
  const ids = new Set(t.staged.filter((s) => s.list === "customer").flatMap((s) => s.ids));
  assert.deepEqual([...ids].sort(), ["c1", "c2", "c3", "c4"]);
});

Deno.test("reconcile reads canceled subscriptions only down to the last run's start", async () => {
  const customer = customerModel({ id: "c1", externalId: crypto.randomUUID() });
  const ended = (id: string, endedAt: string) => ({
    id,
    status: "canceled",
    customer,
    customer_id: customer.id,
    ended_at: endedAt,
    modified_at: endedAt,
  });
  const t = stubbed({
    lists: {
      ended: [
        {
          items: [ended("s1", "2026-12-01T01:00:00Z"), ended("s2", "2026-11-30T12:00:00Z")],
          maxPage: 9,
          totalCount: 18,
        },
        { items: [ended("s3", "2026-11-29T12:00:00Z")], maxPage: 9, totalCount: 18 },
        { items: [ended("s4", "2026-11-28T12:00:00Z")], maxPage: 9, totalCount: 18 },
      ],
    },
  });
  const report = await t.reconcile({ resumeOnly: false });
  assert.deepEqual(t.calls.filter((call) => call.startsWith("ended")), ["ended 1", "ended 2"]);
  assert.equal(report.ended, 3);
});
