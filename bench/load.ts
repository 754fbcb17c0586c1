/**
 * Runs one load point in its own process (`load_runner.ts`, autocannon) and returns its figures.
 *
 * @module
 */
import type { LoadResult, LoadSpec } from "./load_runner.ts";

export type { LoadResult, LoadSpec };

const RUNNER = new URL("./load_runner.ts", import.meta.url);

/**
 * Runs autocannon with the spec and waits for its figures.
 *
 * @param spec URL, request, connections and duration
 * @returns the figures
 * @throws {Error} when the runner fails
 * @example
 * ```ts
 * const result = await runLoadPoint({ url, method: "POST", headers, connections: 32, durationSeconds: 5 });
 * result.p50Ms; // 3.1
 * ```
 */
export async function runLoadPoint(spec: LoadSpec): Promise<LoadResult> {
  const specFile = await Deno.makeTempFile({ prefix: "bench-load-", suffix: ".json" });
  try {
    await Deno.writeTextFile(specFile, JSON.stringify(spec));
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net",
        "--allow-read",
        "--allow-env",
        "--allow-sys",
        RUNNER.pathname,
        specFile,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(stdout).trim();
    if (code !== 0) {
      throw new Error(`Load runner failed (${code}):\n${new TextDecoder().decode(stderr)}`);
    }
    return JSON.parse(text.split("\n").at(-1)!);
  } finally {
    await Deno.remove(specFile).catch(() => {});
  }
}
