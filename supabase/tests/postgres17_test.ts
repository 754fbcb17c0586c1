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
import { assertPgTapFile, ROOT, sqlFiles } from "./pgtap_on_pglite.ts";

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
        await assertPgTapFile(db, file, `${file} on PostgreSQL ${version}`);
      });
    }
  } finally {
    await db.close();
  }
});
