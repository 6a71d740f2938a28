// The per-node account of bytes the edge has placed: one `placed_blobs` row per (node, blob) and its running sum
// in `nodes.placed_bytes`. Each change to a row and to the sum goes in one D1 batch (a transaction), and each
// is conditioned on the row's presence, so a write, delete or repair that is retried never counts twice.

import { and, eq, inArray, notExists, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Db } from "./client.ts";
import { nodes, placedBlobs } from "./schema.ts";

export interface PlacedBlob {
  nodeId: string;
  blobId: string;
  /** Bytes stored on the node for this blob. */
  bytes: number;
  /** 0x-hex Merkle root of the blob as stored there, when known: what validators challenge it against. */
  merkleRoot?: string;
}

export interface BlobOnNode {
  nodeId: string;
  blobId: string;
}

/** Pairs of statements per D1 batch: D1 caps statements per batch and bound parameters per statement. */
const PAIRS_PER_BATCH = 25;

async function inBatches<T>(db: Db, items: readonly T[], statements: (item: T) => [BatchItem<"sqlite">, BatchItem<"sqlite">]): Promise<void> {
  for (let i = 0; i < items.length; i += PAIRS_PER_BATCH) {
    const batch = items.slice(i, i + PAIRS_PER_BATCH).flatMap(statements);
    if (batch.length > 0) await db.batch(batch as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
  }
}

/** Counts blobs now stored on their nodes; a blob already counted on a node is left as it is. */
export async function recordPlacedBlobs(db: Db, blobs: readonly PlacedBlob[], now: number): Promise<void> {
  await inBatches(db, blobs, (b) => [
    // The sum moves first, and only while the row is absent; the insert then makes a retry a no-op.
    db
      .update(nodes)
      .set({ placedBytes: sql`${nodes.placedBytes} + ${b.bytes}` })
      .where(
        and(
          eq(nodes.id, b.nodeId),
          notExists(db.select({ one: sql`1` }).from(placedBlobs).where(and(eq(placedBlobs.nodeId, b.nodeId), eq(placedBlobs.blobId, b.blobId)))),
        ),
      ),
    // A retry that now knows the root records it; an existing root is never replaced by a different one.
    db
      .insert(placedBlobs)
      .values({ nodeId: b.nodeId, blobId: b.blobId, bytes: b.bytes, placedAt: now, merkleRoot: b.merkleRoot ?? null })
      .onConflictDoUpdate({ target: [placedBlobs.nodeId, placedBlobs.blobId], set: { merkleRoot: sql`coalesce(${placedBlobs.merkleRoot}, excluded.merkle_root)` } }),
  ]);
}

/** Stops counting blobs deleted from (or abandoned on) their nodes; blobs not counted are ignored. */
export async function releasePlacedBlobs(db: Db, blobs: readonly BlobOnNode[]): Promise<void> {
  await inBatches(db, blobs, (b) => [
    db
      .update(nodes)
      .set({
        placedBytes: sql`max(0, ${nodes.placedBytes} - coalesce((select ${placedBlobs.bytes} from ${placedBlobs} where ${placedBlobs.nodeId} = ${b.nodeId} and ${placedBlobs.blobId} = ${b.blobId}), 0))`,
      })
      .where(eq(nodes.id, b.nodeId)),
    db.delete(placedBlobs).where(and(eq(placedBlobs.nodeId, b.nodeId), eq(placedBlobs.blobId, b.blobId))),
  ]);
}

/** Which of `blobIds` the edge placed on `nodeId` (and has not deleted). */
export async function placedOnNode(db: Db, nodeId: string, blobIds: readonly string[]): Promise<Set<string>> {
  const found = new Set<string>();
  // D1 allows 100 bound parameters per statement.
  for (let i = 0; i < blobIds.length; i += 90) {
    const rows = await db
      .select({ blobId: placedBlobs.blobId })
      .from(placedBlobs)
      .where(and(eq(placedBlobs.nodeId, nodeId), inArray(placedBlobs.blobId, blobIds.slice(i, i + 90))))
      .all();
    for (const row of rows) found.add(row.blobId);
  }
  return found;
}
