/**
 * The anchor: what a user would deploy instead. Polar's own Supabase adapter
 * (`@polar-sh/supabase`'s `CustomerPortal`) wired with the seed's `getCustomerId` (the Next.js
 * route's: `supabase.auth.getUser()`, then the `user_subscriptions` select with `.single()`),
 * adapted only as far as needed to answer the same JSON as `portal`:
 *
 * - the token comes from the `Authorization` header (an edge function has no cookies), passed to
 *   `getUser(token)` as Supabase's edge function examples do;
 * - the adapter's 302 becomes `200 { url }` (its `Location`), and the seed's errors become
 *   `401`/`404`/`500` JSON;
 * - the adapter only knows `server: "sandbox" | "production"`, so `https://sandbox-api.polar.sh`
 *   is rewritten to `POLAR_API_URL` by a wrapper around the global `fetch` (the SDK calls it);
 *   the wrapper costs one `Request` copy per Polar call.
 *
 * Environment: `SUPABASE_URL`, `SUPABASE_ANON_KEY`, `POLAR_ACCESS_TOKEN`, `POLAR_API_URL`,
 * `SITE_URL`, `PORT`.
 *
 * @module
 */
import { CustomerPortal } from "@polar-sh/supabase";
import { createClient } from "@supabase/supabase-js";

const POLAR_SANDBOX_URL = "https://sandbox-api.polar.sh";

const supabaseUrl = required("SUPABASE_URL");
const supabaseAnonKey = required("SUPABASE_ANON_KEY");
routePolarTo(required("POLAR_API_URL"));

const portal = CustomerPortal({
  accessToken: required("POLAR_ACCESS_TOKEN"),
  server: "sandbox",
  returnUrl: required("SITE_URL"),
  getCustomerId: async (request) => {
    const token = request.headers.get("Authorization")?.replace(/^Bearer /, "") ?? "";
    const supabase = createClient(supabaseUrl, supabaseAnonKey, {
      auth: { persistSession: false, autoRefreshToken: false },
      global: { headers: { Authorization: `Bearer ${token}` } },
    });
    const { data: { user }, error: authError } = await supabase.auth.getUser(token);
    if (authError || !user) throw new Error("Unauthorized");
    const { data: subscription, error: subscriptionError } = await supabase
      .from("user_subscriptions")
      .select("polar_customer_id")
      .eq("user_id", user.id)
      .single();
    if (subscriptionError || !subscription?.polar_customer_id) {
      throw new Error("No subscription found");
    }
    return subscription.polar_customer_id;
  },
});

const ERROR_STATUS: Record<string, number> = { "Unauthorized": 401, "No subscription found": 404 };

Deno.serve({ port: Number(required("PORT")) }, async (request) => {
  try {
    const response = await portal(request);
    const location = response.headers.get("Location");
    if (response.status === 302 && location) return Response.json({ url: location });
    return Response.json({ error: "Something went wrong" }, { status: 500 });
  } catch (error) {
    const message = error instanceof Error ? error.message : "";
    const status = ERROR_STATUS[message];
    if (status) return Response.json({ error: message }, { status });
    console.error(error);
    return Response.json({ error: "Something went wrong" }, { status: 500 });
  }
});

function required(name: string): string {
  const value = Deno.env.get(name);
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

/** Sends the SDK's sandbox calls to the loopback stand-in instead. */
function routePolarTo(baseUrl: string): void {
  const target = baseUrl.replace(/\/$/, "");
  const original = globalThis.fetch;
  globalThis.fetch = (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    if (!url.startsWith(POLAR_SANDBOX_URL)) return original(input, init);
    const rewritten = target + url.slice(POLAR_SANDBOX_URL.length);
    return original(input instanceof Request ? new Request(rewritten, input) : rewritten, init);
  };
}
