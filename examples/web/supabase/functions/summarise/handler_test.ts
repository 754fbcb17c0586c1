/**
 * The example's "Summarise" against a real database (PGlite with every migration) through the
 * PostgREST stand-in, as the user: a spend on each side of the balance, one click charged once,
 * two users apart, and every bad request answered with words and nothing spent.
 */
import assert from "node:assert/strict";
import { DEMO_METER_ID, demoMeterModel } from "../../../../../local/polar_models.ts";
import {
  insertUser,
  linkCustomer,
} from "../../../../../supabase/functions/tests/support/database.ts";
import { createTestSupabase } from "../../../../../supabase/functions/tests/support/supabase_stand_in.ts";
import { createSummariseHandler, summarise, SUMMARY_COST } from "./handler.ts";

async function setup() {
  const supabase = await createTestSupabase();
  await supabase.db.query("select public.store_polar_meters($1::text::jsonb)", [
    JSON.stringify([demoMeterModel()]),
  ]);
  const handler = createSummariseHandler({
    supabaseUrl: supabase.url,
    publishableKey: supabase.anonKey,
    fetch: supabase.fetch,
  });
  /** A signed-in user holding `credits` of the demo meter, and their token. */
  const user = async (credits: number) => {
    const id = await insertUser(supabase.db);
    await linkCustomer(supabase.db, id, `cus_${id}`);
    await supabase.db.query(
      "insert into public.polar_meters (user_id, meter_id, consumed_units, credited_units, balance) values ($1, $2, 0, $3, $3)",
      [id, DEMO_METER_ID, credits],
    );
    return { id, token: await supabase.userToken(id) };
  };
  const spent = async (userId: string) => {
    const [row] = await supabase.db.query<{ units: string | null }>(
      "select sum(units)::text as units from public.polar_usage_events where user_id = $1",
      [userId],
    );
    return Number(row.units ?? 0);
  };
  return { supabase, handler, user, spent };
}

function post(token: string | null, body: unknown, init: RequestInit = {}): Request {
  return new Request("http://functions.test/summarise", {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
    },
    body: typeof body === "string" ? body : JSON.stringify(body),
    ...init,
  });
}

const TEXT = "Polar meters count usage. Supabase keeps the balance.";

Deno.test("summarise spends 10 credits while the balance covers them, and refuses below", async () => {
  const t = await setup();
  await using _ = t.supabase;
  const ada = await t.user(SUMMARY_COST); // exactly one summary
  const first = await t.handler(post(ada.token, { text: TEXT, request_id: crypto.randomUUID() }));
  assert.equal(first.status, 200);
  assert.deepEqual(await first.json(), {
    summary: "Polar meters count usage. (8 words)",
    balance: 0,
    duplicate: false,
  });
  const refused = await t.handler(post(ada.token, { text: TEXT, request_id: crypto.randomUUID() }));
  assert.equal(refused.status, 402);
  assert.deepEqual(await refused.json(), {
    error: "You are out of credits: a summary costs 10 and you have 0. Buy credits to go on.",
    balance: 0,
  });
  assert.equal(await t.spent(ada.id), SUMMARY_COST, "the refused call recorded nothing");

  const bob = await t.user(SUMMARY_COST - 1); // one credit short
  const short = await t.handler(post(bob.token, { text: TEXT, request_id: crypto.randomUUID() }));
  assert.equal(short.status, 402);
  assert.equal((await short.json()).balance, 9);
  assert.equal(await t.spent(bob.id), 0);
});

Deno.test("summarise charges one click once, and each user only their own credits", async () => {
  const t = await setup();
  await using _ = t.supabase;
  const ada = await t.user(100);
  const bob = await t.user(100);
  const click = { text: TEXT, request_id: crypto.randomUUID() };
  const once = await (await t.handler(post(ada.token, click))).json();
  const again = await (await t.handler(post(ada.token, click))).json();
  assert.equal(once.balance, 90);
  assert.equal(again.duplicate, true);
  assert.equal(again.balance, 90, "the retry spent nothing");
  // Bob may send the same request id: keys are per user, and his credits are his.
  const bobs = await (await t.handler(post(bob.token, click))).json();
  assert.deepEqual([bobs.balance, bobs.duplicate], [90, false]);
  assert.deepEqual([await t.spent(ada.id), await t.spent(bob.id)], [10, 10]);
});

Deno.test("summarise answers every bad request with words and spends nothing", async (test) => {
  const t = await setup();
  await using _ = t.supabase;
  const ada = await t.user(100);
  const id = crypto.randomUUID();
  const cases: [string, Request, number, string][] = [
    ["no token", post(null, { text: TEXT, request_id: id }), 401, "Sign in to summarise"],
    [
      "a forged token",
      post("e30.e30.c2ln", { text: TEXT, request_id: id }),
      401,
      "Sign in to summarise",
    ],
    ["malformed JSON", post(ada.token, "{"), 400, "The body must be JSON"],
    ["no text", post(ada.token, { request_id: id }), 400, "text must be a non-empty string"],
    [
      "blank text",
      post(ada.token, { text: "  ", request_id: id }),
      400,
      "text must be a non-empty string",
    ],
    [
      "text too long",
      post(ada.token, { text: "a".repeat(10_001), request_id: id }),
      400,
      "text must be at most 10000 characters",
    ],
    ["no request id", post(ada.token, { text: TEXT }), 400, "request_id must be a UUID"],
    [
      "a request id not a UUID",
      post(ada.token, { text: TEXT, request_id: "1" }),
      400,
      "request_id must be a UUID",
    ],
    [
      "GET",
      new Request("http://functions.test/summarise", {
        headers: { Authorization: `Bearer ${ada.token}` },
      }),
      405,
      "Method not allowed",
    ],
  ];
  for (const [name, request, status, error] of cases) {
    await test.step(name, async () => {
      const response = await t.handler(request);
      assert.equal(response.status, status);
      assert.equal(response.headers.get("Access-Control-Allow-Origin"), "*");
      assert.deepEqual(await response.json(), { error });
    });
  }
  assert.equal(await t.spent(ada.id), 0);
  const preflight = await t.handler(
    new Request("http://functions.test/summarise", { method: "OPTIONS" }),
  );
  assert.equal(preflight.status, 200);
  assert.match(preflight.headers.get("Access-Control-Allow-Headers") ?? "", /authorization/);
});

Deno.test("summarise: the first sentence and a word count", () => {
  assert.equal(summarise("One. Two three."), "One. (3 words)");
  assert.equal(summarise("  no stop at all  "), "no stop at all (4 words)");
});
