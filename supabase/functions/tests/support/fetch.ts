/**
 * Routing `fetch` to an in-process handler, so a supabase-js client talks to a stand-in without
 * a socket.
 *
 * @module
 */

/**
 * A `fetch` that hands every request to `handler`, honouring the request's abort signal.
 *
 * @param handler answers the requests
 * @returns the `fetch`
 * @example
 * ```ts
 * const supabase = createServerClient("http://supabase.test", anonKey, { fetch: fetchFrom(api) });
 * ```
 */
export function fetchFrom(handler: (request: Request) => Promise<Response>): typeof fetch {
  return (input, init) => {
    const request = new Request(input, init);
    request.signal.throwIfAborted();
    return new Promise((resolve, reject) => {
      request.signal.addEventListener("abort", () => reject(request.signal.reason), { once: true });
      handler(request).then(resolve, reject);
    });
  };
}
