/**
 * `deno task install` end to end on PostgreSQL 15: the installed result applied with the
 * Supabase CLI (`supabase migration up`, on a database with the Supabase-compatible bootstrap,
 * as `task test:db` does), the installed pgTAP files run with `pg_prove`, and the billing loop
 * run against the installed copy of the functions (each with its own `deno.json`). Into a fresh
 * `supabase init` project, into the "existing app" fixture, twice in a row, and as an upgrade
 * from a tree shaped like the first release (its five migrations, `_shared/`), built from this
 * one so that any clone, a shallow one too, runs it.
 *
 * Run by `deno task test:reliability`; on its own:
 * `DATABASE_URL=postgresql://… deno test -A reliability/install_suite.ts`.
 *
 * @module
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { install } from "../ops/install.ts";
import { MANIFEST_PATH, parseManifest } from "../ops/install/manifest.ts";
import { TESTS_DIR } from "../ops/install/plan.ts";
import { BILLING_FUNCTIONS, readSource } from "../ops/install/source.ts";
import {
  existingAppProject,
  firstReleaseTree,
  REPOSITORY_ROOT,
  run,
  snapshot,
  SUPABASE_CLI,
  supabaseInitProject,
} from "../ops/install/test_support.ts";
import { billingLoop } from "../local/billing_loop.ts";
import { startStack } from "../local/stack.ts";
import { serverUrl } from "./databases.ts";
import { figure, record } from "./report.ts";

const GROUP = "install";
const BOOTSTRAP = new URL("../supabase/tests/bootstrap.sql", import.meta.url);

/** A database of its own on the server, with the bootstrap a Supabase project already has. */
async function bootstrappedDatabase(server: string) {
  const name = `install_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const admin = postgres(server, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  const url = new URL(server);
  url.pathname = `/${name}`;
  const sql = postgres(url.href, { max: 1, onnotice: () => {} });
  await sql.unsafe(await Deno.readTextFile(BOOTSTRAP)).simple();
  await sql.unsafe("create extension if not exists pgtap");
  return {
    url: url.href,
    sql,
    async [Symbol.asyncDispose]() {
      await sql.end({ timeout: 5 });
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end({ timeout: 5 });
    },
  };
}

/** `supabase migration up` in the project, against the database; the versions it applied. */
async function migrationUp(project: string, url: string): Promise<string[]> {
  const output = await run("npx", [
    "-y",
    SUPABASE_CLI,
    "migration",
    "up",
    `--remote=${url}`,
    "--yes",
  ], {
    cwd: project,
    env: { PGSSLMODE: "disable" },
  });
  return [...output.matchAll(/Applying migration (\d{14})_/g)].map((match) => match[1]);
}

/** The installed pgTAP files with `pg_prove`; the number of tests that passed. */
async function proveInstalledTests(project: string, url: string): Promise<number> {
  const output = await run("pg_prove", [
    "--dbname",
    url,
    "--ext",
    ".sql",
    "-r",
    `${project}/${TESTS_DIR}`,
  ]);
  assert.match(output, /^Result: PASS$/m, output);
  return Number(output.match(/Tests=(\d+)/)![1]);
}

async function appliedVersions(sql: postgres.Sql): Promise<string[]> {
  const rows =
    await sql`select version from supabase_migrations.schema_migrations order by version`;
  return rows.map((row) => row.version as string);
}

function versionsOf(project: Map<string, string>): string[] {
  return [...project.keys()].map((path) => path.match(/^supabase\/migrations\/(\d{14})_/)?.[1])
    .filter((version): version is string => version !== undefined).sort();
}

async function step(t: Deno.TestContext, name: string, fn: (t: Deno.TestContext) => Promise<void>) {
  const passed = await t.step(name, fn);
  await record({ kind: "case", group: GROUP, name, passed });
}

Deno.test("install: into supabase init and an existing app, applied on PostgreSQL 15, the billing loop on the installed functions, twice, and an upgrade", async (t) => {
  const server = serverUrl();
  const print = () => {};
  const source = await readSource(REPOSITORY_ROOT);
  const fresh = await supabaseInitProject();
  const app = await existingAppProject();
  const upgraded = await supabaseInitProject();
  const older = await firstReleaseTree();
  try {
    await step(
      t,
      "a fresh supabase init project: migration up applies every migration and the installed pgTAP files pass",
      async () => {
        const started = performance.now();
        const { written } = await install(fresh, { print });
        await figure(
          "install: into a fresh project",
          `${Math.round(performance.now() - started)} ms`,
        );
        assert.equal(written, true);
        await using db = await bootstrappedDatabase(server);
        const applied = await migrationUp(fresh, db.url);
        assert.equal(applied.length, source.migrations.length);
        const tests = await proveInstalledTests(fresh, db.url);
        await figure("install: installed pgTAP tests passed", String(tests));
      },
    );

    await step(
      t,
      "the billing loop runs on the installed functions, over the database migration up made",
      async (st) => {
        await using db = await bootstrappedDatabase(server);
        await migrationUp(fresh, db.url);
        await using stack = await startStack({
          apiPort: 0,
          polarPort: 0,
          sitePort: 0,
          databaseUrl: db.url,
          migrate: false,
          functionsDir: new URL(`file://${fresh}/supabase/functions/`),
          functions: BILLING_FUNCTIONS,
          polarMeterRecomputeDelayMs: 200,
        });
        await billingLoop(st, stack, "new");
      },
    );

    await step(
      t,
      "a second run says nothing to do and changes no file",
      async () => {
        const before = await snapshot(fresh);
        const { written, plan } = await install(fresh, { print });
        assert.equal(written, false);
        assert.deepEqual(plan.changes, []);
        assert.deepEqual(await snapshot(fresh), before);
      },
    );

    await step(
      t,
      "an existing app: its own files stay as they were, and migration up applies its migrations then ours",
      async () => {
        const before = await snapshot(app);
        await install(app, { print });
        const after = await snapshot(app);
        for (const [path, text] of before) {
          if (path !== "supabase/config.toml") assert.equal(after.get(path), text, path);
        }
        await using db = await bootstrappedDatabase(server);
        const applied = await migrationUp(app, db.url);
        assert.deepEqual(applied, versionsOf(after));
        assert.deepEqual(applied.slice(0, 2), ["20270101000000", "20270102000000"]);
        const [tables] = await db.sql`select to_regclass('public.profiles') is not null as profiles,
        to_regclass('public.user_subscriptions') is not null as billing`;
        assert.deepEqual({ ...tables }, { profiles: true, billing: true });
      },
    );

    await step(
      t,
      `the first release (five migrations, _shared/), then this one: only the new migrations are added and applied, and this version's pgTAP files pass on the upgraded database`,
      async () => {
        const oldSource = await readSource(older);
        assert.ok(oldSource.migrations.length < source.migrations.length);
        await install(upgraded, { sourceRoot: older, print });
        await using db = await bootstrappedDatabase(server);
        const first = await migrationUp(upgraded, db.url);
        assert.equal(first.length, oldSource.migrations.length);
        const between = await snapshot(upgraded);
        const { plan } = await install(upgraded, { print });
        const added = source.migrations.map((m) => m.name)
          .filter((name) => !oldSource.migrations.some((m) => m.name === name));
        assert.deepEqual(plan.newMigrations.map((m) => m.source), added);
        const after = await snapshot(upgraded);
        for (const version of versionsOf(between)) {
          const path = [...between.keys()].find((p) =>
            p.startsWith(`supabase/migrations/${version}_`)
          )!;
          assert.equal(after.get(path), between.get(path), `${path} is not touched by the upgrade`);
        }
        const second = await migrationUp(upgraded, db.url);
        assert.equal(second.length, added.length);
        assert.deepEqual(await appliedVersions(db.sql), versionsOf(after));
        assert.deepEqual(
          parseManifest(after.get(MANIFEST_PATH)!).migrations.map((m) => m.source),
          source.migrations.map((m) => m.name),
        );
        await proveInstalledTests(upgraded, db.url);
      },
    );
  } finally {
    for (const dir of [fresh, app, upgraded, older]) await Deno.remove(dir, { recursive: true });
  }
});
