/**
 * The example app's pgTAP files (`examples/web/supabase/tests/database/`), on the database an
 * app has: the Supabase-compatible bootstrap, this project's migrations, then the example's own
 * (which `supabase/tests/run_pgtap.sh` leaves out, as it tests the project alone). PGlite 0.4.6
 * is PostgreSQL 17 and ships pgTAP; each file runs in its own transaction, which it rolls back.
 * On PostgreSQL 15, apply the same files in the same order with psql and run `pg_prove` on the
 * folder.
 */
import assert from "node:assert/strict";
import { PGlite } from "@electric-sql/pglite-17";
import { pgtap } from "@electric-sql/pglite-17/pgtap";

const ROOT = new URL("../../../../", import.meta.url);

async function sqlFiles(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(new URL(dir, ROOT))) {
    if (entry.isFile && entry.name.endsWith(".sql")) names.push(`${dir}${entry.name}`);
  }
  return names.sort();
}

/** The TAP lines a pgTAP file's statements answered. */
function tapLines(results: { rows: Record<string, unknown>[] }[]): string[] {
  return results.flatMap((result) =>
    result.rows.flatMap((row) => Object.values(row).filter((v) => typeof v === "string"))
  ).flatMap((text) => (text as string).split("\n"));
}

Deno.test("the example app's pgTAP files pass after this project's migrations and the example's", async (test) => {
  const db = await PGlite.create({ extensions: { pgtap } });
  try {
    const schema = [
      "supabase/tests/bootstrap.sql",
      ...await sqlFiles("supabase/migrations/"),
      ...await sqlFiles("examples/web/supabase/migrations/"),
    ];
    for (const file of schema) await db.exec(await Deno.readTextFile(new URL(file, ROOT)));
    await db.exec("create extension if not exists pgtap");

    for (const file of await sqlFiles("examples/web/supabase/tests/database/")) {
      await test.step(file.replace("examples/web/supabase/tests/database/", ""), async () => {
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
        assert.deepEqual(failures, [], file);
        assert.equal(results.length, Number(plan.slice(3)), `${file} ran its whole plan`);
      });
    }
  } finally {
    await db.close();
  }
});
