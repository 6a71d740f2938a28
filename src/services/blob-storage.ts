// Moving object bytes between clients and nodes: store one segment (a whole object or one part) on the nodes
// placement picks, stream segments back for a byte range, and free blobs nothing references any more.
// Knows nothing of HTTP or S3: callers map its errors.

import { getNode, listPlaceableNodes } from "../db/registry.ts";
import type { Db } from "../db/client.ts";
import { hex, randomHex } from "../protocol/crypto.ts";
import type { BlobReplica, ObjectSegment } from "./object-model.ts";
import { deleteBlob, fetchBlob, NodeRequestError, startBlobUpload, type NodeEndpoint } from "./node-client.ts";
import { DigestStage, pump, type BodyStage } from "./pipeline.ts";
import { placeReplicas } from "./placement.ts";
import { TtlCache } from "./ttl-cache.ts";
import type { NodeRow } from "../db/schema.ts";

/**
 * Node endpoints for reads, cached per isolate. A node that re-registers gets new credentials and perhaps a
 * new URL; a read that fails with the stale ones drops the entry and retries once. Placement always reads
 * the registry: a write cannot be retried once its body has started to flow.
 */
const ENDPOINT_CACHE_TTL_MS = 10_000;
const endpoints = new TtlCache<string, NodeRow>(ENDPOINT_CACHE_TTL_MS);

export interface StorageEnv {
  db: Db;
  kek: string;
  offlineAfterMs: number;
  now: number;
}

/** No active node has room for the blob. */
export class NoCapacityError extends Error {
  constructor(size: number) {
    super(`no active storage node has room for ${size} bytes`);
    this.name = "NoCapacityError";
  }
}

/** Every blob id is fresh: edge-assigned, random, and safe as a file name on any node. */
export function newBlobId(): string {
  return `b${randomHex(16)}`;
}

export interface SegmentInput {
  length: number;
  source: AsyncIterable<Uint8Array>;
  /** Checks that must pass before the blob counts as stored (they run before the node upload finishes). */
  checks: BodyStage[];
  md5: DigestStage;
  /** Called after the body has passed and before the blob is committed to any index: may reject it. */
  verify(): Promise<void>;
}

/**
 * Streams one segment to a node chosen by placement, verifying it on the way. Resolves once the node has
 * fsynced the blob and its SHA-256 matches the edge's. On any failure the blob is removed again.
 */
export async function storeSegment(storage: StorageEnv, input: SegmentInput): Promise<ObjectSegment> {
  const candidates = await listPlaceableNodes(storage.db, storage.now, storage.offlineAfterMs);
  const blobId = newBlobId();
  const [node] = placeReplicas(candidates, blobId, input.length, 1);
  if (!node) throw new NoCapacityError(input.length);

  const sha256 = new DigestStage("SHA-256");
  const upload = await startBlobUpload(node, storage.kek, blobId, input.length);
  // The upload stage goes last: every check has seen the bytes, and may fail them, before the node commits.
  await pump(input.source, [input.md5, sha256, ...input.checks, upload]).catch(async (error) => {
    await deleteBlob(node, storage.kek, blobId).catch(() => {});
    throw error;
  });
  try {
    await input.verify();
    const edgeSha = hex(sha256.digest);
    if (upload.stored.sha256 !== edgeSha || upload.stored.size !== input.length) {
      throw new NodeRequestError(node.id, 502, `stored blob ${blobId} does not match what the edge sent`);
    }
    return { size: input.length, md5: hex(input.md5.digest), replicas: [{ nodeId: node.id, blobId, sha256: edgeSha }] };
  } catch (error) {
    await deleteBlob(node, storage.kek, blobId).catch(() => {});
    throw error;
  }
}

async function endpointFor(storage: StorageEnv, nodeId: string): Promise<NodeEndpoint> {
  const node = await endpoints.get(nodeId, storage.now, () => getNode(storage.db, nodeId));
  if (!node) throw new NodeRequestError(nodeId, 0, "node is no longer registered");
  return node;
}

/** Reads bytes [start, end] (inclusive) of one segment from its first reachable replica. */
async function fetchSegmentRange(storage: StorageEnv, segment: ObjectSegment, start: number, end: number): Promise<ReadableStream<Uint8Array>> {
  let lastError: unknown;
  const whole = start === 0 && end === segment.size - 1;
  for (const replica of segment.replicas) {
    try {
      let res: Response;
      try {
        res = await fetchBlob(await endpointFor(storage, replica.nodeId), storage.kek, replica.blobId, whole ? undefined : { start, end });
      } catch (error) {
        // Perhaps the node re-registered with new credentials or a new URL: read the registry afresh once.
        if (!(error instanceof NodeRequestError) || (error.status !== 403 && error.status !== 0)) throw error;
        endpoints.delete(replica.nodeId);
        res = await fetchBlob(await endpointFor(storage, replica.nodeId), storage.kek, replica.blobId, whole ? undefined : { start, end });
      }
      if (res.body) return res.body;
      lastError = new NodeRequestError(replica.nodeId, res.status, "empty body");
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError ?? new Error("segment has no replicas");
}

/**
 * A stream of the object's bytes [start, end] (inclusive) across its segments. A single segment is passed
 * through natively; several are piped one after another into a fixed-length stream.
 */
export async function streamSegments(
  storage: StorageEnv,
  segments: readonly ObjectSegment[],
  start: number,
  end: number,
  waitUntil: (p: Promise<unknown>) => void,
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
  if (pieces.length === 1) {
    const only = pieces[0]!;
    return fetchSegmentRange(storage, only.segment, only.start, only.end);
  }
  // Open the first piece before answering so an unreachable object fails with an error, not a cut body.
  const first = await fetchSegmentRange(storage, pieces[0]!.segment, pieces[0]!.start, pieces[0]!.end);
  const { readable, writable } = new FixedLengthStream(end - start + 1);
  waitUntil(
    (async () => {
      try {
        await first.pipeTo(writable, { preventClose: true });
        for (const piece of pieces.slice(1)) {
          const body = await fetchSegmentRange(storage, piece.segment, piece.start, piece.end);
          await body.pipeTo(writable, { preventClose: true });
        }
        await writable.close();
      } catch (error) {
        await writable.abort(error).catch(() => {});
      }
    })(),
  );
  return readable;
}

/** Deletes blobs from their nodes; failures leave orphans for the scrub chore, never errors for clients. */
export async function freeBlobs(storage: StorageEnv, replicas: readonly BlobReplica[]): Promise<void> {
  await Promise.all(
    replicas.map(async (replica) => {
      try {
        await deleteBlob(await endpointFor(storage, replica.nodeId), storage.kek, replica.blobId);
      } catch (error) {
        console.warn(JSON.stringify({ event: "blob_delete_failed", nodeId: replica.nodeId, blobId: replica.blobId, error: String(error) }));
      }
    }),
  );
}
