// Admin diagnostics for the benchmark: the edge's own encryption work, in its own isolate, so `npm run bench`
// can say what share of large-object throughput and of a small request encryption costs. workerd does not
// advance clocks during CPU-bound work, so the caller times these requests from outside and subtracts a
// baseline call (`mode: "none"`) that does everything but the cryptography. The erasure codec's speed is measured
// inside the isolate instead (erasure-speed), as its work is one synchronous call that a timer wait can bracket.

import { Hono } from "hono";
import { z } from "zod";
import type { Env } from "../env.ts";
import { generateBucketKey, parseMasterKeyRing } from "../services/crypto/keys.ts";
import { ciphertextRangeFor, decryptRange, EncryptStage } from "../services/crypto/stream-format.ts";
import { newSegmentKey, openSegmentKey } from "../services/segment-cipher.ts";
import { measureErasureSpeed } from "../protocol/erasure-speed.ts";
import { parseJsonBody } from "./guards/json-body.ts";

export const diagnosticsApi = new Hono<{ Bindings: Env }>();

const MiB = 1024 * 1024;
const request = z.object({
  /** none: generate and pass the bytes; encrypt: + seal them; roundtrip: + seal and open them; small: per-object key work on 4 KiB. */
  mode: z.enum(["none", "encrypt", "roundtrip", "small"]),
  /** Plaintext MiB for none/encrypt/roundtrip (in 1 MiB pieces, never held whole); objects for small. */
  count: z.number().int().min(1).max(4096),
});

diagnosticsApi.post("/diagnostics/crypto", async (c) => {
  const { mode, count } = await parseJsonBody(c.req.raw, request);
  const ring = await parseMasterKeyRing(c.env.MASTER_KEYS);
  const bucketKey = (await generateBucketKey(ring, "0".repeat(32))).key;
  const piece = new Uint8Array(mode === "small" ? 4096 : MiB);
  for (let i = 0; i < piece.length; i += 65536) crypto.getRandomValues(piece.subarray(i, i + 65536));
  let checksum = 0;
  if (mode === "small") {
    // What a 4 KiB PUT and GET add: a data key made and wrapped, 4 KiB sealed; the key unwrapped, 4 KiB opened.
    for (let i = 0; i < count; i++) {
      const blobId = `b${"0".repeat(32)}${i.toString(16).padStart(32, "0")}`;
      const written = await newSegmentKey(bucketKey, blobId);
      const frames: Uint8Array[] = [];
      const stage = new EncryptStage(written.dataKey, written.prefix, { write: (f) => void frames.push(f) });
      await stage.write(piece);
      await stage.finish();
      const read = await openSegmentKey(bucketKey, written.encryption);
      for await (const plain of decryptRange(pieces(frames), read.dataKey, read.prefix, ciphertextRangeFor(0, piece.length - 1, piece.length))) checksum += plain.length;
    }
    return c.json({ mode, count, checked: checksum });
  }
  const total = count * MiB;
  const key = await newSegmentKey(bucketKey, `b${"0".repeat(64)}`);
  const range = ciphertextRangeFor(0, total - 1, total);
  // Ciphertext flows from the encryptor straight into the decryptor: nothing is held whole.
  async function* plaintext(): AsyncGenerator<Uint8Array> {
    for (let i = 0; i < count; i++) yield piece;
  }
  async function* ciphertext(): AsyncGenerator<Uint8Array> {
    let batch: Uint8Array[] = [];
    const stage = new EncryptStage(key.dataKey, key.prefix, { write: (f) => void batch.push(new Uint8Array(f)) });
    for await (const p of plaintext()) {
      await stage.write(p);
      yield* batch;
      batch = [];
    }
    await stage.finish();
    yield* batch;
  }
  if (mode === "none") for await (const p of plaintext()) checksum += p.length;
  else if (mode === "encrypt") for await (const f of ciphertext()) checksum += f.length;
  else for await (const p of decryptRange(ciphertext(), key.dataKey, key.prefix, range)) checksum += p.length;
  return c.json({ mode, count, checked: checksum });
});

async function* pieces(frames: Uint8Array[]): AsyncGenerator<Uint8Array> {
  yield* frames;
}

/** POST /diagnostics/erasure-speed: k, m and how many MiB of data to push through encode and through decode. */
export const erasureSpeedRequestSchema = z
  .object({
    k: z.number().int().min(1).max(31).default(4),
    m: z.number().int().min(0).max(31).default(2),
    mebibytes: z.number().int().min(1).max(64).default(16),
    /** The kernel to measure: the best installed (the SIMD kernel in a Worker), or the plain-JS one. */
    kernel: z.enum(["best", "js"]).default("best"),
  })
  .refine((r) => r.k + r.m <= 32, { message: "k + m must be at most 32", path: ["m"] });

// The erasure codec's speed in this isolate (src/protocol/erasure-speed.ts), for the bench's report.
diagnosticsApi.post("/diagnostics/erasure-speed", async (c) => {
  const request = await parseJsonBody(c.req.raw, erasureSpeedRequestSchema);
  return c.json(await measureErasureSpeed(request, isolateStopwatch));
});

/**
 * workerd's clock stands still during CPU work and moves on at the next I/O event, so the work is bracketed by
 * timer waits, and an empty bracket's time is subtracted.
 */
async function isolateStopwatch(work: () => void): Promise<number> {
  const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 0));
  await tick();
  const emptyStart = performance.now();
  await tick();
  const empty = performance.now() - emptyStart;
  const start = performance.now();
  work();
  await tick();
  return Math.max(performance.now() - start - empty, 0);
}
