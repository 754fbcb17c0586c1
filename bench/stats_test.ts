import assert from "node:assert/strict";
import { percentile, summarize } from "./stats.ts";

Deno.test("percentile takes the nearest rank", () => {
  const samples = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(samples, 50), 50);
  assert.equal(percentile(samples, 99), 99);
  assert.equal(percentile(samples, 100), 100);
  assert.equal(percentile([7], 99), 7);
});

Deno.test("percentile of no samples is NaN", () => {
  assert.ok(Number.isNaN(percentile([], 50)));
});

Deno.test("summarize reports median, quartiles and range", () => {
  assert.deepEqual(summarize([3, 1, 2]), { n: 3, median: 2, min: 1, max: 3, p25: 1, p75: 3 });
});
