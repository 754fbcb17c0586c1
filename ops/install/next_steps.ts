/**
 * What to do after an install, printed at its end: apply the migrations, create the webhook
 * endpoint in Polar (its URL and events), set the secrets, deploy, schedule the sync.
 *
 * @module
 */
import {
  CUSTOMER_EVENT_TYPES,
  CUSTOMER_STATE_EVENT_TYPE,
  SUBSCRIPTION_EVENT_TYPES,
} from "../../supabase/functions/_polar/polar_webhooks.ts";
import { SCHEDULE_PATH } from "./plan.ts";

/** The webhook events the project acts on: what the Polar endpoint must send. */
export const WEBHOOK_EVENTS: readonly string[] = [
  ...SUBSCRIPTION_EVENT_TYPES,
  ...CUSTOMER_EVENT_TYPES,
  CUSTOMER_STATE_EVENT_TYPE,
];

/**
 * The next steps, as lines to print.
 *
 * @param options `projectRef`: the linked project's ref (`supabase/.temp/project-ref`), to
 *   write the real webhook URL; `functions`: the names to deploy
 * @returns the lines
 * @example
 * ```ts
 * nextSteps({ functions: ["portal"] })[0]; // "Next steps:"
 * ```
 */
export function nextSteps(
  options: { projectRef?: string; functions: readonly string[] },
): string[] {
  const project = options.projectRef
    ? `https://${options.projectRef}.supabase.co`
    : "https://<project-ref>.supabase.co";
  return [
    "Next steps:",
    "  1. Apply the migrations: npx supabase db push (locally: npx supabase migration up)",
    "  2. In Polar (Settings → Webhooks → Add endpoint), format Raw, URL",
    `       ${project}/functions/v1/polar-webhooks`,
    `     events: ${WEBHOOK_EVENTS.join(", ")}`,
    "  3. Secrets (the endpoint's secret from step 2; POLAR_PRODUCT_IDS and ALLOWED_ORIGINS are optional):",
    "       npx supabase secrets set POLAR_ACCESS_TOKEN=polar_oat_… POLAR_WEBHOOK_SECRET=whsec_… \\",
    "         POLAR_SERVER=sandbox SITE_URL=https://app.example.com POLAR_SYNC_SECRET=$(openssl rand -hex 32)",
    ...options.functions.map((name, i) =>
      `  ${i === 0 ? "4." : "  "} npx supabase functions deploy ${name}`
    ),
    `  5. The schedule: store project_url and polar_sync_secret (the same POLAR_SYNC_SECRET) in Vault,`,
    `     then run ${SCHEDULE_PATH} in the SQL editor (its header says how)`,
    "  Gate a table with (select public.has_entitlement('<benefit key>')) in an RLS policy;",
    "  call the functions with supabase.functions.invoke('checkout' | 'portal' | 'sync').",
  ];
}
