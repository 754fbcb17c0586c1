/**
 * The modules a function really runs: its `index.ts` and every relative import from there, and
 * the bare specifiers (`jose`, `@polar-sh/sdk/2026-10/services/customers`) those modules import,
 * which is what the installed function's `deno.json` must map. Read from the source text, so
 * tests, benchmarks and the local stack (and their dev-only packages) are never part of it.
 *
 * @module
 */

/** One function's module graph. */
export interface ModuleGraph {
  /** The files, as paths relative to the functions folder (`portal/index.ts`), sorted. */
  files: string[];
  /** The bare specifiers the files import, sorted. */
  bareSpecifiers: string[];
}

// `import … from "x"`, `export … from "x"`, `import "x"`, `import("x")`, over a text whose
// comments are gone. A type-only import counts: `deno check` resolves it too.
const SPECIFIER =
  /\bfrom\s*["']([^"']+)["']|\bimport\s*["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']\s*\)/g;

/**
 * The specifiers a module imports, in order of appearance, without duplicates.
 *
 * @param source the module's text
 * @returns the specifiers, relative and bare
 * @example
 * ```ts
 * importSpecifiers('import { serve } from "../_polar/serve.ts";\nimport * as jose from "jose";');
 * // ["../_polar/serve.ts", "jose"]
 * ```
 */
export function importSpecifiers(source: string): string[] {
  const code = withoutComments(source);
  const found = new Set<string>();
  for (const match of code.matchAll(SPECIFIER)) found.add(match[1] ?? match[2] ?? match[3]);
  return [...found];
}

/**
 * Follows the relative imports from each entry and collects the bare ones.
 *
 * @param read reads a file by its path relative to the functions folder; `undefined` when absent
 * @param entries the entry modules (`portal/index.ts`)
 * @returns the files and bare specifiers
 * @throws {Error} naming the importing file when a relative import leaves the functions folder
 *   or names a file that does not exist
 * @example
 * ```ts
 * await moduleGraph((path) => Deno.readTextFile(`supabase/functions/${path}`), ["portal/index.ts"]);
 * // { files: ["_polar/auth.ts", …, "portal/index.ts"], bareSpecifiers: ["@polar-sh/sdk/2026-10", …] }
 * ```
 */
export async function moduleGraph(
  read: (path: string) => Promise<string | undefined>,
  entries: readonly string[],
): Promise<ModuleGraph> {
  const files = new Set<string>();
  const bare = new Set<string>();
  const pending = [...entries];
  while (pending.length > 0) {
    const path = pending.pop()!;
    if (files.has(path)) continue;
    const source = await read(path);
    if (source === undefined) throw new Error(`Module "${path}" does not exist`);
    files.add(path);
    for (const specifier of importSpecifiers(source)) {
      if (!specifier.startsWith("./") && !specifier.startsWith("../")) {
        bare.add(specifier);
        continue;
      }
      const resolved = resolveRelative(path, specifier);
      if (resolved === undefined) {
        throw new Error(`"${path}" imports "${specifier}", outside the functions folder`);
      }
      pending.push(resolved);
    }
  }
  return { files: [...files].sort(), bareSpecifiers: [...bare].sort() };
}

function resolveRelative(from: string, specifier: string): string | undefined {
  const parts = from.split("/").slice(0, -1);
  for (const part of specifier.split("/")) {
    if (part === ".") continue;
    if (part === "..") {
      if (parts.length === 0) return undefined;
      parts.pop();
    } else parts.push(part);
  }
  return parts.join("/");
}

// Block comments (JSDoc examples hold import lines) and `//` comments that start a line or
// follow a space or punctuation; the `//` of a URL in a string follows a colon and stays.
function withoutComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/(^|[\s;{}(),])\/\/.*$/gm, "$1");
}
