import assert from "node:assert/strict";
import { emptyManifest, parseManifest, renderManifest, sha256Hex } from "./manifest.ts";

Deno.test("renderManifest writes the same bytes whatever the order it was given", async () => {
  const a = {
    ...emptyManifest(),
    functions: ["sync", "portal"],
    files: { "b.ts": await sha256Hex("b"), "a.ts": await sha256Hex("a") },
  };
  const b = {
    ...a,
    functions: ["portal", "sync"],
    files: { "a.ts": a.files["a.ts"], "b.ts": a.files["b.ts"] },
  };
  assert.equal(renderManifest(a), renderManifest(b));
  assert.deepEqual(parseManifest(renderManifest(a)).functions, ["portal", "sync"]);
});

Deno.test("parseManifest refuses what this command did not write", () => {
  for (
    const text of ["{}", "[]", '{"functions":[],"config_sections":[],"files":{},"migrations":[{}]}']
  ) {
    assert.throws(() => parseManifest(text), /is not a manifest this command wrote/);
  }
  assert.throws(() => parseManifest("not json"), SyntaxError);
});
