import assert from "node:assert/strict";
import { appendBlock, functionsBlock, functionSections } from "./config_toml.ts";

Deno.test("functionSections reads bare and quoted function keys, nothing else", () => {
  const toml = `[api]\nport = 1\n[functions.hello]\n  [ functions . "polar-webhooks" ]\n` +
    `[functions.hello.secrets]\n# [functions.commented]\n[edge_runtime]\n`;
  assert.deepEqual(functionSections(toml), ["hello", "polar-webhooks"]);
});

Deno.test("functionsBlock gives each function verify_jwt = false, its deno.json and entry point", () => {
  const block = functionsBlock(["portal", "sync"]);
  assert.deepEqual(functionSections(block), ["portal", "sync"]);
  assert.match(block, /\[functions\.sync\]\nenabled = true\nverify_jwt = false\n/);
  assert.match(block, /import_map = "\.\/functions\/portal\/deno\.json"/);
  assert.match(block, /entrypoint = "\.\/functions\/portal\/index\.ts"/);
  assert.equal(functionsBlock([]), "");
});

Deno.test("appendBlock keeps the file's text as it is and adds one blank line before the block", () => {
  const block = functionsBlock(["portal"]);
  for (const toml of ["[api]\nport = 1", "[api]\nport = 1\n", "[api]\nport = 1\n\n\n"]) {
    const result = appendBlock(toml, block);
    assert.ok(result.startsWith("[api]\nport = 1\n\n# Polar billing"), JSON.stringify(result));
  }
  assert.equal(appendBlock("x\n", ""), "x\n");
});
