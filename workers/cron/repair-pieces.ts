// Repair of an erasure-coded segment, piece by piece. A piece is missing when it was never stored (its node failed
// during the write), when its node is unusable (silent past the grace period, suspended, draining), or when it was
// reported corrupt or missing. Each one is rebuilt on a node that holds no piece of the segment, in a zone still
// under its share of the pieces where one exists: that node pulls k healthy pieces through presigned
// GETs, decodes its piece stripe by stripe and keeps it only if it proves against the piece's Merkle root. The
// Worker moves no piece bytes, so a cron invocation's CPU and memory limits never bound a repair.

import { recordPlacedBlobs } from "../../src/db/placements.ts";
import type { Db } from "../../src/db/client.ts";
import type { NodeRow } from "../../src/db/schema.ts";
import { bucketIndexFor } from "../../src/services/bucket-indexes.ts";
import { deleteBlob, presignBlobGet, reconstructPiece } from "../../src/services/node-client.ts";
import type { BlobReplica, RepairWork } from "../../src/services/object-model.ts";
import { placeReplicas } from "../../src/services/placement.ts";
import { discardUnused, releaseDropped } from "./replaced-blobs.ts";
import type { Env } from "../../src/env.ts";

export interface PieceRepairContext {
  env: Env;
  db: Db;
  now: number;
  bucketId: string;
  byId: Map<string, NodeRow>;
  bad: Set<string>;
  placeable: NodeRow[];
}

/** Rebuilds every missing piece of one segment it can; throws when fewer than k healthy pieces are left. */
export async function repairErasureSegment(c: PieceRepairContext, item: RepairWork): Promise<void> {
  const code = item.erasure!;
  const kek = c.env.KEY_ENCRYPTION_KEY;
  const dropped = new Set(item.drop.map((r) => `${r.nodeId}/${r.blobId}`));
  const healthy = item.replicas.filter(
    (r) => r.piece !== undefined && !dropped.has(`${r.nodeId}/${r.blobId}`) && !c.bad.has(r.nodeId) && c.byId.get(r.nodeId)?.status === "active",
  );
  const healthyPieces = new Map<number, BlobReplica>();
  for (const r of healthy) if (!healthyPieces.has(r.piece!)) healthyPieces.set(r.piece!, r);
  if (healthyPieces.size < code.k) throw new Error(`only ${healthyPieces.size} healthy pieces left, ${code.k} needed to rebuild`);
  const missing = Array.from({ length: code.k + code.m }, (_, p) => p).filter((p) => !healthyPieces.has(p));
  // Sources: data pieces first (the cheapest decode), a fixed choice of k for every rebuilt piece.
  const sources = [...healthyPieces.entries()].sort(([a], [b]) => a - b).slice(0, code.k);

  const holding = new Set(healthy.map((r) => r.nodeId));
  // The write's zone rule (placePieces): no zone holds more than its share of the k+m pieces.
  const perZone = new Map<string | undefined, number>();
  for (const r of healthy) perZone.set(c.byId.get(r.nodeId)?.zone, (perZone.get(c.byId.get(r.nodeId)?.zone) ?? 0) + 1);
  // Zones counted from the registry, not from the nodes reachable now: while a zone is down its share must not
  // move into the others, or the segment would stay clumped after it returns and not survive the next outage.
  const registeredZones = new Set([...c.byId.values()].filter((n) => n.status !== "draining").map((n) => n.zone));
  const cap = Math.ceil((code.k + code.m) / Math.max(1, registeredZones.size));
  // Over the cap only when the zones under it cannot take the piece for good reason: none is down (a zone that is
  // down comes back, and its share waits for it), or the segment is one loss from unreadable (any redundancy
  // beats none). A zone that is up but has no free node (a node lost for good) lets its share go elsewhere.
  const reachableZones = new Set(c.placeable.map((n) => n.zone));
  // A zone all of whose nodes have been silent past the repair grace is lost, not down: its share goes elsewhere.
  const awaitedZones = new Set([...c.byId.values()].filter((n) => n.status !== "draining" && !c.bad.has(n.id)).map((n) => n.zone));
  const atRisk = healthyPieces.size <= code.k;
  const index = bucketIndexFor(c.env, c.bucketId);
  let firstError: unknown;
  for (const piece of missing) {
    const blobId = code.pieceBlobIds[piece]!;
    const root = code.pieceRoots[piece]!;
    const stale = item.replicas.filter((r) => r.piece === piece);
    try {
      const candidates = c.placeable.filter((n) => !holding.has(n.id) && !c.bad.has(n.id));
      const preferred = candidates.filter((n) => (perZone.get(n.zone) ?? 0) < cap);
      const zoneDownUnderCap = [...registeredZones].some((z) => !reachableZones.has(z) && awaitedZones.has(z) && (perZone.get(z) ?? 0) < cap);
      const overCapAllowed = atRisk || !zoneDownUnderCap;
      const [target] = placeReplicas(preferred.length > 0 || !overCapAllowed ? preferred : candidates, blobId, item.blobSize, 1);
      if (!target) throw new Error(`no node without a piece of this segment, in a zone under its share of ${cap}, has room for piece ${piece}`);
      // A node rebuilding over its own bad copy first drops it, so the old file is never taken for the new one.
      if (stale.some((r) => r.nodeId === target.id)) await deleteBlob(target, kek, blobId);
      const urls = await Promise.all(sources.map(async ([p, r]) => ({ piece: p, url: await presignBlobGet(c.byId.get(r.nodeId)!, kek, r.blobId) })));
      const stored = await reconstructPiece(target, kek, blobId, { k: code.k, m: code.m, piece, segmentBytes: code.segmentSize, merkleRoot: root, sources: urls });
      await recordPlacedBlobs(c.db, [{ nodeId: target.id, blobId, bytes: item.blobSize, merkleRoot: `0x${root}` }], c.now);
      const added: BlobReplica = { nodeId: target.id, blobId, sha256: stored.sha256, merkleRoot: root, piece };
      const swapped = await index.replaceReplicas(item.key, item.versionId, item.segment, blobId, stale.map((r) => r.nodeId), [added]);
      if (!swapped) {
        // The object changed while the piece was rebuilt: the new piece belongs to nothing.
        await discardUnused(c.db, kek, [{ node: target, blob: added }]);
        return;
      }
      holding.add(target.id);
      perZone.set(target.zone, (perZone.get(target.zone) ?? 0) + 1);
      await releaseDropped(c.db, kek, c.byId, stale.filter((r) => r.nodeId !== target.id));
    } catch (error) {
      firstError ??= error;
    }
  }
  if (firstError !== undefined) throw firstError;
}
