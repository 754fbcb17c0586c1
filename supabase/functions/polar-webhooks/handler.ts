/**
 * The `polar-webhooks` function: verifies Polar's signed webhooks and applies them to
 * `public.user_subscriptions` through `public.apply_polar_webhook`, once per delivery id.
 *
 * @module
 */
import { webhooks } from "@polar-sh/sdk/2026-10";
import type { SupabaseClient } from "@supabase/supabase-js";
import { readBodyText } from "../_polar/body.ts";
import type { WebhookFunctionConfig } from "../_polar/config.ts";
import { HttpError, jsonResponse, STATUS } from "../_polar/http_error.ts";
import { createJsonHandler, type Handler } from "../_polar/json_handler.ts";
import type { RequestLogger } from "../_polar/log.ts";
import {
  InvalidEventError,
  toWebhookDelivery,
  WEBHOOK_OUTCOMES,
  type WebhookDelivery,
  type WebhookResult,
} from "../_polar/polar_webhooks.ts";
import { createServerClient } from "../_polar/supabase.ts";

/** The largest body accepted: 1 MiB, far above any Polar event (a few KB). */
export const MAX_WEBHOOK_BODY_BYTES = 1024 * 1024;

/** The headers the signature covers; only these are handed to the verifier. */
const WEBHOOK_HEADERS = ["webhook-id", "webhook-timestamp", "webhook-signature"] as const;

/**
 * The longest value accepted for each signed header, checked before any HMAC. The verifier
 * computes an HMAC of the whole body for each `v1,…` entry in `webhook-signature` and each
 * encoding of the secret, so 7,500 entries with a 1 MiB body cost seconds of CPU. Polar sends one
 * entry of 47 characters; Standard Webhooks allows a second during a key rotation.
 */
export const MAX_WEBHOOK_HEADER_LENGTH = {
  "webhook-id": 256,
  "webhook-timestamp": 20,
  "webhook-signature": 256,
} as const satisfies Record<typeof WEBHOOK_HEADERS[number], number>;

/** Most space-separated signatures accepted in `webhook-signature`. */
export const MAX_WEBHOOK_SIGNATURES = 2;

/** What the log warns about when an event's metadata.user_id disagrees with its customer. */
const IDENTITY_CONFLICT = "identity conflict";

/** What the webhook handler depends on; tests pass their own. */
export interface PolarWebhookDependencies {
  /** The endpoint's signing secret (`whsec_…`). */
  webhookSecret: string;
  /** Records a delivery and applies its change in one transaction. */
  applyDelivery: (delivery: WebhookDelivery) => Promise<WebhookResult>;
  /** Where the per-request log line goes. */
  log?: RequestLogger;
  /** A monotonic clock in milliseconds. */
  now?: () => number;
}

/**
 * Makes the webhook handler: `POST` only; 403 `Invalid signature` for signed headers over their
 * limits (before reading the body) or a signature that does not verify, 413 over 1 MiB, 400 for
 * a verified body that is not a valid event, 200 when the event was applied (or was stale or a
 * redelivery), 202 when it was recorded without effect (an unused type, or no matching user).
 * An identity conflict (the subscription's `metadata.user_id` is not the customer's
 * `external_id`) is logged as a warning.
 *
 * @param deps the secret and the database write
 * @returns the handler
 * @example
 * ```ts
 * const handler = createPolarWebhookHandler(createPolarWebhookDependencies(config));
 * const response = await handler(new Request(url, { method: "POST", body, headers: signed }));
 * await response.json(); // { outcome: "applied" }
 * ```
 */
export function createPolarWebhookHandler(deps: PolarWebhookDependencies): Handler {
  const { webhookSecret } = deps;
  return createJsonHandler({
    name: "polar-webhooks",
    methods: ["POST"],
    // Polar calls from its servers, never from a browser: no CORS headers.
    cors: () => ({}),
    log: deps.log,
    now: deps.now,
  }, async (request, context) => {
    const { detail } = context;
    const headers = webhookHeadersOf(request);
    const body = await readBodyText(request, MAX_WEBHOOK_BODY_BYTES);
    const event = await verify(body, headers, webhookSecret);
    let delivery: WebhookDelivery;
    try {
      delivery = toWebhookDelivery(headers["webhook-id"], event);
    } catch (error) {
      if (error instanceof InvalidEventError) throw invalidEvent(error);
      throw error;
    }
    detail.event_type = delivery.eventType;
    detail.webhook_id = delivery.webhookId;
    const result = await deps.applyDelivery(delivery);
    detail.webhook_outcome = result.outcome;
    if (result.reason) detail.reason = result.reason;
    if (result.reason === IDENTITY_CONFLICT) {
      context.warning =
        `Polar customer ${delivery.change?.customer_id}: the subscription's metadata.user_id is not the customer's external_id; nothing linked`;
    }
    const recordedWithoutEffect = result.outcome === "ignored" || result.outcome === "skipped";
    return jsonResponse(result, recordedWithoutEffect ? STATUS.Accepted : STATUS.OK);
  });
}

/**
 * The production dependencies: one service-role Supabase client per instance, every call
 * bounded by its timeout.
 *
 * @param config the validated configuration
 * @returns dependencies for {@linkcode createPolarWebhookHandler}
 * @example
 * ```ts
 * createPolarWebhookHandler(
 *   createPolarWebhookDependencies(loadWebhookFunctionConfig((name) => Deno.env.get(name))),
 * );
 * ```
 */
export function createPolarWebhookDependencies(
  config: WebhookFunctionConfig,
): PolarWebhookDependencies {
  const supabase = createServerClient(config.supabaseUrl, config.supabaseSecretKey);
  return {
    webhookSecret: config.polarWebhookSecret,
    applyDelivery: (delivery) => applyPolarWebhook(supabase, delivery),
  };
}

/**
 * Calls `public.apply_polar_webhook` through PostgREST: one call, one transaction. A catalog
 * event (`product.*`, `benefit.*`) goes to `public.apply_polar_catalog_webhook` instead, and a
 * team event (seats, members, members' grants, a team customer and its subscriptions) to
 * `public.apply_polar_team_webhook`; each records the delivery by the same webhook-id.
 *
 * @param supabase a client made with the service role key
 * @param delivery the verified delivery
 * @returns the database's answer
 * @throws {Error} when PostgREST answers an error, cannot be reached or does not answer in time
 * @example
 * ```ts
 * await applyPolarWebhook(supabase, delivery); // { outcome: "applied" }
 * ```
 */
export async function applyPolarWebhook(
  supabase: SupabaseClient,
  delivery: WebhookDelivery,
): Promise<WebhookResult> {
  const [name, args] = delivery.catalog
    ? ["apply_polar_catalog_webhook", { catalog: delivery.catalog }] as const
    : delivery.team
    ? ["apply_polar_team_webhook", { team: delivery.team }] as const
    : ["apply_polar_webhook", { change: delivery.change }] as const;
  const { data, error } = await supabase.rpc(name, {
    webhook_id: delivery.webhookId,
    event_type: delivery.eventType,
    event_timestamp: delivery.eventTimestamp,
    ...args,
  });
  if (error) throw new Error(`${name} failed: ${error.message}`, { cause: error });
  if (!isWebhookResult(data)) throw new Error(`${name} returned an unexpected value`);
  return data;
}

async function verify(
  body: string,
  headers: Record<string, string>,
  secret: string,
): Promise<unknown> {
  try {
    return await webhooks.validateEvent(body, headers, secret);
  } catch (error) {
    // Checked first: verification errors are also PolarWebhookErrors.
    if (error instanceof webhooks.PolarWebhookVerificationError) throw invalidSignature(error);
    // The signature held, but the type is one this SDK does not know: a newer Polar event,
    // recorded like any other type we do not use. Without a type it is not an event at all.
    if (error instanceof webhooks.PolarWebhookUnknownTypeError) {
      if (typeof error.eventType === "string") return JSON.parse(body);
      throw invalidEvent(error);
    }
    if (error instanceof webhooks.PolarWebhookError) throw invalidEvent(error);
    throw error;
  }
}

/** The signed headers, refused with 403 when one is over its limit, before any HMAC. */
function webhookHeadersOf(request: Request): Record<typeof WEBHOOK_HEADERS[number], string> {
  const headers: Record<string, string> = {};
  for (const name of WEBHOOK_HEADERS) {
    const value = request.headers.get(name);
    if (value === null) continue;
    if (value.length > MAX_WEBHOOK_HEADER_LENGTH[name]) throw invalidSignature(`${name} too long`);
    headers[name] = value;
  }
  const signatures = headers["webhook-signature"]?.split(" ").filter(Boolean).length ?? 0;
  if (signatures > MAX_WEBHOOK_SIGNATURES) {
    throw invalidSignature(`webhook-signature has ${signatures} entries`);
  }
  return headers as Record<typeof WEBHOOK_HEADERS[number], string>;
}

function invalidSignature(cause: unknown): HttpError {
  return new HttpError(STATUS.Forbidden, "Invalid signature", { cause });
}

function invalidEvent(cause: Error): HttpError {
  return new HttpError(STATUS.BadRequest, "Invalid event", { cause: cause.message });
}

function isWebhookResult(value: unknown): value is WebhookResult {
  return typeof value === "object" && value !== null &&
    (WEBHOOK_OUTCOMES as readonly string[]).includes((value as WebhookResult).outcome);
}
