import assert from "node:assert/strict";
import { PolarRateLimitError } from "@polar-sh/sdk";
import { createPolarPacer } from "./polar_pacer.ts";

/** A clock that only moves when the pacer sleeps. */
function fakeTime() {
  let time = 1_000_000;
  const sleeps: number[] = [];
  return {
    now: () => time,
    sleep: (ms: number) => {
      sleeps.push(ms);
      time += ms;
      return Promise.resolve();
    },
    sleeps,
  };
}

Deno.test("the pacer spaces calls to the rate it is given", async () => {
  const time = fakeTime();
  const paced = createPolarPacer({ perMinute: 120, ...time });
  const at: number[] = [];
  for (let i = 0; i < 4; i++) await paced(() => Promise.resolve(at.push(time.now())));
  assert.deepEqual(at.map((t) => t - at[0]), [0, 500, 1000, 1500]);
  assert.equal(paced.calls, 4);
});

Deno.test("the pacer waits Polar's Retry-After after a 429, then retries", async () => {
  const time = fakeTime();
  const paced = createPolarPacer({ perMinute: 6000, ...time });
  let attempts = 0;
  const result = await paced(() => {
    attempts++;
    if (attempts === 1) return Promise.reject(new PolarRateLimitError(429, 7));
    return Promise.resolve("ok");
  });
  assert.equal(result, "ok");
  assert.equal(paced.rateLimited, 1);
  assert.ok(time.sleeps.some((ms) => ms >= 7000), `waited ${time.sleeps}`);
});

Deno.test("the pacer doubles its back-off without Retry-After and gives up after its retries", async () => {
  const time = fakeTime();
  const paced = createPolarPacer({ perMinute: 6000, maxRetries: 3, ...time });
  await assert.rejects(
    paced(() => Promise.reject(new PolarRateLimitError(429, null))),
    PolarRateLimitError,
  );
  assert.equal(paced.calls, 4);
  assert.equal(paced.rateLimited, 3);
  const backoffs = time.sleeps.filter((ms) => ms >= 1000);
  assert.deepEqual(backoffs, [1000, 2000, 4000]);
});

Deno.test("the pacer passes other errors on at once", async () => {
  const time = fakeTime();
  const paced = createPolarPacer({ perMinute: 60, ...time });
  await assert.rejects(paced(() => Promise.reject(new Error("boom"))), /boom/);
  assert.equal(paced.calls, 1);
  assert.deepEqual(time.sleeps, []);
});
