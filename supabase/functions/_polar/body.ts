/**
 * Reading request bodies with a size limit, before they are read whole.
 *
 * @module
 */
import { HttpError, STATUS } from "./http_error.ts";

/** The largest JSON body the user-facing functions accept: 64 KiB. */
export const MAX_JSON_BODY_BYTES = 64 * 1024;

/**
 * Reads the body as text, refusing with 413 once it passes `maxBytes`: a declared
 * `Content-Length` is checked first, then the stream is counted as it arrives.
 *
 * @param request the request
 * @param maxBytes the limit
 * @returns the body as UTF-8 text (empty when there is none)
 * @throws {HttpError} 413 `Request body too large`
 * @example
 * ```ts
 * await readBodyText(new Request("http://x/", { method: "POST", body: "hi" }), 10); // "hi"
 * ```
 */
export async function readBodyText(request: Request, maxBytes: number): Promise<string> {
  const declared = Number(request.headers.get("Content-Length") ?? 0);
  if (declared > maxBytes) throw tooLarge();
  if (!request.body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}

/**
 * Reads an optional JSON object body. No body (or an empty one) reads as `{}`; a body sent with a
 * content type other than JSON is refused with 415, anything but a JSON object with 400.
 *
 * @param request the request
 * @param maxBytes the size limit; {@linkcode MAX_JSON_BODY_BYTES} by default
 * @returns the parsed object
 * @throws {HttpError} 400 `Invalid JSON body`, 413, or 415
 * @example
 * ```ts
 * const request = new Request("http://x/", { method: "POST", body: '{"a":1}' });
 * await readJsonObject(request); // { a: 1 }
 * ```
 */
export async function readJsonObject(
  request: Request,
  maxBytes: number = MAX_JSON_BODY_BYTES,
): Promise<Record<string, unknown>> {
  const text = await readBodyText(request, maxBytes);
  if (text.trim() === "") return {};
  const contentType = request.headers.get("Content-Type");
  if (contentType !== null && !isJsonContentType(contentType)) {
    throw new HttpError(STATUS.UnsupportedMediaType, "Content-Type must be application/json");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new HttpError(STATUS.BadRequest, "Invalid JSON body");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new HttpError(STATUS.BadRequest, "Invalid JSON body");
  }
  return parsed as Record<string, unknown>;
}

function isJsonContentType(value: string): boolean {
  const mediaType = value.split(";")[0].trim().toLowerCase();
  return mediaType === "application/json" || mediaType.endsWith("+json");
}

function tooLarge(): HttpError {
  return new HttpError(STATUS.PayloadTooLarge, "Request body too large");
}
