import assert from "node:assert/strict";
import { isPolarNotFound, orNullOnNotFound } from "./polar.ts";

const failure = (statusCode: number) =>
  Object.assign(new Error(`Polar API returned an error: ${statusCode}`), { statusCode });

Deno.test("a Polar 404 means none, whichever error class the SDK gave it", async () => {
  assert.equal(isPolarNotFound(failure(404)), true);
  assert.equal(await orNullOnNotFound(() => Promise.reject(failure(404))), null);
  assert.equal(await orNullOnNotFound(() => Promise.resolve("seat")), "seat");
});

Deno.test("any other failure is thrown as it was", async () => {
  for (const status of [400, 403, 422, 500]) {
    assert.equal(isPolarNotFound(failure(status)), false);
    await assert.rejects(orNullOnNotFound(() => Promise.reject(failure(status))), {
      statusCode: status,
    });
  }
  assert.equal(isPolarNotFound({ statusCode: 404 }), false, "not an Error");
});
