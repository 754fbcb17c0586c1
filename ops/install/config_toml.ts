/**
 * The functions' sections of the target's `supabase/config.toml`: which `[functions.<name>]`
 * sections it already has, and the block an install appends (nothing else of the file changes).
 *
 * @module
 */

/**
 * The names of the `[functions.<name>]` sections in a `config.toml` (bare or quoted keys).
 *
 * @param toml the file's text
 * @returns the function names, in file order
 * @example
 * ```ts
 * functionSections('[functions.hello]\nverify_jwt = true\n[functions."polar-webhooks"]\n');
 * // ["hello", "polar-webhooks"]
 * ```
 */
export function functionSections(toml: string): string[] {
  const names: string[] = [];
  for (
    const match of toml.matchAll(/^\s*\[\s*functions\s*\.\s*("([^"]+)"|'([^']+)'|[\w-]+)\s*\]/gm)
  ) {
    names.push(match[2] ?? match[3] ?? match[1]);
  }
  return names;
}

/**
 * The block that gives each function its section: `verify_jwt = false` (and why), its own
 * `deno.json` as import map, its entry point. Appended after the file's last line.
 *
 * @param names the functions that still need a section
 * @returns the block, starting with a blank line; empty when `names` is
 * @example
 * ```ts
 * functionsBlock(["portal"]).includes("[functions.portal]"); // true
 * ```
 */
export function functionsBlock(names: readonly string[]): string {
  if (names.length === 0) return "";
  const sections = names.map((name) =>
    [
      `[functions.${name}]`,
      "enabled = true",
      "verify_jwt = false",
      `import_map = "./functions/${name}/deno.json"`,
      `entrypoint = "./functions/${name}/index.ts"`,
    ].join("\n")
  );
  return [
    "",
    "# Polar billing (added by its install command; supabase/polar-billing.json lists what it added).",
    "# verify_jwt = false: each function verifies the caller's token itself (checkout, portal, sync)",
    "# or Polar's signature (polar-webhooks). The gateway's own check would answer before the",
    "# function runs, without CORS headers, which a browser reports as a CORS failure, not a 401.",
    sections.join("\n\n"),
    "",
  ].join("\n");
}

/**
 * Appends the block to the file's text, with exactly one line break before it.
 *
 * @param toml the file's text
 * @param block what {@linkcode functionsBlock} made
 * @returns the new text (the same text when the block is empty)
 * @example
 * ```ts
 * appendBlock("[api]\nport = 1\n", functionsBlock(["sync"])).startsWith("[api]\nport = 1\n\n#"); // true
 * ```
 */
export function appendBlock(toml: string, block: string): string {
  if (block === "") return toml;
  return `${toml.replace(/\n*$/, "\n")}${block}`;
}
