/**
 * A switchable TCP front for a loopback server, to fault a dependency below HTTP: pass bytes
 * through, drop every connection after reading the request, or refuse connections (nothing
 * listens on the port) and listen again on the same port later.
 *
 * @module
 */

/** What the front does with connections. */
export const FRONT_MODES = ["pass", "drop", "refuse"] as const;

/** A value of {@linkcode FRONT_MODES}. */
export type FrontMode = typeof FRONT_MODES[number];

/** A running front. */
export interface TcpFront extends AsyncDisposable {
  /** `http://127.0.0.1:<port>`: the URL to give the client instead of the target's. */
  url: string;
  /** Switches mode; open connections are cut when leaving `pass`. */
  setMode(mode: FrontMode): void;
  /** Stops the front. */
  close(): void;
}

/**
 * Starts a front for `targetUrl` on a free loopback port, in `pass` mode.
 *
 * @param targetUrl the server behind it, `http://127.0.0.1:<port>`
 * @returns the front
 * @example
 * ```ts
 * using front = startTcpFront(api.url);
 * front.setMode("refuse"); // clients of front.url get ECONNREFUSED
 * ```
 */
export function startTcpFront(targetUrl: string): TcpFront {
  const target = new URL(targetUrl);
  const targetPort = Number(target.port);
  let mode: FrontMode = "pass";
  const open = new Set<Deno.Conn>();
  let listener: Deno.Listener | undefined = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;

  const closeQuietly = (conn: Deno.Conn) => {
    open.delete(conn);
    try {
      conn.close();
    } catch { /* already closed */ }
  };

  const handle = async (conn: Deno.Conn) => {
    open.add(conn);
    if (mode === "drop") {
      // Read what the client sent, then hang up without a byte of answer.
      await conn.read(new Uint8Array(64 * 1024)).catch(() => null);
      closeQuietly(conn);
      return;
    }
    let upstream: Deno.Conn;
    try {
      upstream = await Deno.connect({ hostname: "127.0.0.1", port: targetPort });
    } catch {
      closeQuietly(conn);
      return;
    }
    open.add(upstream);
    await Promise.allSettled([
      conn.readable.pipeTo(upstream.writable),
      upstream.readable.pipeTo(conn.writable),
    ]);
    closeQuietly(conn);
    closeQuietly(upstream);
  };

  const accept = async (current: Deno.Listener) => {
    try {
      for await (const conn of current) handle(conn);
    } catch { /* listener closed */ }
  };
  accept(listener);

  const stopListening = () => {
    try {
      listener?.close();
    } catch { /* already closed */ }
    listener = undefined;
  };

  const close = () => {
    stopListening();
    for (const conn of [...open]) closeQuietly(conn);
  };

  return {
    url: `http://127.0.0.1:${port}`,
    setMode(next) {
      if (next !== "pass") { for (const conn of [...open]) closeQuietly(conn); }
      if (next === "refuse") stopListening();
      if (next !== "refuse" && !listener) {
        listener = Deno.listen({ hostname: "127.0.0.1", port });
        accept(listener);
      }
      mode = next;
    },
    close,
    [Symbol.asyncDispose]: () => Promise.resolve(close()),
  };
}
