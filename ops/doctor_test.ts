import assert from "node:assert/strict";
import { callDoctor, DoctorUsageError, formatReport, parseDoctorArgs } from "./doctor.ts";

const none = () => undefined;

Deno.test("doctor reads --url and --secret-key, else SUPABASE_URL and SUPABASE_SECRET_KEY", () => {
  assert.deepEqual(
    parseDoctorArgs(["--url", "https://ref.supabase.co/", "--secret-key", "sb_secret_x"], none),
    { url: "https://ref.supabase.co", secretKey: "sb_secret_x" },
  );
  const env: Record<string, string> = {
    SUPABASE_URL: "http://127.0.0.1:54321",
    SUPABASE_SECRET_KEY: "sb_secret_y",
  };
  assert.deepEqual(parseDoctorArgs([], (name) => env[name]), {
    url: "http://127.0.0.1:54321",
    secretKey: "sb_secret_y",
  });
});

Deno.test("doctor without a URL or a key says what to pass", () => {
  assert.throws(() => parseDoctorArgs(["--secret-key", "k"], none), DoctorUsageError);
  assert.throws(() => parseDoctorArgs(["--url", "ref.supabase.co", "--secret-key", "k"], none), {
    message: /--url https:\/\/<project-ref>\.supabase\.co/,
  });
  assert.throws(() => parseDoctorArgs(["--url", "https://x"], none), { message: /--secret-key/ });
});

Deno.test("doctor prints ✔ per passing check and ✗ with the fix per failing one", () => {
  assert.equal(
    formatReport({
      ok: false,
      checks: [
        { name: "Scope webhooks:read", ok: true },
        { name: "Product p", ok: true, detail: '"Pro" grants Pro (feature_flag, key "pro")' },
        { name: "Webhook endpoint enabled", ok: false, fix: "re-enable it in Polar" },
      ],
    }),
    [
      "✔ Scope webhooks:read",
      '✔ Product p ("Pro" grants Pro (feature_flag, key "pro"))',
      "✗ Webhook endpoint enabled: re-enable it in Polar",
      "",
      "1 of 3 checks failed",
    ].join("\n"),
  );
});

Deno.test("doctor sends the key to sync's doctor scope and turns its failures into words", async (test) => {
  const options = { url: "https://ref.supabase.co", secretKey: "sb_secret_x" };
  const answering =
    (status: number, body: unknown) => (input: string | URL | Request, init?: RequestInit) => {
      const request = new Request(input, init);
      assert.equal(request.url, "https://ref.supabase.co/functions/v1/sync");
      assert.equal(request.headers.get("authorization"), "Bearer sb_secret_x");
      return request.json().then((sent) => {
        assert.deepEqual(sent, { scope: "doctor" });
        return Response.json(body, { status });
      });
    };
  await test.step("a report", async () => {
    const report = { ok: true, checks: [{ name: "Token issuer", ok: true }] };
    assert.deepEqual(await callDoctor(options, answering(200, report) as typeof fetch), { report });
  });
  const cases: [number, unknown, RegExp][] = [
    [401, { error: "Unauthorized" }, /not a secret key of this project/],
    [404, { error: "Function not found" }, /functions deploy sync/],
    [400, { error: 'Invalid scope "doctor"' }, /has no doctor yet/],
    [500, { error: "Something went wrong" }, /first line of its log names every variable/],
  ];
  for (const [status, body, said] of cases) {
    await test.step(String(status), async () => {
      const answer = await callDoctor(options, answering(status, body) as typeof fetch);
      assert.ok("error" in answer);
      assert.match(answer.error, said);
    });
  }
  await test.step("unreachable", async () => {
    const answer = await callDoctor(
      options,
      (() => Promise.reject(new TypeError("refused"))) as typeof fetch,
    );
    assert.ok("error" in answer && /could not reach/.test(answer.error));
  });
});
