// Queries over audit reputation: node and validator scores, containment, audit history and its counts per finance
// period, per-day and per-period validator counts and the one slash of a disqualified node. Applying a round is idempotent per (round, node or validator): the
// "applied" row is written in the same D1 batch (one transaction) as the scores, and a batch based on a stale read
// aborts whole (see writeOnce), so a coordinator that retries a step after a crash changes nothing twice.

import { and, asc, desc, eq, gte, inArray, lte, sql } from "drizzle-orm";
import { randomHex } from "../protocol/crypto.ts";
import {
  applyNodeRound,
  applyValidatorOutcome,
  newNodeReputation,
  newValidatorReputation,
  scoreOf,
  type AuditOutcome,
  type NodeReputation,
  type NodeStanding,
  type ReputationParams,
  type ValidatorOutcome,
  type ValidatorReputation,
} from "../services/reputation.ts";
import type { Db } from "./client.ts";
import {
  auditContainment,
  nodeAuditOutcomes,
  nodeDisqualificationSlashes,
  nodeReputation,
  nodes,
  reputationRoundsApplied,
  validatorAssignmentDays,
  validatorAssignmentPeriods,
  validatorReputation,
} from "./schema.ts";
import { periodIdAt } from "../finance/periods.ts";

/** A node's reputation as stored; undefined when the node is not registered. */
export async function readNodeReputation(db: Db, nodeId: string, params: ReputationParams): Promise<NodeReputation | undefined> {
  const row = await db
    .select({ standing: nodes.standing, rep: nodeReputation })
    .from(nodes)
    .leftJoin(nodeReputation, eq(nodeReputation.nodeId, nodes.id))
    .where(eq(nodes.id, nodeId))
    .get();
  if (!row) return undefined;
  if (!row.rep) return { ...newNodeReputation(params), standing: row.standing };
  return {
    standing: row.standing,
    audit: { alpha: row.rep.auditAlpha, beta: row.rep.auditBeta },
    online: { alpha: row.rep.onlineAlpha, beta: row.rep.onlineBeta },
    passed: row.rep.passed,
    failed: row.rep.failed,
    timeouts: row.rep.timeouts,
  };
}

export interface NodeRoundOutcomes {
  roundId: string;
  nodeId: string;
  /** The decided audits of this node in this round (undecided challenges left out), in challenge order. */
  audits: { pieceId: string; outcome: AuditOutcome }[];
  params: ReputationParams;
  now: number;
}

export interface AppliedNodeRound {
  /** False when this round was already applied to this node (a retried step): nothing changed. */
  applied: boolean;
  previousStanding: NodeStanding;
  standing: NodeStanding;
  auditScore: number;
  /** Pieces of this round in containment: challenge each again in a later round. */
  rechallenge: string[];
}

/** Thrown when the node is not registered: an outcome for an unknown node is the coordinator's bug. */
export class UnknownNodeError extends Error {
  override name = "UnknownNodeError";
}

/**
 * Applies one round's audit outcomes to one node: scores, counts, containment, history and standing, all in one
 * transaction. A disqualification also queues the node's one slash (settled by settleDisqualificationSlashes).
 */
export async function applyNodeRoundOutcomes(db: Db, o: NodeRoundOutcomes): Promise<AppliedNodeRound> {
  for (let attempt = 0; ; attempt++) {
    const before = await readNodeReputation(db, o.nodeId, o.params);
    if (!before) throw new UnknownNodeError(`node ${o.nodeId} is not registered`);
    if (await wasApplied(db, o.roundId, "node", o.nodeId)) return alreadyApplied(db, o, before);

    const existing = await db.select({ version: nodeReputation.version }).from(nodeReputation).where(eq(nodeReputation.nodeId, o.nodeId)).get();
    const pieceIds = [...new Set(o.audits.map((a) => a.pieceId))];
    const contained = new Map<string, number>();
    for (let i = 0; i < pieceIds.length; i += 50) {
      const rows = await db
        .select({ pieceId: auditContainment.pieceId, timeouts: auditContainment.timeouts })
        .from(auditContainment)
        .where(and(eq(auditContainment.nodeId, o.nodeId), inArray(auditContainment.pieceId, pieceIds.slice(i, i + 50))))
        .all();
      for (const r of rows) contained.set(r.pieceId, r.timeouts);
    }

    // A piece challenged twice in one round sees its own earlier timeout.
    const audits = [];
    for (const a of o.audits) {
      audits.push({ ...a, containedTimeouts: contained.get(a.pieceId) ?? 0 });
      if (a.outcome === "timeout") contained.set(a.pieceId, (contained.get(a.pieceId) ?? 0) + 1);
      else contained.delete(a.pieceId);
    }
    const result = applyNodeRound(before, audits, o.params);
    const after = result.reputation;
    const version = randomHex(8);
    const values = {
      auditAlpha: after.audit.alpha,
      auditBeta: after.audit.beta,
      onlineAlpha: after.online.alpha,
      onlineBeta: after.online.beta,
      passed: after.passed,
      failed: after.failed,
      timeouts: after.timeouts,
      version,
      updatedAt: o.now,
    };
    const finalContainment = new Map<string, number>();
    for (const a of result.audits) finalContainment.set(a.pieceId, a.containedTimeouts);

    const writes = [
      existing
        ? db.update(nodeReputation).set(values).where(and(eq(nodeReputation.nodeId, o.nodeId), eq(nodeReputation.version, existing.version)))
        : db.insert(nodeReputation).values({ nodeId: o.nodeId, ...values }).onConflictDoNothing(),
      markApplied(db, o.roundId, "node", o.nodeId, sql`(select ${o.now} from ${nodeReputation} where ${nodeReputation.nodeId} = ${o.nodeId} and ${nodeReputation.version} = ${version})`),
      db.update(nodes).set({ standing: after.standing }).where(eq(nodes.id, o.nodeId)),
      ...[...finalContainment].map(([pieceId, timeouts]) =>
        timeouts === 0
          ? db.delete(auditContainment).where(and(eq(auditContainment.nodeId, o.nodeId), eq(auditContainment.pieceId, pieceId)))
          : db
              .insert(auditContainment)
              .values({ nodeId: o.nodeId, pieceId, timeouts, lastRoundId: o.roundId, updatedAt: o.now })
              .onConflictDoUpdate({ target: [auditContainment.nodeId, auditContainment.pieceId], set: { timeouts, lastRoundId: o.roundId, updatedAt: o.now } }),
      ),
      ...result.audits.map((a, i) =>
        db
          .insert(nodeAuditOutcomes)
          .values({
            nodeId: o.nodeId,
            roundId: o.roundId,
            pieceId: a.pieceId,
            outcome: o.audits[i]!.outcome,
            counted: a.counted,
            auditScore: scoreOf(a.reputation.audit),
            standing: after.standing,
            at: o.now,
          })
          .onConflictDoNothing(),
      ),
      ...(after.standing === "disqualified"
        ? [db.insert(nodeDisqualificationSlashes).values({ nodeId: o.nodeId, state: "pending", disqualifiedAt: o.now, updatedAt: o.now }).onConflictDoNothing()]
        : []),
    ] as const;
    const outcome = await writeOnce(db, writes);
    if (outcome === "applied") {
      return {
        applied: true,
        previousStanding: before.standing,
        standing: after.standing,
        auditScore: scoreOf(after.audit),
        rechallenge: result.audits.filter((a) => a.rechallenge).map((a) => a.pieceId),
      };
    }
    if (outcome === "already-applied") return alreadyApplied(db, o, (await readNodeReputation(db, o.nodeId, o.params))!);
    if (attempt >= 4) throw new Error(`node ${o.nodeId}: reputation changed under five attempts to apply round ${o.roundId}`);
  }
}

async function alreadyApplied(db: Db, o: NodeRoundOutcomes, rep: NodeReputation): Promise<AppliedNodeRound> {
  const rows = await db
    .select({ pieceId: auditContainment.pieceId })
    .from(auditContainment)
    .where(and(eq(auditContainment.nodeId, o.nodeId), eq(auditContainment.lastRoundId, o.roundId)))
    .all();
  return { applied: false, previousStanding: rep.standing, standing: rep.standing, auditScore: scoreOf(rep.audit), rechallenge: rows.map((r) => r.pieceId) };
}

/** Pieces in containment, oldest first: the coordinator challenges each again (same node, same piece). */
export async function listContainedPieces(db: Db, limit = 1000): Promise<{ nodeId: string; pieceId: string; timeouts: number }[]> {
  return db
    .select({ nodeId: auditContainment.nodeId, pieceId: auditContainment.pieceId, timeouts: auditContainment.timeouts })
    .from(auditContainment)
    .orderBy(asc(auditContainment.updatedAt))
    .limit(limit)
    .all();
}

/** A node's most recent audit outcomes, newest first (piece ids are opaque: no bucket ids). */
export async function listNodeAuditOutcomes(db: Db, nodeId: string, limit: number) {
  return db
    .select({
      roundId: nodeAuditOutcomes.roundId,
      pieceId: nodeAuditOutcomes.pieceId,
      outcome: nodeAuditOutcomes.outcome,
      counted: nodeAuditOutcomes.counted,
      auditScore: nodeAuditOutcomes.auditScore,
      standing: nodeAuditOutcomes.standing,
      at: nodeAuditOutcomes.at,
    })
    .from(nodeAuditOutcomes)
    .where(eq(nodeAuditOutcomes.nodeId, nodeId))
    .orderBy(desc(nodeAuditOutcomes.at), desc(nodeAuditOutcomes.roundId))
    .limit(limit)
    .all();
}

// ---- Validators

export async function readValidatorReputation(db: Db, validator: string, params: ReputationParams): Promise<ValidatorReputation> {
  const row = await db.select().from(validatorReputation).where(eq(validatorReputation.validator, validator.toLowerCase())).get();
  if (!row) return newValidatorReputation(params);
  return { score: { alpha: row.alpha, beta: row.beta }, completed: row.completed, agreed: row.agreed, minority: row.minority, missed: row.missed };
}

export interface ValidatorRoundOutcomes {
  roundId: string;
  /** The validator's stake address. */
  validator: string;
  /** One per assignment the validator had in this round. */
  outcomes: ValidatorOutcome[];
  params: ReputationParams;
  /** When the round closed (ms, the edge's clock): its UTC day and its finance period are where the counts go. */
  now: number;
  /** FINANCE_PERIOD_MINUTES (undefined: calendar-month periods), which decides the period of `now`. */
  periodMinutes?: number;
}

/** Applies one round's assignment outcomes to one validator's reputation and its day's and period's counts, once. */
export async function applyValidatorRoundOutcomes(db: Db, o: ValidatorRoundOutcomes): Promise<{ applied: boolean; score: number }> {
  const validator = o.validator.toLowerCase();
  for (let attempt = 0; ; attempt++) {
    const before = await readValidatorReputation(db, validator, o.params);
    if (await wasApplied(db, o.roundId, "validator", validator)) return { applied: false, score: scoreOf(before.score) };
    const existing = await db.select({ version: validatorReputation.version }).from(validatorReputation).where(eq(validatorReputation.validator, validator)).get();
    const after = o.outcomes.reduce((rep, outcome) => applyValidatorOutcome(rep, outcome, o.params), before);
    const version = randomHex(8);
    const values = { alpha: after.score.alpha, beta: after.score.beta, completed: after.completed, agreed: after.agreed, minority: after.minority, missed: after.missed, version, updatedAt: o.now };
    const day = new Date(o.now).toISOString().slice(0, 10);
    const delta = { completed: after.completed - before.completed, agreed: after.agreed - before.agreed, minority: after.minority - before.minority, missed: after.missed - before.missed };
    const d = validatorAssignmentDays;
    const p = validatorAssignmentPeriods;
    const periodId = periodIdAt(o.now, o.periodMinutes);
    const outcome = await writeOnce(db, [
      existing
        ? db.update(validatorReputation).set(values).where(and(eq(validatorReputation.validator, validator), eq(validatorReputation.version, existing.version)))
        : db.insert(validatorReputation).values({ validator, ...values }).onConflictDoNothing(),
      markApplied(db, o.roundId, "validator", validator, sql`(select ${o.now} from ${validatorReputation} where ${validatorReputation.validator} = ${validator} and ${validatorReputation.version} = ${version})`),
      db
        .insert(d)
        .values({ validator, day, ...delta })
        .onConflictDoUpdate({
          target: [d.validator, d.day],
          set: {
            completed: sql`${d.completed} + ${delta.completed}`,
            agreed: sql`${d.agreed} + ${delta.agreed}`,
            minority: sql`${d.minority} + ${delta.minority}`,
            missed: sql`${d.missed} + ${delta.missed}`,
          },
        }),
      db
        .insert(p)
        .values({ validator, periodId, ...delta })
        .onConflictDoUpdate({
          target: [p.validator, p.periodId],
          set: {
            completed: sql`${p.completed} + ${delta.completed}`,
            agreed: sql`${p.agreed} + ${delta.agreed}`,
            minority: sql`${p.minority} + ${delta.minority}`,
            missed: sql`${p.missed} + ${delta.missed}`,
          },
        }),
    ]);
    if (outcome === "applied") return { applied: true, score: scoreOf(after.score) };
    if (outcome === "already-applied") return { applied: false, score: scoreOf((await readValidatorReputation(db, validator, o.params)).score) };
    if (attempt >= 4) throw new Error(`validator ${validator}: reputation changed under five attempts to apply round ${o.roundId}`);
  }
}

export interface ValidatorPeriodCounts {
  validator: string;
  completed: number;
  /** Assignments completed in agreement with the quorum: what settlement pays for. */
  agreed: number;
  minority: number;
  missed: number;
}

/** Per validator, assignment counts over the UTC days fromDay..toDay (YYYY-MM-DD, both included). */
export async function validatorCountsForPeriod(db: Db, fromDay: string, toDay: string): Promise<ValidatorPeriodCounts[]> {
  const d = validatorAssignmentDays;
  return db
    .select({
      validator: d.validator,
      completed: sql<number>`sum(${d.completed})`.mapWith(Number),
      agreed: sql<number>`sum(${d.agreed})`.mapWith(Number),
      minority: sql<number>`sum(${d.minority})`.mapWith(Number),
      missed: sql<number>`sum(${d.missed})`.mapWith(Number),
    })
    .from(d)
    .where(and(gte(d.day, fromDay), lte(d.day, toDay)))
    .groupBy(d.validator)
    .orderBy(asc(d.validator))
    .all();
}

/**
 * Per validator, assignment counts of the rounds that closed in finance period `periodId`, sorted by validator:
 * what settlement pays validators by (each round counts in exactly one period, however short periods are).
 */
export async function validatorWorkForPeriod(db: Db, periodId: string): Promise<ValidatorPeriodCounts[]> {
  const p = validatorAssignmentPeriods;
  return db
    .select({ validator: p.validator, completed: p.completed, agreed: p.agreed, minority: p.minority, missed: p.missed })
    .from(p)
    .where(eq(p.periodId, periodId))
    .orderBy(asc(p.validator))
    .all();
}

export interface NodeAuditPeriodCounts {
  periodId: string;
  /** Audits that counted as passed (a contained timeout counts as neither until it is decided). */
  passed: number;
  failed: number;
}

/** A node's audit results per finance period, for audits in [fromMs, toMs), oldest period first. */
export async function nodeAuditCountsByPeriod(db: Db, nodeId: string, fromMs: number, toMs: number, periodMinutes: number | undefined): Promise<NodeAuditPeriodCounts[]> {
  const a = nodeAuditOutcomes;
  const rows = await db
    .select({ at: a.at, counted: a.counted, n: sql<number>`count(*)`.mapWith(Number) })
    .from(a)
    .where(and(eq(a.nodeId, nodeId), gte(a.at, fromMs), sql`${a.at} < ${toMs}`))
    .groupBy(a.at, a.counted)
    .all();
  const byPeriod = new Map<string, NodeAuditPeriodCounts>();
  for (const r of rows) {
    const periodId = periodIdAt(r.at, periodMinutes);
    let c = byPeriod.get(periodId);
    if (!c) byPeriod.set(periodId, (c = { periodId, passed: 0, failed: 0 }));
    if (r.counted === "pass") c.passed += r.n;
    else if (r.counted === "fail") c.failed += r.n;
  }
  return [...byPeriod.values()].sort((x, y) => x.periodId.localeCompare(y.periodId));
}

// ---- The one slash of a disqualified node

export type DisqualificationSlashRow = typeof nodeDisqualificationSlashes.$inferSelect;

export async function listPendingDisqualificationSlashes(db: Db, limit = 50): Promise<DisqualificationSlashRow[]> {
  return db
    .select()
    .from(nodeDisqualificationSlashes)
    .where(eq(nodeDisqualificationSlashes.state, "pending"))
    .orderBy(asc(nodeDisqualificationSlashes.disqualifiedAt))
    .limit(limit)
    .all();
}

export async function getDisqualificationSlash(db: Db, nodeId: string): Promise<DisqualificationSlashRow | undefined> {
  return db.select().from(nodeDisqualificationSlashes).where(eq(nodeDisqualificationSlashes.nodeId, nodeId)).get();
}

/** Records the chain height before a slash is sent: a retry after a crash looks for it on chain from there. */
export async function recordSlashAttempt(db: Db, nodeId: string, fromBlock: number, now: number): Promise<void> {
  await db
    .update(nodeDisqualificationSlashes)
    .set({ fromBlock, updatedAt: now })
    .where(and(eq(nodeDisqualificationSlashes.nodeId, nodeId), eq(nodeDisqualificationSlashes.state, "pending")));
}

export async function settleDisqualificationSlash(
  db: Db,
  nodeId: string,
  settled: { state: "slashed"; txHash: string; amount: string } | { state: "skipped"; detail: string; amount?: string },
  now: number,
): Promise<void> {
  await db
    .update(nodeDisqualificationSlashes)
    .set({ ...settled, updatedAt: now })
    .where(and(eq(nodeDisqualificationSlashes.nodeId, nodeId), eq(nodeDisqualificationSlashes.state, "pending")));
}

// ---- Idempotence

async function wasApplied(db: Db, roundId: string, subject: "node" | "validator", subjectId: string): Promise<boolean> {
  const r = reputationRoundsApplied;
  return (await db.select({ roundId: r.roundId }).from(r).where(and(eq(r.roundId, roundId), eq(r.subject, subject), eq(r.subjectId, subjectId))).get()) !== undefined;
}

/**
 * The "applied" row, whose applied_at is read back from the state row under the new version: when the state
 * write before it matched nothing (another writer got there first), applied_at is NULL, the NOT NULL constraint
 * fails and the whole batch rolls back.
 */
function markApplied(db: Db, roundId: string, subject: "node" | "validator", subjectId: string, appliedAt: ReturnType<typeof sql>) {
  return db.insert(reputationRoundsApplied).values({ roundId, subject, subjectId, appliedAt: appliedAt as unknown as number });
}

type BatchItem = Parameters<Db["batch"]>[0][number];

async function writeOnce(db: Db, writes: readonly BatchItem[]): Promise<"applied" | "already-applied" | "stale"> {
  try {
    await db.batch(writes as [BatchItem, ...BatchItem[]]);
    return "applied";
  } catch (error) {
    const message = String((error as Error)?.message ?? error) + String((error as { cause?: Error })?.cause?.message ?? "");
    if (message.includes("UNIQUE constraint failed: reputation_rounds_applied")) return "already-applied";
    if (message.includes("NOT NULL constraint failed: reputation_rounds_applied")) return "stale";
    throw error;
  }
}
