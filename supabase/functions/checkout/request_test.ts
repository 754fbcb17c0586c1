import assert from "node:assert/strict";
import { HttpError } from "../_polar/http_error.ts";
import { createCheckoutRequestReader, MAX_PRODUCTS } from "./request.ts";

const SITE_URL = "https://app.example.com";
const PRO = "7a0f6c3e-5f4e-4f57-9a43-2b1e8f7c9d10";
const TEAM = "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f";
const OUTSIDER = "0b9e8d7c-6b5a-4f3e-9d2c-1b0a9f8e7d6c";

const read = createCheckoutRequestReader({
  siteUrl: SITE_URL,
  allowedOrigins: [SITE_URL, "https://admin.example.com"],
  productIds: [PRO, TEAM.toUpperCase()],
});

function assertRejects(body: Record<string, unknown>, message: string) {
  assert.throws(() => read(body), (error) => {
    assert.ok(error instanceof HttpError);
    assert.equal(error.status, 400);
    assert.equal(error.message, message);
    return true;
  });
}

Deno.test("checkout request reader accepts product_id and defaults success_url to SITE_URL", () => {
  assert.deepEqual(read({ product_id: PRO }), {
    products: [PRO],
    successUrl: `${SITE_URL}/?checkout_id={CHECKOUT_ID}`,
    returnUrl: undefined,
    team: undefined,
  });
});

Deno.test("checkout request reader keeps the order of products and lowercases ids", () => {
  assert.deepEqual(read({ products: [TEAM.toUpperCase(), PRO] }).products, [TEAM, PRO]);
});

Deno.test("checkout request reader resolves success_url and return_url on allowed origins", () => {
  const request = read({
    product_id: PRO,
    success_url: "/welcome?plan=pro",
    return_url: "https://admin.example.com/pricing",
  });
  assert.equal(request.successUrl, `${SITE_URL}/welcome?plan=pro&checkout_id={CHECKOUT_ID}`);
  assert.equal(request.returnUrl, "https://admin.example.com/pricing");
});

Deno.test("checkout request reader treats null fields as absent", () => {
  assert.deepEqual(read({ product_id: PRO, products: null, success_url: null, return_url: null }), {
    products: [PRO],
    successUrl: `${SITE_URL}/?checkout_id={CHECKOUT_ID}`,
    returnUrl: undefined,
    team: undefined,
  });
});

Deno.test("checkout request reader accepts any UUID when POLAR_PRODUCT_IDS is empty", () => {
  const open = createCheckoutRequestReader({
    siteUrl: SITE_URL,
    allowedOrigins: [SITE_URL],
    productIds: [],
  });
  assert.deepEqual(open({ product_id: OUTSIDER }).products, [OUTSIDER]);
});

Deno.test("checkout request reader ignores fields it does not know", () => {
  const request = read({
    product_id: PRO,
    external_customer_id: crypto.randomUUID(),
    customer_id: crypto.randomUUID(),
    customer_email: "victim@example.com",
    metadata: { user_id: crypto.randomUUID() },
    user_id: crypto.randomUUID(),
  });
  assert.deepEqual(Object.keys(request).sort(), ["products", "returnUrl", "successUrl", "team"]);
  assert.equal(request.team, undefined);
});

Deno.test("checkout request reader answers 400 naming the problem with the products", async (test) => {
  const tooMany = Array.from({ length: MAX_PRODUCTS + 1 }, () => crypto.randomUUID());
  const cases: [string, Record<string, unknown>, string][] = [
    ["no product", {}, "Missing product_id or products"],
    ["both fields", { product_id: PRO, products: [PRO] }, "Send product_id or products, not both"],
    ["a non-UUID product_id", { product_id: "pro" }, 'Invalid product_id "pro": expected a UUID'],
    ["an empty product_id", { product_id: "" }, 'Invalid product_id "": expected a UUID'],
    ["a numeric product_id", { product_id: 42 }, "Invalid product_id 42: expected a UUID"],
    [
      "a product_id with a UUID inside",
      { product_id: ` ${PRO}` },
      `Invalid product_id " ${PRO}": expected a UUID`,
    ],
    [
      "a list as product_id",
      { product_id: [PRO] },
      `Invalid product_id ["${PRO}"]: expected a UUID`,
    ],
    ["products as a string", { products: PRO }, "Invalid products: expected a list of product ids"],
    ["an empty products list", { products: [] }, "Invalid products: the list is empty"],
    ["too many products", { products: tooMany }, "Invalid products: at most 10 product ids"],
    [
      "a non-UUID in products",
      { products: [PRO, "team"] },
      'Invalid products[1] "team": expected a UUID',
    ],
    ["null in products", { products: [null] }, "Invalid products[0] null: expected a UUID"],
    [
      "a duplicate product",
      { products: [PRO, TEAM, PRO.toUpperCase()] },
      `Duplicate product id "${PRO.toUpperCase()}" in products`,
    ],
    [
      "a product_id outside POLAR_PRODUCT_IDS",
      { product_id: OUTSIDER },
      `Unknown product_id "${OUTSIDER}"`,
    ],
    [
      "a product outside POLAR_PRODUCT_IDS in a list",
      { products: [PRO, OUTSIDER] },
      `Unknown products[1] "${OUTSIDER}"`,
    ],
    [
      "a long value",
      { product_id: "x".repeat(5000) },
      `Invalid product_id "${"x".repeat(40)}…": expected a UUID`,
    ],
  ];
  for (const [name, body, message] of cases) {
    await test.step(name, () => assertRejects(body, message));
  }
});

Deno.test("checkout request reader answers 400 for success_url or return_url off the allowed origins", async (test) => {
  const hostile = [
    "javascript:alert(1)",
    "//evil.example",
    "https://evil.example/",
    "https://evil.example/?checkout_id={CHECKOUT_ID}",
    "https://app.example.com@evil.example/",
    "https://app.example.com.evil.example/",
    "https://app.example.com:8443/",
    "http://app.example.com/",
    "/\\evil.example",
    "data:text/html,hi",
    "",
    42,
    ["https://app.example.com/"],
    "https://app.example.com/" + "a".repeat(3000),
  ];
  for (const field of ["success_url", "return_url"]) {
    for (const url of hostile) {
      await test.step(`${field} ${JSON.stringify(url).slice(0, 50)}`, () => {
        assertRejects(
          { product_id: PRO, [field]: url },
          `Invalid ${field}: expected a URL on ${SITE_URL} or https://admin.example.com`,
        );
      });
    }
  }
});

Deno.test("checkout request reader reads a team's purchase: team_id in lower case with its seats", () => {
  const team = "C1D2E3F4-A5B6-4C7D-8E9F-0A1B2C3D4E5F";
  assert.deepEqual(read({ product_id: PRO, team_id: team, seats: 1000 }).team, {
    teamId: team.toLowerCase(),
    seats: 1000,
  });
  assert.deepEqual(read({ product_id: PRO, team_id: team, seats: 1 }).team?.seats, 1);
  assert.equal(read({ product_id: PRO, team_id: null, seats: null }).team, undefined);
});
