/**
 * What an install copies, read from a checkout of this project (this one, or an older commit's
 * tree for an upgrade test): each billing function's module graph, its pinned npm imports, the
 * migrations, the pgTAP files and the schedule. Only files a function's `index.ts` reaches are
 * taken, so tests and their support stay behind.
 *
 * @module
 */
import { moduleGraph } from "./module_graph.ts";

/** The functions an install adds, in the order they are listed. */
export const BILLING_FUNCTIONS = ["checkout", "polar-webhooks", "portal", "seats", "sync"] as const;

/** The folder the functions' shared modules live in, in this project and in every target. */
export const SHARED_DIR = "_polar";

/** Where trees from before the rename kept the shared modules. */
const LEGACY_SHARED_DIR = "_shared";

/** One file to install, with its path relative to the source's `supabase/functions/`. */
export interface SourceFile {
  /** Path under `supabase/functions/` (`_polar/auth.ts`, `portal/index.ts`). */
  path: string;
  /** Its text, as the target gets it. */
  text: string;
}

/** A migration or pgTAP file, by its file name. */
export interface SqlSource {
  /** The file name (`20261124000100_user_subscriptions.sql`). */
  name: string;
  /** Its SQL. */
  sql: string;
}

/** One billing function: its folder's files and the imports its `deno.json` maps. */
export interface FunctionSource {
  /** The function's name (its folder). */
  name: string;
  /** The function's own files (`portal/index.ts`, `portal/handler.ts`). */
  files: SourceFile[];
  /** Bare specifier to pinned `npm:` specifier, for every bare import of its module graph. */
  imports: Record<string, string>;
}

/** Everything an install copies. */
export interface Source {
  /** The billing functions. */
  functions: FunctionSource[];
  /** The shared modules the functions reach, under `_polar/`. */
  shared: SourceFile[];
  /** The migrations, oldest first. */
  migrations: SqlSource[];
  /** The pgTAP files. */
  tests: SqlSource[];
  /** `ops/schedule_sync.sql`, when the tree has it. */
  schedule: string | undefined;
}

/**
 * Reads what to install from a checkout of this project.
 *
 * @param root the checkout's folder
 * @returns the source
 * @throws {Error} when a function imports a package the import map does not pin to an exact
 *   version, or a module it imports is missing
 * @example
 * ```ts
 * const source = await readSource(new URL("../../", import.meta.url).pathname);
 * source.functions.map((f) => f.name); // ["checkout", "polar-webhooks", "portal", "seats", "sync"]
 * ```
 */
export async function readSource(root: string): Promise<Source> {
  const functionsDir = `${root.replace(/\/$/, "")}/supabase/functions`;
  const legacy = !(await exists(`${functionsDir}/${SHARED_DIR}`)) &&
    await exists(`${functionsDir}/${LEGACY_SHARED_DIR}`);
  const read = async (path: string) => {
    const text = await readOptional(`${functionsDir}/${toSourcePath(path, legacy)}`);
    return text === undefined ? undefined : toInstalledText(text, legacy);
  };
  const importMap = JSON.parse(await Deno.readTextFile(`${root}/import_map.json`)) as {
    imports: Record<string, string>;
  };
  const functions: FunctionSource[] = [];
  const shared = new Map<string, SourceFile>();
  for (const name of BILLING_FUNCTIONS) {
    const graph = await moduleGraph(read, [`${name}/index.ts`]);
    const files: SourceFile[] = [];
    for (const path of graph.files) {
      const file = { path, text: (await read(path))! };
      if (path.startsWith(`${SHARED_DIR}/`)) shared.set(path, file);
      else if (path.startsWith(`${name}/`)) files.push(file);
      else throw new Error(`Function "${name}" imports "${path}" from another function`);
    }
    functions.push({
      name,
      files,
      imports: pinnedImports(graph.bareSpecifiers, importMap.imports),
    });
  }
  return {
    functions,
    shared: [...shared.values()].sort((a, b) => a.path.localeCompare(b.path)),
    migrations: await readSqlDir(`${root}/supabase/migrations`, ".sql"),
    tests: await readSqlDir(`${root}/supabase/tests/database`, ".test.sql"),
    schedule: await readOptional(`${root}/ops/schedule_sync.sql`),
  };
}

/**
 * Maps each bare specifier through the import map, refusing what is not an exact `npm:` version.
 *
 * @param specifiers the bare specifiers a function imports
 * @param imports the source's import map
 * @returns the entries for the function's `deno.json`, sorted by key
 * @throws {Error} naming the specifier that is unmapped or not pinned
 * @example
 * ```ts
 * pinnedImports(["jose"], { jose: "npm:jose@6.2.18", postgres: "npm:postgres@3.4.9" });
 * // { jose: "npm:jose@6.2.18" }
 * ```
 */
export function pinnedImports(
  specifiers: readonly string[],
  imports: Record<string, string>,
): Record<string, string> {
  const entries: Record<string, string> = {};
  for (const specifier of [...specifiers].sort()) {
    const target = imports[specifier];
    if (target === undefined) {
      throw new Error(`"${specifier}" is imported but not in import_map.json`);
    }
    if (!/^npm:(@[^/@]+\/)?[^/@]+@\d+\.\d+\.\d+(-[\w.]+)?(\/.*)?$/.test(target)) {
      throw new Error(`"${specifier}" maps to "${target}", which is not an exact npm version`);
    }
    entries[specifier] = target;
  }
  return entries;
}

function toSourcePath(path: string, legacy: boolean): string {
  return legacy && path.startsWith(`${SHARED_DIR}/`)
    ? `${LEGACY_SHARED_DIR}/${path.slice(SHARED_DIR.length + 1)}`
    : path;
}

// A tree from before the rename imports "../_shared/…"; installed, it is "../_polar/…".
function toInstalledText(text: string, legacy: boolean): string {
  return legacy ? text.replaceAll(`../${LEGACY_SHARED_DIR}/`, `../${SHARED_DIR}/`) : text;
}

async function readSqlDir(dir: string, suffix: string): Promise<SqlSource[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && entry.name.endsWith(suffix)) names.push(entry.name);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  names.sort();
  return await Promise.all(
    names.map(async (name) => ({ name, sql: await Deno.readTextFile(`${dir}/${name}`) })),
  );
}

/**
 * A text file's content, or `undefined` when there is no such file.
 *
 * @param path the file
 * @returns its text, or `undefined`
 * @throws any other read error
 * @example
 * ```ts
 * await readOptional("supabase/config.toml"); // the file's text, or undefined
 * ```
 */
export async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
