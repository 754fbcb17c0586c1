import assert from "node:assert/strict";
import { withCheckoutIdPlaceholder } from "./success_url.ts";

Deno.test("withCheckoutIdPlaceholder adds checkout_id={CHECKOUT_ID} with literal braces", async (test) => {
  const cases: [string, string][] = [
    ["https://app.example.com", "https://app.example.com/?checkout_id={CHECKOUT_ID}"],
    ["http://127.0.0.1:3000", "http://127.0.0.1:3000/?checkout_id={CHECKOUT_ID}"],
    ["https://app.example.com/thanks", "https://app.example.com/thanks?checkout_id={CHECKOUT_ID}"],
    [
      "https://app.example.com/thanks?plan=pro",
      "https://app.example.com/thanks?plan=pro&checkout_id={CHECKOUT_ID}",
    ],
    ["https://app.example.com/thanks?", "https://app.example.com/thanks?checkout_id={CHECKOUT_ID}"],
    [
      "https://app.example.com/thanks?a=1&",
      "https://app.example.com/thanks?a=1&checkout_id={CHECKOUT_ID}",
    ],
    [
      "https://app.example.com/thanks#welcome",
      "https://app.example.com/thanks?checkout_id={CHECKOUT_ID}#welcome",
    ],
    [
      "https://app.example.com/thanks?plan=pro#welcome",
      "https://app.example.com/thanks?plan=pro&checkout_id={CHECKOUT_ID}#welcome",
    ],
  ];
  for (const [input, expected] of cases) {
    await test.step(input, () => assert.equal(withCheckoutIdPlaceholder(input), expected));
  }
});

Deno.test("withCheckoutIdPlaceholder keeps a placeholder the caller already put in", async (test) => {
  const cases: [string, string][] = [
    [
      "https://app.example.com/thanks?id={CHECKOUT_ID}",
      "https://app.example.com/thanks?id={CHECKOUT_ID}",
    ],
    [
      "https://app.example.com/thanks/{CHECKOUT_ID}",
      "https://app.example.com/thanks/{CHECKOUT_ID}",
    ],
    [
      "https://app.example.com/thanks/%7BCHECKOUT_ID%7D?x=1",
      "https://app.example.com/thanks/{CHECKOUT_ID}?x=1",
    ],
    [
      "https://app.example.com/thanks#c={CHECKOUT_ID}",
      "https://app.example.com/thanks#c={CHECKOUT_ID}",
    ],
  ];
  for (const [input, expected] of cases) {
    await test.step(input, () => assert.equal(withCheckoutIdPlaceholder(input), expected));
  }
});

Deno.test("withCheckoutIdPlaceholder never changes the URL's origin", () => {
  const url = withCheckoutIdPlaceholder("https://app.example.com/%7BCHECKOUT_ID%7D@evil.example");
  assert.equal(new URL(url).origin, "https://app.example.com");
});
