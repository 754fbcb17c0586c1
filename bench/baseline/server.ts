/**
 * The cold-start baseline: a bare `Deno.serve` whose only import is supabase-js. It makes one
 * client at start (as a function would) and answers `200 {}` to everything, so its boot is the
 * floor any supabase-js function pays.
 *
 * Environment: `SUPABASE_URL`, `SUPABASE_ANON_KEY`, `PORT`.
 *
 * @module
 */
import { createClient } from "@supabase/supabase-js";

const supabase = createClient(Deno.env.get("SUPABASE_URL")!, Deno.env.get("SUPABASE_ANON_KEY")!, {
  auth: { persistSession: false },
});

Deno.serve(
  { port: Number(Deno.env.get("PORT")) },
  () => Response.json({ ready: Boolean(supabase) }),
);
