// Usage metering, the Worker's half: what one S3 request reports to its bucket's index, and the time slots usage
// is kept in. The counting itself happens inside the bucket index (workers/durable/bucket-index/metering.ts), in
// the Durable Object call the request makes anyway, so it is exact under any concurrency and costs no extra round
// trip: the request's first call to its own bucket's index carries the request (class and bytes in), and the call
// that returns the object a GET sends carries what the response will declare as its length (bytes out).

import type { BucketRow } from "../db/schema.ts";
import { periodBounds, periodIdAt } from "../finance/periods.ts";
import type { S3OpName } from "../s3/router.ts";
import type { BucketIndexStub } from "./bucket-indexes.ts";
import { requestClassOf, type RequestClass } from "./request-classes.ts";

/** What a GET asked for that decides how many bytes its answer sends: read again in the index with the record. */
export interface ObjectReadEgress {
  /** HEAD sends headers only. */
  head: boolean;
  partNumber?: number;
  /** range and the conditional headers (if-match, if-none-match, if-modified-since, if-unmodified-since). */
  headers: Record<string, string>;
}

/**
 * What one index call reports for its request. Every call carries the time; the request and the egress ride on
 * the first call that can carry them.
 */
export interface MeterEvent {
  /** The request's time (the edge's clock): byte-hours are integrated up to here before the call changes sizes. */
  at: number;
  request?: { requestClass: RequestClass; bytesIn: number };
  egress?: ObjectReadEgress;
}

/** Index methods that return the object a GET reads. */
const OBJECT_READS = new Set(["getObject", "getVersion"]);

const EGRESS_HEADERS = ["range", "if-match", "if-none-match", "if-modified-since", "if-unmodified-since"];

/**
 * The meter of one S3 request: hands its report to the first index call that can carry it, once. Only calls to
 * the bucket the operation names are metered (a copy's source bucket is not billed for the copy).
 */
export class RequestMeter {
  readonly op: S3OpName;
  readonly bucketName: string | undefined;
  private readonly at: number;
  private readonly bytesIn: number;
  private requestPending: boolean;
  private egressPending: boolean;
  private readonly egress: ObjectReadEgress | undefined;

  constructor(op: S3OpName, bucketName: string | undefined, at: number, bytesIn: number, request: Request) {
    this.op = op;
    this.bucketName = bucketName;
    this.at = at;
    this.bytesIn = bytesIn;
    this.requestPending = true;
    const reads = op === "GetObject" || op === "HeadObject";
    this.egressPending = reads;
    const partNumber = new URL(request.url).searchParams.get("partNumber");
    this.egress = reads
      ? {
          head: op === "HeadObject",
          partNumber: partNumber === null ? undefined : Number(partNumber),
          headers: Object.fromEntries(EGRESS_HEADERS.flatMap((name) => (request.headers.has(name) ? [[name, request.headers.get(name)!]] : []))),
        }
      : undefined;
  }

  /** The report for a call of `method` on `bucketName`'s index; undefined for another bucket's index. */
  take(bucketName: string, method: string): MeterEvent | undefined {
    if (bucketName !== this.bucketName) return undefined;
    const event: MeterEvent = { at: this.at };
    if (this.requestPending) {
      event.request = { requestClass: requestClassOf(this.op), bytesIn: this.bytesIn };
      this.requestPending = false;
    }
    if (this.egressPending && OBJECT_READS.has(method)) {
      event.egress = this.egress;
      this.egressPending = false;
    }
    return event;
  }

  /** Whether no index call carried the request (see the README: such requests are not counted). */
  get uncounted(): boolean {
    return this.requestPending;
  }
}

/** Bytes a request sends as object data: the decoded length of an aws-chunked body, else its Content-Length. */
export function requestBytesIn(request: Request): number {
  const declared = request.headers.get("x-amz-decoded-content-length") ?? request.headers.get("content-length");
  const n = declared === null ? 0 : Number(declared);
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}

/** Index methods a metered call may name: the synchronous RPC methods S3 operations call. */
export const METERED_METHODS = [
  "versioning",
  "setVersioning",
  "putObject",
  "setObjectTags",
  "setObjectAcl",
  "getObject",
  "getVersion",
  "deleteObject",
  "listObjects",
  "listVersions",
  "isEmpty",
  "createUpload",
  "getUpload",
  "putPart",
  "listParts",
  "completeUpload",
  "abortUpload",
  "listUploads",
  "getConfig",
  "setConfig",
  "deleteConfig",
] as const;
export type MeteredMethod = (typeof METERED_METHODS)[number];
const METERED = new Set<string>(METERED_METHODS);

/**
 * The bucket's index as an S3 operation sees it: each call goes through the index's `metered` method with the
 * request's report (the same one round trip), so the index integrates stored bytes up to the request's time
 * before the call changes them.
 */
export function meteredIndex(stub: BucketIndexStub, bucket: Pick<BucketRow, "name">, meter: RequestMeter | undefined): BucketIndexStub {
  if (!meter || meter.bucketName !== bucket.name) return stub;
  return new Proxy(stub, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof property !== "string" || !METERED.has(property) || typeof value !== "function") return value;
      return (...args: unknown[]) => {
        const event = meter.take(bucket.name, property);
        if (!event) return (value as (...a: unknown[]) => unknown).apply(target, args);
        return target.metered(event, property as MeteredMethod, args);
      };
    },
  });
}

// ---- Bytes served per node

/** Bytes one node delivered. */
export interface NodeBytes {
  nodeId: string;
  bytes: number;
}

/**
 * The bytes each node delivers to the edge for one GET, counted by the read path as they arrive from the node
 * (src/services/blob-storage.ts, erasure-read.ts): ciphertext as the node stores it, a range's chunks only, k
 * pieces of an erasure-coded read, and both nodes of a read that failed over mid-way, each for what it sent.
 * A hedged request given up on before its body was read counts nothing. Repair and audits never carry one.
 */
export class NodeEgressTally {
  private readonly bytes = new Map<string, number>();

  add(nodeId: string, bytes: number): void {
    if (bytes > 0) this.bytes.set(nodeId, (this.bytes.get(nodeId) ?? 0) + bytes);
  }

  /** Per node, in node id order (nodes that sent nothing left out). */
  entries(): NodeBytes[] {
    return [...this.bytes.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([nodeId, bytes]) => ({ nodeId, bytes }));
  }
}

/** Passes a node's chunks through, counting each into `tally` as it arrives (no copy, no extra await). */
export async function* countedFrom(tally: NodeEgressTally | undefined, nodeId: string, chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  if (!tally) return yield* chunks;
  for await (const chunk of chunks) {
    tally.add(nodeId, chunk.byteLength);
    yield chunk;
  }
}

/**
 * Records what nodes served one GET in its bucket's index, in the slot of the request's time, as one more index
 * call made after the response has ended (under waitUntil): the response never waits for it. The index keeps it
 * until the flush moves it to D1 with the bucket's other usage, under the same batch ids.
 */
export async function recordNodeEgress(stub: BucketIndexStub, at: number, tally: NodeEgressTally): Promise<void> {
  const served = tally.entries();
  if (served.length === 0) return;
  try {
    await stub.recordNodeEgress(at, served);
  } catch (error) {
    console.warn(JSON.stringify({ event: "node_egress_not_recorded", at, served, error: String(error) }));
  }
}

// ---- Time slots

const DAY_MS = 86_400_000;

/** Usage is kept per UTC day (what customers read) and per finance period (what settlement bills). */
export interface UsageSlot {
  /** YYYY-MM-DD, UTC. */
  day: string;
  periodId: string;
}

export function dayOf(atMs: number): string {
  return new Date(atMs).toISOString().slice(0, 10);
}

/**
 * Splits [from, to) at UTC midnights and finance-period boundaries and calls `add` with each piece's slot and
 * length in ms: a span of constant stored bytes becomes byte-ms per slot, exactly.
 */
export function splitBySlot(
  from: number,
  to: number,
  periodOf: (atMs: number) => { id: string; end: number },
  add: (slot: UsageSlot, ms: number) => void,
): void {
  let cursor = from;
  while (cursor < to) {
    const period = periodOf(cursor);
    const nextDay = (Math.floor(cursor / DAY_MS) + 1) * DAY_MS;
    const next = Math.min(to, nextDay, period.end);
    add({ day: dayOf(cursor), periodId: period.id }, next - cursor);
    cursor = next;
  }
}

/** The finance period containing a time, with its end, for the configured period length (src/finance/periods.ts). */
export function periodLocator(periodMinutes: number | undefined): (atMs: number) => { id: string; end: number } {
  return (atMs) => {
    const id = periodIdAt(atMs, periodMinutes);
    return { id, end: periodBounds(id, periodMinutes)!.end };
  };
}
