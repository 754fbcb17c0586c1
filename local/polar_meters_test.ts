import assert from "node:assert/strict";
import { createPolarMeterRoutes, DEMO_METER, demoMeterModel, meterUnits } from "./polar_meters.ts";

const get = (routes: ReturnType<typeof createPolarMeterRoutes>, path: string) =>
  routes({ method: "GET", url: new URL(`http://polar.test${path}`) })!.json();

Deno.test("meters list answers the demo meter in Polar's page shape", async () => {
  const routes = createPolarMeterRoutes(() => [demoMeterModel()]);
  const page = await get(routes, "/v1/meters/");
  assert.equal(page.pagination.total_count, 1);
  assert.equal(page.pagination.max_page, 1);
  const [meter] = page.items;
  assert.equal(meter.name, DEMO_METER.name);
  assert.deepEqual(meter.filter, {
    conjunction: "and",
    clauses: [{ property: "name", operator: "eq", value: DEMO_METER.eventName }],
  });
  assert.deepEqual(meter.aggregation, { func: "sum", property: DEMO_METER.unitsProperty });
});

Deno.test("meters list pages, sorts by name and filters by query and is_archived", async () => {
  const meters = [
    demoMeterModel({ id: "b", name: "tokens" }),
    demoMeterModel({ id: "a", name: "ai_credits" }),
    demoMeterModel({ id: "c", name: "old", archived_at: "2026-01-02T00:00:00.000Z" }),
  ];
  const routes = createPolarMeterRoutes(() => meters);
  const names = async (path: string) =>
    (await get(routes, path)).items.map((m: { name: string }) => m.name);
  assert.deepEqual(await names("/v1/meters/"), ["ai_credits", "old", "tokens"]);
  assert.deepEqual(await names("/v1/meters/?limit=1&page=2"), ["old"]);
  assert.deepEqual(await names("/v1/meters/?is_archived=false"), ["ai_credits", "tokens"]);
  assert.deepEqual(await names("/v1/meters/?query=TOK"), ["tokens"]);
  assert.equal(routes({ method: "POST", url: new URL("http://x/v1/meters/") }), undefined);
});

Deno.test("the demo meter sums units of its event name only", () => {
  const units = meterUnits(demoMeterModel(), [
    { name: "ai_usage", metadata: { units: 10 } },
    { name: "ai_usage", metadata: { units: 2.5 } },
    { name: "other", metadata: { units: 1000 } },
    { name: "ai_usage", metadata: { units: "7" } },
  ]);
  assert.equal(units, 12.5);
});

Deno.test("a count meter counts matching events; filters on metadata and or", () => {
  const meter = demoMeterModel({
    aggregation: { func: "count" },
    filter: {
      conjunction: "or",
      clauses: [
        { property: "name", operator: "eq", value: "a" },
        { property: "model", operator: "like", value: "gpt" },
      ],
    },
  });
  const units = meterUnits(meter, [
    { name: "a" },
    { name: "b", metadata: { model: "gpt-5" } },
    { name: "c", metadata: { model: "claude" } },
  ]);
  assert.equal(units, 2);
});
