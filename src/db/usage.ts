// Queries over metered usage: buckets' sealed batches (`bucket_usage`), the bytes nodes served for them
// (`node_egress`), nodes' integrated holding (`node_usage`, `node_usage_steps`), and the reads customers, operators and settlement make of them. Sums are taken in bigint
// here, never in SQL: byte-ms overflow SQLite's 64-bit integers.

import { and, asc, eq, gt, gte, lt, lte, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Db } from "./client.ts";
import { bucketUsage, buckets, nodeEgress, nodes, nodeUsage, nodeUsageSteps, placedBlobs } from "./schema.ts";
import type { Usage } from "../finance/pricing.ts";
import { splitBySlot, type UsageSlot } from "../services/metering.ts";
import type { UsageBatch } from "../../workers/durable/bucket-index/metering.ts";

export const MS_PER_HOUR = 3_600_000n;

/** Whole byte-hours in `byteMs` (the fraction of a byte-hour is dropped). */
export function byteHoursOf(byteMs: bigint): bigint {
  return byteMs / MS_PER_HOUR;
}

export interface MeteredBucket {
  id: string;
  name: string;
  accountId: string;
}

/** Every bucket with its owner, for the flush chore. */
export async function listMeteredBuckets(db: Db): Promise<MeteredBucket[]> {
  return db.select({ id: buckets.id, name: buckets.name, accountId: buckets.accountId }).from(buckets).orderBy(asc(buckets.name)).all();
}

/** Rows per INSERT: 13 bound parameters each, under D1's 100 per statement. */
const ROWS_PER_INSERT = 7;
/** node_egress rows per INSERT: 6 bound parameters each. */
const EGRESS_ROWS_PER_INSERT = 16;

/**
 * Writes sealed batches of one bucket in one D1 batch (a transaction), its bytes served per node with them. A batch
 * already written (the index sent it again because its ack was lost) inserts nothing: its rows' primary key carries
 * the batch id.
 */
export async function writeUsageBatches(db: Db, bucket: MeteredBucket, batches: readonly UsageBatch[], now: number): Promise<void> {
  const rows = batches.flatMap((b) =>
    b.rows.map((r) => ({
      bucketId: bucket.id,
      batchId: b.batchId,
      day: r.day,
      periodId: r.periodId,
      accountId: bucket.accountId,
      bucketName: bucket.name,
      storageByteMs: r.byteMs,
      bytesIn: String(r.bytesIn),
      bytesOut: String(r.bytesOut),
      classA: r.classA,
      classB: r.classB,
      sealedAt: b.sealedAt,
      flushedAt: now,
    })),
  );
  const egressRows = batches.flatMap((b) =>
    (b.nodeEgress ?? []).map((r) => ({ bucketId: bucket.id, batchId: b.batchId, nodeId: r.nodeId, day: r.day, periodId: r.periodId, bytesServed: String(r.bytesServed) })),
  );
  const statements: BatchItem<"sqlite">[] = [];
  for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
    statements.push(db.insert(bucketUsage).values(rows.slice(i, i + ROWS_PER_INSERT)).onConflictDoNothing());
  }
  for (let i = 0; i < egressRows.length; i += EGRESS_ROWS_PER_INSERT) {
    statements.push(db.insert(nodeEgress).values(egressRows.slice(i, i + EGRESS_ROWS_PER_INSERT)).onConflictDoNothing());
  }
  if (statements.length > 0) await db.batch(statements as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
}

export interface BucketDayUsage {
  bucket: string;
  day: string;
  storageByteHours: bigint;
  storageByteMs: bigint;
  bytesIn: bigint;
  bytesOut: bigint;
  classARequests: bigint;
  classBRequests: bigint;
}

/** An account's flushed usage by bucket and UTC day, days `fromDay`..`toDay` inclusive. */
export async function accountUsageByDay(db: Db, accountId: string, fromDay: string, toDay: string): Promise<BucketDayUsage[]> {
  const rows = await db
    .select()
    .from(bucketUsage)
    .where(and(eq(bucketUsage.accountId, accountId), gte(bucketUsage.day, fromDay), lte(bucketUsage.day, toDay)))
    .all();
  const byKey = new Map<string, BucketDayUsage>();
  for (const r of rows) {
    const key = `${r.bucketName}\u0000${r.day}`;
    let u = byKey.get(key);
    if (!u) {
      u = { bucket: r.bucketName, day: r.day, storageByteHours: 0n, storageByteMs: 0n, bytesIn: 0n, bytesOut: 0n, classARequests: 0n, classBRequests: 0n };
      byKey.set(key, u);
    }
    u.storageByteMs += BigInt(r.storageByteMs);
    u.bytesIn += BigInt(r.bytesIn);
    u.bytesOut += BigInt(r.bytesOut);
    u.classARequests += BigInt(r.classA);
    u.classBRequests += BigInt(r.classB);
  }
  const out = [...byKey.values()].sort((a, b) => a.day.localeCompare(b.day) || a.bucket.localeCompare(b.bucket));
  for (const u of out) u.storageByteHours = byteHoursOf(u.storageByteMs);
  return out;
}

export interface NodePeriodUsage {
  nodeId: string;
  heldByteMs: bigint;
  /** Whole byte-hours of heldByteMs. */
  heldByteHours: bigint;
  /** Bytes the node delivered to the edge for clients' GETs (the egress share of its reward). */
  bytesServed: bigint;
}

export interface PeriodUsage {
  periodId: string;
  /** Per account, what buildInvoice prices (storage byte-hours from the summed byte-ms, rounded down once). */
  accounts: Map<string, Usage>;
  nodes: NodePeriodUsage[];
}

/**
 * A period's usage per account and per node: what the settlement chore invoices and pays by. It reads what has been
 * flushed: run the flush chore after the period's end first, so its last hour is in.
 */
export async function usageForPeriod(db: Db, periodId: string): Promise<PeriodUsage> {
  const accountRows = await db
    .select({ accountId: bucketUsage.accountId, byteMs: bucketUsage.storageByteMs, bytesOut: bucketUsage.bytesOut, classA: bucketUsage.classA, classB: bucketUsage.classB })
    .from(bucketUsage)
    .where(eq(bucketUsage.periodId, periodId))
    .all();
  const byteMs = new Map<string, bigint>();
  const accounts = new Map<string, Usage>();
  for (const r of accountRows) {
    let u = accounts.get(r.accountId);
    if (!u) accounts.set(r.accountId, (u = { storageByteHours: 0n, egressBytes: 0n, classARequests: 0n, classBRequests: 0n }));
    byteMs.set(r.accountId, (byteMs.get(r.accountId) ?? 0n) + BigInt(r.byteMs));
    u.egressBytes += BigInt(r.bytesOut);
    u.classARequests += BigInt(r.classA);
    u.classBRequests += BigInt(r.classB);
  }
  for (const [accountId, ms] of byteMs) accounts.get(accountId)!.storageByteHours = byteHoursOf(ms);

  // A node appears when it held or served anything in the period (one that only served holds 0 byte-ms).
  const byNode = new Map<string, { heldByteMs: bigint; bytesServed: bigint }>();
  const nodeOf = (nodeId: string) => {
    let n = byNode.get(nodeId);
    if (!n) byNode.set(nodeId, (n = { heldByteMs: 0n, bytesServed: 0n }));
    return n;
  };
  const nodeRows = await db.select({ nodeId: nodeUsage.nodeId, heldByteMs: nodeUsage.heldByteMs }).from(nodeUsage).where(eq(nodeUsage.periodId, periodId)).all();
  for (const r of nodeRows) nodeOf(r.nodeId).heldByteMs += BigInt(r.heldByteMs);
  const egressRows = await db.select({ nodeId: nodeEgress.nodeId, bytesServed: nodeEgress.bytesServed }).from(nodeEgress).where(eq(nodeEgress.periodId, periodId)).all();
  for (const r of egressRows) nodeOf(r.nodeId).bytesServed += BigInt(r.bytesServed);
  const nodeUsages = [...byNode.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([nodeId, n]) => ({ nodeId, heldByteMs: n.heldByteMs, heldByteHours: byteHoursOf(n.heldByteMs), bytesServed: n.bytesServed }));
  return { periodId, accounts, nodes: nodeUsages };
}

export interface NodeDayUsage {
  day: string;
  heldByteMs: bigint;
  heldByteHours: bigint;
  bytesServed: bigint;
}

/** A node's integrated holding and the bytes it served, by UTC day, `fromDay`..`toDay` inclusive. */
export async function nodeUsageByDay(db: Db, nodeId: string, fromDay: string, toDay: string): Promise<NodeDayUsage[]> {
  const rows = await db
    .select({ day: nodeUsage.day, heldByteMs: nodeUsage.heldByteMs })
    .from(nodeUsage)
    .where(and(eq(nodeUsage.nodeId, nodeId), gte(nodeUsage.day, fromDay), lte(nodeUsage.day, toDay)))
    .all();
  const served = await db
    .select({ day: nodeEgress.day, bytesServed: nodeEgress.bytesServed })
    .from(nodeEgress)
    .where(and(eq(nodeEgress.nodeId, nodeId), gte(nodeEgress.day, fromDay), lte(nodeEgress.day, toDay)))
    .all();
  const byDay = new Map<string, { heldByteMs: bigint; bytesServed: bigint }>();
  const dayOf = (day: string) => {
    let d = byDay.get(day);
    if (!d) byDay.set(day, (d = { heldByteMs: 0n, bytesServed: 0n }));
    return d;
  };
  for (const r of rows) dayOf(r.day).heldByteMs += BigInt(r.heldByteMs);
  for (const r of served) dayOf(r.day).bytesServed += BigInt(r.bytesServed);
  return [...byDay.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([day, d]) => ({ day, heldByteMs: d.heldByteMs, heldByteHours: byteHoursOf(d.heldByteMs), bytesServed: d.bytesServed }));
}

// ---- Node holding: integrated by the flush chore from placed_blobs

/**
 * Integrates what `nodeId` holds from its last step up to `now` and records it, once: the step and its rows go in
 * one D1 batch, and a step already recorded (a repeated or concurrent run) fails that batch whole. A blob counts from its placedAt; a blob released since the last
 * step is no longer in placed_blobs and its last partial step is not counted (so a node is never paid for bytes it
 * may not have held). Returns the byte-ms recorded (0 when another run got there first).
 */
export async function integrateNodeHolding(db: Db, nodeId: string, now: number, periodOf: (atMs: number) => { id: string; end: number }): Promise<bigint> {
  const last = await db.select({ toMs: sql<number | null>`max(${nodeUsageSteps.toMs})` }).from(nodeUsageSteps).where(eq(nodeUsageSteps.nodeId, nodeId)).get();
  const from = last?.toMs ?? undefined;
  if (from !== undefined && from >= now) return 0n;
  const bytesSum = sql<number>`sum(${placedBlobs.bytes})`;
  const placedBetween = (after: number | undefined) =>
    db
      .select({ at: placedBlobs.placedAt, bytes: bytesSum })
      .from(placedBlobs)
      .where(and(eq(placedBlobs.nodeId, nodeId), after === undefined ? undefined : gt(placedBlobs.placedAt, after), lt(placedBlobs.placedAt, now)))
      .groupBy(placedBlobs.placedAt)
      .all();
  // Bytes by the time they start counting: a blob placed before `from` counts from `from`.
  const groups = await placedBetween(from);
  if (from !== undefined) {
    const before = await db
      .select({ bytes: bytesSum })
      .from(placedBlobs)
      .where(and(eq(placedBlobs.nodeId, nodeId), lte(placedBlobs.placedAt, from)))
      .get();
    if (before?.bytes) groups.push({ at: from, bytes: before.bytes });
  }
  const slots = new Map<string, { slot: UsageSlot; byteMs: bigint }>();
  for (const g of groups) {
    const bytes = BigInt(g.bytes);
    if (bytes === 0n) continue;
    splitBySlot(g.at, now, periodOf, (slot, ms) => {
      const key = `${slot.day}\u0000${slot.periodId}`;
      const entry = slots.get(key) ?? { slot, byteMs: 0n };
      entry.byteMs += bytes * BigInt(ms);
      slots.set(key, entry);
    });
  }
  const fromMs = from ?? 0;
  const rows = [...slots.values()].map(({ slot, byteMs }) => ({ nodeId, fromMs, day: slot.day, periodId: slot.periodId, heldByteMs: byteMs.toString() }));
  const statements: BatchItem<"sqlite">[] = [db.insert(nodeUsageSteps).values({ nodeId, fromMs, toMs: now })];
  for (let i = 0; i < rows.length; i += NODE_ROWS_PER_INSERT) statements.push(db.insert(nodeUsage).values(rows.slice(i, i + NODE_ROWS_PER_INSERT)));
  try {
    await db.batch(statements as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
  } catch (error) {
    // Another run recorded this step first: its batch holds the same span.
    const taken = await db.select({ toMs: nodeUsageSteps.toMs }).from(nodeUsageSteps).where(and(eq(nodeUsageSteps.nodeId, nodeId), eq(nodeUsageSteps.fromMs, fromMs))).get();
    if (taken) return 0n;
    throw error;
  }
  let total = 0n;
  for (const { byteMs } of slots.values()) total += byteMs;
  return total;
}

/** node_usage rows per INSERT: 5 bound parameters each. */
const NODE_ROWS_PER_INSERT = 19;

/** Every registered node's id, for the flush chore. */
export async function listNodeIds(db: Db): Promise<string[]> {
  return (await db.select({ id: nodes.id }).from(nodes).orderBy(asc(nodes.id)).all()).map((r) => r.id);
}
