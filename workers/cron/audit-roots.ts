// Chore: gives every blob stored before proofs of storage the Merkle root validators challenge it against
// (`placed_blobs.merkle_root`). It walks every bucket's replica index once, a bounded number of pages per run, its
// place kept in D1 like placement-backfill:
// - an erasure piece, or a unique replica, already has its root in the index record: recorded as it is;
// - a sealed replica stored before unique replicas (the same bytes on every node, so interchangeable) is rewritten
//   on its own node as a unique one through the edge (replica-upload.ts: read whole, checked against its SHA-256,
//   masked for the node under a new blob id, proven against its root), swapped into the index, the old copy
//   deleted. A replica that fails its check is reported as a fault and left to repair, which copies it uniquely;
// - a plain copy (stored before edge encryption) cannot be masked and stays as it is, counted in the report; so do
//   the replicas of upload parts not yet completed.
// Rewriting moves bytes through the Worker, so it is bounded per run in bytes as well as pages; a page cut short is
// read again next run (what it did is not done twice: the rewritten replicas are unique by then).

import { openDb, type Db } from "../../src/db/client.ts";
import { insertBlobFault } from "../../src/db/faults.ts";
import { recordPlacedBlobs, releasePlacedBlobs } from "../../src/db/placements.ts";
import { listNodes } from "../../src/db/registry.ts";
import type { NodeRow } from "../../src/db/schema.ts";
import type { Env } from "../../src/env.ts";
import { newBlobId } from "../../src/services/blob-storage.ts";
import type { BucketIndexStub } from "../../src/services/bucket-indexes.ts";
import { copyAsUniqueReplica, SourceReplicaError } from "../../src/services/replica-upload.ts";
import type { ReplicaOnNode } from "../durable/bucket-index/bucket-index.ts";
import { discardUnused, releaseDropped } from "./replaced-blobs.ts";
import { walkReplicaIndexes, type WalkBudget } from "./replica-walk.ts";

export const CHORE_NAME = "audit-roots";

export interface AuditRootsBudget extends WalkBudget {
  /** Bytes of old replicas a run rewrites at most (the first is rewritten whatever its size, so a run always moves on). */
  rewriteBytesPerRun: number;
}

/** 256 MiB through the Worker a run: a few seconds of CPU (unmask nothing, mask, two hashes), far under the limits. */
export const DEFAULT_BUDGET: AuditRootsBudget = { pagesPerRun: 10, pageSize: 200, rewriteBytesPerRun: 256 * 1024 * 1024 };

export interface AuditRootsReport {
  chore: typeof CHORE_NAME;
  done: boolean;
  pages: number;
  replicas: number;
  /** Roots taken from the index records (pieces, unique replicas). */
  recorded: number;
  /** Old replicas rewritten as unique ones, with their roots. */
  rewritten: number;
  /** Old replicas that failed their check (reported for repair) or could not be rewritten now. */
  failed: number;
  /** Replicas left without a root: plain copies from before encryption, and parts of uploads in progress. */
  unrootable: number;
  errors: string[];
}

export async function runOnce(env: Env, now: Date, budget: AuditRootsBudget = DEFAULT_BUDGET): Promise<AuditRootsReport> {
  const db = openDb(env.DB);
  const t = now.getTime();
  const report: AuditRootsReport = { chore: CHORE_NAME, done: false, pages: 0, replicas: 0, recorded: 0, rewritten: 0, failed: 0, unrootable: 0, errors: [] };
  const byId = new Map((await listNodes(db)).map((n) => [n.id, n]));
  let bytesLeft = budget.rewriteBytesPerRun;
  let rewroteAny = false;
  const walked = await walkReplicaIndexes(env, db, CHORE_NAME, budget, t, async ({ bucketId, index, replicas }) => {
    report.replicas += replicas.length;
    const known = replicas.flatMap((r) => {
      const root = r.of?.replica.merkleRoot ?? r.of?.pieceRoot;
      return root ? [{ nodeId: r.nodeId, blobId: r.blobId, bytes: r.bytes, merkleRoot: `0x${root}` }] : [];
    });
    report.recorded += await recordRoots(db, index, known, t);
    for (const r of replicas) {
      if (r.of?.replica.merkleRoot ?? r.of?.pieceRoot) continue;
      if (!r.of?.sealed) {
        report.unrootable++;
        continue;
      }
      // Out of bytes for this run: the page is read again next run (its rewritten replicas are unique by then).
      if (rewroteAny && r.bytes > bytesLeft) return "stop";
      rewroteAny = true;
      bytesLeft -= r.bytes;
      try {
        if (await rewriteAsUnique(env, db, t, bucketId, index, byId, r)) report.rewritten++;
      } catch (error) {
        report.failed++;
        if (report.errors.length < 20) report.errors.push(`${r.nodeId}/${r.blobId}: ${String(error)}`);
      }
    }
    return "next";
  });
  return { ...report, ...walked };
}

/**
 * Records the roots of replicas whose index record knows them (a row missing from the account is counted too, as
 * placement-backfill would), then releases any the index dropped meanwhile. Returns how many stay recorded.
 */
async function recordRoots(db: Db, index: Pick<BucketIndexStub, "unreferenced">, blobs: { nodeId: string; blobId: string; bytes: number; merkleRoot: string }[], now: number): Promise<number> {
  if (blobs.length === 0) return 0;
  await recordPlacedBlobs(db, blobs, now);
  const gone = await index.unreferenced(blobs.map(({ nodeId, blobId }) => ({ nodeId, blobId })));
  await releasePlacedBlobs(db, gone);
  return blobs.length - gone.length;
}

/**
 * Rewrites one old replica as a unique one on the same node and swaps it into the index. False when the object
 * changed meanwhile (the new copy is discarded). A replica that fails its check is reported as a fault.
 */
async function rewriteAsUnique(env: Env, db: Db, now: number, bucketId: string, index: BucketIndexStub, byId: Map<string, NodeRow>, r: ReplicaOnNode): Promise<boolean> {
  const of = r.of!;
  const node = byId.get(r.nodeId);
  if (!node || node.status !== "active") throw new Error(`node ${r.nodeId} is not active`);
  const kek = env.KEY_ENCRYPTION_KEY;
  const blobId = newBlobId(bucketId);
  let copy;
  try {
    copy = await copyAsUniqueReplica({ kek, source: { node, replica: of.replica }, target: node, blobId, size: r.bytes });
  } catch (error) {
    if (error instanceof SourceReplicaError) await insertBlobFault(db, r.nodeId, r.blobId, "read_mismatch", now);
    throw error;
  }
  await recordPlacedBlobs(db, [{ nodeId: node.id, blobId, bytes: r.bytes, merkleRoot: `0x${copy.merkleRoot}` }], now);
  const swapped = await index.replaceReplicas(of.key, of.versionId, of.segment, r.blobId, [r.nodeId], [copy]);
  if (!swapped) {
    await discardUnused(db, kek, [{ node, blob: copy }]);
    return false;
  }
  await releaseDropped(db, kek, byId, [{ nodeId: r.nodeId, blobId: r.blobId }]);
  return true;
}
