// Chore: brings every segment back to full redundancy: its bucket's replication factor, or all k+m pieces of an
// erasure-coded segment (repair-pieces.ts). A replica needs replacing when its node
// has been silent past REPAIR_GRACE_SECONDS, is suspended or draining, or when the blob was reported corrupt or
// missing (scrub, or a read that failed verification); a segment written with too few replicas needs more.
// A sealed segment's new copy goes through the edge (replica-upload.ts): read from a healthy replica, checked,
// unmasked, masked afresh for the target under a new blob id, proven against its own root. A node never receives a
// sibling's copy it could keep instead of its own. Only segments stored before edge encryption (plaintext, never
// masked) still copy node to node: the target pulls a presigned GET from a healthy source and verifies the SHA-256.
// Bounded per run in segments and concurrency, so a large backlog drains over several runs.

import { configOf } from "../../src/config.ts";
import { bucketIndexFor } from "../../src/services/bucket-indexes.ts";
import { listAllBuckets } from "../../src/db/accounts.ts";
import { openDb } from "../../src/db/client.ts";
import { deleteBlobFault, insertBlobFault, listBlobFaults } from "../../src/db/faults.ts";
import { recordPlacedBlobs } from "../../src/db/placements.ts";
import { listNodes, listPlaceableNodes } from "../../src/db/registry.ts";
import type { NodeRow } from "../../src/db/schema.ts";
import type { Env } from "../../src/env.ts";
import { bucketIdOfBlob, newBlobId } from "../../src/services/blob-storage.ts";
import type { BucketIndexStub } from "../../src/services/bucket-indexes.ts";
import { copyAsUniqueReplica, SourceReplicaError } from "../../src/services/replica-upload.ts";
import { deleteBlob, presignBlobGet, replicateBlob } from "../../src/services/node-client.ts";
import type { BlobReplica, RepairWork } from "../../src/services/object-model.ts";
import { placeReplicas } from "../../src/services/placement.ts";
import { EXCLUDED_STANDINGS } from "../../src/services/reputation.ts";
import { repairErasureSegment } from "./repair-pieces.ts";
import { discardUnused, releaseDropped } from "./replaced-blobs.ts";

const MAX_SEGMENTS_PER_RUN = 200;
const CONCURRENCY = 4;

export interface RepairReport {
  chore: "repair";
  badNodes: string[];
  faults: number;
  examined: number;
  repaired: number;
  failed: number;
  /** Segments still needing repair that this run did not reach (0 when it caught up). */
  backlog: number;
  errors: string[];
}

/**
 * Nodes whose replicas no longer count: silent past the grace period, suspended (by an admin or the stake check) or
 * draining, or suspended or disqualified by their audits.
 */
export function unusableNodes(nodes: NodeRow[], now: number, graceMs: number): Set<string> {
  return new Set(
    nodes
      .filter(
        (n) =>
          n.status === "suspended" ||
          n.status === "draining" ||
          EXCLUDED_STANDINGS.includes(n.standing) ||
          n.lastHeartbeatAt === null ||
          n.lastHeartbeatAt < now - graceMs,
      )
      .map((n) => n.id),
  );
}

export async function runOnce(env: Env, now: Date): Promise<RepairReport> {
  const db = openDb(env.DB);
  const t = now.getTime();
  const graceMs = configOf(env).repairGraceMs;
  const allNodes = await listNodes(db);
  const byId = new Map(allNodes.map((n) => [n.id, n]));
  const bad = unusableNodes(allNodes, t, graceMs);
  const placeable = await listPlaceableNodes(db, t, configOf(env).nodeOfflineAfterMs);
  const faults = await listBlobFaults(db, 10_000);
  const report: RepairReport = { chore: "repair", badNodes: [...bad], faults: faults.length, examined: 0, repaired: 0, failed: 0, backlog: 0, errors: [] };

  const work: { bucketId: string; rf: number; item: RepairWork }[] = [];
  for (const bucket of await listAllBuckets(db)) {
    const bucketFaults = faults.filter((f) => bucketIdOfBlob(f.blobId) === bucket.id).map(({ nodeId, blobId }) => ({ nodeId, blobId }));
    const index = bucketIndexFor(env, bucket.id);
    const items = await index.findRepairWork([...bad], bucketFaults, bucket.replicationFactor, MAX_SEGMENTS_PER_RUN + 1);
    for (const item of items) work.push({ bucketId: bucket.id, rf: bucket.replicationFactor, item });
  }
  report.backlog = Math.max(0, work.length - MAX_SEGMENTS_PER_RUN);
  const batch = work.slice(0, MAX_SEGMENTS_PER_RUN);
  report.examined = batch.length;

  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < batch.length) {
        const { bucketId, rf, item } = batch[next++]!;
        try {
          if (item.erasure) await repairErasureSegment({ env, db, now: t, bucketId, byId, bad, placeable }, item);
          else await repairSegment(env, t, bucketId, rf, item, byId, bad, placeable);
          // The replaced replicas' faults are settled (a fresh copy may sit under the same node and blob id).
          for (const r of item.drop) await deleteBlobFault(db, r.nodeId, r.blobId);
          report.repaired++;
        } catch (error) {
          report.failed++;
          if (report.errors.length < 20) report.errors.push(`${item.key}#${item.segment}: ${String(error)}`);
        }
      }
    }),
  );
  // Faults whose replica is no longer referenced anywhere (repaired, or the object deleted) are settled: one
  // index call per bucket, never one per fault.
  const faultsByBucket = new Map<string | undefined, typeof faults>();
  for (const fault of faults) {
    const bucketId = bucketIdOfBlob(fault.blobId);
    faultsByBucket.set(bucketId, [...(faultsByBucket.get(bucketId) ?? []), fault]);
  }
  for (const [bucketId, bucketFaults] of faultsByBucket) {
    const stillThere = new Set<string>();
    if (bucketId) {
      const pairs = bucketFaults.map(({ nodeId, blobId }) => ({ nodeId, blobId }));
      // With a replication factor of 1 only the faulty replicas make work; every such segment fits the limit.
      for (const item of await bucketIndexFor(env, bucketId).findRepairWork([], pairs, 1, pairs.length)) {
        for (const r of item.drop) stillThere.add(`${r.nodeId}/${r.blobId}`);
      }
    }
    for (const fault of bucketFaults) if (!stillThere.has(`${fault.nodeId}/${fault.blobId}`)) await deleteBlobFault(db, fault.nodeId, fault.blobId);
  }
  return report;
}

async function repairSegment(
  env: Env,
  now: number,
  bucketId: string,
  rf: number,
  item: RepairWork,
  byId: Map<string, NodeRow>,
  bad: Set<string>,
  placeable: NodeRow[],
): Promise<void> {
  const db = openDb(env.DB);
  const dropped = new Set(item.drop.map((r) => `${r.nodeId}/${r.blobId}`));
  const healthy = item.replicas.filter((r) => !dropped.has(`${r.nodeId}/${r.blobId}`) && !bad.has(r.nodeId) && byId.get(r.nodeId)?.status === "active");
  const source = healthy[0];
  if (!source) throw new Error("no healthy replica left to copy from");
  const blobId = source.blobId;
  // A node whose copy is corrupt or missing may take a fresh one (written atomically over the bad one).
  const holding = new Set(healthy.map((r) => r.nodeId));
  const unusable = new Set([...bad, ...item.replicas.filter((r) => bad.has(r.nodeId)).map((r) => r.nodeId)]);
  const needed = rf - healthy.length;
  const added: BlobReplica[] = [];
  if (needed > 0) {
    // Same placement rules as a write, among nodes that hold no replica of this segment yet; zone diversity
    // counts the replicas that stay.
    const stayingZones = new Set(healthy.map((r) => byId.get(r.nodeId)?.zone));
    const candidates = placeable.filter((n) => !holding.has(n.id) && !unusable.has(n.id));
    const preferred = candidates.filter((n) => !stayingZones.has(n.zone));
    const targets = placeReplicas(preferred.length >= needed ? preferred : candidates, blobId, item.blobSize, needed);
    if (targets.length === 0) throw new Error("no node has room for a new replica");
    const sourceNode = byId.get(source.nodeId)!;
    for (const target of targets) {
      if (item.sealed) {
        added.push(await copyFromHealthy(env, now, bucketId, item, healthy, byId, target));
        continue;
      }
      // A node replacing its own corrupt or missing copy first drops what is left of it: the node would
      // otherwise take the recorded SHA-256 of the old file as proof it already has the blob.
      if (item.drop.some((r) => r.nodeId === target.id)) await deleteBlob(target, env.KEY_ENCRYPTION_KEY, blobId);
      const sourceUrl = await presignBlobGet(sourceNode, env.KEY_ENCRYPTION_KEY, blobId);
      const stored = await replicateBlob(target, env.KEY_ENCRYPTION_KEY, blobId, { sourceUrl, sha256: source.sha256, size: item.blobSize });
      added.push({ nodeId: target.id, blobId, sha256: stored.sha256 });
      await recordPlacedBlobs(db, [{ nodeId: target.id, blobId, bytes: item.blobSize }], now);
    }
  }
  const removed = item.replicas.filter((r) => !healthy.includes(r));
  const index = bucketIndexFor(env, bucketId);
  const swapped = await swapReplicas(index, item, blobId, removed, added);
  if (!swapped) {
    // The object changed while we copied: the new copies belong to nothing.
    await discardUnused(db, env.KEY_ENCRYPTION_KEY, added.map((a) => ({ node: byId.get(a.nodeId) ?? placeable.find((n) => n.id === a.nodeId)!, blob: a })));
    return;
  }
  // The replicas the index dropped (a node that just got a fresh copy keeps it).
  // Fresh unique copies have blob ids of their own, so a node's old copy is dropped even where it got a new one.
  await releaseDropped(db, env.KEY_ENCRYPTION_KEY, byId, removed.filter((x) => !added.some((a) => a.nodeId === x.nodeId && a.blobId === x.blobId)));
}

/**
 * A fresh unique replica of the segment on `target` (new blob id), copied through the edge from the first healthy
 * replica that proves good; one that does not is reported as a fault (the next run repairs it too).
 */
async function copyFromHealthy(env: Env, now: number, bucketId: string, item: RepairWork, healthy: BlobReplica[], byId: Map<string, NodeRow>, target: NodeRow): Promise<BlobReplica> {
  const db = openDb(env.DB);
  const blobId = newBlobId(bucketId);
  let lastError: unknown = new Error("no healthy replica left to copy from");
  for (const source of healthy) {
    try {
      const copy = await copyAsUniqueReplica({ kek: env.KEY_ENCRYPTION_KEY, source: { node: byId.get(source.nodeId)!, replica: source }, target, blobId, size: item.blobSize });
      await recordPlacedBlobs(db, [{ nodeId: target.id, blobId, bytes: item.blobSize, merkleRoot: `0x${copy.merkleRoot}` }], now);
      return copy;
    } catch (error) {
      if (!(error instanceof SourceReplicaError)) throw error;
      await insertBlobFault(db, source.nodeId, source.blobId, "read_mismatch", now);
      lastError = error;
    }
  }
  throw lastError;
}

/**
 * Swaps a segment's replicas in its index: `removed` out, `added` in. The index swaps one blob id at a time, and a
 * segment's unique replicas each have their own, so the removals are grouped by blob id; the first swap (with the
 * additions) also tells whether the object changed meanwhile.
 */
export async function swapReplicas(
  index: Pick<BucketIndexStub, "replaceReplicas">,
  item: Pick<RepairWork, "key" | "versionId" | "segment">,
  anchorBlobId: string,
  removed: readonly BlobReplica[],
  added: BlobReplica[],
): Promise<boolean> {
  const byBlob = new Map<string, string[]>([[anchorBlobId, []]]);
  for (const r of removed) byBlob.set(r.blobId, [...(byBlob.get(r.blobId) ?? []), r.nodeId]);
  let first = true;
  for (const [blobId, nodes] of byBlob) {
    if (!first && nodes.length === 0) continue;
    const swapped = await index.replaceReplicas(item.key, item.versionId, item.segment, blobId, nodes, first ? added : []);
    if (first && !swapped) return false;
    first = false;
  }
  return true;
}
