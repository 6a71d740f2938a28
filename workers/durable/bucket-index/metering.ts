// The bucket's usage meter: stored bytes (as clients see object sizes), their running integral in byte-ms, bytes
// in and out, and requests by class, kept per UTC day and finance period until the flush chore has them in D1.
//
// Bytes served per node (what each node delivered to the edge for this bucket's GETs) are kept beside them and
// sealed into the same batches: they reach D1 with the same batch ids, once.
//
// Stored bytes are every version's size (noncurrent versions are billed, as S3 bills them) plus the parts of
// multipart uploads in progress (S3 bills those until completed or aborted). SQLite triggers on `versions` and
// `parts` keep the sum, so no write path can forget it; each RPC that may change sizes first advances the integral
// to its time, so the bytes before the change are integrated up to the change and no further.
//
// Flushing is two-phase (workers/cron/usage-flush.ts): seal() moves the open counters into a pending batch with an
// id of its own and returns every pending batch; D1 inserts them keyed by that id (a second insert does nothing);
// ack() then drops them here. A crash between the two leaves the batch pending, sent again, counted once.

import { S3Error } from "../../../src/s3/errors.ts";
import { evaluateReadPreconditions, parseRange, partRange } from "../../../src/s3/object-headers.ts";
import { isDeleteMarker, type ObjectRecord, type ObjectVersion } from "../../../src/services/object-model.ts";
import { splitBySlot, type MeterEvent, type NodeBytes, type ObjectReadEgress, type UsageSlot } from "../../../src/services/metering.ts";
import type { IndexStore } from "./store.ts";

export type PeriodLocator = (atMs: number) => { id: string; end: number };

const METER_SCHEMA = `
CREATE TABLE IF NOT EXISTS usage_meter (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  stored_bytes INTEGER NOT NULL,
  integrated_to INTEGER NOT NULL,
  next_batch INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS usage_open (
  day TEXT NOT NULL,
  period_id TEXT NOT NULL,
  byte_ms TEXT NOT NULL DEFAULT '0',
  bytes_in INTEGER NOT NULL DEFAULT 0,
  bytes_out INTEGER NOT NULL DEFAULT 0,
  class_a INTEGER NOT NULL DEFAULT 0,
  class_b INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (day, period_id)
);
CREATE TABLE IF NOT EXISTS usage_pending (
  batch_id TEXT NOT NULL,
  day TEXT NOT NULL,
  period_id TEXT NOT NULL,
  byte_ms TEXT NOT NULL,
  bytes_in INTEGER NOT NULL,
  bytes_out INTEGER NOT NULL,
  class_a INTEGER NOT NULL,
  class_b INTEGER NOT NULL,
  sealed_at INTEGER NOT NULL,
  PRIMARY KEY (batch_id, day, period_id)
);
CREATE TABLE IF NOT EXISTS egress_open (
  day TEXT NOT NULL,
  period_id TEXT NOT NULL,
  node_id TEXT NOT NULL,
  bytes INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (day, period_id, node_id)
);
CREATE TABLE IF NOT EXISTS egress_pending (
  batch_id TEXT NOT NULL,
  day TEXT NOT NULL,
  period_id TEXT NOT NULL,
  node_id TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  sealed_at INTEGER NOT NULL,
  PRIMARY KEY (batch_id, day, period_id, node_id)
);
CREATE TRIGGER IF NOT EXISTS usage_version_added AFTER INSERT ON versions BEGIN
  UPDATE usage_meter SET stored_bytes = stored_bytes + coalesce(json_extract(NEW.record, '$.size'), 0);
END;
CREATE TRIGGER IF NOT EXISTS usage_version_removed AFTER DELETE ON versions BEGIN
  UPDATE usage_meter SET stored_bytes = stored_bytes - coalesce(json_extract(OLD.record, '$.size'), 0);
END;
CREATE TRIGGER IF NOT EXISTS usage_version_changed AFTER UPDATE OF record ON versions BEGIN
  UPDATE usage_meter SET stored_bytes = stored_bytes - coalesce(json_extract(OLD.record, '$.size'), 0) + coalesce(json_extract(NEW.record, '$.size'), 0);
END;
CREATE TRIGGER IF NOT EXISTS usage_part_replaced BEFORE INSERT ON parts BEGIN
  UPDATE usage_meter SET stored_bytes = stored_bytes - coalesce((SELECT json_extract(part, '$.size') FROM parts WHERE upload_id = NEW.upload_id AND part_number = NEW.part_number), 0);
END;
CREATE TRIGGER IF NOT EXISTS usage_part_added AFTER INSERT ON parts BEGIN
  UPDATE usage_meter SET stored_bytes = stored_bytes + coalesce(json_extract(NEW.part, '$.size'), 0);
END;
CREATE TRIGGER IF NOT EXISTS usage_part_removed AFTER DELETE ON parts BEGIN
  UPDATE usage_meter SET stored_bytes = stored_bytes - coalesce(json_extract(OLD.part, '$.size'), 0);
END;
`;

/**
 * Creates the meter. An index written before metering starts with the sizes it already holds (summed once), and
 * its integral starts at its first metered change (integrated_to 0 means "not yet started").
 */
export function migrateMeter(store: IndexStore): void {
  store.sql.exec(METER_SCHEMA);
  store.sql.exec(
    `INSERT OR IGNORE INTO usage_meter (id, stored_bytes, integrated_to, next_batch)
     SELECT 1,
       (SELECT coalesce(sum(coalesce(json_extract(record, '$.size'), 0)), 0) FROM versions)
       + (SELECT coalesce(sum(coalesce(json_extract(part, '$.size'), 0)), 0) FROM parts),
       0, 1`,
  );
}

interface MeterRow {
  stored_bytes: number;
  integrated_to: number;
  next_batch: number;
}

function meterRow(store: IndexStore): MeterRow {
  return store.sql.exec<MeterRow & Record<string, SqlStorageValue>>("SELECT stored_bytes, integrated_to, next_batch FROM usage_meter WHERE id = 1").one();
}

/** Bytes stored now, as clients see them. */
export function storedBytes(store: IndexStore): number {
  return meterRow(store).stored_bytes;
}

function addToSlot(store: IndexStore, slot: UsageSlot, add: { byteMs?: bigint; bytesIn?: number; bytesOut?: number; classA?: number; classB?: number }): void {
  store.sql.exec("INSERT OR IGNORE INTO usage_open (day, period_id) VALUES (?, ?)", slot.day, slot.periodId);
  if (add.byteMs !== undefined && add.byteMs !== 0n) {
    const row = store.sql.exec<{ byte_ms: string }>("SELECT byte_ms FROM usage_open WHERE day = ? AND period_id = ?", slot.day, slot.periodId).one();
    store.sql.exec("UPDATE usage_open SET byte_ms = ? WHERE day = ? AND period_id = ?", (BigInt(row.byte_ms) + add.byteMs).toString(), slot.day, slot.periodId);
  }
  store.sql.exec(
    "UPDATE usage_open SET bytes_in = bytes_in + ?, bytes_out = bytes_out + ?, class_a = class_a + ?, class_b = class_b + ? WHERE day = ? AND period_id = ?",
    add.bytesIn ?? 0,
    add.bytesOut ?? 0,
    add.classA ?? 0,
    add.classB ?? 0,
    slot.day,
    slot.periodId,
  );
}

/**
 * Integrates the stored bytes from the last advance up to `at` into the open slots. Time never runs backwards
 * here: a call from a request that started before the last change (a long upload) counts as happening at it.
 */
export function advanceMeter(store: IndexStore, at: number, periodOf: PeriodLocator): void {
  const meter = meterRow(store);
  if (meter.integrated_to === 0) {
    store.sql.exec("UPDATE usage_meter SET integrated_to = ? WHERE id = 1", at);
    return;
  }
  if (at <= meter.integrated_to) return;
  const bytes = BigInt(meter.stored_bytes);
  if (bytes !== 0n) splitBySlot(meter.integrated_to, at, periodOf, (slot, ms) => addToSlot(store, slot, { byteMs: bytes * BigInt(ms) }));
  store.sql.exec("UPDATE usage_meter SET integrated_to = ? WHERE id = 1", at);
}

/** The slot a request at `at` counts in. */
function slotAt(at: number, periodOf: PeriodLocator): UsageSlot {
  let slot: UsageSlot | undefined;
  splitBySlot(at, at + 1, periodOf, (s) => (slot = s));
  return slot!;
}

/** Counts what a metered call reports, before its method runs (a request counts whether or not it succeeds). */
export function recordRequest(store: IndexStore, event: MeterEvent, periodOf: PeriodLocator): void {
  if (!event.request) return;
  const { requestClass, bytesIn } = event.request;
  addToSlot(store, slotAt(event.at, periodOf), { bytesIn, classA: requestClass === "A" ? 1 : 0, classB: requestClass === "B" ? 1 : 0 });
}

/** Counts the bytes a GET's answer declares (after Range, partNumber and its conditions), from the record it read. */
export function recordEgress(store: IndexStore, event: MeterEvent, found: ObjectVersion | null, periodOf: PeriodLocator): void {
  if (!event.egress || !found || isDeleteMarker(found)) return;
  const bytes = objectReadBytes(found, event.egress);
  if (bytes > 0) addToSlot(store, slotAt(event.at, periodOf), { bytesOut: bytes });
}

/**
 * The Content-Length GetObject answers with, decided as src/s3/operations/objects.ts decides it: nothing for HEAD,
 * a 304 or a failed precondition or range; the range (or the part) asked for; else the whole object.
 */
export function objectReadBytes(record: ObjectRecord, egress: ObjectReadEgress): number {
  if (egress.head) return 0;
  const headers = new Headers(egress.headers);
  try {
    if (evaluateReadPreconditions(record, headers) === 304) return 0;
    const rangeHeader = headers.get("range");
    const range = egress.partNumber !== undefined ? partRange(record, egress.partNumber, rangeHeader) : parseRange(rangeHeader, record.size);
    if (record.size === 0) return 0;
    return range ? range.end - range.start + 1 : record.size;
  } catch (error) {
    if (error instanceof S3Error) return 0;
    throw error;
  }
}

/**
 * Counts the bytes nodes delivered to the edge for one GET (src/services/metering.ts NodeEgressTally), recorded
 * once per GET after its response has ended. It counts at the request's time, or at the meter's latest time when
 * that is later (as advanceMeter treats a late call): a long read that ends after a flush has sealed its period,
 * whose usage settlement may already have taken, counts in the period still open instead of being lost.
 */
export function recordNodeEgress(store: IndexStore, at: number, served: readonly NodeBytes[], periodOf: PeriodLocator): void {
  const slot = slotAt(Math.max(at, meterRow(store).integrated_to), periodOf);
  store.transactionSync(() => {
    for (const { nodeId, bytes } of served) {
      if (!(Number.isSafeInteger(bytes) && bytes > 0)) continue;
      store.sql.exec(
        "INSERT INTO egress_open (day, period_id, node_id, bytes) VALUES (?, ?, ?, ?) ON CONFLICT (day, period_id, node_id) DO UPDATE SET bytes = bytes + excluded.bytes",
        slot.day,
        slot.periodId,
        nodeId,
        bytes,
      );
    }
  });
}

export interface UsageBatchRow {
  day: string;
  periodId: string;
  /** Σ stored bytes × ms, decimal. */
  byteMs: string;
  bytesIn: number;
  bytesOut: number;
  classA: number;
  classB: number;
}

/** Bytes one node delivered in one slot. */
export interface NodeEgressRow {
  day: string;
  periodId: string;
  nodeId: string;
  bytesServed: number;
}

export interface UsageBatch {
  /** Unique per bucket: D1 keys rows by (bucket id, batch id). */
  batchId: string;
  sealedAt: number;
  rows: UsageBatchRow[];
  /** Bytes served per node for this bucket's reads (a batch may hold only these). */
  nodeEgress: NodeEgressRow[];
}

/**
 * Integrates up to `at`, moves the open counters into a new pending batch, and returns every pending batch (older
 * ones too: a flush that crashed before its ack sends them again).
 */
export function sealUsage(store: IndexStore, at: number, periodOf: PeriodLocator): UsageBatch[] {
  store.transactionSync(() => {
    advanceMeter(store, at, periodOf);
    const open = store.sql.exec<{ n: number }>("SELECT (SELECT COUNT(*) FROM usage_open) + (SELECT COUNT(*) FROM egress_open) AS n").one().n;
    if (open === 0) return;
    const batchId = String(meterRow(store).next_batch);
    store.sql.exec(
      `INSERT INTO usage_pending (batch_id, day, period_id, byte_ms, bytes_in, bytes_out, class_a, class_b, sealed_at)
       SELECT ?, day, period_id, byte_ms, bytes_in, bytes_out, class_a, class_b, ? FROM usage_open`,
      batchId,
      at,
    );
    store.sql.exec(
      `INSERT INTO egress_pending (batch_id, day, period_id, node_id, bytes, sealed_at)
       SELECT ?, day, period_id, node_id, bytes, ? FROM egress_open`,
      batchId,
      at,
    );
    store.sql.exec("DELETE FROM usage_open");
    store.sql.exec("DELETE FROM egress_open");
    store.sql.exec("UPDATE usage_meter SET next_batch = next_batch + 1 WHERE id = 1");
  });
  return pendingBatches(store);
}

export function pendingBatches(store: IndexStore): UsageBatch[] {
  const rows = store.sql
    .exec<{ batch_id: string; sealed_at: number; day: string; period_id: string; byte_ms: string; bytes_in: number; bytes_out: number; class_a: number; class_b: number }>(
      "SELECT batch_id, sealed_at, day, period_id, byte_ms, bytes_in, bytes_out, class_a, class_b FROM usage_pending ORDER BY CAST(batch_id AS INTEGER), day, period_id",
    )
    .toArray();
  const egress = store.sql
    .exec<{ batch_id: string; sealed_at: number; day: string; period_id: string; node_id: string; bytes: number }>(
      "SELECT batch_id, sealed_at, day, period_id, node_id, bytes FROM egress_pending ORDER BY CAST(batch_id AS INTEGER), day, period_id, node_id",
    )
    .toArray();
  const batches = new Map<string, UsageBatch>();
  const batchOf = (batchId: string, sealedAt: number) => {
    let batch = batches.get(batchId);
    if (!batch) batches.set(batchId, (batch = { batchId, sealedAt, rows: [], nodeEgress: [] }));
    return batch;
  };
  for (const r of rows) {
    batchOf(r.batch_id, r.sealed_at).rows.push({ day: r.day, periodId: r.period_id, byteMs: r.byte_ms, bytesIn: r.bytes_in, bytesOut: r.bytes_out, classA: r.class_a, classB: r.class_b });
  }
  for (const r of egress) batchOf(r.batch_id, r.sealed_at).nodeEgress.push({ day: r.day, periodId: r.period_id, nodeId: r.node_id, bytesServed: r.bytes });
  return [...batches.values()].sort((a, b) => Number(a.batchId) - Number(b.batchId));
}

/** Drops batches D1 has confirmed. */
export function ackUsage(store: IndexStore, batchIds: string[]): void {
  store.transactionSync(() => {
    for (const id of batchIds) {
      store.sql.exec("DELETE FROM usage_pending WHERE batch_id = ?", id);
      store.sql.exec("DELETE FROM egress_pending WHERE batch_id = ?", id);
    }
  });
}

/** The open (not yet sealed) counters and the meter's state, for tests and diagnostics. */
export function openUsage(store: IndexStore): { storedBytes: number; integratedTo: number; rows: UsageBatchRow[]; nodeEgress: NodeEgressRow[] } {
  const meter = meterRow(store);
  const rows = store.sql
    .exec<{ day: string; period_id: string; byte_ms: string; bytes_in: number; bytes_out: number; class_a: number; class_b: number }>(
      "SELECT day, period_id, byte_ms, bytes_in, bytes_out, class_a, class_b FROM usage_open ORDER BY day, period_id",
    )
    .toArray()
    .map((r) => ({ day: r.day, periodId: r.period_id, byteMs: r.byte_ms, bytesIn: r.bytes_in, bytesOut: r.bytes_out, classA: r.class_a, classB: r.class_b }));
  const nodeEgress = store.sql
    .exec<{ day: string; period_id: string; node_id: string; bytes: number }>("SELECT day, period_id, node_id, bytes FROM egress_open ORDER BY day, period_id, node_id")
    .toArray()
    .map((r) => ({ day: r.day, periodId: r.period_id, nodeId: r.node_id, bytesServed: r.bytes }));
  return { storedBytes: meter.stored_bytes, integratedTo: meter.integrated_to, rows, nodeEgress };
}
