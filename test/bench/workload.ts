// The bench's workload, the same for every endpoint: S3 requests through @aws-sdk/client-s3 with its default
// checksums (CRC32 on uploads, validated on downloads), one attempt per request (maxAttempts 1), every GET's bytes
// compared with what was PUT. A failed request is counted, never retried: a full run must have none.

import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { createHash, randomBytes } from "node:crypto";
import { Agent } from "node:http";
import { Readable } from "node:stream";
import type { Endpoint } from "./peers.ts";
import { cpuMs } from "./proc-stats.ts";

export const MiB = 1024 * 1024;

export interface Target {
  name: string;
  client: S3Client;
  bucket: string;
  /** The processes serving this endpoint, read at each sample (none for an endpoint the bench did not start). */
  serverPids: () => number[];
  /** Processes behind the server whose CPU is reported apart (the edge's node-agents). */
  backendPids: () => number[];
  /** Object bytes acknowledged by this endpoint over the run (for storage written per byte stored). */
  storedBytes: number;
}

/** Failures and integrity mismatches over the whole run, per target. */
export interface Tally {
  failures: number;
  mismatches: number;
  firstErrors: string[];
}

export function s3Client(e: Pick<Endpoint, "url" | "accessKeyId" | "secretAccessKey" | "region">): S3Client {
  return new S3Client({
    endpoint: e.url,
    region: e.region,
    forcePathStyle: true,
    credentials: { accessKeyId: e.accessKeyId, secretAccessKey: e.secretAccessKey },
    // One attempt: a request that would have been retried is a failure the bench counts.
    maxAttempts: 1,
    requestHandler: { httpAgent: new Agent({ keepAlive: true, maxSockets: 64 }), requestTimeout: 600_000, connectionTimeout: 10_000 },
  });
}

export class Workload {
  readonly tally = new Map<string, Tally>();
  private readonly largeBase = randomBytes(16 * MiB);
  private readonly smallBodies = new Map<string, Buffer>();

  private readonly deadlineMs: number;

  constructor(deadlineMs: number) {
    this.deadlineMs = deadlineMs;
  }

  tallyOf(t: Target): Tally {
    let tally = this.tally.get(t.name);
    if (!tally) this.tally.set(t.name, (tally = { failures: 0, mismatches: 0, firstErrors: [] }));
    return tally;
  }

  /** Runs `op`, counting (not throwing) a failure; returns whether it succeeded. */
  private async attempt(t: Target, what: string, op: () => Promise<void>): Promise<boolean> {
    try {
      await op();
      return true;
    } catch (error) {
      const tally = this.tallyOf(t);
      if (error instanceof IntegrityError) tally.mismatches++;
      else tally.failures++;
      if (tally.firstErrors.length < 5) tally.firstErrors.push(`${what}: ${(error as Error).name}: ${(error as Error).message}`.slice(0, 300));
      return false;
    }
  }

  /** A distinct 16 MiB-class body per key: the shared random bytes with the key written over the start. */
  largeBody(key: string, size: number): Buffer {
    const body = Buffer.from(this.largeBase.subarray(0, size));
    body.write(`${key}\n`.padEnd(64, "."), 0, "latin1");
    return body;
  }

  async put(t: Target, key: string, body: Buffer): Promise<boolean> {
    return this.attempt(t, `PUT ${key}`, async () => {
      await t.client.send(new PutObjectCommand({ Bucket: t.bucket, Key: key, Body: body }));
      t.storedBytes += body.length;
    });
  }

  async get(t: Target, key: string, expected: Buffer): Promise<boolean> {
    return this.attempt(t, `GET ${key}`, async () => {
      const res = await t.client.send(new GetObjectCommand({ Bucket: t.bucket, Key: key }));
      const bytes = await res.Body!.transformToByteArray();
      if (!expected.equals(bytes)) throw new IntegrityError(`GET ${key}: ${bytes.length} bytes differ from the ${expected.length} PUT`);
    });
  }

  /** `streams` parallel loops of `perStream` PUTs of `size` bytes; MiB/s over the wall time. */
  async largePut(t: Target, prefix: string, size: number, streams: number, perStream: number): Promise<Measured> {
    return this.measure(t, streams * perStream, size, streams, async (i) => {
      const key = `${prefix}/${i}`;
      return this.put(t, key, this.largeBody(key, size));
    });
  }

  async largeGet(t: Target, prefix: string, size: number, streams: number, perStream: number): Promise<Measured> {
    return this.measure(t, streams * perStream, size, streams, async (i) => {
      const key = `${prefix}/${i}`;
      return this.get(t, key, this.largeBody(key, size));
    });
  }

  /** One multipart upload of `size` bytes in `partSize` parts, `queueSize` in flight (lib-storage). */
  async multipart(t: Target, key: string, size: number, partSize: number, queueSize: number): Promise<Measured> {
    return this.measure(t, 1, size, 1, async () =>
      this.attempt(t, `multipart ${key}`, async () => {
        const body = Buffer.concat(Array.from({ length: Math.ceil(size / (16 * MiB)) }, (_, i) => this.largeBody(`${key}#${i}`, 16 * MiB))).subarray(0, size);
        await new Upload({ client: t.client, params: { Bucket: t.bucket, Key: key, Body: body }, partSize, queueSize, leavePartsOnError: false }).done();
        t.storedBytes += size;
      }),
    );
  }

  async smallPut(t: Target, prefix: string, count: number, concurrency: number): Promise<Measured> {
    return this.measure(t, count, 4096, concurrency, async (i) => {
      const key = `${prefix}/${i}`;
      const body = randomBytes(4096);
      this.smallBodies.set(`${t.name}/${key}`, body);
      return this.put(t, key, body);
    });
  }

  /** GETs of the keys `smallPut(prefix, keys)` wrote, round-robin. */
  async smallGet(t: Target, prefix: string, keys: number, count: number, concurrency: number): Promise<Measured> {
    return this.measure(t, count, 4096, concurrency, async (i) => {
      const key = `${prefix}/${i % keys}`;
      const expected = this.smallBodies.get(`${t.name}/${key}`);
      if (!expected) return false; // its PUT failed (counted there)
      return this.get(t, key, expected);
    });
  }

  /**
   * One object of `size` bytes streamed up and back down without either side holding it: the body is generated
   * in 1 MiB chunks and hashed as it goes, the download hashed as it arrives.
   */
  async streamRoundTrip(t: Target, key: string, size: number): Promise<{ putMs: number; getMs: number; ok: boolean }> {
    const block = randomBytes(MiB);
    const sent = createHash("sha256");
    async function* generate() {
      for (let offset = 0, n = 0; offset < size; offset += MiB, n++) {
        const chunk = Buffer.from(block.subarray(0, Math.min(MiB, size - offset)));
        chunk.writeUInt32BE(n, 0);
        sent.update(chunk);
        yield chunk;
      }
    }
    let putMs = 0;
    let getMs = 0;
    const ok =
      (await this.attempt(t, `PUT ${key} (${size} bytes, streamed)`, async () => {
        const start = performance.now();
        await t.client.send(new PutObjectCommand({ Bucket: t.bucket, Key: key, Body: Readable.from(generate(), { objectMode: false }), ContentLength: size }));
        putMs = performance.now() - start;
        t.storedBytes += size;
      })) &&
      (await this.attempt(t, `GET ${key} (${size} bytes, streamed)`, async () => {
        const start = performance.now();
        const res = await t.client.send(new GetObjectCommand({ Bucket: t.bucket, Key: key }));
        const received = createHash("sha256");
        let bytes = 0;
        for await (const chunk of res.Body as Readable) {
          received.update(chunk as Buffer);
          bytes += (chunk as Buffer).length;
        }
        getMs = performance.now() - start;
        if (bytes !== size || received.digest("hex") !== sent.digest("hex")) throw new IntegrityError(`GET ${key}: ${bytes} bytes, not the ${size} streamed up (or different ones)`);
      }));
    return { putMs, getMs, ok };
  }

  /**
   * `total` operations by `concurrency` workers, none started after the deadline; wall time, per-op latencies and
   * the serving processes' CPU time over the phase.
   */
  private async measure(t: Target, total: number, bytesPerOp: number, concurrency: number, op: (i: number) => Promise<boolean>): Promise<Measured> {
    const latencies: number[] = [];
    let next = 0;
    let ok = 0;
    const deadline = Date.now() + this.deadlineMs;
    const pids = t.serverPids();
    const backend = t.backendPids();
    const cpuBefore = cpuMs(pids);
    const backendBefore = cpuMs(backend);
    const start = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < total && Date.now() < deadline) {
          const i = next++;
          const began = performance.now();
          if (await op(i)) {
            ok++;
            latencies.push(performance.now() - began);
          }
        }
      }),
    );
    const ms = performance.now() - start;
    const serverCpuMs = cpuMs(pids) - cpuBefore;
    const backendCpuMs = cpuMs(backend) - backendBefore;
    latencies.sort((a, b) => a - b);
    const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
    return { ops: ok, attempted: next, ms, mibPerSec: (ok * bytesPerOp) / MiB / (ms / 1000), opsPerSec: ok / (ms / 1000), p50: pct(50), p99: pct(99), serverCpuMs, backendCpuMs, bytes: ok * bytesPerOp };
  }
}

export interface Measured {
  ops: number;
  attempted: number;
  ms: number;
  mibPerSec: number;
  opsPerSec: number;
  p50: number;
  p99: number;
  /** CPU time of the serving processes over the phase (0 when they are unknown). */
  serverCpuMs: number;
  backendCpuMs: number;
  bytes: number;
}

export class IntegrityError extends Error {
  override name = "IntegrityError";
}
