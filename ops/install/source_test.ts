import assert from "node:assert/strict";
import { pinnedImports, readSource } from "./source.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test("readSource takes the five functions, the _polar modules they reach, and no test file", async () => {
  const source = await readSource(ROOT);
  assert.deepEqual(source.functions.map((f) => f.name), [
    "checkout",
    "polar-webhooks",
    "portal",
    "seats",
    "sync",
  ]);
  const paths = [...source.functions.flatMap((f) => f.files), ...source.shared].map((f) => f.path);
  assert.ok(paths.includes("portal/index.ts") && paths.includes("_polar/cors.ts"));
  assert.ok(
    paths.every((path) => !path.endsWith("_test.ts") && !path.startsWith("tests/")),
    paths.join(),
  );
  assert.ok(source.migrations.length > 0 && source.tests.length > 0 && source.schedule);
});

Deno.test("pinnedImports refuses an unmapped or unpinned package", () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{}, /"jose" is imported but not in import_map\.json/],
    [{ jose: "npm:jose@6" }, /not an exact npm version/],
    [{ jose: "npm:jose@^6.2.18" }, /not an exact npm version/],
    [{ jose: "jsr:@panva/jose@6.2.18" }, /not an exact npm version/],
  ];
  for (const [imports, error] of cases) {
    assert.throws(() => pinnedImports(["jose"], imports), error);
  }
  assert.deepEqual(
    pinnedImports(["@polar-sh/sdk/2026-10"], {
      "@polar-sh/sdk/2026-10": "npm:@polar-sh/sdk@1.0.1/2026-10",
    }),
    { "@polar-sh/sdk/2026-10": "npm:@polar-sh/sdk@1.0.1/2026-10" },
  );
});
