/**
 * Serves the example web app (`examples/web/`) for the local stack: the page, its script bundled
 * with `deno bundle` at start (no CDN is needed), and `/config.json` with the stack's URLs.
 *
 * @module
 */

const EXAMPLE_DIR = new URL("../examples/web/", import.meta.url);

/** The page's icon: a blue rounded square with an "A". */
const FAVICON =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#0071e3"/>' +
  '<text x="16" y="23" font-family="system-ui,sans-serif" font-size="19" font-weight="700" fill="#fff" text-anchor="middle">A</text></svg>';

/** What the page needs to reach the stack. */
export interface SiteConfig {
  /** The Supabase API. */
  api_url: string;
  /** The anon key. */
  anon_key: string;
  /** The benefit key the example's members-only notes are gated on. */
  entitlement_key: string;
  /** The Polar meter the example's "Summarise" spends. */
  meter: string;
  /** The one-time product that adds credits to {@linkcode SiteConfig.meter}. */
  credit_product_id: string;
  /** The seat-based product the example's teams buy; `null` when there is none. */
  team_product_id: string | null;
}

/**
 * Bundles the page's script and makes the site's handler.
 *
 * @param config what `/config.json` answers
 * @returns the handler
 * @throws {Error} when bundling fails
 * @example
 * ```ts
 * const site = await createExampleSite({ api_url, anon_key, entitlement_key, meter, credit_product_id, team_product_id });
 * Deno.serve({ hostname: "127.0.0.1", port: 3000 }, site);
 * ```
 */
export async function createExampleSite(
  config: SiteConfig,
): Promise<(request: Request) => Promise<Response>> {
  const bundle = new URL("dist/app.js", EXAMPLE_DIR);
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      "--platform",
      "browser",
      "--minify",
      "--output",
      bundle.pathname,
      new URL("app.ts", EXAMPLE_DIR).pathname,
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(`Bundling examples/web failed: ${new TextDecoder().decode(stderr)}`);
  }
  const page = await Deno.readFile(new URL("index.html", EXAMPLE_DIR));
  const script = await Deno.readFile(bundle);
  const noStore = { "Cache-Control": "no-store" };
  return (request) => {
    const { pathname } = new URL(request.url);
    if (pathname === "/config.json") {
      return Promise.resolve(Response.json(config, { headers: noStore }));
    }
    if (pathname === "/app.js") {
      return Promise.resolve(
        new Response(script, {
          headers: { ...noStore, "Content-Type": "text/javascript; charset=utf-8" },
        }),
      );
    }
    // Browsers ask for /favicon.ico on their own: answer it rather than log a 404.
    if (pathname === "/favicon.ico" || pathname === "/favicon.svg") {
      return Promise.resolve(
        new Response(FAVICON, {
          headers: { "Content-Type": "image/svg+xml", "Cache-Control": "max-age=86400" },
        }),
      );
    }
    if (pathname === "/" || pathname === "/index.html") {
      return Promise.resolve(
        new Response(page, { headers: { ...noStore, "Content-Type": "text/html; charset=utf-8" } }),
      );
    }
    return Promise.resolve(new Response("Not found", { status: 404 }));
  };
}
