/**
 * The migrations and the pgTAP files on PostgreSQL 17, the major version `supabase init` now
 * writes: PGlite 0.4.6 embeds PostgreSQL 17.5 and ships pgTAP. Each file runs as `run_pgtap.sh`
 * runs it on PostgreSQL 15 in CI: one database with the Supabase-compatible bootstrap and this
 * project's migrations (not the example app's, nor the seed), then every file in
 * `supabase/tests/database/`, each in its own transaction that it rolls back.
 */
import assert from "node:assert/strict";
import { PGlite } from "@electric-sql/pglite-17";
import { pgtap } from "@electric-sql/pglite-17/pgtap";

const ROOT = new URL("../../", import.meta.url);

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

Deno.test("on PostgreSQL 17 (PGlite 0.4.6) every migration applies and every pgTAP file passes", async (test) => {
  const db = await PGlite.create({ extensions: { pgtap } });
  try {
    const [{ server_version: version }] =
      (await db.query<{ server_version: string }>("show server_version")).rows;
    assert.match(version, /^17\./, "PGlite 0.4.x is PostgreSQL 17");

    for (
      const file of ["supabase/tests/bootstrap.sql", ...await sqlFiles("supabase/migrations/")]
    ) {
      await test.step(`applies ${file}`, async () => {
        await db.exec(await Deno.readTextFile(new URL(file, ROOT)));
      });
    }
    await db.exec("create extension if not exists pgtap");

    for (const file of await sqlFiles("supabase/tests/database/")) {
      await test.step(file.replace("supabase/tests/database/", ""), async () => {
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
        assert.deepEqual(failures, [], `${file} on PostgreSQL ${version}`);
        assert.equal(results.length, Number(plan.slice(3)), `${file} ran its whole plan`);
      });
    }
  } finally {
    await db.close();
  }
});
