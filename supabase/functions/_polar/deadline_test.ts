import assert from "node:assert/strict";
import { createDeadline, requestDeadline, withDeadline } from "./deadline.ts";

/** A clock the test moves by hand. */
function manualClock(start = 5_000) {
  let time = start;
  return { now: () => time, advance: (ms: number) => time += ms };
}

Deno.test("timeoutSeconds gives what is left of the budget, not the whole budget", () => {
  const clock = manualClock();
  const deadline = createDeadline(1_000, { now: clock.now });
  assert.equal(deadline.timeoutSeconds(3.5), 1);
  clock.advance(700);
  assert.equal(deadline.remainingMs(), 300);
  assert.equal(deadline.timeoutSeconds(3.5), 0.3);
  assert.equal(deadline.timeoutSeconds(), 0.3, "no cap: what is left");
});

Deno.test("timeoutSeconds is the cap while more than the cap is left, on both sides of it", () => {
  const clock = manualClock();
  const deadline = createDeadline(9_000, { now: clock.now });
  assert.equal(deadline.timeoutSeconds(3.5), 3.5, "9 s left, a 3.5 s cap");
  clock.advance(5_500);
  assert.equal(deadline.timeoutSeconds(3.5), 3.5, "exactly the cap left");
  clock.advance(1);
  assert.equal(deadline.timeoutSeconds(3.5), 3.499, "1 ms less than the cap left");
});

Deno.test("a deadline that has passed leaves nothing, never less", () => {
  const clock = manualClock();
  const deadline = createDeadline(1_000, { now: clock.now });
  clock.advance(1_000);
  assert.equal(deadline.remainingMs(), 0);
  assert.equal(deadline.timeoutSeconds(3.5), 0);
  clock.advance(5_000);
  assert.equal(deadline.remainingMs(), 0);
  assert.equal(deadline.timeoutSeconds(3.5), 0);
});

Deno.test("a deadline's signal aborts when its budget is spent", async () => {
  const deadline = createDeadline(30);
  assert.equal(deadline.signal.aborted, false);
  await new Promise((resolve) => deadline.signal.addEventListener("abort", resolve));
  assert.equal(deadline.signal.aborted, true);
});

Deno.test("requestDeadline starts once per request and is shared by every later call", () => {
  const request = new Request("http://localhost/functions/v1/portal");
  const first = requestDeadline(request, 1_000);
  assert.equal(requestDeadline(request, 60_000), first, "a later budget does not restart it");
  assert.ok(first.remainingMs() <= 1_000);
  assert.notEqual(requestDeadline(new Request("http://localhost/")), first);
});

Deno.test("withDeadline combines a call's signal with the deadline's", () => {
  const deadline = createDeadline(60_000);
  assert.equal(withDeadline(undefined, undefined), undefined);
  assert.equal(withDeadline(deadline, undefined), deadline.signal);
  const own = new AbortController();
  const combined = withDeadline(deadline, own.signal)!;
  assert.equal(combined.aborted, false);
  own.abort();
  assert.equal(combined.aborted, true, "the call's own signal still aborts it");
});
