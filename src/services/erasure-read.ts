// Reading an erasure-coded segment. The healthy path fetches, from each data piece that holds part of the range,
// one contiguous byte range (one subrequest per piece, never per stripe) and deals its shards back into chunk
// order: no decoding. Every chunk is authenticated by its AES-GCM tag before a byte of it is released
// (decryptRange), and since a data shard is exactly one chunk, a bad tag names the piece that served it. A piece
// that fails, serves a bad chunk, or is slower than its node's recent p95 to answer is replaced by parity: the
// read resumes from the first undelivered byte on k other pieces and decodes the missing shards.

import { encodeHeader, ciphertextRangeFor, decryptRange } from "./crypto/stream-format.ts";
import { CiphertextIntegrityError } from "./crypto/errors.ts";
import { CHUNK_PLAINTEXT_BYTES, chunkBytes, chunkLocation, dataSpansFor, SHARD_BYTES, stripeSpansFor, type ErasureCode, type PieceSpan } from "../protocol/piece-layout.ts";
import { ReedSolomon } from "../protocol/reed-solomon.ts";
import { NodeRequestError } from "./node-client.ts";
import { nodeHealth } from "./node-health.ts";
import type { NodeEgressTally } from "./metering.ts";
import type { BlobReplica, ObjectSegment } from "./object-model.ts";
import { fetchReplica, reportFault, type StorageEnv } from "./replica-access.ts";
import type { ChunkWriter } from "./pipeline.ts";
import type { SegmentKey } from "./segment-cipher.ts";

/** A piece that could not be read (unreachable, an error status, a short body) or answered too slowly. */
class PieceUnavailable extends Error {
  readonly piece: number;
  readonly slow: boolean;
  /** The node answered that it does not have the piece. */
  readonly missing: boolean;
  constructor(piece: number, cause: unknown, slow = false) {
    super(`piece ${piece}: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.piece = piece;
    this.slow = slow;
    this.missing = cause instanceof NodeRequestError && cause.status === 404;
  }
}

/** Reads one piece's span shard by shard, keeping the next shard's read in flight. */
class ShardReader {
  readonly piece: number;
  readonly replica: BlobReplica;
  private readonly reader: ReadableStreamBYOBReader & { readAtLeast?: (min: number, view: Uint8Array) => Promise<ReadableStreamReadResult<Uint8Array>> };
  private left: number;
  private ahead?: Promise<Uint8Array>;

  private readonly served: NodeEgressTally | undefined;

  constructor(piece: number, replica: BlobReplica, body: ReadableStream<Uint8Array>, shards: number, served: NodeEgressTally | undefined) {
    this.piece = piece;
    this.replica = replica;
    this.served = served;
    this.reader = body.getReader({ mode: "byob" });
    this.left = shards;
    this.ahead = this.read();
    this.ahead.catch(() => {});
  }

  private async read(): Promise<Uint8Array> {
    if (this.left <= 0) throw new PieceUnavailable(this.piece, "read past the requested stripes");
    this.left--;
    let buffer = new Uint8Array(SHARD_BYTES);
    let filled = 0;
    try {
      while (filled < SHARD_BYTES) {
        const view = new Uint8Array(buffer.buffer, filled, SHARD_BYTES - filled);
        const result = this.reader.readAtLeast ? await this.reader.readAtLeast(view.length, view) : await this.reader.read(view);
        if (result.value) {
          buffer = new Uint8Array(result.value.buffer, 0, SHARD_BYTES);
          filled += result.value.byteLength;
          this.served?.add(this.replica.nodeId, result.value.byteLength);
        }
        if (result.done) break;
      }
    } catch (error) {
      throw new PieceUnavailable(this.piece, error);
    }
    if (filled !== SHARD_BYTES) throw new PieceUnavailable(this.piece, "the piece ended early");
    return buffer;
  }

  /** The next shard of the span. */
  async next(): Promise<Uint8Array> {
    const shard = await this.ahead!;
    this.ahead = this.left > 0 ? this.read() : undefined;
    this.ahead?.catch(() => {});
    return shard;
  }

  close(): void {
    // cancel, not releaseLock: a read may still be in flight (the shard read ahead).
    void this.reader.cancel().catch(() => {});
  }
}

/** A piece's span read whole into memory (one connection at a time: see `oneConnection`). */
class BufferedShardReader {
  readonly piece: number;
  private readonly bytes: Uint8Array;
  private at = 0;
  constructor(piece: number, bytes: Uint8Array) {
    this.piece = piece;
    this.bytes = bytes;
  }
  async next(): Promise<Uint8Array> {
    if (this.at + SHARD_BYTES > this.bytes.length) throw new PieceUnavailable(this.piece, "the piece ended early");
    const shard = this.bytes.subarray(this.at, this.at + SHARD_BYTES);
    this.at += SHARD_BYTES;
    return shard;
  }
  close(): void {}
}

type PieceReader = Pick<ShardReader, "piece" | "next" | "close">;

/** Reads each span whole, one after another: at most one open connection at any moment. */
async function readSpansOneByOne(storage: StorageEnv, replicaOf: Map<number, BlobReplica>, spans: PieceSpan[]): Promise<Map<number, PieceReader>> {
  const readers = new Map<number, PieceReader>();
  for (const span of spans) {
    try {
      const res = await fetchReplica(storage, replicaOf.get(span.piece)!, { start: span.start, end: span.end });
      const bytes = new Uint8Array(await res.arrayBuffer());
      storage.served?.add(replicaOf.get(span.piece)!.nodeId, bytes.length);
      if (bytes.length !== span.end - span.start + 1) throw new Error("the piece ended early");
      readers.set(span.piece, new BufferedShardReader(span.piece, bytes));
    } catch (error) {
      throw error instanceof PieceUnavailable ? error : new PieceUnavailable(span.piece, error);
    }
  }
  return readers;
}

/** Opens the span of every piece in `spans` at once; fails (closing the others) on the first piece that fails. */
async function openSpans(storage: StorageEnv, replicaOf: Map<number, BlobReplica>, spans: PieceSpan[], hedge: boolean): Promise<Map<number, PieceReader>> {
  const readers = new Map<number, ShardReader>();
  const opened = spans.map(async (span) => {
    const replica = replicaOf.get(span.piece)!;
    const hedgeAfter = hedge ? nodeHealth.hedgeDelayMs(replica.nodeId) : undefined;
    const request = fetchReplica(storage, replica, { start: span.start, end: span.end });
    request.then((res) => res, () => undefined);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const slow = hedgeAfter === undefined ? undefined : new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new PieceUnavailable(span.piece, `no answer within ${hedgeAfter} ms`, true)), hedgeAfter)));
    try {
      const res = await (slow ? Promise.race([request, slow]) : request);
      if (!res.body) throw new NodeRequestError(replica.nodeId, res.status, "empty body");
      readers.set(span.piece, new ShardReader(span.piece, replica, res.body, span.lastStripe - span.firstStripe + 1, storage.served));
    } catch (error) {
      // A late answer to a request given up on is discarded.
      void request.then((res) => res.body?.cancel(), () => {});
      throw error instanceof PieceUnavailable ? error : new PieceUnavailable(span.piece, error);
    } finally {
      clearTimeout(timer);
    }
  });
  const outcomes = await Promise.allSettled(opened);
  const failure = outcomes.find((o): o is PromiseRejectedResult => o.status === "rejected");
  if (failure) {
    for (const r of readers.values()) r.close();
    throw failure.reason;
  }
  return readers;
}

/**
 * The blob bytes of chunks `first..last` (with the header first when `withHeader`), from the given pieces. With
 * every data piece that holds one of the chunks available, their shards are passed through; otherwise k pieces
 * are read per stripe and the missing data shards decoded. `servedBy` says, per chunk, which pieces' bytes it
 * came from (one piece when passed through; the parity pieces used when decoded).
 */
class SegmentSource {
  readonly servedBy = new Map<number, number[]>();
  private readers = new Map<number, PieceReader>();
  private readonly code: ErasureCode;
  private readonly oneConnection: boolean;

  constructor(code: ErasureCode, oneConnection: boolean) {
    this.code = code;
    this.oneConnection = oneConnection;
  }

  private open(storage: StorageEnv, usable: Map<number, BlobReplica>, spans: PieceSpan[], hedge: boolean): Promise<Map<number, PieceReader>> {
    return this.oneConnection ? readSpansOneByOne(storage, usable, spans) : openSpans(storage, usable, spans, hedge);
  }

  async *ciphertext(
    storage: StorageEnv,
    segment: ObjectSegment,
    usable: Map<number, BlobReplica>,
    range: { withHeader: boolean; firstChunk: number; lastChunk: number },
    prefix: Uint8Array,
    hedge: boolean,
  ): AsyncGenerator<Uint8Array> {
    const { k, m } = this.code;
    const wanted = dataSpansFor(this.code, range.firstChunk, range.lastChunk);
    const healthy = wanted.every((s) => usable.has(s.piece));
    let chosen: number[];
    if (healthy) {
      this.readers = await this.open(storage, usable, wanted, hedge);
    } else {
      // Data pieces first (their shards need no decoding), then the healthiest parity pieces.
      const parity = nodeHealth.order(
        [...usable.entries()].filter(([p]) => p >= k).map(([piece, r]) => ({ piece, nodeId: r.nodeId })),
        Date.now(),
      ).map((x) => x.piece);
      chosen = [...[...usable.keys()].filter((p) => p < k), ...parity].slice(0, k);
      if (chosen.length < k) throw new PieceUnavailable(-1, `only ${chosen.length} of the ${k} pieces needed are readable`);
      this.readers = await this.open(storage, usable, stripeSpansFor(this.code, chosen, range.firstChunk, range.lastChunk), hedge);
    }
    if (range.withHeader) yield encodeHeader(prefix);
    const n = segment.size;
    if (healthy) {
      for (let c = range.firstChunk; c <= range.lastChunk; c++) {
        const { piece } = chunkLocation(this.code, c);
        const shard = await this.readers.get(piece)!.next();
        this.servedBy.set(c, [piece]);
        yield shard.subarray(0, chunkBytes(c, n));
      }
      return;
    }
    const rs = new ReedSolomon(k, m);
    const firstStripe = Math.floor(range.firstChunk / k);
    const lastStripe = Math.floor(range.lastChunk / k);
    const parityUsed = chosen!.filter((p) => p >= k);
    for (let s = firstStripe; s <= lastStripe; s++) {
      const shards: (Uint8Array | undefined)[] = new Array(k + m).fill(undefined);
      const read = await Promise.all(chosen!.map((p) => this.readers.get(p)!.next()));
      chosen!.forEach((p, i) => (shards[p] = read[i]));
      const missing = Array.from({ length: k }, (_, p) => p).filter((p) => shards[p] === undefined && s * k + p >= range.firstChunk && s * k + p <= range.lastChunk);
      if (missing.length > 0) {
        const out = missing.map(() => new Uint8Array(SHARD_BYTES));
        rs.reconstruct(shards, missing, out);
        missing.forEach((p, i) => (shards[p] = out[i]));
      }
      for (let p = 0; p < k; p++) {
        const c = s * k + p;
        if (c < range.firstChunk || c > range.lastChunk) continue;
        this.servedBy.set(c, missing.includes(p) ? parityUsed : [p]);
        yield shards[p]!.subarray(0, chunkBytes(c, n));
      }
    }
  }

  close(): void {
    for (const r of this.readers.values()) r.close();
    this.readers.clear();
  }
}

/**
 * The pieces a read may still use, healthiest first. A piece that failed or served bad bytes is dropped for the
 * rest of the read; one that was only slow is set aside, and comes back (with hedging off) when the others are
 * not enough. Kept across the windows of a one-connection read, so a bad piece is tried and reported once.
 */
class PieceChoice {
  readonly usable = new Map<number, BlobReplica>();
  private readonly slow = new Map<number, BlobReplica>();
  hedge = true;
  private readonly k: number;

  constructor(segment: ObjectSegment) {
    this.k = segment.erasure!.k;
    for (const r of nodeHealth.order(segment.replicas, Date.now())) if (r.piece !== undefined && !this.usable.has(r.piece)) this.usable.set(r.piece, r);
  }

  setAsideSlow(piece: number): void {
    this.slow.set(piece, this.usable.get(piece)!);
    this.usable.delete(piece);
    this.restoreSlowIfShort();
  }

  drop(pieces: readonly number[]): void {
    for (const p of pieces) this.usable.delete(p);
    this.restoreSlowIfShort();
  }

  get enough(): boolean {
    return this.usable.size >= this.k;
  }

  private restoreSlowIfShort(): void {
    if (this.enough || this.slow.size === 0) return;
    for (const [p, r] of this.slow) this.usable.set(p, r);
    this.slow.clear();
    this.hedge = false;
  }
}

/**
 * Streams plaintext bytes [start, end] of an erasure-coded segment into `writer`, failing over piece by piece:
 * a piece that is unreachable or serves a chunk that does not authenticate is set aside (and reported, so the
 * repair chore rebuilds it), and the read resumes at the first byte not yet delivered. Fails once fewer than k
 * pieces are left.
 */
export async function copyErasureSegment(
  storage: StorageEnv,
  segment: ObjectSegment,
  key: SegmentKey,
  start: number,
  end: number,
  writer: ChunkWriter,
  waitUntil: (p: Promise<unknown>) => void,
  options: { oneConnection?: boolean } = {},
): Promise<void> {
  const pieces = new PieceChoice(segment);
  if (!options.oneConnection) return copyRange(storage, segment, key, start, end, writer, waitUntil, pieces, false);
  // One connection at a time (a copy, whose destination streams on the other five): windows of a few stripes,
  // each piece's part of a window read whole, one piece after another, then released in order.
  const window = ONE_CONNECTION_WINDOW_STRIPES * segment.erasure!.k * CHUNK_PLAINTEXT_BYTES;
  for (let from = start; from <= end; from = Math.floor(from / window) * window + window) {
    await copyRange(storage, segment, key, from, Math.min(end, Math.floor(from / window) * window + window - 1), writer, waitUntil, pieces, true);
  }
}

/** Stripes per window when reading with one connection: 8 stripes of 4 shards is 2 MiB in memory. */
const ONE_CONNECTION_WINDOW_STRIPES = 8;

async function copyRange(
  storage: StorageEnv,
  segment: ObjectSegment,
  key: SegmentKey,
  start: number,
  end: number,
  writer: ChunkWriter,
  waitUntil: (p: Promise<unknown>) => void,
  pieces: PieceChoice,
  oneConnection: boolean,
): Promise<void> {
  const code = segment.erasure!;
  const { usable } = pieces;
  let position = start;
  let clientGone = false;
  // Each failure removes a piece (or turns hedging off once), so this ends.
  for (;;) {
    const range = ciphertextRangeFor(position, end, segment.size);
    const source = new SegmentSource(code, oneConnection);
    try {
      for await (const plain of decryptRange(source.ciphertext(storage, segment, usable, range, key.prefix, pieces.hedge), key.dataKey, key.prefix, range)) {
        await writer.write(plain).catch((error: unknown) => {
          clientGone = true;
          throw error;
        });
        position += plain.byteLength;
      }
      // Every piece's connection ends here: a span read to its last byte may not have been read to its end.
      source.close();
      return;
    } catch (error) {
      source.close();
      if (clientGone) throw error;
      let culprits: number[];
      if (error instanceof CiphertextIntegrityError && error.chunk !== undefined && source.servedBy.has(error.chunk)) {
        culprits = source.servedBy.get(error.chunk)!;
        for (const p of culprits) reportFault(storage, usable.get(p)!, "read_mismatch", waitUntil);
      } else if (error instanceof PieceUnavailable && error.slow && usable.has(error.piece)) {
        pieces.setAsideSlow(error.piece);
        continue;
      } else if (error instanceof PieceUnavailable && usable.has(error.piece)) {
        culprits = [error.piece];
        const replica = usable.get(error.piece)!;
        nodeHealth.recordFailure(replica.nodeId, Date.now());
        if (error.missing) reportFault(storage, replica, "missing", waitUntil);
      } else {
        throw error;
      }
      pieces.drop(culprits);
      if (!pieces.enough) {
        // Fewer than k readable pieces: storage is unavailable (503, retry later), not a fault of the request.
        const replica = segment.replicas.find((r) => r.piece === culprits[0]);
        const where = segment.replicas.map((r) => `${r.piece}@${r.nodeId}`).join(" ");
        throw new NodeRequestError(replica?.nodeId ?? "unknown", 503, `only ${usable.size} of the ${code.k} pieces needed can be read (pieces ${where}; usable ${[...usable.keys()].join(",")}): ${String(error)}`);
      }
    }
  }
}
