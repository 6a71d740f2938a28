// Queries over settlement's record of periods (`settlement_periods`) and their steps (`settlement_steps`). A step
// is keyed by (period, step): once `done` it is never run again, and a step's `result` is written once, when it is
// first prepared, so a resumed step works from the same record instead of recomputing it.

import { and, asc, eq, inArray, ne, notInArray, sql } from "drizzle-orm";
import type { Db } from "./client.ts";
import { bucketUsage, ledgerEntries, ledgerLines, nodeUsage, settlementPeriods, settlementSteps, type SettlementPeriodState } from "./schema.ts";

export type SettlementPeriodRow = typeof settlementPeriods.$inferSelect;
export type SettlementStepRow = typeof settlementSteps.$inferSelect;

export async function getSettlementPeriod(db: Db, id: string): Promise<SettlementPeriodRow | undefined> {
  return db.select().from(settlementPeriods).where(eq(settlementPeriods.id, id)).get();
}

/** The period's row, created open when it has none. */
export async function ensureSettlementPeriod(db: Db, period: { id: string; start: number; end: number }, now: number): Promise<SettlementPeriodRow> {
  await db.insert(settlementPeriods).values({ id: period.id, state: "open", startsAt: period.start, endsAt: period.end, updatedAt: now }).onConflictDoNothing();
  return (await getSettlementPeriod(db, period.id))!;
}

export async function getSettlementStep(db: Db, periodId: string, step: string): Promise<SettlementStepRow | undefined> {
  return db
    .select()
    .from(settlementSteps)
    .where(and(eq(settlementSteps.periodId, periodId), eq(settlementSteps.step, step)))
    .get();
}

export async function listSettlementSteps(db: Db, periodId: string): Promise<SettlementStepRow[]> {
  return db.select().from(settlementSteps).where(eq(settlementSteps.periodId, periodId)).orderBy(asc(settlementSteps.updatedAt)).all();
}

/** Counts one more attempt at a step not done yet (state running); a done step is left as it is. */
export async function startSettlementStep(db: Db, periodId: string, step: string, now: number): Promise<void> {
  await db
    .insert(settlementSteps)
    .values({ periodId, step, state: "running", attempts: 1, updatedAt: now })
    .onConflictDoUpdate({
      target: [settlementSteps.periodId, settlementSteps.step],
      set: { attempts: sql`${settlementSteps.attempts} + 1`, updatedAt: now, error: null, state: sql`CASE WHEN ${settlementSteps.state} = 'failed' THEN 'running' ELSE ${settlementSteps.state} END` },
      setWhere: ne(settlementSteps.state, "done"),
    });
}

/**
 * Records the step's result as prepared, unless a result is already recorded (prepared or done): the first one
 * stands. Returns the step as it now is.
 */
export async function prepareSettlementStep(db: Db, periodId: string, step: string, result: string, now: number): Promise<SettlementStepRow> {
  await db
    .update(settlementSteps)
    .set({ state: "prepared", result, updatedAt: now })
    .where(and(eq(settlementSteps.periodId, periodId), eq(settlementSteps.step, step), notInArray(settlementSteps.state, ["prepared", "done"])));
  return (await getSettlementStep(db, periodId, step))!;
}

/** Records a failed attempt (the error is kept for finance ops; the next run tries again). */
export async function failSettlementStep(db: Db, periodId: string, step: string, error: string, now: number): Promise<void> {
  await db
    .update(settlementSteps)
    .set({ state: sql`CASE WHEN ${settlementSteps.state} = 'prepared' THEN 'prepared' ELSE 'failed' END`, error: error.slice(0, 2000), updatedAt: now })
    .where(and(eq(settlementSteps.periodId, periodId), eq(settlementSteps.step, step), ne(settlementSteps.state, "done")));
}

/**
 * Marks the close step done and the period closed with its revenue, in one D1 batch: either both are recorded or
 * neither. A period already past closed (settled, deferred) keeps its state.
 */
export async function recordPeriodClosed(
  db: Db,
  params: { periodId: string; result: string; closedAt: number; currency: string; revenueMinor: bigint; invoices: number; now: number },
): Promise<void> {
  await db.batch([
    db
      .update(settlementSteps)
      .set({ state: "done", result: params.result, error: null, updatedAt: params.now })
      .where(and(eq(settlementSteps.periodId, params.periodId), eq(settlementSteps.step, "close"))),
    db
      .update(settlementPeriods)
      .set({ state: "closed", closedAt: params.closedAt, currency: params.currency, revenueMinor: params.revenueMinor.toString(), invoices: params.invoices, updatedAt: params.now })
      .where(and(eq(settlementPeriods.id, params.periodId), eq(settlementPeriods.state, "open"))),
  ]);
}

/**
 * Every period id something was recorded under (metered usage, ledger entries, a settlement row) whose settlement
 * row is missing or not settled yet: the candidates the chore takes further once they have ended.
 */
export async function periodsNotSettled(db: Db): Promise<string[]> {
  const ids = new Set<string>();
  for (const r of await db.selectDistinct({ id: bucketUsage.periodId }).from(bucketUsage).all()) ids.add(r.id);
  for (const r of await db.selectDistinct({ id: nodeUsage.periodId }).from(nodeUsage).all()) ids.add(r.id);
  for (const r of await db.selectDistinct({ id: ledgerEntries.periodId }).from(ledgerEntries).all()) ids.add(r.id);
  const rows = await db.select({ id: settlementPeriods.id, state: settlementPeriods.state }).from(settlementPeriods).all();
  const states = new Map<string, SettlementPeriodState>(rows.map((r) => [r.id, r.state]));
  for (const [id, state] of states) if (state !== "settled") ids.add(id);
  return [...ids].filter((id) => states.get(id) !== "settled").sort();
}

/** Whether anything was recorded under `periodId`: usage, a ledger entry or a settlement row. */
export async function periodHasRecords(db: Db, periodId: string): Promise<boolean> {
  if (await getSettlementPeriod(db, periodId)) return true;
  if (await db.select({ id: bucketUsage.periodId }).from(bucketUsage).where(eq(bucketUsage.periodId, periodId)).limit(1).get()) return true;
  if (await db.select({ id: nodeUsage.periodId }).from(nodeUsage).where(eq(nodeUsage.periodId, periodId)).limit(1).get()) return true;
  return Boolean(await db.select({ key: ledgerEntries.key }).from(ledgerEntries).where(eq(ledgerEntries.periodId, periodId)).limit(1).get());
}

/**
 * Overwrites a step's record while the step is not done: the progress of a step that works in stages (the buyback
 * records its conversion, its decision and its swap as each happens, so a resumed step continues from there).
 */
export async function saveSettlementStepResult(db: Db, periodId: string, step: string, result: string, now: number): Promise<void> {
  await db
    .update(settlementSteps)
    .set({ result, updatedAt: now })
    .where(and(eq(settlementSteps.periodId, periodId), eq(settlementSteps.step, step), ne(settlementSteps.state, "done")));
}

/** Marks a step done with its final record (a later step never runs before this is written). */
export async function completeSettlementStep(db: Db, periodId: string, step: string, result: string, now: number): Promise<void> {
  await db
    .update(settlementSteps)
    .set({ state: "done", result, error: null, updatedAt: now })
    .where(and(eq(settlementSteps.periodId, periodId), eq(settlementSteps.step, step)));
}

/**
 * Moves a closed period to `deferred` (its buyback waits for a sane price) or back to `closed`; a settled period
 * never moves.
 */
export async function setPeriodDeferred(db: Db, periodId: string, deferred: boolean, now: number): Promise<void> {
  await db
    .update(settlementPeriods)
    .set({ state: deferred ? "deferred" : "closed", updatedAt: now })
    .where(and(eq(settlementPeriods.id, periodId), inArray(settlementPeriods.state, deferred ? ["closed"] : ["deferred"])));
}

/** Marks the last step done and the period settled, in one D1 batch. */
export async function recordPeriodSettled(db: Db, params: { periodId: string; step: string; result: string; now: number }): Promise<void> {
  await db.batch([
    db
      .update(settlementSteps)
      .set({ state: "done", result: params.result, error: null, updatedAt: params.now })
      .where(and(eq(settlementSteps.periodId, params.periodId), eq(settlementSteps.step, params.step))),
    db
      .update(settlementPeriods)
      .set({ state: "settled", updatedAt: params.now })
      .where(and(eq(settlementPeriods.id, params.periodId), inArray(settlementPeriods.state, ["closed", "deferred"]))),
  ]);
}

/** Σ debits and Σ credits of one sub-ledger over the whole ledger (bigint: SQLite's SUM would overflow). */
export async function subledgerTotals(db: Db, account: string, subaccount: string, currency: string): Promise<{ debits: bigint; credits: bigint }> {
  const rows = await db
    .select({ side: ledgerLines.side, amount: ledgerLines.amount })
    .from(ledgerLines)
    .where(and(eq(ledgerLines.account, account), eq(ledgerLines.subaccount, subaccount), eq(ledgerLines.currency, currency)))
    .all();
  let debits = 0n;
  let credits = 0n;
  for (const r of rows) {
    if (r.side === "debit") debits += BigInt(r.amount);
    else credits += BigInt(r.amount);
  }
  return { debits, credits };
}

/** Nodes whose held-back sub-ledger still holds ICNT: a period's split settles them even when they did no work in it. */
export async function nodesWithHeldBalance(db: Db): Promise<string[]> {
  const rows = await db
    .select({ node: ledgerLines.subaccount, side: ledgerLines.side, amount: ledgerLines.amount })
    .from(ledgerLines)
    .where(and(eq(ledgerLines.account, "held_back"), eq(ledgerLines.currency, "ICNT")))
    .all();
  const balances = new Map<string, bigint>();
  for (const r of rows) balances.set(r.node, (balances.get(r.node) ?? 0n) + (r.side === "credit" ? BigInt(r.amount) : -BigInt(r.amount)));
  return [...balances].filter(([, balance]) => balance > 0n).map(([node]) => node).sort();
}
