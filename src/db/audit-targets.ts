// What the challenge coordinator may challenge: active nodes, and on each the blobs the edge placed there whose
// Merkle root it recorded (erasure pieces, and unique replicas), read from the per-node placement account.

import { and, eq, isNotNull, ne, sql } from "drizzle-orm";
import type { Db } from "./client.ts";
import { nodes, placedBlobs } from "./schema.ts";

export interface AuditableNode {
  id: string;
  url: string;
  placedBytes: number;
  registeredAt: number;
  /** Audit standing (src/services/reputation.ts): a node still vetting is asked more often. */
  standing: string;
}

export interface AuditableBlob {
  blobId: string;
  bytes: number;
  merkleRoot: string;
}

/** Active nodes holding at least one blob with a recorded root; a disqualified node is not asked again. */
export async function listAuditableNodes(db: Db): Promise<AuditableNode[]> {
  return db
    .select({ id: nodes.id, url: nodes.url, placedBytes: nodes.placedBytes, registeredAt: nodes.registeredAt, standing: nodes.standing })
    .from(nodes)
    .where(
      and(
        eq(nodes.status, "active"),
        ne(nodes.standing, "disqualified"),
        sql`exists (select 1 from ${placedBlobs} where ${placedBlobs.nodeId} = ${nodes.id} and ${placedBlobs.merkleRoot} is not null)`,
      ),
    );
}

/** One blob of the node with a recorded root, chosen uniformly by SQLite's random(). */
export async function randomAuditableBlob(db: Db, nodeId: string): Promise<AuditableBlob | undefined> {
  const [row] = await db
    .select({ blobId: placedBlobs.blobId, bytes: placedBlobs.bytes, merkleRoot: placedBlobs.merkleRoot })
    .from(placedBlobs)
    .where(and(eq(placedBlobs.nodeId, nodeId), isNotNull(placedBlobs.merkleRoot)))
    .orderBy(sql`random()`)
    .limit(1);
  return row ? { blobId: row.blobId, bytes: row.bytes, merkleRoot: row.merkleRoot! } : undefined;
}

/** The blob as placed on the node now (a challenge retried under containment must still be there). */
export async function auditableBlob(db: Db, nodeId: string, blobId: string): Promise<AuditableBlob | undefined> {
  const [row] = await db
    .select({ blobId: placedBlobs.blobId, bytes: placedBlobs.bytes, merkleRoot: placedBlobs.merkleRoot })
    .from(placedBlobs)
    .where(and(eq(placedBlobs.nodeId, nodeId), eq(placedBlobs.blobId, blobId), isNotNull(placedBlobs.merkleRoot)));
  return row ? { blobId: row.blobId, bytes: row.bytes, merkleRoot: row.merkleRoot! } : undefined;
}
