// What the repair and drain chores ask of a bucket: which segments lack healthy replicas, and swapping a
// segment's replicas once a copy has been made elsewhere.

import { blobSizeOf, isDeleteMarker, type BlobReplica, type ObjectRecord, type RepairWork } from "../../../src/services/object-model.ts";
import { forgetReplicas, indexReplicasOfSegment } from "./replicas.ts";
import type { IndexStore } from "./store.ts";
import { getObject, getVersion, writeCurrent } from "./versions.ts";

/**
 * Segments that need repair: with a replica on one of `badNodes`, with one of the `faulty` replicas, or with
 * fewer than `replicationFactor` replicas. Each comes with its current replicas and the ones to drop.
 */
export function findRepairWork(
  store: IndexStore,
  badNodes: string[],
  faulty: { nodeId: string; blobId: string }[],
  replicationFactor: number,
  limit: number,
): RepairWork[] {
  const found = new Map<string, RepairWork>();
  const add = (key: string, versionId: string, segment: number) => {
    const id = `${versionId}\u0000${segment}\u0000${key}`;
    if (found.has(id) || found.size >= limit) return;
    const version = getVersion(store, key, versionId);
    if (!version || isDeleteMarker(version)) return;
    const seg = version.segments[segment];
    if (!seg) return;
    if (seg.inline !== undefined) return;
    const drop = seg.replicas.filter((r) => badNodes.includes(r.nodeId) || faulty.some((f) => f.nodeId === r.nodeId && f.blobId === r.blobId));
    const wanted = seg.erasure ? seg.erasure.k + seg.erasure.m : replicationFactor;
    if (drop.length === 0 && seg.replicas.length >= wanted) return;
    found.set(id, {
      key,
      versionId,
      segment,
      blobSize: blobSizeOf(seg),
      replicas: seg.replicas,
      drop,
      ...(seg.erasure ? { erasure: { ...seg.erasure, segmentSize: seg.size } } : {}),
      ...(seg.encryption ? { sealed: true } : {}),
    });
  };
  for (const nodeId of badNodes) {
    for (const row of store.sql
      .exec<{ key: string; version_id: string; segment: number }>("SELECT key, version_id, segment FROM replicas WHERE node_id = ? LIMIT ?", nodeId, limit)
      .toArray()) {
      add(row.key, row.version_id, row.segment);
    }
  }
  for (const f of faulty) {
    for (const row of store.sql
      .exec<{ key: string; version_id: string; segment: number }>("SELECT key, version_id, segment FROM replicas WHERE node_id = ? AND blob_id = ?", f.nodeId, f.blobId)
      .toArray()) {
      add(row.key, row.version_id, row.segment);
    }
  }
  // Segments written with fewer replicas (or pieces) than they should have (one failed during the write).
  for (const row of store.sql
    .exec<{ key: string; version_id: string; segment: number }>(
      `SELECT r.key, r.version_id, r.segment FROM replicas r
       LEFT JOIN erasure_segments e ON e.key = r.key AND e.version_id = r.version_id AND e.segment = r.segment
       GROUP BY r.key, r.version_id, r.segment HAVING COUNT(*) < COALESCE(MAX(e.pieces), ?) LIMIT ?`,
      replicationFactor,
      limit,
    )
    .toArray()) {
    add(row.key, row.version_id, row.segment);
  }
  return [...found.values()];
}

/**
 * Swaps replicas of one segment after repair: drops the copies of `blobId` on `remove` (node ids) and adds `add`.
 * For an erasure-coded segment `blobId` names one piece. False when the version is gone or no longer has that
 * segment (deleted or overwritten while the copy ran).
 */
export function replaceReplicas(
  store: IndexStore,
  key: string,
  versionId: string,
  segment: number,
  blobId: string,
  remove: string[],
  add: BlobReplica[],
): boolean {
  const version = getVersion(store, key, versionId);
  if (!version || isDeleteMarker(version)) return false;
  const seg = version.segments[segment];
  const known = seg?.erasure ? seg.erasure.pieceBlobIds.includes(blobId) : seg?.replicas.some((r) => r.blobId === blobId);
  if (!seg || !known) return false;
  const replicas = [
    ...seg.replicas.filter((r) => !(r.blobId === blobId && remove.includes(r.nodeId)) && !(r.blobId === blobId && add.some((a) => a.nodeId === r.nodeId))),
    ...add,
  ];
  const updated: ObjectRecord = { ...version, segments: version.segments.map((s, i) => (i === segment ? { ...s, replicas } : s)) };
  store.transactionSync(() => {
    store.sql.exec("UPDATE versions SET record = ? WHERE key = ? AND version_id = ?", JSON.stringify(updated), key, versionId);
    forgetReplicas(store, key, versionId, segment);
    indexReplicasOfSegment(store, updated, segment);
    if (getObject(store, key)?.versionId === versionId) writeCurrent(store, updated);
  });
  return true;
}
