/**
 * Support for the install tests (`ops/install/*_test.ts` and `reliability/install_suite.ts`):
 * targets made by the real `supabase init` or copied from the "existing app" fixture, a source
 * tree of an older commit, and snapshots of a whole folder to prove what changed.
 *
 * @module
 */

/** The Supabase CLI the tests run, as `task test:db` does. */
export const SUPABASE_CLI = `supabase@${Deno.env.get("SUPABASE_CLI_VERSION") ?? "3.1.0"}`;

/** This repository's root. */
export const REPOSITORY_ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

/** The fixture app's folder. */
export const EXISTING_APP = new URL("./testdata/existing_app", import.meta.url).pathname;

/**
 * Runs a command and returns its output; throws with the output when it fails.
 *
 * @param command the program
 * @param args its arguments
 * @param options `cwd`, extra `env`
 * @returns standard output and error, together
 * @throws {Error} when the command exits non-zero
 * @example
 * ```ts
 * await run("git", ["--version"]); // "git version 2.…"
 * ```
 */
export async function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command(command, {
    args,
    cwd: options.cwd,
    env: options.env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const output = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  if (code !== 0) throw new Error(`${command} ${args.join(" ")} exited ${code}:\n${output}`);
  return output;
}

/**
 * A new temporary folder with a project made by `npx supabase init` in it.
 *
 * @returns the folder
 * @example
 * ```ts
 * const target = await supabaseInitProject(); // holds supabase/config.toml
 * ```
 */
export async function supabaseInitProject(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "install_fresh_" });
  await run("npx", ["-y", SUPABASE_CLI, "init"], { cwd: dir });
  return dir;
}

/**
 * A temporary copy of the "existing app" fixture.
 *
 * @returns the folder
 * @example
 * ```ts
 * const target = await existingAppProject(); // holds supabase/functions/_shared/cors.ts
 * ```
 */
export async function existingAppProject(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "install_app_" });
  await copyTree(EXISTING_APP, dir);
  return dir;
}

/** The first release's migrations (27 November): the older version an upgrade starts from. */
export const FIRST_RELEASE_MIGRATIONS = 5;

/**
 * A source tree shaped like the first release, built from this one, so an upgrade can be tested
 * on any clone (a shallow one has no older commit): its first five migrations only, and the
 * shared modules in `_shared/` (their name then) with the imports that name them.
 *
 * @returns the folder, with `import_map.json`, `supabase/functions`, `supabase/migrations`,
 *   `supabase/tests/database` and `ops/schedule_sync.sql`
 * @example
 * ```ts
 * const old = await firstReleaseTree(); // holds supabase/functions/_shared/
 * ```
 */
export async function firstReleaseTree(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "install_source_" });
  const from = (path: string) => `${REPOSITORY_ROOT}/${path}`;
  await Deno.mkdir(`${dir}/supabase/tests/database`, { recursive: true });
  await Deno.mkdir(`${dir}/supabase/migrations`, { recursive: true });
  await Deno.mkdir(`${dir}/ops`, { recursive: true });
  await Deno.copyFile(from("import_map.json"), `${dir}/import_map.json`);
  await Deno.copyFile(from("ops/schedule_sync.sql"), `${dir}/ops/schedule_sync.sql`);
  await copyTree(from("supabase/functions"), `${dir}/supabase/functions`);
  await copyTree(from("supabase/tests/database"), `${dir}/supabase/tests/database`);
  const migrations = [...Deno.readDirSync(from("supabase/migrations"))]
    .map((entry) => entry.name).filter((name) => name.endsWith(".sql")).sort()
    .slice(0, FIRST_RELEASE_MIGRATIONS);
  for (const name of migrations) {
    await Deno.copyFile(from(`supabase/migrations/${name}`), `${dir}/supabase/migrations/${name}`);
  }
  const functions = `${dir}/supabase/functions`;
  await Deno.rename(`${functions}/_polar`, `${functions}/_shared`);
  for (const path of await filesUnder(functions)) {
    if (!path.endsWith(".ts")) continue;
    const text = await Deno.readTextFile(path);
    if (text.includes("_polar/")) {
      await Deno.writeTextFile(path, text.replaceAll("_polar/", "_shared/"));
    }
  }
  return dir;
}

async function filesUnder(dir: string): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) files.push(...await filesUnder(path));
    else files.push(path);
  }
  return files;
}

/**
 * Every file under a folder and its text, by relative path.
 *
 * @param dir the folder
 * @returns the snapshot
 * @example
 * ```ts
 * const before = await snapshot(target);
 * // … assert.deepEqual(await snapshot(target), before);
 * ```
 */
export async function snapshot(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const walk = async (path: string, prefix: string) => {
    for await (const entry of Deno.readDir(path)) {
      if (entry.isDirectory) await walk(`${path}/${entry.name}`, `${prefix}${entry.name}/`);
      else files.set(`${prefix}${entry.name}`, await Deno.readTextFile(`${path}/${entry.name}`));
    }
  };
  await walk(dir, "");
  return new Map([...files].sort(([a], [b]) => a.localeCompare(b)));
}

/**
 * Copies a folder's files into another.
 *
 * @param from the source folder
 * @param to the destination (created as needed)
 * @example
 * ```ts
 * await copyTree(EXISTING_APP, await Deno.makeTempDir());
 * ```
 */
export async function copyTree(from: string, to: string): Promise<void> {
  for (const [path, text] of await snapshot(from)) {
    await Deno.mkdir(`${to}/${path}`.replace(/\/[^/]+$/, ""), { recursive: true });
    await Deno.writeTextFile(`${to}/${path}`, text);
  }
}
