// Chore: deletes orphan blobs, stored on a node but referenced by no object, version or upload part, once
// they are older than ORPHAN_GRACE_SECONDS (a write in flight is not yet referenced). The blob id names the
// bucket whose index would reference it. Bounded per node per run; the listing resumes where it stopped.

import { configOf } from "../../src/config.ts";
import { bucketIndexFor } from "../../src/services/bucket-indexes.ts";
import { openDb } from "../../src/db/client.ts";
import { releasePlacedBlobs } from "../../src/db/placements.ts";
import { listPlaceableNodes } from "../../src/db/registry.ts";
import type { Env } from "../../src/env.ts";
import { bucketIdOfBlob } from "../../src/services/blob-storage.ts";
import { deleteBlob, listNodeBlobs } from "../../src/services/node-client.ts";

const PAGES_PER_NODE = 5;

export interface OrphanSweepReport {
  chore: "orphan-sweep";
  nodes: number;
  examined: number;
  deleted: number;
}

/** Where each node's listing resumes next run (per isolate; starting over is only slower, never wrong). */
const resumeAfter = new Map<string, string>();

export async function runOnce(env: Env, now: Date): Promise<OrphanSweepReport> {
  const db = openDb(env.DB);
  const cutoff = now.getTime() - configOf(env).orphanGraceMs;
  const nodes = await listPlaceableNodes(db, now.getTime(), configOf(env).nodeOfflineAfterMs);
  const report: OrphanSweepReport = { chore: "orphan-sweep", nodes: nodes.length, examined: 0, deleted: 0 };
  for (const node of nodes) {
    let after = resumeAfter.get(node.id);
    for (let page = 0; page < PAGES_PER_NODE; page++) {
      const listing = await listNodeBlobs(node, env.KEY_ENCRYPTION_KEY, after).catch(() => undefined);
      if (!listing) break;
      for (const blob of listing.blobs) {
        report.examined++;
        if (blob.createdAt > cutoff) continue;
        const bucketId = bucketIdOfBlob(blob.blobId);
        const referenced = bucketId ? await bucketIndexFor(env, bucketId).references(blob.blobId, node.id) : false;
        if (!referenced) {
          const deleted = await deleteBlob(node, env.KEY_ENCRYPTION_KEY, blob.blobId).then(
            () => true,
            () => false,
          );
          // An orphan the edge had counted (a write whose commit never came) leaves the node's account too.
          if (deleted) await releasePlacedBlobs(db, [{ nodeId: node.id, blobId: blob.blobId }]);
          report.deleted++;
        }
      }
      after = listing.next;
      if (!after) break;
    }
    if (after) resumeAfter.set(node.id, after);
    else resumeAfter.delete(node.id);
  }
  return report;
}
