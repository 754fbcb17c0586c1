import assert from "node:assert/strict";
import {
  benefitGrantModel,
  customerMeterModel,
  customerModel,
  listedBenefitGrantModel,
  subscriptionModel,
} from "../../../local/polar_models.ts";
import { stagePage } from "./pages.ts";

const AT = "2026-12-01T03:00:00.000Z";
const userId = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
const customer = customerModel({ externalId: userId });

Deno.test("stagePage reduces a customer to its link and version", () => {
  const { items, refused } = stagePage("customer", [customer], AT);
  assert.deepEqual(refused, []);
  assert.deepEqual(items, [{
    id: customer.id,
    customer_id: customer.id,
    external_id: userId,
    body: { version: customer.created_at },
  }]);
});

Deno.test("stagePage reduces an active subscription as a webhook's, by its own clock", () => {
  const modifiedAt = "2026-11-30T10:00:00.000Z";
  const subscription = subscriptionModel(customer, { status: "active", modified_at: modifiedAt });
  const [item] = stagePage("subscription", [subscription], AT).items;
  assert.equal(item.id, subscription.id);
  assert.equal(item.customer_id, customer.id);
  assert.equal(item.external_id, userId);
  assert.deepEqual(
    [item.body.status, item.body.version, item.body.product_id],
    ["active", modifiedAt, subscription.product_id],
  );
});

Deno.test("stagePage reduces a listed grant to its Customer State form, hiding properties no user may see", () => {
  const grant = listedBenefitGrantModel(customer, {
    ...benefitGrantModel({ benefit_metadata: { key: "pro" } }),
    properties: { display_key: "ABCD-****", license_key_id: "lk1", user_provided_key: "secret" },
  } as ReturnType<typeof benefitGrantModel>);
  const [item] = stagePage("grant", [grant], AT).items;
  assert.deepEqual(item, {
    id: grant.id,
    customer_id: customer.id,
    external_id: userId,
    body: {
      id: grant.id,
      benefit_id: grant.benefit_id,
      benefit_type: "feature_flag",
      benefit_metadata: { key: "pro" },
      properties: { display_key: "ABCD-****", license_key_id: "lk1" },
      granted_at: grant.granted_at,
    },
  });
});

Deno.test("stagePage reduces a customer meter to its balance", () => {
  const meter = customerMeterModel(customer, { consumed_units: 25, credited_units: 100 });
  const [item] = stagePage("meter", [meter], AT).items;
  assert.deepEqual(item, {
    id: meter.id,
    customer_id: customer.id,
    external_id: userId,
    body: { meter_id: meter.meter_id, consumed_units: 25, credited_units: 100, balance: 75 },
  });
});

Deno.test("stagePage leaves out what it cannot read, naming each item, and keeps the rest", async (t) => {
  const good = customerMeterModel(customer);
  const cases: [string, Record<string, unknown>, string][] = [
    ["no embedded customer", { ...good, id: "m1", customer: null }, "customer is not an object"],
    [
      "a customer_id that is not its customer's",
      { ...good, id: "m2", customer_id: "other" },
      "customer_id does not match customer.id",
    ],
    ["a balance that is no number", { ...good, id: "m3", balance: "75" }, "balance"],
  ];
  for (const [name, item, reason] of cases) {
    await t.step(name, () => {
      const page = stagePage("meter", [item, good], AT);
      assert.equal(page.items.length, 1);
      assert.equal(page.refused[0].id, item.id);
      assert.ok(page.refused[0].reason.includes(reason), page.refused[0].reason);
    });
  }
});
