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

/**
 * The tree of an earlier commit of this repository, from `git archive`.
 *
 * @param commit the commit
 * @returns the folder
 * @throws {Error} when the commit is not in the repository's history (a shallow clone)
 * @example
 * ```ts
 * const old = await commitTree("1ec6d10"); // holds supabase/functions/_shared/
 * ```
 */
export async function commitTree(commit: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "install_source_" });
  const archive = `${dir}.tar`;
  await run("git", [
    "-C",
    REPOSITORY_ROOT,
    "archive",
    "--format=tar",
    `--output=${archive}`,
    commit,
  ]);
  await run("tar", ["-xf", archive, "-C", dir]);
  await Deno.remove(archive);
  return dir;
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
