/**
 * What every function does with a configuration it cannot use, checked over HTTP on its real
 * `index.ts`: one start-up line on standard error naming every problem (no stack trace), then a
 * JSON 500 with CORS headers for every request, and the preflight answered.
 *
 * @module
 */
import assert from "node:assert/strict";
import { startFunction } from "./loopback.ts";

/**
 * Starts the function with `env` and checks how it answers.
 *
 * @param name the function, such as `portal`
 * @param env its environment
 * @param named what the start-up line must say
 * @example
 * ```ts
 * await assertMisconfigured("portal", { SITE_URL }, /POLAR_ACCESS_TOKEN is required/);
 * ```
 */
export async function assertMisconfigured(
  name: string,
  env: Record<string, string>,
  named: RegExp,
): Promise<void> {
  await using fn = await startFunction(name, env);
  const response = await fetch(fn.url, {
    method: "POST",
    headers: { Origin: "http://127.0.0.1:3000", "Content-Type": "application/json" },
    body: "{}",
  });
  assert.equal(response.status, 500);
  assert.deepEqual(await response.json(), { error: "Something went wrong" });
  assert.ok(response.headers.get("access-control-allow-origin"), "CORS on the 500");
  const startup = fn.output().split("\n").find((line) => line.includes('"startup":"failed"'));
  assert.ok(startup, `a start-up line in:\n${fn.output()}`);
  const line = JSON.parse(startup);
  assert.equal(line.function, name);
  assert.match(line.error, named);
  assert.doesNotMatch(fn.output(), /^\s+at /m, "no stack trace");
}
