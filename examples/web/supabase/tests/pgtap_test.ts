/**
 * The example app's pgTAP files (`examples/web/supabase/tests/database/`), on the database an
 * app has: the Supabase-compatible bootstrap, this project's migrations, then the example's own
 * (which `supabase/tests/run_pgtap.sh` leaves out, as it tests the project alone). PGlite 0.4.6
 * is PostgreSQL 17 and ships pgTAP; each file runs in its own transaction, which it rolls back.
 * On PostgreSQL 15, apply the same files in the same order with psql and run `pg_prove` on the
 * folder.
 */
import { PGlite } from "@electric-sql/pglite-17";
import { pgtap } from "@electric-sql/pglite-17/pgtap";
import { assertPgTapFile, ROOT, sqlFiles } from "../../../../supabase/tests/pgtap_on_pglite.ts";

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
        await assertPgTapFile(db, file);
      });
    }
  } finally {
    await db.close();
  }
});
