import assert from "node:assert/strict";
import { createSchemaPglite, pgliteDatabase } from "../local/database.ts";
import { createSqlRpc } from "./sql_rpc.ts";

Deno.test("the SQL RPC answers as PostgREST: JSON values, sets as arrays, void as null", async () => {
  const db = pgliteDatabase(await createSchemaPglite({ seed: false }));
  try {
    const rpc = createSqlRpc(db);
    assert.equal(await rpc("begin_polar_reconcile", { resume_only: true }), null);
    const run = await rpc<{ id: number; lease: string }>("begin_polar_reconcile", {
      resume_only: false,
    });
    assert.equal(typeof run.lease, "string");
    assert.deepEqual(await rpc("polar_reconcile_stale", { id: run.id, max_rows: 5 }), []);
    assert.equal(await rpc("release_polar_reconcile", { id: run.id, lease: run.lease }), null);
    assert.deepEqual(await rpc("apply_polar_states", { changes: [] }), []);
    await assert.rejects(() => rpc("begin_polar_reconcile", { nope: 1 }), /has no argument nope/);
  } finally {
    await db.close();
  }
});
