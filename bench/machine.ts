/**
 * The facts about the machine a run came from, for the report.
 *
 * @module
 */

/** Where the figures came from. */
export interface MachineFacts {
  /** Logical CPUs (`nproc`). */
  cpus: number;
  /** The CPU model from `/proc/cpuinfo`. */
  cpuModel: string;
  /** Total memory in GiB. */
  memoryGiB: number;
  /** The 1-minute load average when the run started (others' work on a shared machine). */
  loadAverage: number;
  /** Deno's version. */
  deno: string;
  /** The operating system and kernel. */
  os: string;
}

/**
 * Reads the machine's facts (Linux: `/proc`).
 *
 * @returns the facts
 * @example
 * ```ts
 * (await readMachineFacts()).cpus; // 2
 * ```
 */
export async function readMachineFacts(): Promise<MachineFacts> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const meminfo = await Deno.readTextFile("/proc/meminfo").catch(() => "");
  const memKiB = Number(meminfo.match(/^MemTotal:\s+(\d+)/m)?.[1] ?? NaN);
  return {
    cpus: navigator.hardwareConcurrency,
    cpuModel: cpuinfo.match(/^model name\s*:\s*(.+)$/m)?.[1]?.trim() ?? "unknown",
    memoryGiB: Math.round((memKiB / 1024 / 1024) * 10) / 10,
    loadAverage: Deno.loadavg()[0],
    deno: Deno.version.deno,
    os: `${Deno.build.os} ${Deno.osRelease()}`,
  };
}
