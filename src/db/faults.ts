// Queries over blob faults: replicas found corrupt or missing, waiting for the repair chore.

import { and, asc, count, eq } from "drizzle-orm";
import type { Db } from "./client.ts";
import { blobFaults } from "./schema.ts";

export type FaultReason = (typeof blobFaults.$inferSelect)["reason"];

export async function insertBlobFault(db: Db, nodeId: string, blobId: string, reason: FaultReason, now: number): Promise<void> {
  await db.insert(blobFaults).values({ nodeId, blobId, reason, reportedAt: now }).onConflictDoNothing();
}

export async function insertBlobFaults(db: Db, faults: { nodeId: string; blobId: string; reason: FaultReason }[], now: number): Promise<void> {
  // D1 caps bound parameters per statement; insert in slices.
  for (let i = 0; i < faults.length; i += 20) {
    await db
      .insert(blobFaults)
      .values(faults.slice(i, i + 20).map((f) => ({ ...f, reportedAt: now })))
      .onConflictDoNothing();
  }
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
