/**
 * The install command on real folders: a fresh `supabase init` project, the "existing app"
 * fixture, each refusal (the target left byte for byte as it was), a second run, an upgrade
 * from a version with fewer migrations, and the command line itself. The database half (the
 * result applied by `supabase migration up` on PostgreSQL 15, the billing loop on the installed
 * functions, an older commit upgraded) is `reliability/install_suite.ts`.
 */
import assert from "node:assert/strict";
import { install, type InstallOptions } from "./install.ts";
import { readSource, type Source } from "./install/source.ts";
import { SCHEDULE_PATH, TESTS_DIR } from "./install/plan.ts";
import { MANIFEST_PATH, parseManifest } from "./install/manifest.ts";
import {
  existingAppProject,
  REPOSITORY_ROOT,
  snapshot,
  supabaseInitProject,
} from "./install/test_support.ts";

const NOW = new Date("2026-12-01T12:00:00Z");

async function quietInstall(target: string, options: InstallOptions = {}) {
  const lines: string[] = [];
  const result = await install(target, { now: NOW, print: (line) => lines.push(line), ...options });
  return { ...result, lines };
}

/** The paths that differ between two snapshots (added, changed or removed). */
function changedPaths(before: Map<string, string>, after: Map<string, string>): string[] {
  const paths = new Set([...before.keys(), ...after.keys()]);
  return [...paths].filter((path) => before.get(path) !== after.get(path)).sort();
}

Deno.test("install into a fresh supabase init project adds only its own files, and config.toml only gains sections", async () => {
  const target = await supabaseInitProject();
  try {
    const before = await snapshot(target);
    const { written, lines, plan } = await quietInstall(target);
    assert.equal(written, true);
    const after = await snapshot(target);
    const changed = changedPaths(before, after);
    const source = await readSource(REPOSITORY_ROOT);
    for (const path of changed) {
      assert.ok(
        /^supabase\/(functions\/(checkout|polar-webhooks|portal|seats|sync|_polar)\/|migrations\/|tests\/database\/polar_billing\/|polar-billing)/
          .test(path) || path === "supabase/config.toml",
        `unexpected change: ${path}`,
      );
    }
    assert.ok(after.get("supabase/config.toml")!.startsWith(before.get("supabase/config.toml")!));
    for (const name of ["checkout", "polar-webhooks", "portal", "seats", "sync"]) {
      assert.match(
        after.get("supabase/config.toml")!,
        new RegExp(
          `\\[functions\\.${name}\\]\\nenabled = true\\nverify_jwt = false\\nimport_map = "\\./functions/${name}/deno\\.json"`,
        ),
      );
      assert.ok(after.has(`supabase/functions/${name}/index.ts`));
    }
    assert.match(after.get("supabase/config.toml")!, /# verify_jwt = false: .*CORS/s);
    const migrations = [...after.keys()].filter((path) => path.startsWith("supabase/migrations/"));
    assert.equal(migrations.length, source.migrations.length);
    assert.equal(plan.newMigrations.length, source.migrations.length);
    assert.equal(
      [...after.keys()].filter((path) => path.startsWith(`${TESTS_DIR}/`)).length,
      source.tests.length,
    );
    assert.ok(after.has(SCHEDULE_PATH));
    assert.ok(![...after.keys()].some((path) => path.endsWith("_test.ts")), "no test module");
    assert.ok(![...after.keys()].some((path) => path.includes("/_shared/")), "no _shared/");
    assert.ok(lines.some((line) => line.startsWith("! Triggers on auth.users")), lines.join("\n"));
    assert.ok(lines.some((line) => line.includes("public.user_subscriptions")));
    assert.ok(lines.includes("Next steps:"));
  } finally {
    await Deno.remove(target, { recursive: true });
  }
});

Deno.test("install run twice: the second run says nothing to do and changes no byte", async () => {
  const target = await supabaseInitProject();
  try {
    await quietInstall(target);
    const first = await snapshot(target);
    const { written, lines, plan } = await quietInstall(target, {
      now: new Date("2027-06-01T00:00:00Z"),
    });
    assert.equal(written, false);
    assert.deepEqual(plan.changes, []);
    assert.deepEqual(await snapshot(target), first);
    assert.match(lines.at(-1)!, /^Nothing to do/);
  } finally {
    await Deno.remove(target, { recursive: true });
  }
});

Deno.test("install --dry-run prints the plan and writes nothing", async () => {
  const target = await supabaseInitProject();
  try {
    const before = await snapshot(target);
    const { written, lines } = await quietInstall(target, { dryRun: true });
    assert.equal(written, false);
    assert.deepEqual(await snapshot(target), before);
    const migrations = [...Deno.readDirSync(new URL("../supabase/migrations/", import.meta.url))]
      .filter((entry) => entry.name.endsWith(".sql")).length;
    assert.match(
      lines.at(-1)!,
      new RegExp(
        `^Dry run: \\d+ change\\(s\\), ${migrations} new migration\\(s\\); nothing written\\.$`,
      ),
    );
  } finally {
    await Deno.remove(target, { recursive: true });
  }
});

Deno.test("install into an existing app keeps every file of the app and dates migrations after the app's latest", async () => {
  const target = await existingAppProject();
  try {
    const before = await snapshot(target);
    const { written } = await quietInstall(target);
    assert.equal(written, true);
    const after = await snapshot(target);
    for (const [path, text] of before) {
      if (path === "supabase/config.toml") assert.ok(after.get(path)!.startsWith(text));
      else assert.equal(after.get(path), text, `${path} is the app's and must not change`);
    }
    assert.match(
      after.get("supabase/config.toml")!,
      /\[functions\.hello\]\nenabled = true\nverify_jwt = true/,
    );
    const ours = parseManifest(after.get(MANIFEST_PATH)!).migrations.map((m) => m.installed_as);
    assert.equal(ours[0], "20270102000001_user_subscriptions.sql");
    assert.ok(ours.every((name) => name > "20270102000000_todos.sql"));
    assert.deepEqual(ours, [...ours].sort());
    assert.match(
      after.get("supabase/functions/portal/index.ts")!,
      /from "\.\.\/_polar\/serve\.ts"/,
    );
  } finally {
    await Deno.remove(target, { recursive: true });
  }
});

Deno.test("install leaves the app's global import map alone and says so", async () => {
  const target = await existingAppProject();
  try {
    const importMap =
      '{ "imports": { "@supabase/supabase-js": "npm:@supabase/supabase-js@2.45.0" } }\n';
    await write(target, "supabase/functions/import_map.json", importMap);
    const { written, lines } = await quietInstall(target);
    assert.equal(written, true);
    assert.equal(
      await Deno.readTextFile(`${target}/supabase/functions/import_map.json`),
      importMap,
    );
    assert.ok(
      lines.some((line) =>
        line.startsWith("! supabase/functions/import_map.json is left as it is")
      ),
    );
  } finally {
    await Deno.remove(target, { recursive: true });
  }
});

/** Each way the app may already hold what the install would add; each leaves it untouched. */
const REFUSALS: { name: string; prepare: (target: string) => Promise<void>; refusal: RegExp }[] = [
  {
    name: "a function of the app named portal",
    prepare: (t) =>
      write(t, "supabase/functions/portal/index.ts", "Deno.serve(() => new Response());\n"),
    refusal: /^Function "portal": supabase\/functions\/portal\/ exists with other content/,
  },
  {
    name: "a [functions.sync] section of the app's in config.toml",
    prepare: (t) => append(t, "supabase/config.toml", "\n[functions.sync]\nverify_jwt = true\n"),
    refusal: /^Function "sync": supabase\/config\.toml already has \[functions\.sync\]$/,
  },
  {
    name: "an app migration that creates public.user_subscriptions",
    prepare: (t) =>
      write(
        t,
        "supabase/migrations/20250101000000_billing.sql",
        "create table if not exists user_subscriptions (user_id uuid primary key);\n",
      ),
    refusal:
      /^supabase\/migrations\/20250101000000_billing\.sql creates table public\.user_subscriptions, which the billing migrations create \(20261124000100_user_subscriptions\.sql\)/,
  },
  {
    name: "an app migration that defines public.has_entitlement",
    prepare: (t) =>
      write(
        t,
        "supabase/migrations/20250101000000_gates.sql",
        "create or replace function public.has_entitlement(key text) returns boolean language sql as $$ select true $$;\n",
      ),
    refusal: /creates function public\.has_entitlement, which the billing migrations create/,
  },
  {
    name: "a _polar/ folder of the app's",
    prepare: (t) =>
      write(t, "supabase/functions/_polar/cors.ts", "export const corsHeaders = {};\n"),
    refusal: /^The shared modules' folder: supabase\/functions\/_polar\/ exists with other content/,
  },
  {
    name: "a folder that is not a Supabase project",
    prepare: (t) => Deno.remove(`${t}/supabase/config.toml`),
    refusal: /is not a Supabase project: supabase\/config\.toml is missing/,
  },
];

for (const testCase of REFUSALS) {
  Deno.test(`install refuses ${testCase.name} and writes nothing`, async () => {
    const target = await existingAppProject();
    try {
      await testCase.prepare(target);
      const before = await snapshot(target);
      const { written, plan, lines } = await quietInstall(target);
      assert.equal(written, false);
      assert.ok(plan.refusals.some((r) => testCase.refusal.test(r)), plan.refusals.join("\n"));
      assert.deepEqual(await snapshot(target), before);
      assert.match(lines[0], /^Refused, nothing written to /);
    } finally {
      await Deno.remove(target, { recursive: true });
    }
  });
}

Deno.test("install refuses to update an installed file that was changed since, and writes nothing", async () => {
  const target = await existingAppProject();
  try {
    const source = await readSource(REPOSITORY_ROOT);
    await quietInstall(target, { source: olderVersion(source, 3) });
    await append(target, "supabase/functions/_polar/cors.ts", "// a local edit\n");
    const changedSource = withEditedModule(source, "_polar/cors.ts");
    const before = await snapshot(target);
    const { written, plan } = await quietInstall(target, { source: changedSource });
    assert.equal(written, false);
    assert.deepEqual(plan.refusals, [
      "supabase/functions/_polar/cors.ts was changed since it was installed: move the change elsewhere",
    ]);
    assert.deepEqual(await snapshot(target), before);
  } finally {
    await Deno.remove(target, { recursive: true });
  }
});

Deno.test("install after pulling a newer version adds only the new migrations and updates unchanged files", async () => {
  const target = await supabaseInitProject();
  try {
    const source = await readSource(REPOSITORY_ROOT);
    const older = withEditedModule(olderVersion(source, 3), "_polar/cors.ts");
    await quietInstall(target, { source: older });
    const first = await snapshot(target);
    const { plan } = await quietInstall(target, {
      source,
      now: new Date("2026-12-01T12:00:00Z"),
    });
    const after = await snapshot(target);
    assert.deepEqual(
      plan.newMigrations.map((m) => m.source),
      source.migrations.slice(-3).map((m) => m.name),
    );
    const installed = parseManifest(after.get(MANIFEST_PATH)!).migrations;
    assert.deepEqual(installed.map((m) => m.source), source.migrations.map((m) => m.name));
    // The first install's migrations are exactly as they were; the new ones sort after them.
    const firstNames = installed.slice(0, -3).map((m) => `supabase/migrations/${m.installed_as}`);
    for (const path of firstNames) assert.equal(after.get(path), first.get(path));
    assert.ok(installed.at(-3)!.installed_as > installed.at(-4)!.installed_as);
    assert.deepEqual(
      changedPaths(first, after).filter((path) => !path.startsWith("supabase/migrations/")),
      ["supabase/functions/_polar/cors.ts", MANIFEST_PATH],
    );
  } finally {
    await Deno.remove(target, { recursive: true });
  }
});

Deno.test("the installed functions import none of the dev-only packages, each pinned", async () => {
  const source = await readSource(REPOSITORY_ROOT);
  const devOnly = /pglite|playwright|autocannon|^postgres$|@polar-sh\/supabase/;
  for (const fn of source.functions) {
    assert.ok(Object.keys(fn.imports).length > 0, fn.name);
    for (const [specifier, target] of Object.entries(fn.imports)) {
      assert.doesNotMatch(specifier, devOnly, `${fn.name} imports ${specifier}`);
      assert.match(target, /^npm:[^@]*@?[^@]+@\d+\.\d+\.\d+/);
    }
  }
});

Deno.test("deno task install: usage errors exit 2, a refusal exits 1", async () => {
  const command = (args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        "--allow-write",
        new URL("./install.ts", import.meta.url).pathname,
        ...args,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
  assert.equal((await command([])).code, 2);
  assert.equal((await command(["a", "b"])).code, 2);
  const empty = await Deno.makeTempDir();
  try {
    const refused = await command([empty]);
    assert.equal(refused.code, 1);
    assert.match(new TextDecoder().decode(refused.stdout), /is not a Supabase project/);
  } finally {
    await Deno.remove(empty, { recursive: true });
  }
});

/** The source as a version that had not yet shipped its last `missing` migrations. */
function olderVersion(source: Source, missing: number): Source {
  return { ...source, migrations: source.migrations.slice(0, -missing) };
}

/** The source with one shared module's text changed, as another version would have it. */
function withEditedModule(source: Source, path: string): Source {
  return {
    ...source,
    shared: source.shared.map((file) =>
      file.path === path ? { ...file, text: `${file.text}// another version\n` } : file
    ),
  };
}

async function write(target: string, path: string, text: string) {
  await Deno.mkdir(`${target}/${path}`.replace(/\/[^/]+$/, ""), { recursive: true });
  await Deno.writeTextFile(`${target}/${path}`, text);
}

async function append(target: string, path: string, text: string) {
  await Deno.writeTextFile(`${target}/${path}`, text, { append: true });
}
