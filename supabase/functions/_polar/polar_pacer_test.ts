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

Deno.test("the pacer waits out Retry-After on the real clock before the retry starts", async () => {
  const paced = createPolarPacer({ perMinute: 60_000 });
  const starts: number[] = [];
  const result = await paced(() => {
    starts.push(performance.now());
    if (starts.length === 1) return Promise.reject(new PolarRateLimitError(429, 0.3));
    return Promise.resolve("ok");
  });
  assert.equal(result, "ok");
  assert.equal(starts.length, 2);
  const waited = starts[1] - starts[0];
  assert.ok(waited >= 290, `the retry started ${waited.toFixed(1)} ms after the 429`);
  assert.ok(waited < 2_000, `and not much later: ${waited.toFixed(1)} ms`);
});

Deno.test("the pacer's retry starts only when its sleep resolves", async () => {
  // A sleep that resolves only when the test lets it: nothing may be called before that.
  let time = 0;
  const sleeping: { ms: number; wake: () => void }[] = [];
  const paced = createPolarPacer({
    perMinute: 60_000,
    now: () => time,
    sleep: (ms) => new Promise<void>((wake) => sleeping.push({ ms, wake })),
  });
  let attempts = 0;
  const call = paced(() => {
    attempts++;
    if (attempts === 1) return Promise.reject(new PolarRateLimitError(429, 0.3));
    return Promise.resolve("ok");
  });
  for (let i = 0; i < 10; i++) await Promise.resolve();
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(attempts, 1, "no retry while the back-off sleeps");
  assert.deepEqual(sleeping.map((s) => s.ms), [300]);
  time += 300;
  sleeping[0].wake();
  assert.equal(await call, "ok");
  assert.equal(attempts, 2);
});
