// The replica index: which node holds which blob for which segment of which version. Kept in step with every
// version write; repair, drain and the orphan sweep read it instead of parsing every record.

import { blobSizeOf, isDeleteMarker, NULL_VERSION, type BlobReplica, type ObjectRecord, type ObjectVersion, type UploadedPart } from "../../../src/services/object-model.ts";
import type { IndexStore } from "./store.ts";

export function indexReplicas(store: IndexStore, version: ObjectVersion): void {
  if (isDeleteMarker(version)) return;
  version.segments.forEach((_, index) => indexReplicasOfSegment(store, version, index));
}

export function indexReplicasOfSegment(store: IndexStore, version: ObjectRecord, segment: number): void {
  const seg = version.segments[segment]!;
  if (seg.erasure) {
    store.sql.exec(
      "INSERT OR REPLACE INTO erasure_segments (key, version_id, segment, pieces) VALUES (?, ?, ?, ?)",
      version.key,
      version.versionId ?? NULL_VERSION,
      segment,
      seg.erasure.k + seg.erasure.m,
    );
  }
  for (const r of seg.replicas) {
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
  for (const table of ["replicas", "erasure_segments"]) {
    if (segment === undefined) store.sql.exec(`DELETE FROM ${table} WHERE key = ? AND version_id = ?`, key, versionId);
    else store.sql.exec(`DELETE FROM ${table} WHERE key = ? AND version_id = ? AND segment = ?`, key, versionId, segment);
  }
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
  // instr, not LIKE: Durable Object SQLite refuses LIKE patterns over 50 bytes, and a blob id has 65 characters.
  return store.sql
    .exec<{ part: string }>("SELECT part FROM parts WHERE instr(part, ?) > 0", blobId)
    .toArray()
    .some((row) => (JSON.parse(row.part) as UploadedPart).replicas.some((r) => r.blobId === blobId && r.nodeId === nodeId));
}

/** One replica as its node's placement account counts it: the bytes of the blob stored there. */
export interface ReplicaOnNode {
  nodeId: string;
  blobId: string;
  bytes: number;
  /**
   * Replica rows only (not upload parts): where the replica is recorded and what its record says, for the
   * audit-roots chore. `pieceRoot` is an erasure piece's root (hex) from the segment; `sealed`, whether the blob is
   * edge-encrypted (a plain copy cannot be masked).
   */
  of?: { key: string; versionId: string; segment: number; replica: BlobReplica; pieceRoot?: string; sealed: boolean };
}

/**
 * Where a walk over every replica the index knows resumes: after a row of the replica index (the segments of
 * versions), then after a part of an upload in progress, whose replicas live only in the part until completion.
 */
export type ReplicaCursor =
  | { in: "replicas"; key: string; versionId: string; segment: number; nodeId: string; blobId: string }
  | { in: "parts"; uploadId: string; partNumber: number };

export interface ReplicaPage {
  replicas: ReplicaOnNode[];
  /** Null when the walk has seen everything. */
  next: ReplicaCursor | null;
}

/**
 * Up to `limit` index rows after `after` (replica rows, then upload parts) as the replicas they record. The walk
 * follows (key, version, segment) so each version's record is parsed once per page, not once per replica.
 */
export function listReplicaPage(store: IndexStore, after: ReplicaCursor | null, limit: number): ReplicaPage {
  const replicas: ReplicaOnNode[] = [];
  let rowsLeft = Math.max(1, limit);
  if (after === null || after.in === "replicas") {
    const from = after ?? { key: "", versionId: "", segment: -1, nodeId: "", blobId: "" };
    const rows = store.sql
      .exec<{ node_id: string; blob_id: string; key: string; version_id: string; segment: number }>(
        `SELECT node_id, blob_id, key, version_id, segment FROM replicas
         WHERE (key, version_id, segment, node_id, blob_id) > (?, ?, ?, ?, ?)
         ORDER BY key, version_id, segment, node_id, blob_id LIMIT ?`,
        from.key,
        from.versionId,
        from.segment,
        from.nodeId,
        from.blobId,
        rowsLeft,
      )
      .toArray();
    const records = new Map<string, ObjectRecord | null>();
    for (const row of rows) {
      const id = `${row.key}\u0000${row.version_id}`;
      if (!records.has(id)) {
        const version = store.sql.exec<{ record: string }>("SELECT record FROM versions WHERE key = ? AND version_id = ?", row.key, row.version_id).toArray()[0];
        const parsed = version ? (JSON.parse(version.record) as ObjectVersion) : null;
        records.set(id, parsed && !isDeleteMarker(parsed) ? parsed : null);
      }
      const segment = records.get(id)?.segments[row.segment];
      // A replica row always has its version; one that does not is skipped rather than counted with a guess.
      if (segment) {
        const replica = segment.replicas.find((r) => r.nodeId === row.node_id && r.blobId === row.blob_id);
        const pieceRoot = replica?.piece !== undefined ? segment.erasure?.pieceRoots[replica.piece] : undefined;
        replicas.push({
          nodeId: row.node_id,
          blobId: row.blob_id,
          bytes: blobSizeOf(segment),
          ...(replica
            ? { of: { key: row.key, versionId: row.version_id, segment: row.segment, replica, ...(pieceRoot ? { pieceRoot } : {}), sealed: segment.encryption !== undefined } }
            : {}),
        });
      }
    }
    const last = rows[rows.length - 1];
    if (last && rows.length === rowsLeft) {
      return { replicas, next: { in: "replicas", key: last.key, versionId: last.version_id, segment: last.segment, nodeId: last.node_id, blobId: last.blob_id } };
    }
    rowsLeft -= rows.length;
  }
  const from = after?.in === "parts" ? after : { uploadId: "", partNumber: 0 };
  const parts = store.sql
    .exec<{ upload_id: string; part_number: number; part: string }>(
      "SELECT upload_id, part_number, part FROM parts WHERE (upload_id, part_number) > (?, ?) ORDER BY upload_id, part_number LIMIT ?",
      from.uploadId,
      from.partNumber,
      rowsLeft,
    )
    .toArray();
  for (const row of parts) {
    const part = JSON.parse(row.part) as UploadedPart;
    for (const r of part.replicas) replicas.push({ nodeId: r.nodeId, blobId: r.blobId, bytes: blobSizeOf(part) });
  }
  const last = parts[parts.length - 1];
  return { replicas, next: last && parts.length === rowsLeft ? { in: "parts", uploadId: last.upload_id, partNumber: last.part_number } : null };
}

/** Which of `pairs` no version or upload part references any more (deleted, or moved away by repair). */
export function unreferenced(store: IndexStore, pairs: readonly { nodeId: string; blobId: string }[]): { nodeId: string; blobId: string }[] {
  return pairs.filter((p) => !references(store, p.blobId, p.nodeId));
}
