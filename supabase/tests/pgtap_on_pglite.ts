/**
 * Running pgTAP files on PGlite 0.4.6 (PostgreSQL 17, which ships pgTAP) as `run_pgtap.sh` runs
 * them with `pg_prove` on PostgreSQL 15: each file in its own transaction, which it rolls back,
 * passing when it states its plan, runs all of it and nothing is `not ok`.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { PGlite } from "@electric-sql/pglite-17";

/** The repository's root. */
export const ROOT = new URL("../../", import.meta.url);

/**
 * The `.sql` files of a folder, sorted, as paths from the repository's root.
 *
 * @param dir the folder from the root, ending in `/`
 * @returns the paths
 * @example
 * ```ts
 * await sqlFiles("supabase/migrations/"); // ["supabase/migrations/20261124000100_….sql", …]
 * ```
 */
export async function sqlFiles(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(new URL(dir, ROOT))) {
    if (entry.isFile && entry.name.endsWith(".sql")) names.push(`${dir}${entry.name}`);
  }
  return names.sort();
}

/**
 * Runs one pgTAP file and asserts it passed; a file that throws is rolled back first.
 *
 * @param db a database with the schema and `create extension pgtap` applied
 * @param file its path from the repository's root
 * @param label named in the failure message, e.g. the server's version
 * @throws {assert.AssertionError} when the file states no plan, runs less than its plan, or
 *   fails a test
 * @example
 * ```ts
 * await assertPgTapFile(db, "supabase/tests/database/teams.test.sql");
 * ```
 */
export async function assertPgTapFile(db: PGlite, file: string, label = file): Promise<void> {
  let lines: string[];
  try {
    lines = tapLines(await db.exec(await Deno.readTextFile(new URL(file, ROOT))));
  } catch (error) {
    await db.exec("rollback").catch(() => {});
    throw error;
  }
  const plan = lines.find((line) => /^1\.\.\d+$/.test(line));
  assert.ok(plan, `${file} states its plan`);
  const results = lines.filter((line) => /^(not )?ok \d+/.test(line));
  const failures = lines.filter((line) => line.startsWith("not ok") || line.startsWith("# "));
  assert.deepEqual(failures, [], label);
  assert.equal(results.length, Number(plan.slice(3)), `${file} ran its whole plan`);
}

/** The TAP lines a pgTAP file's statements answered. */
function tapLines(results: { rows: Record<string, unknown>[] }[]): string[] {
  return results.flatMap((result) =>
    result.rows.flatMap((row) => Object.values(row).filter((v) => typeof v === "string"))
  ).flatMap((text) => (text as string).split("\n"));
}
