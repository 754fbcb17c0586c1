import assert from "node:assert/strict";
import { importSpecifiers, moduleGraph } from "./module_graph.ts";
import { BILLING_FUNCTIONS } from "./source.ts";

const FUNCTIONS_DIR = new URL("../../supabase/functions/", import.meta.url);

Deno.test("importSpecifiers reads every import form and skips comments", () => {
  const source = `
    /** @example
     * import { x } from "in-a-doc";
     */
    // import "in-a-line-comment";
    import type { A } from "./types.ts";
    import {
      b,
      c,
    } from "jose";
    export { d } from "../_polar/d.ts";
    export * from "./e.ts";
    import "./side_effect.ts";
    const f = await import("./lazy.ts");
    const url = "https://example.com"; // from "not-an-import"`;
  assert.deepEqual(importSpecifiers(source), [
    "./types.ts",
    "jose",
    "../_polar/d.ts",
    "./e.ts",
    "./side_effect.ts",
    "./lazy.ts",
  ]);
});

Deno.test("moduleGraph refuses an import that leaves the folder or is missing", async () => {
  const files: Record<string, string> = {
    "a/index.ts": 'import "../../outside.ts";',
    "b/index.ts": 'import "./missing.ts";',
  };
  const read = (path: string) => Promise.resolve(files[path]);
  await assert.rejects(moduleGraph(read, ["a/index.ts"]), /outside the functions folder/);
  await assert.rejects(moduleGraph(read, ["b/index.ts"]), /Module "b\/missing\.ts" does not exist/);
});

Deno.test("moduleGraph finds exactly the local modules and packages deno info finds", async () => {
  for (const name of BILLING_FUNCTIONS) {
    const graph = await moduleGraph(
      async (path) => await Deno.readTextFile(new URL(path, FUNCTIONS_DIR)).catch(() => undefined),
      [`${name}/index.ts`],
    );
    const { stdout } = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", new URL(`${name}/index.ts`, FUNCTIONS_DIR).pathname],
      stdout: "piped",
      stderr: "null",
    }).output();
    const info = JSON.parse(new TextDecoder().decode(stdout)) as {
      modules: { specifier: string; dependencies?: { specifier: string }[] }[];
    };
    const local = info.modules.filter((m) => m.specifier.startsWith(FUNCTIONS_DIR.href));
    assert.deepEqual(
      graph.files,
      local.map((m) => m.specifier.slice(FUNCTIONS_DIR.href.length)).sort(),
    );
    const bare = new Set(
      local.flatMap((m) => m.dependencies ?? []).map((d) => d.specifier)
        .filter((s) => !s.startsWith(".")),
    );
    assert.deepEqual(graph.bareSpecifiers, [...bare].sort(), name);
  }
});
