// Reading a control-API request body with a hard byte cap. Control-API bodies are small JSON documents, so the
// edge never holds more than the cap (plus one read) of any caller's body: a declared Content-Length above it is
// refused before a byte is read, and a body without one (chunked) is cut off while streaming. The rest of an
// oversize body is never read here; src/index.ts discards at most CONTROL_API_DRAIN_BYTES of it so that the 413
// still reaches a client that is sending a little too much, and answers at once otherwise.

import { ApiError } from "../errors.ts";

/** The cap for every control-API JSON body unless a route names its own. */
export const MAX_CONTROL_BODY_BYTES = 64 * 1024;

/** After a control-API answer, at most this much of an unread body is read and discarded (see src/drain.ts). */
export const CONTROL_API_DRAIN_BYTES = 1024 * 1024;

/** 413 with a JSON error body, as every control-API failure. */
export function payloadTooLarge(maxBytes: number): ApiError {
  return new ApiError(413, "PayloadTooLarge", `The request body may be at most ${maxBytes} bytes.`, { maxBytes });
}

/** Refuses a declared Content-Length above `maxBytes` without reading anything. */
export function assertDeclaredLengthWithin(request: Request, maxBytes: number): void {
  const declared = request.headers.get("content-length");
  if (declared === null) return;
  // A malformed Content-Length never reaches the Worker (the runtime refuses it); a huge one is a number here.
  if (Number(declared) > maxBytes) throw payloadTooLarge(maxBytes);
}

/**
 * The whole body, at most `maxBytes` of it; more is a 413 as soon as the read that crosses the cap returns.
 * An absent body is empty.
 */
export async function readBodyWithLimit(request: Request, maxBytes: number): Promise<Uint8Array> {
  assertDeclaredLengthWithin(request, maxBytes);
  const body = request.body;
  if (body === null) return new Uint8Array(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) throw payloadTooLarge(maxBytes);
      chunks.push(value);
    }
  } finally {
    // Released, not cancelled: the drain after the answer may still discard a small remainder (see above).
    reader.releaseLock();
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** The body as UTF-8 text, at most `maxBytes` bytes of it. */
export async function readTextWithLimit(request: Request, maxBytes: number): Promise<string> {
  return new TextDecoder().decode(await readBodyWithLimit(request, maxBytes));
}
