// An answer given before the request body was read (NoSuchBucket, AccessDenied, SignatureDoesNotMatch on a
// large PUT) must still reach the client. If the body stays unread, workerd, and in local dev wrangler's
// proxy worker in front of it, close the connection while the client is still sending, and the client sees
// a reset or a 502 instead of the S3 error (awscli then retries for a minute). So the rest of the body is
// read and discarded before answering, as HTTP/1.1 servers do (RFC 9112 §9.3). Above `limit` bytes
// (an upload S3 would refuse as EntityTooLarge) the answer goes out at once instead.

import { readChunks } from "./services/pipeline.ts";

const DRAIN_READ_SIZE = 64 * 1024;

/** Reads whatever of the request body nobody read, unless the client declared more than `limit` bytes. */
export async function drainUnreadBody(request: Request, limit: number): Promise<void> {
  const body = request.body;
  // A body read part way (an error mid-stream) is unlocked again by then: its rest is read too.
  if (!body || body.locked) return;
  const declared = Number(request.headers.get("content-length") ?? Number.NaN);
  if (declared > limit) return;
  let read = 0;
  try {
    // Small reads: usually the body was read to its end already and this only sees that.
    for await (const chunk of readChunks(body, DRAIN_READ_SIZE)) {
      read += chunk.byteLength;
      if (read > limit) break;
    }
  } catch {
    // The client went away: nothing left to protect.
  }
}
