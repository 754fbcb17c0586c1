import assert from "node:assert/strict";
import { constantTimeEqual } from "./constant_time.ts";
import { createOperatorCheck, OPERATOR_CHECK_DEFAULTS } from "./operator.ts";

const KEYS = ["sb_secret_current", "legacy.service.role"];
const SYNC_SECRET = "7d1f0c9e8b2a4d6f8e0c1b3a5d7f9e1c";
const OLD_SYNC_SECRET = "0a2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d";

function request(headers: Record<string, string>) {
  return new Request("http://localhost/functions/v1/sync", { method: "POST", headers });
}

Deno.test("the operator check accepts a secret key as the bearer token or in apikey", () => {
  const isOperator = createOperatorCheck({ secretKeys: KEYS });
  assert.equal(isOperator(request({ Authorization: "Bearer sb_secret_current" })), true);
  assert.equal(isOperator(request({ Authorization: "Bearer legacy.service.role" })), true);
  assert.equal(isOperator(request({ apikey: "sb_secret_current" })), true);
  // A gateway that replaced Authorization with a JWT still leaves the apikey.
  assert.equal(
    isOperator(request({ Authorization: "Bearer eyJ.a.b", apikey: "sb_secret_current" })),
    true,
  );
});

Deno.test("the operator check accepts the sync secret, and both values while rotating, as the bearer token", () => {
  const isOperator = createOperatorCheck({
    secretKeys: KEYS,
    syncSecrets: [SYNC_SECRET, OLD_SYNC_SECRET],
  });
  assert.equal(isOperator(request({ Authorization: `Bearer ${SYNC_SECRET}` })), true);
  assert.equal(isOperator(request({ Authorization: `Bearer ${OLD_SYNC_SECRET}` })), true);
  assert.equal(isOperator(request({ Authorization: "Bearer sb_secret_current" })), true);
});

Deno.test("the operator check refuses anything else", async (test) => {
  const isOperator = createOperatorCheck({ secretKeys: KEYS, syncSecrets: [SYNC_SECRET] });
  const sameLength = `${SYNC_SECRET.slice(0, -1)}${SYNC_SECRET.endsWith("0") ? "1" : "0"}`;
  assert.equal(sameLength.length, SYNC_SECRET.length);
  const cases: Record<string, Record<string, string>> = {
    "no credential": {},
    "a publishable key": { apikey: "sb_publishable_x", Authorization: "Bearer sb_publishable_x" },
    "a key's prefix": { Authorization: "Bearer sb_secret_curren" },
    "a key with more after it": { Authorization: "Bearer sb_secret_currentX" },
    "the key without Bearer": { Authorization: "sb_secret_current" },
    "a user's token": { Authorization: "Bearer eyJ.user.token" },
    "a wrong sync secret of the same length": { Authorization: `Bearer ${sameLength}` },
    "the sync secret's prefix": { Authorization: `Bearer ${SYNC_SECRET.slice(0, -1)}` },
    "the sync secret in apikey": { apikey: SYNC_SECRET },
    "the sync secret in apikey beside a user's token": {
      Authorization: "Bearer eyJ.user.token",
      apikey: SYNC_SECRET,
    },
    "the sync secret without Bearer": { Authorization: SYNC_SECRET },
  };
  for (const [name, headers] of Object.entries(cases)) {
    await test.step(name, () => assert.equal(isOperator(request(headers)), false));
  }
  assert.equal(
    createOperatorCheck({ secretKeys: [] })(request({ apikey: "" })),
    false,
    "no keys, no operator",
  );
});

Deno.test("without a sync secret configured, no bearer token but a secret key opens", () => {
  const isOperator = createOperatorCheck({ secretKeys: KEYS, syncSecrets: [] });
  assert.equal(isOperator(request({ Authorization: `Bearer ${SYNC_SECRET}` })), false);
});

Deno.test("the operator check compares in constant time unless told otherwise", () => {
  assert.equal(OPERATOR_CHECK_DEFAULTS.equal, constantTimeEqual);
  assert.equal(createOperatorCheck({ secretKeys: KEYS }).equal, constantTimeEqual);
});

Deno.test("the operator check compares every offered value with every credential, through its comparison alone", async (test) => {
  const compared: [string, string][] = [];
  const decoder = new TextDecoder();
  const isOperator = createOperatorCheck(
    { secretKeys: KEYS, syncSecrets: [SYNC_SECRET, OLD_SYNC_SECRET] },
    {
      equal: (credential, given) => {
        compared.push([decoder.decode(credential), decoder.decode(given)]);
        return constantTimeEqual(credential, given);
      },
    },
  );
  const bearerOpens = [...KEYS, SYNC_SECRET, OLD_SYNC_SECRET];
  const cases: [string, Record<string, string>, boolean, [string, string][]][] = [
    [
      "the first key as the bearer token: still compared with every credential",
      { Authorization: "Bearer sb_secret_current" },
      true,
      bearerOpens.map((key) => [key, "sb_secret_current"]),
    ],
    [
      "a wrong bearer token",
      { Authorization: "Bearer sb_secret_wrong" },
      false,
      bearerOpens.map((key) => [key, "sb_secret_wrong"]),
    ],
    [
      "a wrong bearer token and a key in apikey: the apikey against the secret keys only",
      { Authorization: "Bearer eyJ.a.b", apikey: "legacy.service.role" },
      true,
      [
        ...bearerOpens.map((key): [string, string] => [key, "eyJ.a.b"]),
        ...KEYS.map((key): [string, string] => [key, "legacy.service.role"]),
      ],
    ],
    ["nothing offered: nothing compared", {}, false, []],
  ];
  for (const [name, headers, expected, comparisons] of cases) {
    await test.step(name, () => {
      compared.length = 0;
      assert.equal(isOperator(request(headers)), expected);
      assert.deepEqual(compared, comparisons);
    });
  }
});
