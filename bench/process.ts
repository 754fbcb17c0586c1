/**
 * Function processes for the benchmark: each target started with the same `deno run` flags from
 * the repository root (so `deno.json` and its import map apply), timed from spawn to its first
 * `200`, and its peak resident memory read from `/proc/<pid>/status`.
 *
 * @module
 */
import { freePort } from "../local/loopback.ts";

/** The repository root. */
export const REPO_ROOT = new URL("../", import.meta.url);

/** The flags every target runs with, ours as `supabase/functions/*` run locally. */
export const DENO_RUN_FLAGS = ["run", "--allow-net", "--allow-env", "--allow-read"] as const;

/** How often the first request is retried while the process boots. */
const POLL_INTERVAL_MS = 2;

/** A program to start: an entry file and its environment. */
export interface Target {
  /** A short name for the table. */
  name: string;
  /** The entry file, relative to the repository root. */
  entry: string;
  /** Its environment, besides `PORT`, `PATH`, `HOME` and `DENO_DIR`. */
  env: Record<string, string>;
  /** The request that must answer 200, made for the process's base URL. */
  probe: (url: string) => Request;
}

/** A started target. */
export interface RunningTarget extends AsyncDisposable {
  /** Its base URL. */
  url: string;
  /** Its process id. */
  pid: number;
  /** Milliseconds from spawning the process to its port accepting a connection. */
  listenMs: number;
  /** Milliseconds from spawning the process to the first 200 of its probe. */
  coldStartMs: number;
  /** CPU time (user and system) it has used so far, ms. */
  cpuMs(): Promise<number>;
  /** Peak resident memory so far (`VmHWM`), in KiB. */
  peakRssKiB(): Promise<number>;
  /** The last few KB it wrote to standard output and error. */
  output(): string;
}

/**
 * Starts a target, waits for its port to accept a connection (tried every 2 ms), then sends the
 * probe once and waits for its `200`. The two times split boot (module loading, start-up work)
 * from the first request (cold code paths, first upstream calls).
 *
 * @param target what to start
 * @param timeoutMs how long to wait for the first 200
 * @returns the running target
 * @throws {Error} when it exits, answers something else than 200, or takes too long
 * @example
 * ```ts
 * await using running = await startTarget(target);
 * running.coldStartMs; // 183.4
 * ```
 */
export async function startTarget(target: Target, timeoutMs = 30_000): Promise<RunningTarget> {
  const port = freePort();
  const url = `http://127.0.0.1:${port}`;
  const denoDir = Deno.env.get("DENO_DIR");
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: [...DENO_RUN_FLAGS, target.entry],
    cwd: REPO_ROOT,
    env: {
      PATH: Deno.env.get("PATH") ?? "",
      HOME: Deno.env.get("HOME") ?? "",
      ...(denoDir ? { DENO_DIR: denoDir } : {}),
      ...target.env,
      PORT: String(port),
    },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const decoder = new TextDecoder();
  // Drained continuously (a full pipe would block the function), keeping only the tail.
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) output = (output + decoder.decode(chunk)).slice(-4096);
  };
  const draining = Promise.all([drain(child.stdout), drain(child.stderr)]);
  let exited = false;
  const status = child.status.then((status) => {
    exited = true;
    return status;
  });
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already exited */ }
    await status;
    await draining;
  };

  while (true) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch (error) {
      if (!(error instanceof Deno.errors.ConnectionRefused)) throw error;
      if (exited || performance.now() - started > timeoutMs) {
        await stop();
        throw new Error(`${target.name} did not listen within ${timeoutMs} ms:\n${output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
    }
  }
  const listenMs = performance.now() - started;
  const response = await fetch(target.probe(url));
  await response.body?.cancel();
  const coldStartMs = performance.now() - started;
  if (response.status !== 200) {
    await stop();
    throw new Error(`${target.name} answered ${response.status} to its probe:\n${output}`);
  }
  return {
    url,
    pid: child.pid,
    listenMs,
    coldStartMs,
    cpuMs: () => readCpuMs(child.pid),
    peakRssKiB: () => readPeakRss(child.pid),
    output: () => output,
    [Symbol.asyncDispose]: stop,
  };
}

async function readPeakRss(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const match = status.match(/^VmHWM:\s+(\d+) kB$/m);
  if (!match) throw new Error(`No VmHWM in /proc/${pid}/status`);
  return Number(match[1]);
}

/** Clock ticks per second of `/proc/<pid>/stat` (`getconf CLK_TCK`; 100 on Linux). */
const CLOCK_TICKS_PER_SECOND = 100;

/**
 * CPU time a process has used, user and system, from `/proc/<pid>/stat` (10 ms resolution).
 *
 * @param pid the process, or `"self"`
 * @returns milliseconds
 * @example
 * ```ts
 * const before = await readCpuMs("self");
 * ```
 */
export async function readCpuMs(pid: number | "self"): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  // The command name (field 2) may contain spaces; count fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
}
