import { createSummariseHandler } from "./handler.ts";

// Supabase gives deployed functions the new keys as JSON (`SUPABASE_PUBLISHABLE_KEYS`), or only
// the legacy anon key on older projects.
const publishableKey = JSON.parse(Deno.env.get("SUPABASE_PUBLISHABLE_KEYS") ?? "{}").default ??
  Deno.env.get("SUPABASE_ANON_KEY");
const supabaseUrl = Deno.env.get("SUPABASE_URL");
if (!supabaseUrl || !publishableKey) {
  console.error(
    "summarise needs SUPABASE_URL and SUPABASE_PUBLISHABLE_KEYS (or SUPABASE_ANON_KEY)",
  );
  Deno.exit(1);
}

const handler = createSummariseHandler({ supabaseUrl, publishableKey });
// `PORT` is the local stack's (it serves each function on loopback); Supabase sets none.
const port = Deno.env.get("PORT");
Deno.serve(port ? { hostname: "127.0.0.1", port: Number(port) } : {}, handler);
