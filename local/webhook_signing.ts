/**
 * Signing webhooks the way Polar does (Standard Webhooks headers; the HMAC-SHA256 key is the
 * UTF-8 bytes of the whole `whsec_…` secret), for the local Polar stand-in and the tests.
 *
 * @module
 */

/** The three headers of a signed delivery. */
export interface WebhookHeaders {
  /** The delivery id; Polar repeats it on a redelivery. */
  "webhook-id": string;
  /** Seconds since the epoch. */
  "webhook-timestamp": string;
  /** `v1,<base64 signature>`. */
  "webhook-signature": string;
}

/** Options of {@linkcode signWebhook}. */
export interface SignWebhookOptions {
  /** The delivery id; a fresh `msg_…` by default. */
  id?: string;
  /** Seconds since the epoch; now by default. */
  timestamp?: number;
  /**
   * `polar` (default): key = UTF-8 bytes of the whole secret, as Polar signs.
   * `standard`: key = base64-decode of what follows `whsec_`, as the Standard Webhooks spec says.
   */
  keyEncoding?: "polar" | "standard";
}

/**
 * Signs a body.
 *
 * @param body the exact body that will be sent
 * @param secret the endpoint's `whsec_…` secret
 * @param options id, timestamp and key encoding
 * @returns the headers to send with the body
 * @example
 * ```ts
 * const headers = await signWebhook(body, "whsec_…");
 * await fetch(url, { method: "POST", body, headers: { ...headers, "Content-Type": "application/json" } });
 * ```
 */
export async function signWebhook(
  body: string,
  secret: string,
  options: SignWebhookOptions = {},
): Promise<WebhookHeaders> {
  const id = options.id ?? `msg_${crypto.randomUUID().replaceAll("-", "")}`;
  const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
  const keyBytes = options.keyEncoding === "standard"
    ? Uint8Array.from(atob(secret.replace(/^whsec_/, "")), (char) => char.charCodeAt(0))
    : new TextEncoder().encode(secret);
  const key = await crypto.subtle.importKey(
    "raw",
    keyBytes,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const signature = await crypto.subtle.sign(
    "HMAC",
    key,
    new TextEncoder().encode(`${id}.${timestamp}.${body}`),
  );
  return {
    "webhook-id": id,
    "webhook-timestamp": timestamp,
    "webhook-signature": `v1,${btoa(String.fromCharCode(...new Uint8Array(signature)))}`,
  };
}

/**
 * A new secret in Polar's format: `whsec_` and 32 random bytes in base64.
 *
 * @returns the secret
 * @example
 * ```ts
 * createWebhookSecret(); // "whsec_3q2+7w…"
 * ```
 */
export function createWebhookSecret(): string {
  return `whsec_${btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))}`;
}
