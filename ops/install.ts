/**
 * `deno task install <path to a Supabase project> [--dry-run]`: adds the billing functions, their
 * shared modules (`supabase/functions/_polar/`), the migrations (dated after the project's
 * latest), the pgTAP files and the schedule to a project made by `supabase init`, with each
 * function's `config.toml` section and `deno.json`. Plans everything first and writes nothing
 * when anything is refused. Running it again after pulling a newer version adds only what is new.
 *
 * Exit codes: 0 installed (or nothing to do, or a dry run that would install), 1 refused,
 * 2 usage.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { nextSteps } from "./install/next_steps.ts";
import { applyPlan, type Plan, planInstall } from "./install/plan.ts";
import { readOptional, readSource, type Source } from "./install/source.ts";

/** Options of {@linkcode install}. */
export interface InstallOptions {
  /** Plan and print, write nothing. */
  dryRun?: boolean;
  /** The checkout to install from; this repository by default. */
  sourceRoot?: string;
  /** What to install, already read (tests); overrides {@linkcode sourceRoot}. */
  source?: Source;
  /** The clock that dates new migrations. */
  now?: Date;
  /** Where lines go; `console.log` by default. */
  print?: (line: string) => void;
}

/** What {@linkcode install} did. */
export interface InstallResult {
  /** The plan. */
  plan: Plan;
  /** Whether the changes were written. */
  written: boolean;
}

const REPOSITORY_ROOT = new URL("../", import.meta.url).pathname;

/**
 * Plans the install, prints what the migrations do and what changes, then writes (unless a dry
 * run or refused) and prints the next steps.
 *
 * @param target the Supabase project's root folder
 * @param options dry run, source, clock, printer
 * @returns the plan and whether it was written
 * @example
 * ```ts
 * const { plan, written } = await install("../my-app", { dryRun: true });
 * plan.refusals; // []
 * ```
 */
export async function install(
  target: string,
  options: InstallOptions = {},
): Promise<InstallResult> {
  const print = options.print ?? console.log;
  const source = options.source ?? await readSource(options.sourceRoot ?? REPOSITORY_ROOT);
  const plan = await planInstall(source, target, { now: options.now });
  if (plan.refusals.length > 0) {
    print(`Refused, nothing written to ${target}:`);
    for (const refusal of plan.refusals) print(`  ✗ ${refusal}`);
    return { plan, written: false };
  }
  for (const warning of plan.warnings) print(`! ${warning}`);
  if (plan.changes.length === 0) {
    print(`Nothing to do: ${target} has this version installed.`);
    return { plan, written: false };
  }
  const sign = { add: "+", update: "~", remove: "-" } as const;
  const sources = new Map(
    plan.newMigrations.map((m) => [`supabase/migrations/${m.installedAs}`, m.source]),
  );
  for (const change of plan.changes) {
    const from = sources.get(change.path);
    print(`${sign[change.action]} ${change.path}${from ? ` (${from})` : ""}`);
  }
  const summary = `${plan.changes.length} change(s), ${plan.newMigrations.length} new migration(s)`;
  if (options.dryRun) {
    print(`Dry run: ${summary}; nothing written.`);
    return { plan, written: false };
  }
  await applyPlan(plan, target);
  print(`Installed into ${target}: ${summary}.`);
  const projectRef = (await readOptional(`${target}/supabase/.temp/project-ref`))?.trim();
  for (const line of nextSteps({ projectRef, functions: source.functions.map((f) => f.name) })) {
    print(line);
  }
  return { plan, written: true };
}

if (import.meta.main) {
  const usage = "Usage: deno task install <path to a Supabase project> [--dry-run]";
  let parsed;
  try {
    parsed = parseArgs({
      args: Deno.args,
      options: { "dry-run": { type: "boolean" }, help: { type: "boolean" } },
      allowPositionals: true,
    });
  } catch (error) {
    console.error(`${(error as Error).message}\n${usage}`);
    Deno.exit(2);
  }
  if (parsed.values.help || parsed.positionals.length !== 1) {
    console.error(usage);
    Deno.exit(parsed.values.help ? 0 : 2);
  }
  const { plan } = await install(parsed.positionals[0], { dryRun: parsed.values["dry-run"] });
  Deno.exit(plan.refusals.length > 0 ? 1 : 0);
}
