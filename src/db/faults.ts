// Queries over blob faults: replicas found corrupt or missing, waiting for the repair chore.

import { and, asc, count, eq, sql } from "drizzle-orm";
import type { Db } from "./client.ts";
import { blobFaults, nodes } from "./schema.ts";

export type FaultReason = (typeof blobFaults.$inferSelect)["reason"];

/** Each fault found on a node lowers its reputation by 10% (never below 0.05). */
const FAULT_REPUTATION_FACTOR = 0.9;
const MIN_REPUTATION = 0.05;

async function lowerReputation(db: Db, nodeId: string, faults: number): Promise<void> {
  if (faults === 0) return;
  await db
    .update(nodes)
    .set({ reputation: sql`max(${MIN_REPUTATION}, ${nodes.reputation} * ${FAULT_REPUTATION_FACTOR ** faults})` })
    .where(eq(nodes.id, nodeId));
}

export async function insertBlobFault(db: Db, nodeId: string, blobId: string, reason: FaultReason, now: number): Promise<void> {
  const inserted = await db.insert(blobFaults).values({ nodeId, blobId, reason, reportedAt: now }).onConflictDoNothing().returning({ blobId: blobFaults.blobId });
  await lowerReputation(db, nodeId, inserted.length);
}

export async function insertBlobFaults(db: Db, faults: { nodeId: string; blobId: string; reason: FaultReason }[], now: number): Promise<void> {
  // D1 caps bound parameters per statement; insert in slices.
  const perNode = new Map<string, number>();
  for (let i = 0; i < faults.length; i += 20) {
    const inserted = await db
      .insert(blobFaults)
      .values(faults.slice(i, i + 20).map((f) => ({ ...f, reportedAt: now })))
      .onConflictDoNothing()
      .returning({ nodeId: blobFaults.nodeId });
    for (const row of inserted) perNode.set(row.nodeId, (perNode.get(row.nodeId) ?? 0) + 1);
  }
  for (const [nodeId, count] of perNode) await lowerReputation(db, nodeId, count);
}

export async function listBlobFaults(db: Db, limit: number) {
  return db.select().from(blobFaults).orderBy(asc(blobFaults.reportedAt)).limit(limit).all();
}

export async function countBlobFaults(db: Db): Promise<number> {
  return (await db.select({ n: count() }).from(blobFaults).get())?.n ?? 0;
}

export async function deleteBlobFault(db: Db, nodeId: string, blobId: string): Promise<void> {
  await db.delete(blobFaults).where(and(eq(blobFaults.nodeId, nodeId), eq(blobFaults.blobId, blobId)));
}
