/**
 * Plans an install into a Supabase project without writing anything: every file to add, update
 * or remove, the config sections and migrations to append, what refuses the install (by name),
 * and what the migrations will do to the app's database. {@linkcode applyPlan} then writes it,
 * only when nothing was refused.
 *
 * @module
 */
import { appendBlock, functionsBlock, functionSections } from "./config_toml.ts";
import {
  emptyManifest,
  type InstalledMigration,
  type Manifest,
  MANIFEST_PATH,
  parseManifest,
  renderManifest,
  sha256Hex,
} from "./manifest.ts";
import {
  authUserTriggers,
  createdObjects,
  droppedAuthUserTriggers,
  nextVersions,
  splitMigrationName,
} from "./migrations.ts";
import { readOptional, SHARED_DIR, type Source } from "./source.ts";

/** Where installed pgTAP files go: a folder of their own, which `supabase test db` finds (`-r`). */
export const TESTS_DIR = "supabase/tests/database/polar_billing";

/** Where the schedule goes; it is run by hand in the SQL editor, not as a migration. */
export const SCHEDULE_PATH = "supabase/polar-billing/schedule_sync.sql";

/** One change to the target, by its path relative to the target's root. */
export interface Change {
  /** `add` a new file, `update` one, `remove` one this command installed and no longer ships. */
  action: "add" | "update" | "remove";
  /** The path, relative to the target. */
  path: string;
  /** The new text (not for `remove`). */
  text?: string;
}

/** What an install would do. */
export interface Plan {
  /** The changes, in the order they are written (the manifest last). */
  changes: Change[];
  /** Why the install cannot go ahead, one sentence each; when any, nothing may be written. */
  refusals: string[];
  /** What the new migrations do to the app's database, and anything left as it is. */
  warnings: string[];
  /** The migrations added now: this project's name and the name in the target. */
  newMigrations: { source: string; installedAs: string }[];
  /** Whether this is the first install into the target (no manifest yet). */
  firstInstall: boolean;
}

/** Options of {@linkcode planInstall}. */
export interface PlanOptions {
  /** The clock that dates new migrations; now by default. */
  now?: Date;
}

/**
 * Plans installing `source` into the Supabase project at `target`.
 *
 * @param source what to install ({@linkcode readSource})
 * @param target the project's root folder (the one holding `supabase/config.toml`)
 * @param options the clock
 * @returns the plan; nothing has been written
 * @example
 * ```ts
 * const plan = await planInstall(await readSource(repo), "../my-app");
 * if (plan.refusals.length === 0) await applyPlan(plan, "../my-app");
 * ```
 */
export async function planInstall(
  source: Source,
  target: string,
  options: PlanOptions = {},
): Promise<Plan> {
  const root = target.replace(/\/$/, "");
  const plan: Plan = {
    changes: [],
    refusals: [],
    warnings: [],
    newMigrations: [],
    firstInstall: true,
  };
  const config = await readOptional(`${root}/supabase/config.toml`);
  if (config === undefined) {
    plan.refusals.push(
      `${root} is not a Supabase project: supabase/config.toml is missing (run \`npx supabase init\` there first)`,
    );
    return plan;
  }
  const manifestText = await readOptional(`${root}/${MANIFEST_PATH}`);
  let old = emptyManifest();
  if (manifestText !== undefined) {
    plan.firstInstall = false;
    try {
      old = parseManifest(manifestText);
    } catch (error) {
      plan.refusals.push((error as Error).message);
      return plan;
    }
  }

  const wanted = wantedFiles(source);
  await checkFolders(root, source, wanted, old, plan);
  const files: Record<string, string> = {};
  for (const [path, text] of wanted) {
    files[path] = await sha256Hex(text);
    const current = await readOptional(`${root}/${path}`);
    if (current === text) continue;
    if (current === undefined) {
      plan.changes.push({ action: "add", path, text });
    } else if (old.files[path] === await sha256Hex(current)) {
      plan.changes.push({ action: "update", path, text });
    } else if (old.files[path] !== undefined) {
      plan.refusals.push(`${path} was changed since it was installed: move the change elsewhere`);
    } else if (!plan.refusals.some((refusal) => refusal.includes(`${dirOf(path)}/`))) {
      plan.refusals.push(`${path} exists with other content`);
    }
  }
  for (const [path, hash] of Object.entries(old.files)) {
    if (wanted.has(path)) continue;
    const current = await readOptional(`${root}/${path}`);
    if (current === undefined) continue;
    if (await sha256Hex(current) === hash) plan.changes.push({ action: "remove", path });
    else {plan.warnings.push(
        `${path} is no longer installed but was changed, so it is left as it is`,
      );}
  }

  for (const path of ["supabase/functions/import_map.json", "supabase/functions/deno.json"]) {
    if (plan.firstInstall && await readOptional(`${root}/${path}`) !== undefined) {
      plan.warnings.push(
        `${path} is left as it is: the billing functions get a deno.json each (their config.toml import_map), so the versions your own functions import do not change`,
      );
    }
  }
  const sections = planConfig(config, source, old, plan);
  const migrations = await planMigrations(root, source, old, options.now ?? new Date(), plan);
  const manifest: Manifest = {
    about: old.about,
    functions: [...new Set([...old.functions, ...source.functions.map((f) => f.name)])],
    config_sections: sections,
    files,
    migrations,
  };
  const rendered = renderManifest(manifest);
  if (rendered !== manifestText) {
    plan.changes.push({
      action: manifestText === undefined ? "add" : "update",
      path: MANIFEST_PATH,
      text: rendered,
    });
  }
  return plan;
}

/**
 * Writes a plan's changes, creating folders as needed. Refuses a plan that has refusals.
 *
 * @param plan what {@linkcode planInstall} returned
 * @param target the same folder
 * @throws {Error} when the plan has refusals (nothing is written)
 * @example
 * ```ts
 * await applyPlan(await planInstall(source, "../my-app"), "../my-app");
 * ```
 */
export async function applyPlan(plan: Plan, target: string): Promise<void> {
  if (plan.refusals.length > 0) {
    throw new Error(`Nothing written: ${plan.refusals.length} refusal(s)`);
  }
  const root = target.replace(/\/$/, "");
  for (const change of plan.changes) {
    const path = `${root}/${change.path}`;
    if (change.action === "remove") {
      await Deno.remove(path);
      continue;
    }
    await Deno.mkdir(dirOf(path), { recursive: true });
    await Deno.writeTextFile(path, change.text!);
  }
}

/** Every file the install owns, by its path in the target. */
function wantedFiles(source: Source): Map<string, string> {
  const wanted = new Map<string, string>();
  for (const fn of source.functions) {
    for (const file of fn.files) wanted.set(`supabase/functions/${file.path}`, file.text);
    wanted.set(
      `supabase/functions/${fn.name}/deno.json`,
      JSON.stringify({ imports: fn.imports }, null, 2) + "\n",
    );
  }
  for (const file of source.shared) wanted.set(`supabase/functions/${file.path}`, file.text);
  for (const test of source.tests) wanted.set(`${TESTS_DIR}/${test.name}`, test.sql);
  if (source.schedule !== undefined) wanted.set(SCHEDULE_PATH, source.schedule);
  return wanted;
}

// A function's folder, or _polar/, that the app already has and this command did not install is
// the app's: refused by name unless every file in it is exactly what would be installed.
async function checkFolders(
  root: string,
  source: Source,
  wanted: Map<string, string>,
  old: Manifest,
  plan: Plan,
): Promise<void> {
  const folders = [
    ...source.functions.map((fn) => ({
      dir: `supabase/functions/${fn.name}`,
      label: `Function "${fn.name}"`,
      installed: old.functions.includes(fn.name),
    })),
    {
      dir: `supabase/functions/${SHARED_DIR}`,
      label: `The shared modules' folder`,
      installed: old.functions.length > 0,
    },
  ];
  for (const folder of folders) {
    if (folder.installed) continue;
    const present = await listFiles(`${root}/${folder.dir}`);
    let foreign = false;
    for (const file of present) {
      const path = `${folder.dir}/${file}`;
      if (wanted.get(path) !== await readOptional(`${root}/${path}`)) foreign = true;
    }
    if (foreign) {
      plan.refusals.push(
        `${folder.label}: ${folder.dir}/ exists with other content; rename or remove yours first`,
      );
    }
  }
}

function planConfig(config: string, source: Source, old: Manifest, plan: Plan): string[] {
  const present = new Set(functionSections(config));
  const missing: string[] = [];
  for (const { name } of source.functions) {
    if (!present.has(name)) missing.push(name);
    else if (!old.config_sections.includes(name)) {
      plan.refusals.push(
        `Function "${name}": supabase/config.toml already has [functions.${name}]`,
      );
    }
  }
  if (missing.length > 0) {
    plan.changes.push({
      action: "update",
      path: "supabase/config.toml",
      text: appendBlock(config, functionsBlock(missing)),
    });
  }
  return [...new Set([...old.config_sections, ...missing])];
}

async function planMigrations(
  root: string,
  source: Source,
  old: Manifest,
  now: Date,
  plan: Plan,
): Promise<InstalledMigration[]> {
  const dir = `${root}/supabase/migrations`;
  const targetNames = (await listFiles(dir)).filter((name) => !name.includes("/")).sort();
  const ours = new Set(old.migrations.map((m) => m.installed_as));
  const recorded = new Map(old.migrations.map((m) => [m.source, m]));

  // The target's own migrations must not create what ours create.
  const owned = new Map<string, string>();
  for (const migration of source.migrations) {
    for (const object of createdObjects(migration.sql)) {
      owned.set(`${object.kind} ${object.name}`, migration.name);
    }
  }
  for (const name of targetNames) {
    if (ours.has(name) || !name.endsWith(".sql")) continue;
    const sql = await Deno.readTextFile(`${dir}/${name}`);
    for (const object of createdObjects(sql)) {
      if (!owned.has(`${object.kind} ${object.name}`)) continue;
      plan.refusals.push(
        `supabase/migrations/${name} creates ${object.kind} ${object.name}, which the billing migrations create (${
          owned.get(`${object.kind} ${object.name}`)
        }): rename yours first`,
      );
    }
  }

  const fresh = [];
  for (const migration of source.migrations) {
    const previous = recorded.get(migration.name);
    if (!previous) {
      fresh.push(migration);
      continue;
    }
    if (previous.sha256 !== await sha256Hex(migration.sql)) {
      plan.warnings.push(
        `${migration.name} differs from the copy installed as ${previous.installed_as}; shipped migrations are never edited, so it is not copied again`,
      );
    }
    if (!targetNames.includes(previous.installed_as)) {
      plan.warnings.push(
        `supabase/migrations/${previous.installed_as} (${migration.name}) was installed before and is gone; it is not copied again`,
      );
    }
  }
  const latest = targetNames.map((name) => splitMigrationName(name)?.version).filter(
    (version): version is string => version !== undefined,
  ).sort().at(-1);
  const versions = nextVersions(latest, now, fresh.length);
  const added: InstalledMigration[] = [];
  for (const [i, migration] of fresh.entries()) {
    const installedAs = `${versions[i]}_${
      splitMigrationName(migration.name)?.suffix ?? migration.name
    }`;
    plan.changes.push({
      action: "add",
      path: `supabase/migrations/${installedAs}`,
      text: migration.sql,
    });
    plan.newMigrations.push({ source: migration.name, installedAs });
    added.push({
      source: migration.name,
      sha256: await sha256Hex(migration.sql),
      installed_as: installedAs,
    });
  }
  describeMigrations(source, new Set(fresh.map((m) => m.name)), plan);
  return [...old.migrations, ...added];
}

// What the new migrations do to the app's database, said before anything is written.
function describeMigrations(source: Source, fresh: Set<string>, plan: Plan): void {
  if (fresh.size === 0) return;
  const tables: string[] = [];
  const triggers = new Map<string, { event: string; migration: string }>();
  for (const migration of source.migrations) {
    for (const name of droppedAuthUserTriggers(migration.sql)) triggers.delete(name);
    for (const trigger of authUserTriggers(migration.sql)) {
      triggers.set(trigger.name, { event: trigger.event, migration: migration.name });
    }
    if (!fresh.has(migration.name)) continue;
    for (const object of createdObjects(migration.sql)) {
      if (object.kind === "table") tables.push(object.name);
    }
  }
  const inPublic = tables.filter((name) => name.startsWith("public."));
  const inPolar = tables.filter((name) => name.startsWith("polar.")).map((n) => n.slice(6));
  if (tables.length > 0) {
    plan.warnings.push(
      `The migrations create tables ${
        inPublic.join(", ") || "(none)"
      } (RLS on: each user reads only their own rows, only the service role writes)${
        inPolar.length > 0
          ? ` and, in schema polar, which the API does not expose, ${inPolar.join(", ")}`
          : ""
      }`,
    );
  }
  const newTriggers = [...triggers].filter(([, t]) => fresh.has(t.migration));
  if (newTriggers.length > 0) {
    plan.warnings.push(
      `Triggers on auth.users (${
        newTriggers.map(([name, t]) => `${name}: ${t.event}`).join("; ")
      }): deleting a user, or soft-deleting one with auth.admin.deleteUser(id, true), queues the user's Polar customer in the outbox polar.customer_deletions in the same transaction, and the sync function's "deletions" scope (every minute once scheduled) then deletes that customer in Polar, which ends their subscriptions`,
    );
  }
}

async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const found: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isDirectory) {
        found.push(...await listFiles(`${dir}/${entry.name}`, `${prefix}${entry.name}/`));
      } else found.push(`${prefix}${entry.name}`);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  return found.sort();
}

function dirOf(path: string): string {
  return path.slice(0, path.lastIndexOf("/"));
}
