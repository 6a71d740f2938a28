// Queries over the registry: operators, nodes and registration nonces.

import { and, asc, eq, gte, lt, ne, notInArray, sql } from "drizzle-orm";
import { EXCLUDED_STANDINGS } from "../services/reputation.ts";
import type { Db } from "./client.ts";
import { nodes, operators, registrationNonces, type NodeRow, type NodeStatus, type OperatorStatus } from "./schema.ts";

export async function getOperator(db: Db, address: string) {
  return db.query.operators.findFirst({ where: eq(operators.address, address.toLowerCase()) });
}

export async function listOperators(db: Db) {
  return db.select().from(operators).orderBy(asc(operators.createdAt)).all();
}

export async function upsertOperator(db: Db, address: string, status: OperatorStatus, name: string | undefined, now: number) {
  const addr = address.toLowerCase();
  await db
    .insert(operators)
    .values({ address: addr, status, name: name ?? "", createdAt: now, updatedAt: now })
    .onConflictDoUpdate({
      target: operators.address,
      set: { status, updatedAt: now, ...(name !== undefined ? { name } : {}) },
    });
  return (await getOperator(db, addr))!;
}

export async function getNode(db: Db, id: string) {
  return db.query.nodes.findFirst({ where: eq(nodes.id, id) });
}

export async function getNodeByAccessKey(db: Db, accessKeyId: string) {
  return db.query.nodes.findFirst({ where: eq(nodes.accessKeyId, accessKeyId) });
}

export async function listNodes(db: Db) {
  return db.select().from(nodes).orderBy(asc(nodes.registeredAt)).all();
}

export interface NodeRegistrationWrite {
  id: string;
  operatorAddress: string;
  url: string;
  zone: string;
  capacityBytes: number;
  agentVersion: string;
  accessKeyId: string;
  secretEnc: string;
  nonce: string;
  nonceExpiresAt: number;
  now: number;
}

/**
 * Consumes the registration nonce and creates or refreshes the node in one batch: a replayed nonce fails the
 * primary-key insert and nothing is written. Re-registration rotates the node's credentials.
 */
export async function registerNode(db: Db, w: NodeRegistrationWrite): Promise<"ok" | "replayed"> {
  try {
    await db.batch([
      db.delete(registrationNonces).where(lt(registrationNonces.expiresAt, w.now)),
      db.insert(registrationNonces).values({ nonce: w.nonce, operatorAddress: w.operatorAddress, expiresAt: w.nonceExpiresAt }),
      db
        .insert(nodes)
        .values({
          id: w.id,
          operatorAddress: w.operatorAddress,
          url: w.url,
          zone: w.zone,
          capacityBytes: w.capacityBytes,
          agentVersion: w.agentVersion,
          accessKeyId: w.accessKeyId,
          secretEnc: w.secretEnc,
          status: "active",
          lastHeartbeatAt: w.now,
          registeredAt: w.now,
          updatedAt: w.now,
        })
        .onConflictDoUpdate({
          target: nodes.id,
          set: {
            url: w.url,
            zone: w.zone,
            capacityBytes: w.capacityBytes,
            agentVersion: w.agentVersion,
            accessKeyId: w.accessKeyId,
            secretEnc: w.secretEnc,
            lastHeartbeatAt: w.now,
            updatedAt: w.now,
          },
        }),
    ]);
    return "ok";
  } catch (error) {
    if (String((error as Error)?.message ?? error).includes("UNIQUE constraint failed: registration_nonces")) return "replayed";
    throw error;
  }
}

/** A node that re-registers comes back as active unless an admin suspended or an operator is draining it. */
export async function reactivateNode(db: Db, id: string, now: number) {
  await db
    .update(nodes)
    .set({ status: "active", updatedAt: now })
    .where(and(eq(nodes.id, id), eq(nodes.status, "offline")));
}

export async function recordHeartbeat(
  db: Db,
  id: string,
  hb: { usedBytes: number; freeBytes: number; blobCount: number; healthy: boolean; agentVersion: string },
  now: number,
) {
  await db
    .update(nodes)
    // A healthy heartbeat earns back 1% of reputation, up to 1.
    .set({ ...hb, lastHeartbeatAt: now, updatedAt: now, ...(hb.healthy ? { reputation: sql`min(1, ${nodes.reputation} + 0.01)` } : {}) })
    .where(eq(nodes.id, id));
  await reactivateNode(db, id, now);
}

export async function setNodeStatus(db: Db, id: string, status: NodeStatus, now: number) {
  await db.update(nodes).set({ status, updatedAt: now }).where(eq(nodes.id, id));
}

/**
 * Nodes that may receive new data: active, healthy by their own word, heard from within the window, operator
 * approved, and not suspended or disqualified by their audits.
 */
export async function listPlaceableNodes(db: Db, now: number, offlineAfterMs: number): Promise<NodeRow[]> {
  const rows = await db
    .select({ node: nodes })
    .from(nodes)
    .innerJoin(operators, eq(operators.address, nodes.operatorAddress))
    .where(
      and(
        eq(nodes.status, "active"),
        eq(nodes.healthy, true),
        gte(nodes.lastHeartbeatAt, now - offlineAfterMs),
        eq(operators.status, "approved"),
        notInArray(nodes.standing, [...EXCLUDED_STANDINGS]),
      ),
    )
    .all();
  return rows.map((r) => r.node);
}

/** Marks every active or draining node silent since `cutoff` offline; returns their ids. */
export async function markSilentNodesOffline(db: Db, cutoff: number, now: number): Promise<string[]> {
  const rows = await db
    .update(nodes)
    .set({ status: "offline", updatedAt: now })
    .where(and(lt(nodes.lastHeartbeatAt, cutoff), ne(nodes.status, "offline"), ne(nodes.status, "suspended")))
    .returning({ id: nodes.id });
  return rows.map((r) => r.id);
}

/**
 * Counts one scrub report against the node's current window (a fresh window starts once `windowMs` has passed)
 * in one statement, so concurrent reports cannot both slip under the limit; returns the count including this one.
 */
export async function countScrubReport(db: Db, id: string, now: number, windowMs: number): Promise<number> {
  const expired = sql`${nodes.scrubWindowStartedAt} <= ${now - windowMs}`;
  const row = await db
    .update(nodes)
    .set({
      scrubReportsInWindow: sql`case when ${expired} then 1 else ${nodes.scrubReportsInWindow} + 1 end`,
      scrubWindowStartedAt: sql`case when ${expired} then ${now} else ${nodes.scrubWindowStartedAt} end`,
    })
    .where(eq(nodes.id, id))
    .returning({ count: nodes.scrubReportsInWindow })
    .get();
  return row?.count ?? 0;
}
