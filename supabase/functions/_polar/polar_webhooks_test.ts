import assert from "node:assert/strict";
import type { webhooks } from "@polar-sh/sdk/2026-10";
import {
  benefitGrantModel,
  customerModel,
  customerStateModel,
  DEMO_BENEFIT_ID,
  orderModel,
} from "../../../local/polar_models.ts";
import { standInProducts } from "../../../local/polar_products.ts";
import {
  customerEvent,
  customerFixture,
  customerStateEvent,
  subscriptionEvent,
  subscriptionFixture,
} from "../tests/support/polar_events.ts";
import {
  CUSTOMER_EVENT_TYPES,
  InvalidEventError,
  isHandledEventType,
  SUBSCRIPTION_EVENT_TYPES,
  toWebhookDelivery,
} from "./polar_webhooks.ts";

const USER_ID = "11111111-1111-4111-8111-111111111111";
const T0 = "2026-11-24T10:00:00Z";
const T1 = "2026-11-24T11:00:00.123456Z";
const T2 = "2026-11-24T12:00:00+00:00";

// Compile-time: the list names exactly the SDK's subscription.* events, no more, no fewer.
type Equal<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type SdkSubscriptionTypes = Extract<webhooks.WebhookPayload["type"], `subscription.${string}`>;
const everySubscriptionEvent: Equal<
  SdkSubscriptionTypes,
  typeof SUBSCRIPTION_EVENT_TYPES[number]
> = true;
const everyCustomerEvent: Equal<
  Extract<webhooks.WebhookPayload["type"], typeof CUSTOMER_EVENT_TYPES[number]>,
  typeof CUSTOMER_EVENT_TYPES[number]
> = true;

Deno.test("polar webhook event lists match the SDK's 2026-10 types", () => {
  assert.ok(everySubscriptionEvent && everyCustomerEvent);
  assert.equal(new Set(SUBSCRIPTION_EVENT_TYPES).size, 11);
  for (const type of [...SUBSCRIPTION_EVENT_TYPES, ...CUSTOMER_EVENT_TYPES]) {
    assert.ok(isHandledEventType(type), type);
  }
  assert.ok(isHandledEventType("customer.state_changed"));
  for (const type of ["order.created", "checkout.updated", "subscription", ""]) {
    assert.ok(!isHandledEventType(type), type);
  }
});

Deno.test("toWebhookDelivery reduces a subscription event to its change", () => {
  const customer = { ...customerFixture({ externalId: USER_ID }), created_at: T0 };
  const subscription = subscriptionFixture(customer, {
    status: "active",
    modified_at: T1,
    cancel_at_period_end: true,
    canceled_at: T1,
    current_period_end: T2,
    current_meter_period_start: T1,
    metadata: { user_id: USER_ID, plan: "pro" },
  });
  const delivery = toWebhookDelivery(
    "msg_1",
    subscriptionEvent("subscription.canceled", subscription, T2),
  );
  assert.deepEqual(delivery, {
    webhookId: "msg_1",
    eventType: "subscription.canceled",
    eventTimestamp: T2,
    change: {
      customer_id: customer.id,
      external_id: USER_ID,
      customer_version: T0,
      metadata_user_id: USER_ID,
      customer_deleted: false,
      subscription: {
        id: subscription.id,
        status: "active",
        product_id: subscription.product_id,
        current_period_start: subscription.current_period_start,
        current_period_end: T2,
        current_meter_period_start: T1,
        trial_end: null,
        cancel_at_period_end: true,
        canceled_at: T1,
        ended_at: null,
        version: T1,
      },
    },
  });
});

Deno.test("toWebhookDelivery versions an object never modified by its created_at", () => {
  const customer = { ...customerFixture(), created_at: T0 };
  const subscription = subscriptionFixture(customer, { created_at: T1, modified_at: null });
  const { change } = toWebhookDelivery(
    "msg_1",
    subscriptionEvent("subscription.created", subscription, T2),
  );
  assert.equal(change?.subscription?.version, T1);
  assert.equal(change?.customer_version, T0);
  assert.equal(change?.external_id, null);
  assert.equal(change?.metadata_user_id, null);
});

Deno.test("toWebhookDelivery versions a deletion by the later of modified_at and deleted_at", () => {
  const customer = { ...customerFixture({ externalId: USER_ID }), created_at: T0 };
  const cases: [string | null, string | null, string][] = [
    [T1, T2, T2],
    [T2, T1, T2],
    [null, T1, T1],
    [null, null, T0],
  ];
  for (const [modifiedAt, deletedAt, version] of cases) {
    const { change } = toWebhookDelivery(
      "msg_1",
      customerEvent("customer.deleted", {
        ...customer,
        modified_at: modifiedAt,
        deleted_at: deletedAt,
      }),
    );
    assert.equal(change?.customer_version, version, `${modifiedAt} / ${deletedAt}`);
    assert.equal(change?.customer_deleted, true);
    assert.equal(change?.subscription, null);
  }
});

Deno.test("toWebhookDelivery keeps only the type and timestamp of an event it does not use", () => {
  assert.deepEqual(
    toWebhookDelivery("msg_2", { type: "order.created", timestamp: T1, data: { anything: 1 } }),
    { webhookId: "msg_2", eventType: "order.created", eventTimestamp: T1, change: null },
  );
});

Deno.test("toWebhookDelivery refuses what it cannot read", async (test) => {
  const customer = customerFixture({ externalId: USER_ID });
  const event = subscriptionEvent("subscription.updated", subscriptionFixture(customer));
  const withData = (data: Record<string, unknown>) => ({
    ...event,
    data: { ...event.data, ...data },
  });
  const cases: Record<string, [unknown, string]> = {
    "null": [null, "Event is not an object"],
    "an array": [[event], "Event is not an object"],
    "no type": [{ ...event, type: undefined }, "Event has no type"],
    "no timestamp": [{ ...event, timestamp: undefined }, "Event has no timestamp"],
    "a date without time": [{ ...event, timestamp: "2026-11-24" }, "event.timestamp is not"],
    "a timestamp without zone": [
      { ...event, timestamp: "2026-11-24T10:00:00" },
      "event.timestamp is not",
    ],
    "no data": [{ ...event, data: "x" }, "Event has no data object"],
    "a subscription id that is a number": [withData({ id: 7 }), "data.id is not"],
    "an empty status": [withData({ status: "" }), "data.status is not"],
    "a customer that is a string": [withData({ customer: "cus" }), "data.customer is not"],
    "a mismatched customer_id": [withData({ customer_id: "other" }), "data.customer_id does"],
    "a malformed modified_at": [withData({ modified_at: "soon" }), "data.modified_at is not"],
    "a malformed ended_at": [withData({ ended_at: 5 }), "data.ended_at is not"],
    "a product_id that is a number": [withData({ product_id: 5 }), "data.product_id is not"],
    "a malformed deleted_at": [
      customerEvent("customer.deleted", { ...customer, deleted_at: "now" }),
      "data.deleted_at is not",
    ],
  };
  for (const [name, [input, message]] of Object.entries(cases)) {
    await test.step(name, () => {
      assert.throws(
        () => toWebhookDelivery("msg_1", input),
        (error) => error instanceof InvalidEventError && error.message.startsWith(message),
      );
    });
  }
});

Deno.test("toWebhookDelivery reduces a Customer State to its snapshot", () => {
  const customer = { ...customerFixture({ externalId: USER_ID }), created_at: T0 };
  const active = subscriptionFixture(customer, {
    status: "trialing",
    modified_at: T1,
    trial_end: T2,
  });
  const ended = subscriptionFixture(customer, { status: "canceled", modified_at: T1 });
  const licenseKey = benefitGrantModel({
    benefit_id: "b-license",
    benefit_type: "license_keys",
    benefit_metadata: {},
    granted_at: T1,
    properties: {
      display_key: "****-1234",
      license_key_id: "lk_1",
      user_provided_key: "the-whole-secret-key",
    } as never,
  });
  const flag = benefitGrantModel({ granted_at: T1 });
  const state = customerStateModel(customer, {
    subscriptions: [active, ended],
    grants: [flag, licenseKey],
    meters: [{
      id: "cm_1",
      created_at: T0,
      modified_at: null,
      meter_id: "meter_1",
      consumed_units: 25.5,
      credited_units: 100,
      balance: 74.5,
    }],
  });
  const delivery = toWebhookDelivery("msg_state", customerStateEvent(state, T2));
  assert.equal(delivery.eventType, "customer.state_changed");
  assert.deepEqual(delivery.change, {
    customer_id: customer.id,
    external_id: USER_ID,
    customer_version: T0,
    metadata_user_id: null,
    customer_deleted: false,
    subscription: null,
    state: {
      at: T2,
      subscriptions: [{
        id: active.id,
        status: "trialing",
        product_id: active.product_id,
        current_period_start: active.current_period_start,
        current_period_end: active.current_period_end,
        trial_end: T2,
        cancel_at_period_end: false,
        canceled_at: null,
        ended_at: null,
        version: T1,
      }],
      grants: [
        {
          id: flag.id,
          benefit_id: DEMO_BENEFIT_ID,
          benefit_type: "feature_flag",
          benefit_metadata: { key: "pro" },
          properties: {},
          granted_at: T1,
        },
        {
          id: licenseKey.id,
          benefit_id: "b-license",
          benefit_type: "license_keys",
          benefit_metadata: {},
          // The user-provided key itself is not stored; what identifies it is.
          properties: { display_key: "****-1234", license_key_id: "lk_1" },
          granted_at: T1,
        },
      ],
      meters: [{ meter_id: "meter_1", consumed_units: 25.5, credited_units: 100, balance: 74.5 }],
    },
  });
});

Deno.test("toWebhookDelivery refuses a Customer State it cannot read", async (test) => {
  const customer = customerFixture({ externalId: USER_ID });
  const state = customerStateModel(customer, { grants: [benefitGrantModel()] });
  const cases: Record<string, [Record<string, unknown>, string]> = {
    "no granted_benefits": [
      { ...state, granted_benefits: undefined },
      "data.granted_benefits is not a list",
    ],
    "a grant without benefit_id": [
      { ...state, granted_benefits: [{ ...state.granted_benefits[0], benefit_id: null }] },
      "data.granted_benefits[0].benefit_id is not a non-empty string",
    ],
    "a meter balance that is text": [
      {
        ...state,
        active_meters: [{ meter_id: "m", consumed_units: 1, credited_units: 2, balance: "1" }],
      },
      "data.active_meters[0].balance is not a number",
    ],
    "a subscription that is not an object": [
      { ...state, active_subscriptions: ["sub_1"] },
      "data.active_subscriptions[0] is not an object",
    ],
  };
  for (const [name, [data, message]] of Object.entries(cases)) {
    await test.step(name, () => {
      assert.throws(
        () =>
          toWebhookDelivery("msg", {
            type: "customer.state_changed",
            timestamp: T2,
            api_version: "2026-10",
            data,
          }),
        (error: Error) => error instanceof InvalidEventError && error.message === message,
      );
    });
  }
});

Deno.test("toWebhookDelivery stores only the allowlisted grant properties, hiding what is new", () => {
  const customer = customerFixture({ externalId: USER_ID });
  const grant = (properties: Record<string, unknown>) =>
    benefitGrantModel({ benefit_type: "discord", granted_at: T1, properties: properties as never });
  const state = customerStateModel(customer, {
    grants: [
      grant({ display_key: "****-1234", invite_url: "https://discord.gg/secret-invite" }),
      // Properties Polar might add one day: hidden until someone allowlists them.
      grant({ guild_id: "g_1", download_token: "tok_secret", email: "ada@example.com" }),
      grant({ invite_url: "https://discord.gg/another" }),
    ],
  });
  const delivery = toWebhookDelivery("msg_props", customerStateEvent(state, T2));
  assert.deepEqual(delivery.change?.state?.grants.map((g) => g.properties), [
    { display_key: "****-1234" },
    { guild_id: "g_1" },
    {},
  ]);
});

Deno.test("toWebhookDelivery reduces order.paid and order.refunded to the customer's link and the order", () => {
  const customer = customerModel({ externalId: "8d7c1f3e-2b4a-4c6d-9e8f-0a1b2c3d4e5f" });
  const [pro] = standInProducts();
  const order = orderModel(customer, {
    product: pro,
    amount: 1000,
    subscriptionId: "sub_1",
    refunded_amount: 400,
    modified_at: T1,
    metadata: { user_id: customer.external_id! },
  });
  const paid = toWebhookDelivery("msg_o", { type: "order.refunded", timestamp: T1, data: order });
  assert.deepEqual(paid.change, {
    customer_id: customer.id,
    external_id: customer.external_id,
    customer_version: customer.created_at,
    metadata_user_id: customer.external_id,
    customer_deleted: false,
    subscription: null,
    order: {
      id: order.id,
      kind: "order_refunded",
      product_id: pro.id,
      subscription_id: "sub_1",
      total_amount: 1000,
      refunded_amount: 400,
      currency: "usd",
      version: T1,
    },
  });
  assert.equal(isHandledEventType("order.paid"), true);
  assert.equal(paid.catalog, undefined);
});

Deno.test("toWebhookDelivery sends a product event to the catalog, not to a user", () => {
  const [pro] = standInProducts();
  const delivery = toWebhookDelivery("msg_p", {
    type: "product.updated",
    timestamp: T1,
    data: pro,
  });
  assert.equal(delivery.change, null);
  assert.equal((delivery.catalog as { product: { id: string } }).product.id, pro.id);
  assert.throws(
    () =>
      toWebhookDelivery("msg_p", {
        type: "product.updated",
        timestamp: T1,
        data: { ...pro, name: "" },
      }),
    (error: unknown) => error instanceof InvalidEventError && /data\.name/.test(error.message),
  );
});
