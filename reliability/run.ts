/**
 * `deno task test:reliability`: runs the suites with `deno test` (so a failing case fails
 * the task), then prints one table of what was tried and measured, from the results file the
 * suites write. Exits non-zero when `deno test` fails, when a case failed, or when no case ran.
 *
 * Arguments are passed on to `deno test` (for example `--filter portal`).
 *
 * @module
 */
import { type CaseEntry, type FigureEntry, parseResults, RESULTS_VARIABLE } from "./report.ts";
import { serverUrl } from "./databases.ts";

/** The suites, in the order they run. */
const SUITES = [
  "adversarial_suite.ts",
  "faults_suite.ts",
  "load_suite.ts",
  "identity_suite.ts",
  "entitlements_suite.ts",
  "schedule_suite.ts",
  "never_stale_suite.ts",
  "hardening_suite.ts",
  "locks_suite.ts",
  "usage_suite.ts",
  "install_suite.ts",
  "usage_flush_suite.ts",
  "billing_changes_suite.ts",
  "teams_suite.ts",
];

/**
 * Formats the summary table.
 *
 * @param cases the recorded cases
 * @param figures the recorded figures
 * @returns the table, as lines of text
 * @example
 * ```ts
 * summaryTable([{ kind: "case", group: "g", name: "n", passed: true }], []);
 * ```
 */
export function summaryTable(cases: CaseEntry[], figures: FigureEntry[]): string[] {
  const groups = new Map<string, { tried: number; passed: number }>();
  for (const entry of cases) {
    const group = groups.get(entry.group) ?? { tried: 0, passed: 0 };
    group.tried++;
    if (entry.passed) group.passed++;
    groups.set(entry.group, group);
  }
  const rows: [string, string, string][] = [...groups].map((
    [name, { tried, passed }],
  ) => [name, String(tried), String(passed)]);
  const passed = cases.filter((entry) => entry.passed).length;
  rows.push(["total", String(cases.length), String(passed)]);
  const width = Math.max(...rows.map(([name]) => name.length), "cases".length);
  const line = (cells: [string, string, string]) =>
    `| ${cells[0].padEnd(width)} | ${cells[1].padStart(5)} | ${cells[2].padStart(6)} |`;
  const rule = `|${"-".repeat(width + 2)}|${"-".repeat(7)}|${"-".repeat(8)}|`;
  const figureWidth = Math.max("figure".length, ...figures.map((entry) => entry.name.length));
  const valueWidth = Math.max("value".length, ...figures.map((entry) => entry.value.length));
  return [
    line(["cases", "tried", "passed"]),
    rule,
    ...rows.map(line),
    "",
    `| ${"figure".padEnd(figureWidth)} | ${"value".padEnd(valueWidth)} |`,
    `|${"-".repeat(figureWidth + 2)}|${"-".repeat(valueWidth + 2)}|`,
    ...figures.map((entry) =>
      `| ${entry.name.padEnd(figureWidth)} | ${entry.value.padEnd(valueWidth)} |`
    ),
  ];
}

if (import.meta.main) {
  serverUrl(); // fails early, with the command to run, when DATABASE_URL is missing
  const results = await Deno.makeTempFile({ prefix: "reliability_", suffix: ".jsonl" });
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "test",
      "--allow-all",
      ...Deno.args,
      ...SUITES.map((suite) => new URL(suite, import.meta.url).pathname),
    ],
    env: { [RESULTS_VARIABLE]: results },
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  const status = await child.status;
  const entries = parseResults(await Deno.readTextFile(results));
  await Deno.remove(results);
  const cases = entries.filter((entry): entry is CaseEntry => entry.kind === "case");
  const figures = entries.filter((entry): entry is FigureEntry => entry.kind === "figure");
  const failed = cases.filter((entry) => !entry.passed);
  const minutes = ((performance.now() - started) / 60_000).toFixed(1);
  console.log(`\nReliability suite (${minutes} min)\n`);
  for (const row of summaryTable(cases, figures)) console.log(row);
  for (const entry of failed) console.log(`FAILED: ${entry.group}: ${entry.name}`);
  const ok = status.success && failed.length === 0 && cases.length > 0;
  console.log(
    `\nreliability: ${ok ? "ok" : "FAILED"}, ${
      cases.length - failed.length
    } of ${cases.length} cases passed`,
  );
  Deno.exit(ok ? 0 : 1);
}
