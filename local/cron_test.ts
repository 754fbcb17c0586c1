import assert from "node:assert/strict";
import { PGlite } from "@electric-sql/pglite";
import { EXPECTED_CRON_JOBS } from "../supabase/functions/sync/doctor.ts";
import { cronMatches, installCronStandIn, readScheduledJobs, runDueJobs } from "./cron.ts";
import { pgliteDatabase } from "./database.ts";

Deno.test("the cron stand-in reads the jobs ops/schedule_sync.sql schedules, the ones the doctor expects", async () => {
  const jobs = await readScheduledJobs();
  assert.deepEqual(jobs.map((job) => job.name).sort(), [...EXPECTED_CRON_JOBS]);
  assert.deepEqual(jobs.find((job) => job.name === "polar-reconcile-resume"), {
    name: "polar-reconcile-resume",
    schedule: "5-59/10 * * * *",
    command: `select polar.call_sync('{"scope": "all", "resume": true}')`,
    body: { scope: "all", resume: true },
  });
});

Deno.test("cron expressions match as pg_cron's do, in UTC", async (test) => {
  const cases: [string, string, boolean][] = [
    ["* * * * *", "2026-12-01T10:17:00Z", true],
    ["0 3 * * *", "2026-12-01T03:00:00Z", true],
    ["0 3 * * *", "2026-12-01T03:01:00Z", false],
    ["5-59/10 * * * *", "2026-12-01T10:05:00Z", true],
    ["5-59/10 * * * *", "2026-12-01T10:55:00Z", true],
    ["5-59/10 * * * *", "2026-12-01T10:00:00Z", false],
    ["5-59/10 * * * *", "2026-12-01T10:10:00Z", false],
    ["*/15 * * * *", "2026-12-01T10:45:00Z", true],
    ["0,30 9-17 * * 1-5", "2026-12-01T09:30:00Z", true],
    ["0,30 9-17 * * 1-5", "2026-12-06T09:30:00Z", false],
  ];
  for (const [expression, at, expected] of cases) {
    await test.step(`${expression} at ${at}`, () => {
      assert.equal(cronMatches(expression, new Date(at)), expected);
    });
  }
  assert.throws(() => cronMatches("* * *", new Date()), /Not a cron expression/);
});

Deno.test("the runner calls sync for each active job due, and a deleted or inactive job no more", async () => {
  const db = pgliteDatabase(await PGlite.create());
  try {
    assert.deepEqual(await runDueJobs(db, new Date(), () => Promise.resolve()), [], "no cron.job");
    await installCronStandIn(db);
    await installCronStandIn(db); // again, as running the file twice: still one row per job
    assert.equal((await db.query("select * from cron.job")).length, 5);
    const sent: unknown[] = [];
    const callSync = (body: Record<string, unknown>) => Promise.resolve(sent.push(body));
    const at3 = new Date("2026-12-01T03:00:00Z");
    assert.deepEqual(await runDueJobs(db, at3, callSync), [
      "polar-customer-deletions",
      "polar-reconcile",
      "polar-usage",
    ]);
    assert.deepEqual(sent.length, 3);
    assert.ok(sent.some((body) => JSON.stringify(body) === '{"scope":"all"}'));
    await db.exec("update cron.job set active = false where jobname = 'polar-usage'");
    await db.exec("delete from cron.job where jobname = 'polar-customer-deletions'");
    assert.deepEqual(await runDueJobs(db, new Date("2026-12-01T03:15:00Z"), callSync), [
      "polar-reconcile-resume",
    ]);
    assert.deepEqual(await runDueJobs(db, new Date("2026-12-01T03:17:00Z"), callSync), [
      "polar-catalog",
    ]);
    assert.ok(sent.some((body) => JSON.stringify(body) === '{"scope":"catalog"}'));
  } finally {
    await db.close();
  }
});
