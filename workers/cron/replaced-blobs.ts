// What repair does with the copies a swap leaves behind, for replicas (repair.ts) and pieces (repair-pieces.ts)
// alike: the ones the index dropped leave the placement account and are deleted where their node still answers;
// a new copy the index did not take is deleted and then leaves the account.

import type { Db } from "../../src/db/client.ts";
import { releasePlacedBlobs, type BlobOnNode } from "../../src/db/placements.ts";
import type { NodeRow } from "../../src/db/schema.ts";
import { deleteBlob } from "../../src/services/node-client.ts";

/**
 * Copies the index no longer references leave their nodes' accounts, whether or not the node is up to delete them
 * (a node that comes back from the dead has its leftovers deleted by the orphan sweep); nodes that still answer
 * (draining ones) delete them now. A node suspended for its audits keeps its copies, and they stay in its account:
 * validators go on challenging them, which is how its score recovers and the suspension lifts; once it is active
 * again the orphan sweep (which skips suspended nodes) deletes them.
 */
export async function releaseDropped(db: Db, kek: string, byId: Map<string, NodeRow>, all: BlobOnNode[]): Promise<void> {
  const dropped = all.filter((r) => byId.get(r.nodeId)?.standing !== "suspended");
  await releasePlacedBlobs(db, dropped);
  for (const r of dropped) {
    const node = byId.get(r.nodeId);
    if (node && node.status !== "offline" && node.lastHeartbeatAt !== null) await deleteBlob(node, kek, r.blobId).catch(() => {});
  }
}

/**
 * New copies that belong to nothing (the object changed while they were made): deleted, and out of the account once
 * deleted; one that cannot be deleted now stays counted until the orphan sweep deletes it.
 */
export async function discardUnused(db: Db, kek: string, copies: { node: NodeRow; blob: BlobOnNode }[]): Promise<void> {
  await Promise.all(
    copies.map(async ({ node, blob }) => {
      if (await deleteBlob(node, kek, blob.blobId).then(() => true, () => false)) await releasePlacedBlobs(db, [blob]);
    }),
  );
}
