import assert from "node:assert/strict";
import type { webhooks } from "@polar-sh/sdk/2026-10";
import { proBenefitModel, standInProducts } from "../../../local/polar_products.ts";
import {
  CATALOG_EVENT_TYPES,
  catalogChange,
  InvalidCatalogError,
  isCatalogEventType,
  productChange,
} from "./catalog.ts";

const T = "2026-12-01T00:00:00.000Z";

type Equal<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
// benefit.deleted is not in the SDK's list (Polar may still send it); the others are.
const sdkCatalogEvents: Equal<
  Extract<webhooks.WebhookPayload["type"], `product.${string}` | `benefit.${string}`>,
  Exclude<typeof CATALOG_EVENT_TYPES[number], "benefit.deleted">
> = true;

Deno.test("catalog event types are the SDK's product.* and benefit.* events", () => {
  assert.ok(sdkCatalogEvents);
  for (const type of CATALOG_EVENT_TYPES) assert.ok(isCatalogEventType(type), type);
  for (const type of ["benefit_grant.created", "order.paid", "product"]) {
    assert.ok(!isCatalogEventType(type), type);
  }
});

Deno.test("productChange keeps what the price list shows, the benefits' keys and the clock", () => {
  const [pro, , pack] = standInProducts();
  const plan = productChange({ ...pro }, T);
  assert.deepEqual(
    {
      id: plan.id,
      name: plan.name,
      is_recurring: plan.is_recurring,
      recurring_interval: plan.recurring_interval,
      recurring_interval_count: plan.recurring_interval_count,
      is_archived: plan.is_archived,
      visibility: plan.visibility,
      version: plan.version,
      benefits: plan.benefits.map((b) => [b.type, b.metadata.key ?? null, b.deleted]),
    },
    {
      id: pro.id,
      name: "Pro",
      is_recurring: true,
      recurring_interval: "month",
      recurring_interval_count: 1,
      is_archived: false,
      visibility: "public",
      version: pro.created_at,
      benefits: [["feature_flag", "pro", false], ["meter_credit", null, false]],
    },
  );
  assert.deepEqual(plan.prices, pro.prices, "prices exactly as Polar gives them");
  const oneTime = productChange({ ...pack }, T);
  assert.deepEqual([oneTime.is_recurring, oneTime.recurring_interval], [false, null]);
  assert.equal(productChange({ ...pro, modified_at: T }, "x").version, T, "modified_at first");
});

Deno.test("catalogChange marks a benefit.deleted as deleted", () => {
  assert.deepEqual(catalogChange("benefit.deleted", { ...proBenefitModel() }, T), {
    benefit: {
      id: proBenefitModel().id,
      type: "feature_flag",
      description: "Members-only notes",
      metadata: { key: "pro" },
      deleted: true,
      version: proBenefitModel().created_at,
    },
  });
  assert.equal(
    (catalogChange("benefit.updated", { ...proBenefitModel(), is_deleted: true }, T) as {
      benefit: { deleted: boolean };
    }).benefit.deleted,
    true,
  );
});

Deno.test("productChange refuses what it cannot read, naming the field", async (t) => {
  const [pro] = standInProducts();
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ["no id", { ...pro, id: "" }, /data\.id is not a non-empty string/],
    ["is_recurring not a boolean", { ...pro, is_recurring: "yes" }, /data\.is_recurring/],
    ["prices not a list", { ...pro, prices: {} }, /data\.prices is not a list/],
    ["a benefit without a type", { ...pro, benefits: [{ id: "b" }] }, /data\.benefits\[0\]\.type/],
    ["a fractional interval count", { ...pro, recurring_interval_count: 1.5 }, /not an integer/],
  ];
  for (const [name, product, message] of cases) {
    await t.step(name, () => {
      assert.throws(
        () => productChange(product, T),
        (error: unknown) => error instanceof InvalidCatalogError && message.test(error.message),
      );
    });
  }
});
