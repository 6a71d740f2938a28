// How fast the erasure codec encodes and decodes here: the same measurement in the edge's isolate (the admin
// endpoint POST /api/v1/admin/diagnostics/erasure-speed) and under Node (test/protocol/erasure-speed.ts). Each
// runtime brings its own stopwatch, since workerd's clock stands still during CPU work.

import { ReedSolomon, type GfKernelName } from "./reed-solomon.ts";

export interface ErasureSpeedRequest {
  k: number;
  m: number;
  /** MiB of data pushed through encode, and again through decode. */
  mebibytes: number;
  kernel: "best" | "js";
}

export interface ErasureSpeedReport {
  k: number;
  m: number;
  kernel: GfKernelName;
  shardBytes: number;
  stripes: number;
  /** MiB of data (not counting parity) encoded per second. */
  encodeMiBps: number;
  /** MiB of data per second through a degraded read that rebuilds `decodedShards` data shards per stripe. */
  decodeMiBps: number;
  decodedShards: number;
  /** The last rebuilt shards equal the originals. */
  verified: boolean;
}

/** Milliseconds a synchronous piece of work took, by the runtime's own means. */
export type Stopwatch = (work: () => void) => Promise<number>;

export const ERASURE_SPEED_SHARD_BYTES = 64 * 1024;
/** Stripes cycled through, so the work reads fresh memory as a stream does, within an isolate's 128 MB. */
const POOL_STRIPES = 8;
const MiB = 1024 * 1024;

export async function measureErasureSpeed(request: ErasureSpeedRequest, stopwatch: Stopwatch): Promise<ErasureSpeedReport> {
  const { k, m, mebibytes } = request;
  const codec = new ReedSolomon(k, m, { kernel: request.kernel });
  const shardBytes = ERASURE_SPEED_SHARD_BYTES;
  const stripes = Math.max(1, Math.ceil((mebibytes * MiB) / (k * shardBytes)));
  const pool = Array.from({ length: Math.min(stripes, POOL_STRIPES) }, () => {
    const data = Array.from({ length: k }, () => {
      const shard = new Uint8Array(shardBytes);
      for (let i = 0; i < shard.length; i += 65536) crypto.getRandomValues(shard.subarray(i, i + 65536));
      return shard;
    });
    return { data, parity: Array.from({ length: m }, () => new Uint8Array(shardBytes)) };
  });
  const encodeMs = await stopwatch(() => {
    for (let s = 0; s < stripes; s++) {
      const stripe = pool[s % pool.length]!;
      codec.encode(stripe.data, stripe.parity);
    }
  });
  // A degraded read: the first min(2, m) data shards are gone and rebuilt from the rest and the parity.
  const lost = Array.from({ length: Math.min(2, m, k) }, (_, i) => i);
  const rebuilt = lost.map(() => new Uint8Array(shardBytes));
  const decodeMs = await stopwatch(() => {
    for (let s = 0; s < stripes; s++) {
      const stripe = pool[s % pool.length]!;
      const shards = [...stripe.data, ...stripe.parity].map((shard, i) => (lost.includes(i) ? undefined : shard));
      codec.reconstruct(shards, lost, rebuilt);
    }
  });
  const last = pool[(stripes - 1) % pool.length]!;
  const verified = lost.every((index, i) => rebuilt[i]!.every((b, at) => b === last.data[index]![at]));
  const dataMiB = (stripes * k * shardBytes) / MiB;
  return { k, m, kernel: codec.kernel, shardBytes, stripes, encodeMiBps: speed(dataMiB, encodeMs), decodeMiBps: speed(dataMiB, decodeMs), decodedShards: lost.length, verified };
}

/** MiB per second, rounded; a run too short for the clock (under 1 ms) reports as if it took 1 ms. */
function speed(mebibytes: number, ms: number): number {
  return Math.round((mebibytes * 1000) / Math.max(ms, 1));
}
