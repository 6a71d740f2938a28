// Chore: brings data written before the placement account existed into it. The previous release stored blobs
// without `placed_blobs` rows, so their bytes did not count against their nodes' capacity, and a node's scrub
// report about them was ignored (the edge accepts findings only on blobs it placed on that node): a corrupt or
// missing old blob was never repaired. This walks every bucket's replica index once, a bounded number of pages
// per run, counts each replica not yet counted, and keeps its place in D1; once through, a run costs one read.
//
// A blob deleted, or moved away by repair, between the index read and the record would stay counted with nobody
// left to release it: its delete found no row to release. So after recording a page the chore asks the index
// which of the pairs it recorded are still referenced and releases the others. A delete that changes the index
// after that check finds the row and releases it itself (deletes and repairs release after the index changes).

import { openDb, type Db } from "../../src/db/client.ts";
import { placedOnNode, recordPlacedBlobs, releasePlacedBlobs } from "../../src/db/placements.ts";
import type { Env } from "../../src/env.ts";
import type { BucketIndexStub } from "../../src/services/bucket-indexes.ts";
import type { ReplicaOnNode } from "../durable/bucket-index/bucket-index.ts";
import { walkReplicaIndexes, type WalkBudget } from "./replica-walk.ts";

export const CHORE_NAME = "placement-backfill";

export type BackfillBudget = WalkBudget;

/** At most 2,000 index rows a run: about a hundred D1 batches and twenty index calls, well inside one cron invocation. */
export const DEFAULT_BUDGET: BackfillBudget = { pagesPerRun: 10, pageSize: 200 };

export interface PlacementBackfillReport {
  chore: typeof CHORE_NAME;
  /** The walk has finished (this run or an earlier one). */
  done: boolean;
  pages: number;
  /** Replicas read from the index. */
  replicas: number;
  /** Replicas newly counted in their nodes' accounts. */
  recorded: number;
  /** Replicas counted and released again because the index dropped them meanwhile. */
  released: number;
}

export async function runOnce(env: Env, now: Date, budget: BackfillBudget = DEFAULT_BUDGET): Promise<PlacementBackfillReport> {
  const db = openDb(env.DB);
  const t = now.getTime();
  const report: PlacementBackfillReport = { chore: CHORE_NAME, done: false, pages: 0, replicas: 0, recorded: 0, released: 0 };
  const walked = await walkReplicaIndexes(env, db, CHORE_NAME, budget, t, async (page) => {
    report.replicas += page.replicas.length;
    const counted = await accountReplicas(db, page.index, page.replicas, t);
    report.recorded += counted.recorded;
    report.released += counted.released;
    return "next";
  });
  return { ...report, ...walked };
}

/**
 * Counts the replicas the index listed that their nodes' accounts lack, then releases those the index no longer
 * references (the race above). Replicas already counted are left alone: whoever counted them releases them.
 */
export async function accountReplicas(
  db: Db,
  index: Pick<BucketIndexStub, "unreferenced">,
  replicas: readonly ReplicaOnNode[],
  now: number,
): Promise<{ recorded: number; released: number }> {
  const byNode = new Map<string, Map<string, ReplicaOnNode>>();
  for (const r of replicas) {
    const blobs = byNode.get(r.nodeId) ?? new Map<string, ReplicaOnNode>();
    blobs.set(r.blobId, r);
    byNode.set(r.nodeId, blobs);
  }
  const absent: ReplicaOnNode[] = [];
  for (const [nodeId, blobs] of byNode) {
    const placed = await placedOnNode(db, nodeId, [...blobs.keys()]);
    for (const r of blobs.values()) if (!placed.has(r.blobId)) absent.push(r);
  }
  if (absent.length === 0) return { recorded: 0, released: 0 };
  await recordPlacedBlobs(db, absent, now);
  const gone = await index.unreferenced(absent.map(({ nodeId, blobId }) => ({ nodeId, blobId })));
  await releasePlacedBlobs(db, gone);
  return { recorded: absent.length - gone.length, released: gone.length };
}
