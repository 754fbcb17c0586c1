/**
 * Servers on 127.0.0.1, and the real functions started as `deno run` processes, for the local
 * stack and the tests.
 *
 * @module
 */

/** A server on a random loopback port. */
export interface LoopbackServer extends AsyncDisposable {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  /** Stops the server. */
  shutdown(): Promise<void>;
}

/**
 * Serves `handler` on 127.0.0.1, on `port` or on one the system picks.
 *
 * @param handler answers requests
 * @param port the port; 0 (the default) lets the system pick
 * @returns the server
 * @throws {Deno.errors.AddrInUse} when the port is taken
 * @example
 * ```ts
 * await using api = await serveOnLoopback((request) => Promise.resolve(new Response("ok")));
 * ```
 */
export function serveOnLoopback(
  handler: (request: Request) => Response | Promise<Response>,
  port = 0,
): Promise<LoopbackServer> {
  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port,
      onListen: ({ port }) =>
        resolve({
          url: `http://127.0.0.1:${port}`,
          shutdown: () => server.shutdown(),
          [Symbol.asyncDispose]: () => server.shutdown(),
        }),
      onError: () => new Response(null, { status: 502 }),
    }, handler);
  });
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** A function running as its own `deno run` process. */
export interface FunctionProcess extends AsyncDisposable {
  /** Its base URL. */
  url: string;
  /** What it wrote to standard output and error so far. */
  output(): string;
}

/** Options of {@linkcode startFunction}. */
export interface StartFunctionOptions {
  /** Called with each line the function writes (standard output and error), as it comes. */
  onOutput?: (line: string) => void;
  /**
   * The `supabase/functions/` folder to run it from; this repository's by default. A function
   * with a `deno.json` of its own (as an install gives each) runs with that as its config.
   */
  functionsDir?: URL;
}

const FUNCTIONS_DIR = new URL("../supabase/functions/", import.meta.url);

/**
 * Starts `supabase/functions/<name>/index.ts` (or `<functionsDir>/<name>/index.ts`) with
 * `deno run`, as a user would, on a free port of 127.0.0.1 with the given environment, and waits
 * until it answers.
 *
 * @param name the function's folder
 * @param env its environment (the process gets nothing else but `PATH` and `HOME`)
 * @param options where its output lines go, besides {@linkcode FunctionProcess.output}
 * @returns the process
 * @example
 * ```ts
 * await using portal = await startFunction("portal", { SUPABASE_URL: api.url, … });
 * await fetch(portal.url, { method: "OPTIONS" });
 * ```
 */
export async function startFunction(
  name: string,
  env: Record<string, string>,
  options: StartFunctionOptions = {},
): Promise<FunctionProcess> {
  const port = freePort();
  const dir = new URL(`${name}/`, options.functionsDir ?? FUNCTIONS_DIR);
  const entry = new URL("index.ts", dir);
  const config = new URL("deno.json", dir);
  // Its own deno.json, as `supabase functions serve` and deploy use it; no lock file written there.
  const configArgs = await exists(config) ? ["--config", config.pathname, "--no-lock"] : [];
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", "--allow-read", ...configArgs, entry.pathname],
    env: {
      PATH: Deno.env.get("PATH") ?? "",
      HOME: Deno.env.get("HOME") ?? "",
      ...(Deno.env.get("DENO_DIR") ? { DENO_DIR: Deno.env.get("DENO_DIR")! } : {}),
      ...env,
      PORT: String(port),
    },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    let partial = "";
    for await (const chunk of stream) {
      const text = decoder.decode(chunk, { stream: true });
      output += text;
      if (!options.onOutput) continue;
      const lines = (partial + text).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) if (line) options.onOutput(line);
    }
    if (partial && options.onOutput) options.onOutput(partial);
  };
  const collecting = Promise.all([collect(child.stdout), collect(child.stderr)]);
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already exited */ }
    await child.status;
    await collecting;
  };
  const deadline = Date.now() + 30_000;
  while (true) {
    try {
      const response = await fetch(url, { method: "OPTIONS" });
      await response.body?.cancel();
      break;
    } catch {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`${name} did not start within 30 s:\n${output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return { url, output: () => output, [Symbol.asyncDispose]: stop };
}

async function exists(url: URL): Promise<boolean> {
  try {
    await Deno.stat(url);
    return true;
  } catch {
    return false;
  }
}
