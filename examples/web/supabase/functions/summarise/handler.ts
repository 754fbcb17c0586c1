/**
 * The example app's own paid feature, "Summarise": each call spends {@linkcode SUMMARY_COST}
 * credits of the `ai_credits` meter through this project's `consume_usage`, with the caller's
 * token, so the database admits it only while the user's balance covers it (never a credit over
 * what they hold, however many tabs click at once). It is written as an app would write it: only
 * supabase-js and Web APIs, nothing of the billing functions' internals.
 *
 * @module
 */
import { createClient } from "@supabase/supabase-js";
import { corsHeaders } from "@supabase/supabase-js/cors";

/** The Polar meter this feature spends (its name in Polar's dashboard). */
export const SUMMARY_METER = "ai_credits";
/** Credits one summary costs. */
export const SUMMARY_COST = 10;
/** The longest text the feature takes, in characters. */
export const MAX_TEXT_LENGTH = 10_000;

/** What {@linkcode createSummariseHandler} needs. */
export interface SummariseDependencies {
  /** The project URL (`SUPABASE_URL`). */
  supabaseUrl: string;
  /** The publishable (or anon) key: with the user's token, the rpc runs as the user. */
  publishableKey: string;
  /** How to reach the project; `fetch` unless a test routes it. */
  fetch?: typeof fetch;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function answer(status: number, body: Record<string, unknown>): Response {
  return Response.json(body, { status, headers: corsHeaders });
}

/** The request's `{ text, request_id }`, or the words of what is wrong with it. */
async function readRequest(
  request: Request,
): Promise<{ text: string; requestId: string } | string> {
  let body: unknown;
  try {
    body = JSON.parse(await request.text());
  } catch {
    return "The body must be JSON";
  }
  const { text, request_id: requestId } = (body ?? {}) as Record<string, unknown>;
  if (typeof text !== "string" || !text.trim()) return "text must be a non-empty string";
  if (text.length > MAX_TEXT_LENGTH) return `text must be at most ${MAX_TEXT_LENGTH} characters`;
  // The client makes one id per click and sends it again on a retry: one click, one charge.
  if (typeof requestId !== "string" || !UUID.test(requestId)) return "request_id must be a UUID";
  return { text, requestId };
}

/**
 * A stand-in for the app's real work (a model call): the first sentence and a word count.
 *
 * @param text what to summarise
 * @returns the summary
 * @example
 * ```ts
 * summarise("Polar bills. Supabase stores."); // "Polar bills. (4 words)"
 * ```
 */
export function summarise(text: string): string {
  const trimmed = text.trim();
  const first = trimmed.match(/^.*?[.!?](\s|$)/s)?.[0].trim() ?? trimmed.slice(0, 200);
  return `${first} (${trimmed.split(/\s+/).length} words)`;
}

/**
 * Makes the handler: `POST { text, request_id }` with the user's token answers
 * `{ summary, balance, duplicate }`, or 402 `{ error, balance }` when the credits do not cover it.
 *
 * @param deps the project URL and key
 * @returns the handler
 * @example
 * ```ts
 * Deno.serve(createSummariseHandler({ supabaseUrl, publishableKey }));
 * ```
 */
export function createSummariseHandler(
  deps: SummariseDependencies,
): (request: Request) => Promise<Response> {
  return async (request) => {
    if (request.method === "OPTIONS") return new Response(null, { headers: corsHeaders });
    if (request.method !== "POST") return answer(405, { error: "Method not allowed" });
    const authorization = request.headers.get("Authorization") ?? "";
    if (!/^Bearer \S+$/.test(authorization)) return answer(401, { error: "Sign in to summarise" });
    const input = await readRequest(request);
    if (typeof input === "string") return answer(400, { error: input });

    const supabase = createClient(deps.supabaseUrl, deps.publishableKey, {
      global: { headers: { Authorization: authorization }, fetch: deps.fetch },
      auth: { persistSession: false, autoRefreshToken: false },
    });
    const { data, error, status } = await supabase.rpc("consume_usage", {
      meter: SUMMARY_METER,
      units: SUMMARY_COST,
      idempotency_key: `summarise:${input.requestId}`,
      metadata: { feature: "summarise" },
    });
    if (error) {
      // PostgREST answers 401 for a token it refuses; 42501 is a caller who may not spend.
      if (status === 401 || error.code === "42501") {
        return answer(401, { error: "Sign in to summarise" });
      }
      // The database's words (an unknown meter, say) are for the operator, not the caller.
      console.error(`summarise: consume_usage failed (${error.code}: ${error.message})`);
      return answer(500, { error: "Something went wrong" });
    }
    const spent = data as { allowed: boolean; balance: number; duplicate: boolean };
    if (!spent.allowed) {
      return answer(402, {
        error:
          `You are out of credits: a summary costs ${SUMMARY_COST} and you have ${spent.balance}. Buy credits to go on.`,
        balance: spent.balance,
      });
    }
    return answer(200, {
      summary: summarise(input.text),
      balance: spent.balance,
      duplicate: spent.duplicate,
    });
  };
}
