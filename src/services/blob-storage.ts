// Moving object bytes between clients and nodes: store one segment (a whole object or one part) on the
// replicas placement picks, stream segments back for a byte range from the best replica (verified, failing
// over), and free blobs nothing references any more. Knows nothing of HTTP or S3: callers map its errors.

import { EdgeError } from "../protocol/errors.ts";
import { recordPlacedBlobs, releasePlacedBlobs } from "../db/placements.ts";
import { listPlaceableNodes } from "../db/registry.ts";
import { base64, fromBase64, hex, randomHex } from "../protocol/crypto.ts";
import { BLOB_SHA256_HEADER } from "../protocol/node-protocol.ts";
import { nodeHealth } from "./node-health.ts";
import { deleteBlob, NodeRequestError, settleUploads } from "./node-client.ts";
import { endpointFor, fetchReplica, reportFault, type StorageEnv } from "./replica-access.ts";
import { CiphertextIntegrityError } from "./crypto/errors.ts";
import { ciphertextLength, ciphertextRangeFor, decryptRange, EncryptStage } from "./crypto/stream-format.ts";
import { codeForSegment, pieceBytes, type ErasureCode } from "../protocol/piece-layout.ts";
import { copyErasureSegment } from "./erasure-read.ts";
import { erasureWriteQuorum, storeErasureSegment } from "./erasure-write.ts";
import { MAX_OPEN_CONNECTIONS } from "./connection-limit.ts";
import { blobSizeOf, type BlobReplica, type ObjectSegment } from "./object-model.ts";
import { DigestStage, pump, readChunks, readSizeFor, type BodyStage, type ChunkWriter } from "./pipeline.ts";
import { placePieces, placeReplicas, writeQuorum } from "./placement.ts";
import { countedFrom } from "./metering.ts";
import { maskOf, unmasked, type ReplicaMask } from "./replica-mask.ts";
import { ReplicaUpload } from "./replica-upload.ts";
import { newSegmentKey, openSegmentKey, type KeyEncryptionKey, type SegmentKey } from "./segment-cipher.ts";

export type { StorageEnv } from "./replica-access.ts";

/**
 * Where a new segment goes and in what form: its bucket (blob ids carry the bucket id), its erasure code (none:
 * replicated), how many replicas a replicated segment needs, and up to what size a segment is kept inline.
 */
export interface StorageTarget {
  bucketId: string;
  replicationFactor: number;
  erasure?: ErasureCode;
  /** Pieces beyond k an erasure-coded write waits for (erasureWriteQuorum). */
  erasureExtraPieces: number;
  inlineMaxBytes: number;
  /**
   * Subrequests the write may hold open at once (Workers allow six per invocation): a copy, which reads its source
   * on one, writes k+m-1 pieces and leaves the last parity piece to repair.
   */
  maxConnections?: number;
}

/** Not enough active nodes with room for a write quorum. */
export class NoCapacityError extends EdgeError<"NoCapacity", { size: number; wanted: number }> {
  constructor(size: number, wanted: number) {
    super("NoCapacity", `not enough active storage nodes have room for ${size} bytes (a write needs ${wanted})`, { size, wanted });
    this.name = "NoCapacityError";
  }
}

/**
 * Blob ids are edge-assigned and random, safe as file names on any node, and start with the bucket's id so
 * an orphan found on a node leads straight to the one index that could reference it.
 */
export function newBlobId(bucketId: string): string {
  return `b${bucketId}${randomHex(16)}`;
}

export function bucketIdOfBlob(blobId: string): string | undefined {
  return /^b([0-9a-f]{32})[0-9a-f]{32}$/.exec(blobId)?.[1];
}

export interface SegmentInput {
  /** Plaintext bytes the source yields. */
  length: number;
  source: AsyncIterable<Uint8Array>;
  /** Checks that must pass before the blob counts as stored (they run before the node uploads finish). */
  checks: BodyStage[];
  md5: DigestStage;
  /** Called after the body has passed and before the blob is committed to any index: may reject it. */
  verify(): Promise<void>;
}

/**
 * Feeds one body to several replica uploads, each masked for its node. A replica that fails is dropped; the
 * write goes on while a quorum remains and fails (aborting every replica) when it cannot.
 */
class FanOutStage implements BodyStage {
  private live: ReplicaUpload[];
  readonly failed: { nodeId: string; error: unknown }[] = [];
  private readonly quorum: number;

  constructor(uploads: ReplicaUpload[], quorum: number) {
    this.live = uploads;
    this.quorum = quorum;
  }

  get succeeded(): ReplicaUpload[] {
    return this.live;
  }

  private async each(step: (u: ReplicaUpload) => Promise<void>): Promise<void> {
    const { ok, failed } = await settleUploads(this.live, (u) => u.upload, step);
    for (const { upload, error } of failed) this.failed.push({ nodeId: upload.nodeId, error });
    this.live = ok;
    if (this.live.length < this.quorum) {
      throw this.failed[this.failed.length - 1]?.error ?? new Error("write quorum lost");
    }
  }

  write(chunk: Uint8Array): Promise<void> {
    return this.each((u) => u.write(chunk));
  }

  finish(): Promise<void> {
    return this.each((u) => u.finish());
  }

  abort(reason: unknown): void {
    for (const u of this.live) u.abort(reason);
  }
}

/**
 * Encrypts the plaintext it is given and passes the ciphertext on to `downstream` (the replica fan-out) in batches of 256 KiB rather than 64 KiB frames: fewer, larger writes to each node.
 */
class EncryptingStage implements BodyStage {
  private readonly encrypt: EncryptStage;
  private readonly downstream: readonly BodyStage[];
  private batch: Uint8Array;
  private filled = 0;

  constructor(key: SegmentKey, downstream: readonly BodyStage[], blobLength: number) {
    this.downstream = downstream;
    this.batch = new Uint8Array(Math.min(BATCH_BYTES, blobLength));
    this.encrypt = new EncryptStage(key.dataKey, key.prefix, { write: (frame) => this.collect(frame) });
  }

  private async collect(frame: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < frame.length) {
      const take = Math.min(this.batch.length - this.filled, frame.length - offset);
      this.batch.set(frame.subarray(offset, offset + take), this.filled);
      this.filled += take;
      offset += take;
      if (this.filled === this.batch.length) await this.flush();
    }
  }

  private async flush(): Promise<void> {
    if (this.filled === 0) return;
    const full = this.batch.subarray(0, this.filled);
    // The downstream stages may keep the buffer (uploads in flight): the next batch gets a fresh one.
    this.batch = new Uint8Array(this.batch.length);
    this.filled = 0;
    for (const stage of this.downstream) await stage.write(full);
  }

  write(chunk: Uint8Array): Promise<void> {
    return this.encrypt.write(chunk);
  }

  async finish(): Promise<void> {
    await this.encrypt.finish();
    await this.flush();
    for (const stage of this.downstream) await stage.finish();
  }

  async abort(reason: unknown): Promise<void> {
    this.encrypt.abort();
    for (const stage of this.downstream) await stage.abort?.(reason);
  }
}

/** Ciphertext handed to the replicas per write: large enough for few writes, small enough to die young in GC. */
const BATCH_BYTES = 256 * 1024;

/**
 * Streams one segment to the replicas placement picks (one read of the body, encrypted, fanned out, masked per
 * node), verifying it on the way. Resolves once a write quorum of nodes has fsynced its copy with the Merkle root
 * the edge computed of it; replicas that failed are left for the repair chore. On failure every replica written
 * is removed.
 */
export async function storeSegment(storage: StorageEnv, target: StorageTarget, input: SegmentInput, kek: KeyEncryptionKey): Promise<ObjectSegment> {
  if (input.length <= target.inlineMaxBytes) return storeInlineSegment(target, input, kek);
  const registered = await listPlaceableNodes(storage.db, storage.now, storage.offlineAfterMs);
  // Nodes this isolate just saw fail (dead, but not silent long enough for the registry to know) are left out
  // while enough others remain: a streamed write cannot be retried on other nodes once its body has flowed.
  const fresh = registered.filter((n) => !nodeHealth.recentlyFailed(n.id, Date.now()));
  if (target.erasure) {
    // The bucket's code where enough nodes not known to be down have room for a quorum of distinct pieces;
    // replicas otherwise.
    const code = codeForSegment(target.erasure, input.length);
    const quorum = erasureWriteQuorum(code, target.erasureExtraPieces);
    const segmentId = newBlobId(target.bucketId);
    // Two more nodes than needed are spares for a piece whose node turns out dead before any byte was sent.
    const candidates = fresh;
    const nodes = placePieces(candidates, segmentId, pieceBytes(code, input.length), code.k + code.m);
    const spares = placeReplicas(candidates.filter((n) => !nodes.includes(n)), segmentId, pieceBytes(code, input.length), 2);
    const writePieces = Math.min(code.k + code.m, target.maxConnections ?? MAX_OPEN_CONNECTIONS);
    if (nodes.length >= quorum && writePieces >= quorum) {
      const key = await newSegmentKey(kek, segmentId);
      const stored = await storeErasureSegment({
        storage,
        code,
        nodes: [...nodes.slice(0, writePieces), ...spares],
        writePieces,
        quorum,
        pieceBlobIds: Array.from({ length: code.k + code.m }, () => newBlobId(target.bucketId)),
        key,
        length: input.length,
        source: input.source,
        before: [input.md5, ...input.checks],
        verify: input.verify,
      });
      return { ...stored, md5: hex(input.md5.digest) };
    }
  }
  return storeReplicatedSegment(storage, target, input, kek, fresh.length >= writeQuorum(target.replicationFactor) ? fresh : registered);
}

/** Encrypts a small segment into the index record itself: no node is involved in writing or reading it. */
async function storeInlineSegment(target: StorageTarget, input: SegmentInput, kek: KeyEncryptionKey): Promise<ObjectSegment> {
  const key = await newSegmentKey(kek, newBlobId(target.bucketId));
  const blob = new Uint8Array(ciphertextLength(input.length));
  let at = 0;
  const encrypt = new EncryptStage(key.dataKey, key.prefix, {
    write: (frame) => {
      blob.set(frame, at);
      at += frame.length;
    },
  });
  const stage: BodyStage = { write: (c) => encrypt.write(c), finish: () => encrypt.finish(), abort: () => encrypt.abort() };
  await pump(input.source, [input.md5, ...input.checks, stage]);
  await input.verify();
  return { size: input.length, md5: hex(input.md5.digest), replicas: [], encryption: key.encryption, inline: base64(blob) };
}

async function storeReplicatedSegment(
  storage: StorageEnv,
  target: StorageTarget,
  input: SegmentInput,
  kek: KeyEncryptionKey,
  candidates: Awaited<ReturnType<typeof listPlaceableNodes>>,
): Promise<ObjectSegment> {
  const blobId = newBlobId(target.bucketId);
  const blobLength = ciphertextLength(input.length);
  const quorum = writeQuorum(target.replicationFactor);
  const nodes = placeReplicas(candidates, blobId, blobLength, target.replicationFactor);
  if (nodes.length < quorum) throw new NoCapacityError(blobLength, quorum);

  // A fresh data key per blob, kept only wrapped by `kek`: nodes receive nothing but ciphertext, each its own
  // masked copy (replica-mask.ts) with its own root.
  const key = await newSegmentKey(kek, blobId);
  const uploads = await Promise.all(nodes.map((node) => ReplicaUpload.start(node, storage.kek, blobId, blobLength)));
  const fanOut = new FanOutStage(uploads, quorum);
  const removeAll = () => Promise.all(nodes.map((node) => deleteBlob(node, storage.kek, blobId).catch(() => {})));
  // MD5 and the client's checksums are of the plaintext; the ciphertext goes last, so every check has seen
  // the bytes, and may fail them, before any node commits.
  await pump(input.source, [input.md5, ...input.checks, new EncryptingStage(key, [fanOut], blobLength)]).catch(async (error) => {
    await removeAll();
    throw error;
  });
  try {
    await input.verify();
    const good = fanOut.succeeded.flatMap((u) => u.stored ?? []);
    if (good.length < quorum) throw new NodeRequestError(good[0]?.nodeId ?? nodes[0]!.id, 502, `only ${good.length} replicas of ${blobId} match what the edge sent`);
    for (const failure of fanOut.failed) nodeHealth.recordFailure(failure.nodeId, storage.now);
    // A replica that stored different bytes than were sent is dropped at once.
    for (const u of fanOut.succeeded.filter((s) => !good.some((g) => g.nodeId === s.nodeId))) {
      const node = nodes.find((n) => n.id === u.nodeId)!;
      await deleteBlob(node, storage.kek, blobId).catch(() => {});
    }
    // Counted before the caller commits: bytes on a node count from the moment they are there. A commit that
    // fails frees them again (freeBlobs); one that never comes leaves them to the orphan sweep, which frees them too.
    await recordPlacedBlobs(storage.db, good.map((r) => ({ nodeId: r.nodeId, blobId, bytes: blobLength, merkleRoot: `0x${r.merkleRoot}` })), storage.now);
    return { size: input.length, md5: hex(input.md5.digest), replicas: good, encryption: key.encryption };
  } catch (error) {
    await removeAll();
    throw error;
  }
}

/** A replica a read has opened: which one, its response body, and the mask its bytes are stored under (if any). */
type OpenedReplica = { replica: BlobReplica; body: ReadableStream<Uint8Array>; mask?: ReplicaMask };

/**
 * Opens bytes [start, end] of a segment from the best replica: healthiest and fastest first, a second one
 * hedged when the first is slower than its recent p95, failing over on errors. A whole-blob read must come
 * from a replica whose recorded SHA-256 matches; the bytes themselves are checked while they stream.
 */
async function openReplica(
  storage: StorageEnv,
  replicas: readonly BlobReplica[],
  start: number,
  end: number,
  size: number,
  waitUntil: (p: Promise<unknown>) => void,
): Promise<OpenedReplica> {
  const whole = start === 0 && end === size - 1;
  const ordered = nodeHealth.order(replicas, Date.now());
  let lastError: unknown = new Error("segment has no replicas");
  for (let i = 0; i < ordered.length; i++) {
    const attempt = async (replica: BlobReplica) => {
      const res = await fetchReplica(storage, replica, whole ? undefined : { start, end });
      const recorded = res.headers.get(BLOB_SHA256_HEADER);
      if (recorded !== null && recorded !== replica.sha256) {
        await res.body?.cancel();
        reportFault(storage, replica, "read_mismatch", waitUntil);
        throw new NodeRequestError(replica.nodeId, 502, "replica holds a different blob");
      }
      if (!res.body) throw new NodeRequestError(replica.nodeId, res.status, "empty body");
      const mask = await maskOf(storage.kek, replica);
      return { replica, body: res.body, ...(mask ? { mask } : {}) };
    };
    const first = ordered[i]!;
    const second = ordered[i + 1];
    try {
      const hedgeAfter = nodeHealth.hedgeDelayMs(first.nodeId);
      if (!second || hedgeAfter === undefined) return await attempt(first);
      const primary = attempt(first);
      const hedged = new Promise<Awaited<ReturnType<typeof attempt>>>((resolve, reject) => {
        let started = false;
        const timer = setTimeout(() => {
          started = true;
          attempt(second).then(resolve, reject);
        }, hedgeAfter);
        // A primary that fails before the hedge starts settles the hedge too: the loop then moves on to the
        // next replica (which is `second`) instead of waiting on a timer that was cleared.
        primary.then(
          () => clearTimeout(timer),
          (error: unknown) => {
            clearTimeout(timer);
            if (!started) reject(error);
          },
        );
      });
      const winner = await Promise.any([primary, hedged]);
      // The loser's body, if it ever arrives, is discarded.
      for (const p of [primary, hedged]) void p.then((r) => (r !== winner ? r.body.cancel() : undefined), () => {});
      if (winner.replica === second) i++;
      return winner;
    } catch (error) {
      lastError = error instanceof AggregateError ? error.errors[0] : error;
      if (error instanceof NodeRequestError && error.status === 404) reportFault(storage, first, "missing", waitUntil);
    }
  }
  throw lastError;
}

const VERIFY_READ_SIZE = 1024 * 1024;
/**
 * Whole segments up to this size are verified before their first byte is sent, so a corrupt replica is
 * skipped and the read fails over invisibly; larger ones are verified as they stream and aborted on mismatch.
 */
const VERIFY_BEFORE_SENDING_BYTES = 8 * 1024 * 1024;

/** Reads a small whole segment from the best replica whose bytes match its SHA-256. */
async function readVerifiedSmallSegment(
  storage: StorageEnv,
  segment: ObjectSegment,
  waitUntil: (p: Promise<unknown>) => void,
  opened?: OpenedReplica,
): Promise<Uint8Array[]> {
  const tried = new Set<string>();
  let current = opened;
  let lastError: unknown;
  while (true) {
    const candidates = segment.replicas.filter((r) => !tried.has(r.nodeId));
    if (!current) {
      if (candidates.length === 0) throw lastError ?? new Error("no replica left");
      current = await openReplica(storage, candidates, 0, segment.size - 1, segment.size, waitUntil);
    }
    tried.add(current.replica.nodeId);
    try {
      const chunks: Uint8Array[] = [];
      const hash = new DigestStage("SHA-256");
      let size = 0;
      for await (const chunk of countedFrom(storage.served, current.replica.nodeId, readChunks(current.body, readSizeFor(segment.size)))) {
        chunks.push(chunk);
        size += chunk.byteLength;
        await hash.write(chunk);
      }
      await hash.finish();
      if (size === segment.size && hex(hash.digest) === current.replica.sha256) return chunks;
      reportFault(storage, current.replica, "read_mismatch", waitUntil);
      lastError = new NodeRequestError(current.replica.nodeId, 502, "replica bytes do not match their SHA-256");
    } catch (error) {
      lastError = error;
      nodeHealth.recordFailure(current.replica.nodeId, Date.now());
    }
    current = undefined;
  }
}

/**
 * Streams one segment's bytes [start, end] into `writable`, resuming from another replica where the first
 * fails mid-way. A whole-segment read is hashed as it passes: bytes that do not match the recorded SHA-256
 * abort the response (never a silent corrupt read) and the replica is queued for repair.
 */
async function copySegment(
  storage: StorageEnv,
  segment: ObjectSegment,
  start: number,
  end: number,
  writer: ChunkWriter,
  waitUntil: (p: Promise<unknown>) => void,
  opened?: OpenedReplica,
): Promise<void> {
  const whole = start === 0 && end === segment.size - 1;
  if (segment.size <= VERIFY_BEFORE_SENDING_BYTES) {
    // Small segments are read whole and verified first, even for a range: then sliced.
    let offset = 0;
    for (const chunk of await readVerifiedSmallSegment(storage, segment, waitUntil, opened)) {
      const from = Math.max(start - offset, 0);
      const to = Math.min(end + 1 - offset, chunk.byteLength);
      if (from < to) await writer.write(chunk.subarray(from, to));
      offset += chunk.byteLength;
    }
    return;
  }
  const hash = whole ? new DigestStage("SHA-256") : undefined;
  let position = start;
  let clientGone = false;
  const tried = new Set<string>();
  let current = opened ?? (await openReplica(storage, segment.replicas, start, end, segment.size, waitUntil));
  while (true) {
    tried.add(current.replica.nodeId);
    try {
      for await (const chunk of countedFrom(storage.served, current.replica.nodeId, readChunks(current.body, VERIFY_READ_SIZE))) {
        if (hash) await hash.write(chunk);
        await writer.write(chunk).catch((error: unknown) => {
          clientGone = true;
          throw error;
        });
        position += chunk.byteLength;
      }
      if (position !== end + 1) throw new NodeRequestError(current.replica.nodeId, 502, "replica ended early");
      break;
    } catch (error) {
      if (clientGone) throw error;
      nodeHealth.recordFailure(current.replica.nodeId, Date.now());
      const others = segment.replicas.filter((r) => !tried.has(r.nodeId));
      if (others.length === 0) throw error;
      // Resume where this replica stopped; the hash (if any) carries on over the same byte sequence.
      current = await openReplica(storage, others, position, end, segment.size, waitUntil);
    }
  }
  if (hash) {
    await hash.finish();
    if (hex(hash.digest) !== current.replica.sha256) {
      reportFault(storage, current.replica, "read_mismatch", waitUntil);
      throw new NodeRequestError(current.replica.nodeId, 502, "replica bytes do not match their SHA-256");
    }
  }
}

/**
 * Streams plaintext bytes [start, end] of an encrypted segment into `writer`: fetches only the chunks covering
 * them, and releases a chunk only once its tag proves it is this blob's chunk at this position. A replica that
 * fails or serves a bad chunk is reported and the read resumes from the next undelivered chunk on another: any
 * replica that has not failed at that position, so one bad chunk on each replica still leaves the object whole.
 */
async function copyEncryptedSegment(
  storage: StorageEnv,
  segment: ObjectSegment,
  key: SegmentKey,
  start: number,
  end: number,
  writer: ChunkWriter,
  waitUntil: (p: Promise<unknown>) => void,
  opened?: OpenedReplica,
): Promise<void> {
  const blobSize = blobSizeOf(segment);
  let position = start;
  let clientGone = false;
  // Where each replica last failed: it may still serve the chunks after that (positions only grow, so the
  // read ends once every replica has failed at the same chunk).
  const failedAt = new Map<string, number>();
  const open = (replicas: readonly BlobReplica[]) => {
    const range = ciphertextRangeFor(position, end, segment.size);
    return openReplica(storage, replicas, range.start, range.end, blobSize, waitUntil);
  };
  let current = opened ?? (await open(segment.replicas));
  while (true) {
    try {
      const range = ciphertextRangeFor(position, end, segment.size);
      // A masked replica is unmasked before any tag is checked: the seal is what proves the bytes.
      const fromNode = countedFrom(storage.served, current.replica.nodeId, readChunks(current.body, readSizeFor(range.end - range.start + 1)));
      const chunks = unmasked(fromNode, current.mask, range.start);
      for await (const plain of decryptRange(chunks, key.dataKey, key.prefix, range)) {
        await writer.write(plain).catch((error: unknown) => {
          clientGone = true;
          throw error;
        });
        position += plain.byteLength;
      }
      return;
    } catch (error) {
      if (clientGone) throw error;
      await current.body.cancel().catch(() => {});
      if (error instanceof CiphertextIntegrityError) reportFault(storage, current.replica, "read_mismatch", waitUntil);
      else nodeHealth.recordFailure(current.replica.nodeId, Date.now());
      failedAt.set(current.replica.nodeId, position);
      const others = segment.replicas.filter((r) => (failedAt.get(r.nodeId) ?? -1) < position);
      if (others.length === 0) throw error;
      current = await open(others);
    }
  }
}

/** Opens each segment's data key with the object's key-encryption key (none for plaintext segments). */
export type SegmentKeyOpener = (segment: ObjectSegment) => Promise<SegmentKey | undefined>;

/** The opener for an object whose data keys `kek` wraps; segments written before encryption need none. */
export function segmentKeysUnder(kek: KeyEncryptionKey | undefined): SegmentKeyOpener {
  return async (segment) => {
    if (!segment.encryption) return undefined;
    if (!kek) throw new Error("an encrypted segment was read without its key-encryption key");
    return openSegmentKey(kek, segment.encryption);
  };
}

/**
 * A stream of the object's plaintext bytes [start, end] (inclusive) across its segments. The first segment's
 * data key and first replica are opened before answering, so a wrong key or an object with no reachable
 * replica fails with an error rather than a cut body.
 */
export async function streamSegments(
  storage: StorageEnv,
  segments: readonly ObjectSegment[],
  start: number,
  end: number,
  waitUntil: (p: Promise<unknown>) => void,
  keys: SegmentKeyOpener,
  options: { oneConnection?: boolean; afterEnd?: () => Promise<void> } = {},
): Promise<ReadableStream<Uint8Array>> {
  const pieces: { segment: ObjectSegment; start: number; end: number }[] = [];
  let offset = 0;
  for (const segment of segments) {
    const segStart = offset;
    const segEnd = offset + segment.size - 1;
    offset += segment.size;
    if (segment.size === 0 || segEnd < start || segStart > end) continue;
    pieces.push({ segment, start: Math.max(start, segStart) - segStart, end: Math.min(end, segEnd) - segStart });
  }
  if (pieces.length === 0) return new ReadableStream({ start: (c) => c.close() });
  const firstPiece = pieces[0]!;
  const firstKey = await keys(firstPiece.segment);
  const copy = async (piece: (typeof pieces)[number], key: SegmentKey | undefined, writer: ChunkWriter, opened?: OpenedReplica) => {
    if (piece.segment.inline !== undefined) return copyInlineSegment(piece.segment, key!, piece.start, piece.end, writer);
    if (piece.segment.erasure) return copyErasureSegment(storage, piece.segment, key!, piece.start, piece.end, writer, waitUntil, options);
    if (key) return copyEncryptedSegment(storage, piece.segment, key, piece.start, piece.end, writer, waitUntil, opened);
    return copySegment(storage, piece.segment, piece.start, piece.end, writer, waitUntil, opened);
  };
  let first: OpenedReplica | undefined;
  if (firstPiece.segment.inline !== undefined || firstPiece.segment.erasure) {
    // Opened by the copy itself; a failure before the first byte still becomes an S3 error (below).
    first = undefined;
  } else if (firstKey) {
    const range = ciphertextRangeFor(firstPiece.start, firstPiece.end, firstPiece.segment.size);
    first = await openReplica(storage, firstPiece.segment.replicas, range.start, range.end, blobSizeOf(firstPiece.segment), waitUntil);
  } else {
    const small = firstPiece.segment.size <= VERIFY_BEFORE_SENDING_BYTES;
    first = await openReplica(
      storage,
      firstPiece.segment.replicas,
      small ? 0 : firstPiece.start,
      small ? firstPiece.segment.size - 1 : firstPiece.end,
      firstPiece.segment.size,
      waitUntil,
    );
  }
  const { readable, writable } = new FixedLengthStream(end - start + 1);
  const sink = writable.getWriter();
  // Until the first bytes are proven good (decrypted, or read past verification) the request can still fail
  // with an S3 error rather than a cut body: e.g. when every replica's first chunk is corrupt.
  let firstBytes!: () => void;
  const firstBytesReady = new Promise<void>((resolve) => (firstBytes = resolve));
  const writer: ChunkWriter = {
    write(chunk) {
      firstBytes();
      return sink.write(chunk);
    },
  };
  const copied = (async () => {
    await copy(firstPiece, firstKey, writer, first);
    for (const piece of pieces.slice(1)) await copy(piece, await keys(piece.segment), writer);
    await sink.close();
  })();
  copied.catch(() => {}); // handled below
  const early = await Promise.race([firstBytesReady.then(() => undefined), copied.then(() => undefined, (error: unknown) => ({ error }))]);
  if (early) throw early.error;
  // `afterEnd` runs once the body has ended or been cut, whichever, never before: the response does not wait on it.
  waitUntil(
    copied
      .catch(async (error: unknown) => {
        console.warn(JSON.stringify({ event: "read_aborted", error: String(error) }));
        await sink.abort(error).catch(() => {});
      })
      .finally(() => options.afterEnd?.()),
  );
  return readable;
}

/** Serves bytes [start, end] of an inline segment: its blob is in the record, every chunk still authenticated. */
async function copyInlineSegment(segment: ObjectSegment, key: SegmentKey, start: number, end: number, writer: ChunkWriter): Promise<void> {
  const blob = fromBase64(segment.inline!);
  const range = ciphertextRangeFor(start, end, segment.size);
  for await (const plain of decryptRange([blob.subarray(range.start, range.end + 1)], key.dataKey, key.prefix, range)) await writer.write(plain);
}

/**
 * Deletes blobs from their nodes and from the placement account; failures leave orphans for the orphan sweep
 * (still counted until it deletes them), never errors for clients.
 */
export async function freeBlobs(storage: StorageEnv, replicas: readonly BlobReplica[]): Promise<void> {
  await Promise.all(
    replicas.map(async (replica) => {
      try {
        await deleteBlob(await endpointFor(storage, replica.nodeId), storage.kek, replica.blobId);
        await releasePlacedBlobs(storage.db, [replica]);
      } catch (error) {
        console.warn(JSON.stringify({ event: "blob_delete_failed", nodeId: replica.nodeId, blobId: replica.blobId, error: String(error) }));
      }
    }),
  );
}
