import assert from "node:assert/strict";
import {
  authUserTriggers,
  createdObjects,
  droppedAuthUserTriggers,
  nextVersions,
  splitMigrationName,
} from "./migrations.ts";

const NOW = new Date("2026-12-01T12:00:00.750Z");

Deno.test("nextVersions dates new migrations after the latest and after the clock, one second apart", () => {
  const cases: [string | undefined, string[]][] = [
    [undefined, ["20261201120000", "20261201120001"]],
    ["20261124000100", ["20261201120000", "20261201120001"]],
    ["20261201120000", ["20261201120001", "20261201120002"]],
    ["20270102000000", ["20270102000001", "20270102000002"]],
    ["20271231235959", ["20280101000000", "20280101000001"]],
  ];
  for (const [latest, expected] of cases) assert.deepEqual(nextVersions(latest, NOW, 2), expected);
  assert.deepEqual(nextVersions(undefined, NOW, 0), []);
});

Deno.test("splitMigrationName takes only names the CLI applies", () => {
  assert.deepEqual(splitMigrationName("20261124000100_user_subscriptions.sql"), {
    version: "20261124000100",
    suffix: "user_subscriptions.sql",
  });
  assert.equal(splitMigrationName("2026_x.sql"), undefined);
  assert.equal(splitMigrationName("README.md"), undefined);
});

Deno.test("createdObjects finds tables, functions and schemas however they are written", () => {
  const sql = `
    -- create table public.in_a_comment (id int);
    create table if not exists user_subscriptions (id int);
    CREATE UNLOGGED TABLE "public"."Polar_Meters" (id int);
    create or replace function public.has_entitlement(key text) returns boolean
      language sql as $$ select true $$;
    create function polar.x() returns void language sql as $$ $$;
    create schema if not exists polar;`;
  assert.deepEqual(createdObjects(sql), [
    { kind: "table", name: "public.user_subscriptions" },
    { kind: "table", name: "public.polar_meters" },
    { kind: "function", name: "public.has_entitlement" },
    { kind: "function", name: "polar.x" },
    { kind: "schema", name: "polar" },
  ]);
});

Deno.test("authUserTriggers names triggers on auth.users only, one statement at a time", () => {
  const sql = `
    create trigger a after delete on public.user_subscriptions for each row execute function f();
    create trigger b after update of deleted_at on auth.users for each row execute function g();
    drop trigger old_one on auth.users;`;
  assert.deepEqual(authUserTriggers(sql), [{ name: "b", event: "after update of deleted_at" }]);
  assert.deepEqual(droppedAuthUserTriggers(sql), ["old_one"]);
});
