// The replica index: which node holds which blob for which segment of which version. Kept in step with every
// version write; repair, drain and the orphan sweep read it instead of parsing every record.

import { isDeleteMarker, NULL_VERSION, type ObjectRecord, type ObjectVersion, type UploadedPart } from "../../../src/services/object-model.ts";
import type { IndexStore } from "./store.ts";

export function indexReplicas(store: IndexStore, version: ObjectVersion): void {
  if (isDeleteMarker(version)) return;
  version.segments.forEach((_, index) => indexReplicasOfSegment(store, version, index));
}

export function indexReplicasOfSegment(store: IndexStore, version: ObjectRecord, segment: number): void {
  for (const r of version.segments[segment]!.replicas) {
    store.sql.exec(
      "INSERT OR IGNORE INTO replicas (node_id, blob_id, key, version_id, segment) VALUES (?, ?, ?, ?, ?)",
      r.nodeId,
      r.blobId,
      version.key,
      version.versionId ?? NULL_VERSION,
      segment,
    );
  }
}

/** Forgets the replicas of one version (all its segments, or only `segment`). */
export function forgetReplicas(store: IndexStore, key: string, versionId: string, segment?: number): void {
  if (segment === undefined) store.sql.exec("DELETE FROM replicas WHERE key = ? AND version_id = ?", key, versionId);
  else store.sql.exec("DELETE FROM replicas WHERE key = ? AND version_id = ? AND segment = ?", key, versionId, segment);
}

/** How many replicas live on `nodeId` (a draining node is safe to remove at zero). */
export function countReplicasOn(store: IndexStore, nodeId: string): number {
  return store.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM replicas WHERE node_id = ?", nodeId).one().n;
}

/** Replicas per segment of every version, for checking that repair restored the replication factor. */
export function replicationSummary(store: IndexStore): { segments: number; byCount: Record<string, number> } {
  const rows = store.sql
    .exec<{ n: number; c: number }>("SELECT n, COUNT(*) AS c FROM (SELECT COUNT(*) AS n FROM replicas GROUP BY key, version_id, segment) GROUP BY n")
    .toArray();
  return { segments: rows.reduce((sum, r) => sum + r.c, 0), byCount: Object.fromEntries(rows.map((r) => [String(r.n), r.c])) };
}

/**
 * Does any version or in-progress upload part reference this blob on this node (orphan check)? Replicas of
 * one segment share a blob id, so the node matters: a copy left on a node repair moved away from is an orphan.
 */
export function references(store: IndexStore, blobId: string, nodeId: string): boolean {
  if (store.sql.exec("SELECT 1 FROM replicas WHERE blob_id = ? AND node_id = ? LIMIT 1", blobId, nodeId).toArray().length > 0) return true;
  return store.sql
    .exec<{ part: string }>("SELECT part FROM parts WHERE part LIKE ?", `%${blobId}%`)
    .toArray()
    .some((row) => (JSON.parse(row.part) as UploadedPart).replicas.some((r) => r.blobId === blobId && r.nodeId === nodeId));
}
