import assert from "node:assert/strict";
import {
  benefitGrantModel,
  customerStateModel,
  webhookEndpointModel,
} from "../../../local/polar_models.ts";
import { createPolarClient } from "../_polar/polar.ts";
import { createPolarPacer } from "../_polar/polar_pacer.ts";
import { startFakePolar } from "../tests/support/fake_polar.ts";
import { createReconcileWiring } from "./reconcile_wiring.ts";

async function setup() {
  const polar = await startFakePolar();
  const calls: { name: string; args: Record<string, unknown> }[] = [];
  const wiring = createReconcileWiring({
    rpc: <T>(name: string, args: Record<string, unknown> = {}) => {
      calls.push({ name, args });
      return Promise.resolve(null as T);
    },
    polar: createPolarClient({ accessToken: "polar_oat_x", server: "sandbox", apiUrl: polar.url }),
    pacer: createPolarPacer({ perMinute: 1e9 }),
    processDeletions: () => Promise.resolve({ deleted: 0, absent: 0, failed: 0 }),
    budgetMs: 1000,
  });
  return { polar, calls, wiring, [Symbol.asyncDispose]: () => polar[Symbol.asyncDispose]() };
}

Deno.test("the wiring asks Polar for each list as the reconcile reads it: filtered, oldest first, 100 a page", async () => {
  await using t = await setup();
  for (const list of ["customer", "subscription", "grant", "meter"] as const) {
    await t.wiring.polar.listPage(list, 2, 100);
  }
  await t.wiring.polar.listEnded(1, 100);
  const asked = t.polar.requests.map((
    r,
  ) => [r.route, Object.fromEntries(new URLSearchParams(r.search))]);
  assert.deepEqual(asked, [
    ["GET /v1/customers/", { page: "2", limit: "100", sorting: "created_at" }],
    ["GET /v1/subscriptions/", { active: "true", page: "2", limit: "100", sorting: "started_at" }],
    ["GET /v1/benefit-grants/", {
      is_granted: "true",
      page: "2",
      limit: "100",
      sorting: "created_at",
    }],
    ["GET /v1/customer-meters/", { page: "2", limit: "100", sorting: "created_at" }],
    ["GET /v1/subscriptions/", {
      status: "canceled",
      page: "1",
      limit: "100",
      sorting: "-ended_at",
    }],
  ]);
});

Deno.test("the wiring reads Polar's pages and pagination as the SDK answers them", async () => {
  await using t = await setup();
  const customer = t.polar.addCustomer({ externalId: crypto.randomUUID() });
  t.polar.states.set(customer.id, customerStateModel(customer, { grants: [benefitGrantModel()] }));
  t.polar.webhookEndpoints.push(webhookEndpointModel({ url: "https://x/hook", enabled: false }));
  const grants = await t.wiring.polar.listPage("grant", 1, 100);
  assert.equal(grants.items.length, 1);
  assert.deepEqual([grants.maxPage, grants.totalCount], [1, 1]);
  assert.equal(
    (grants.items[0].customer as { external_id: string }).external_id,
    customer.external_id,
  );
  assert.deepEqual(await t.wiring.polar.listWebhookEndpoints(), [{
    url: "https://x/hook",
    enabled: false,
  }]);
  assert.equal(await t.wiring.polar.getState("missing"), null, "Polar's 404 is null");
});

Deno.test("the wiring passes the run's lease to every call that writes the run", async () => {
  await using t = await setup();
  const run = {
    id: 7,
    lease: "lease-7",
    started_at: "",
    next_page: 1,
    phase: "customers" as const,
    counts: {},
    resumed: false,
    since: null,
  };
  await t.wiring.db.begin(true);
  await t.wiring.db.stage(run, "grant", [], 2, "grants", {} as never);
  await t.wiring.db.applyBatch(run, 200);
  await t.wiring.db.release(run);
  assert.deepEqual(t.calls, [
    { name: "begin_polar_reconcile", args: { resume_only: true } },
    {
      name: "stage_polar_reconcile_page",
      args: {
        id: 7,
        lease: "lease-7",
        kind: "grant",
        items: [],
        next_page: 2,
        phase: "grants",
        counts: {},
      },
    },
    { name: "apply_polar_reconcile_batch", args: { id: 7, lease: "lease-7", max_customers: 200 } },
    { name: "release_polar_reconcile", args: { id: 7, lease: "lease-7" } },
  ]);
});

Deno.test("the wiring passes the lease to every team call that writes, and asks Polar per team", async () => {
  await using t = await setup();
  const run = {
    id: 7,
    lease: "lease-7",
    started_at: "",
    next_page: 1,
    phase: "teams" as const,
    counts: {},
    resumed: false,
    since: null,
  };
  const teams = t.wiring.teams!;
  await teams.stage(run, [{ id: "cus_t", type: "team" }]);
  await teams.db.reconcileTeam(run, "cus_t", [], { at: "x", members: [], seats: {}, grants: [] });
  await teams.db.finishGone(run, "cus_t", true);
  await teams.db.pending(run, 5);
  await teams.db.gone(run, 25);
  assert.deepEqual(t.calls.map((call) => [call.name, call.args.lease ?? null]), [
    ["stage_polar_reconcile_teams", "lease-7"],
    ["reconcile_polar_team", "lease-7"],
    ["finish_polar_reconcile_gone_team", "lease-7"],
    ["polar_reconcile_teams", null],
    ["polar_reconcile_gone_teams", null],
  ]);
  // The fake has no such team: only the requests matter here (404s are the callers' business).
  const ask = (call: () => Promise<unknown>) => call().catch(() => null);
  await ask(() => teams.polar.listMembers("cus_t", 2, 100));
  await ask(() => teams.polar.listSubscriptions("cus_t", 1, 100));
  await ask(() => teams.polar.listSeats("sub_t"));
  await ask(() => teams.polar.listGrants("cus_t", 1, 100));
  assert.equal(await teams.polar.getCustomer("cus_t"), null, "an unknown customer is null");
  const asked = t.polar.requests.slice(-5).map((r) => `${r.route}${r.search}`);
  assert.deepEqual(asked, [
    "GET /v1/customers/cus_t/members?page=2&limit=100&sorting=created_at",
    "GET /v1/subscriptions/?customer_id=cus_t&page=1&limit=100&sorting=started_at",
    "GET /v1/customer-seats?subscription_id=sub_t",
    "GET /v1/benefit-grants/?customer_id=cus_t&page=1&limit=100&sorting=created_at",
    "GET /v1/customers/cus_t",
  ]);
});
