/**
 * What the suites tried, written as JSON lines to the file that `RELIABILITY_RESULTS` names, so
 * the runner (`run.ts`) can print one table after `deno test` ends. Without the variable (a suite
 * run on its own with `deno test`) nothing is written and the cases still pass or fail.
 *
 * @module
 */

/** One table-driven case and whether it passed. */
export interface CaseEntry {
  /** Always `case`. */
  kind: "case";
  /** The table it belongs to, such as `adversarial: tokens`. */
  group: string;
  /** The case's behaviour name. */
  name: string;
  /** Whether its step passed. */
  passed: boolean;
}

/** A measured figure (counts, times), shown as text. */
export interface FigureEntry {
  /** Always `figure`. */
  kind: "figure";
  /** What was measured, such as `portal load: p95 answer time`. */
  name: string;
  /** The value, with its unit. */
  value: string;
}

/** A line of the results file. */
export type ReportEntry = CaseEntry | FigureEntry;

/** The environment variable naming the results file. */
export const RESULTS_VARIABLE = "RELIABILITY_RESULTS";

/**
 * Appends one entry to the results file, when there is one.
 *
 * @param entry the case or figure
 * @example
 * ```ts
 * await record({ kind: "figure", name: "portal load: requests", value: "2000" });
 * ```
 */
export async function record(entry: ReportEntry): Promise<void> {
  const path = Deno.env.get(RESULTS_VARIABLE);
  if (!path) return;
  await Deno.writeTextFile(path, JSON.stringify(entry) + "\n", { append: true });
}

/**
 * Records a figure and prints it, so a plain `deno test` run shows it too.
 *
 * @param name what was measured
 * @param value the value, with its unit
 * @example
 * ```ts
 * await figure("webhook load: lost deliveries", "0");
 * ```
 */
export async function figure(name: string, value: string): Promise<void> {
  console.log(`${name}: ${value}`);
  await record({ kind: "figure", name, value });
}

/**
 * Runs each case of a table as a test step and records whether it passed. A failed step fails
 * the test, so `deno test` exits non-zero.
 *
 * @param t the test context
 * @param group the table's name in the summary
 * @param cases the cases, each with a behaviour name
 * @param run runs one case; throws when it fails
 * @returns how many passed
 * @example
 * ```ts
 * await runCases(t, "adversarial: methods", cases, async (c) => { … });
 * ```
 */
export async function runCases<C extends { name: string }>(
  t: Deno.TestContext,
  group: string,
  cases: readonly C[],
  run: (testCase: C) => Promise<void>,
): Promise<number> {
  let passed = 0;
  for (const testCase of cases) {
    const ok = await t.step(testCase.name, () => run(testCase));
    if (ok) passed++;
    await record({ kind: "case", group, name: testCase.name, passed: ok });
  }
  return passed;
}

/**
 * Parses a results file.
 *
 * @param text the file's content
 * @returns its entries
 * @example
 * ```ts
 * parseResults('{"kind":"figure","name":"x","value":"1"}\n'); // [{ kind: "figure", … }]
 * ```
 */
export function parseResults(text: string): ReportEntry[] {
  return text.split("\n").filter((line) => line.trim()).map((line) =>
    JSON.parse(line) as ReportEntry
  );
}
