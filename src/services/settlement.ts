// Settlement: each accounting period settled exactly once, step by step (issue 17, "The settlement chore"). Each
// step is keyed by the period id and recorded in D1 (src/db/settlement.ts); a step recorded done is never run
// again, and a step that stopped halfway resumes from what it recorded. Runs exclude each other through a lease
// the ProtocolTransactions Durable Object grants (D1 has no interactive transactions to do it).
//
// Steps, in order. Only `close` exists so far; buyback, split and the rewards posting follow as their own steps.
//   close   flush usage, price each account's usage with the price sheet in force at the period's start, post
//           one invoice entry per account (receivables ← revenue), record the revenue; the period is closed.

import { configOf } from "../config.ts";
import { openDb, type Db } from "../db/client.ts";
import { postLedgerEntry } from "../db/ledger.ts";
import { priceSheetAt } from "../db/price-sheets.ts";
import {
  ensureSettlementPeriod,
  failSettlementStep,
  getSettlementPeriod,
  getSettlementStep,
  periodsNotClosed,
  prepareSettlementStep,
  recordPeriodClosed,
  startSettlementStep,
} from "../db/settlement.ts";
import type { SettlementPeriodState } from "../db/schema.ts";
import { usageForPeriod } from "../db/usage.ts";
import type { Env } from "../env.ts";
import { periodBounds, periodIdAt } from "../finance/periods.ts";
import { buildInvoice, invoiceLedgerEntry, type Invoice, type InvoiceItem, type InvoiceLine } from "../finance/pricing.ts";
import type { PaymentCurrency } from "../finance/money.ts";
import { EdgeError } from "../protocol/errors.ts";
import { runOnce as runUsageFlush, type UsageFlushReport } from "../../workers/cron/usage-flush.ts";
import { protocolTransactionsOf } from "./protocol-signer.ts";

export const SETTLEMENT_STEPS = ["close"] as const;
export type SettlementStep = (typeof SETTLEMENT_STEPS)[number];

/** The ProtocolTransactions lease that one settlement run holds at a time. */
export const SETTLEMENT_LEASE = "settlement";
/** Longer than any run; a run that crashed without releasing blocks the next for at most this long. */
export const SETTLEMENT_LEASE_TTL_MS = 15 * 60_000;
export const LEASE_HELD = "another settlement run holds the lease";
/**
 * How long after its end a period waits to close. A request is counted in the period of its start, at its first
 * call to its bucket's index, which an upload makes only once its body has been received: one that began before
 * the end may be counted a little after it, and must be in D1 before the period's usage is read.
 */
export const SETTLEMENT_GRACE_MS = 5 * 60_000;

/**
 * Test-only points where a run stops as a crash would (nothing after them happens, nothing is undone):
 * `close.prepared` once the invoices are priced and recorded, `close.invoice` after the first invoice is posted,
 * and a step's name once that step is recorded done. Honoured only when TEST_CLOCK is "true".
 */
export const SETTLEMENT_FAULT_POINTS = ["close.prepared", "close.invoice", "close"] as const;
export type SettlementFaultPoint = (typeof SETTLEMENT_FAULT_POINTS)[number];

export class SettlementFault extends EdgeError<"SettlementFault", { point: SettlementFaultPoint }> {
  override name = "SettlementFault";
  constructor(point: SettlementFaultPoint) {
    super("SettlementFault", `Settlement stopped at ${point} (SETTLEMENT_FAULT_AFTER_STEP, a test-only fault).`, { point });
  }
}

/** A step that could not finish; recorded on the step, and the run stops (later periods wait for this one). */
export class SettlementStepError extends EdgeError<"SettlementStepFailed", { periodId: string; step: SettlementStep }> {
  override name = "SettlementStepError";
  constructor(periodId: string, step: SettlementStep, message: string) {
    super("SettlementStepFailed", message, { periodId, step });
  }
}

/** The fault point the env names, if the test clock is on (never in a deployment). */
export function settlementFaultPoint(env: Env): SettlementFaultPoint | undefined {
  const point = env.SETTLEMENT_FAULT_AFTER_STEP;
  if (point === undefined || !configOf(env).testClock) return undefined;
  return (SETTLEMENT_FAULT_POINTS as readonly string[]).includes(point) ? (point as SettlementFaultPoint) : undefined;
}

interface RunContext {
  env: Env;
  db: Db;
  now: number;
  fault: SettlementFaultPoint | undefined;
}

function checkpoint(ctx: RunContext, point: SettlementFaultPoint): void {
  if (ctx.fault === point) throw new SettlementFault(point);
}

export interface StepReport {
  step: SettlementStep;
  outcome: "done" | "already done" | "failed";
  error?: string;
}

export interface PeriodReport {
  id: string;
  state: SettlementPeriodState;
  steps: StepReport[];
}

export interface SettlementReport {
  chore: "settlement";
  skipped?: typeof LEASE_HELD;
  flush?: UsageFlushReport;
  periods: PeriodReport[];
}

/**
 * Runs `work` holding the settlement lease; undefined when another holder has it. The lease is given back when
 * `work` ends, however it ends (a crash of the isolate leaves it to expire).
 */
export async function withSettlementLease<T>(env: Env, now: number, work: () => Promise<T>): Promise<{ value: T } | undefined> {
  const transactions = protocolTransactionsOf(env);
  const holder = `settlement:${crypto.randomUUID()}`;
  const lease = await transactions.acquireLease(SETTLEMENT_LEASE, holder, now, SETTLEMENT_LEASE_TTL_MS);
  if (!lease.acquired) return undefined;
  try {
    return { value: await work() };
  } finally {
    await transactions.releaseLease(SETTLEMENT_LEASE, holder);
  }
}

/**
 * The chore: every period that ended (SETTLEMENT_GRACE_MS ago) and is not yet closed is closed, oldest first.
 * Usage is flushed once first, after the periods' ends, so each one's last hour is in D1 before it is read.
 */
export async function settleEndedPeriods(env: Env, now: Date): Promise<SettlementReport> {
  const ctx: RunContext = { env, db: openDb(env.DB), now: now.getTime(), fault: settlementFaultPoint(env) };
  const held = await withSettlementLease(env, ctx.now, async (): Promise<SettlementReport> => {
    const flush = await runUsageFlush(env, now);
    const periodMinutes = configOf(env).finance.periodMinutes;
    const current = periodIdAt(ctx.now, periodMinutes);
    const previous = periodIdAt(periodBounds(current, periodMinutes)!.start - 1, periodMinutes);
    // (Within the grace after its end, the previous period is skipped below and picked up by a later run.)
    const candidates = await periodsNotClosed(ctx.db);
    // The period that just ended is a candidate even before anything under its id reached D1.
    const previousRow = await getSettlementPeriod(ctx.db, previous);
    if (!previousRow || previousRow.state === "open") candidates.push(previous);
    candidates.sort();
    const report: SettlementReport = { chore: "settlement", flush, periods: [] };
    for (const id of new Set(candidates)) {
      const bounds = periodBounds(id, periodMinutes);
      // An id of another period length (FINANCE_PERIOD_MINUTES changed) is not one this edge can settle.
      if (!bounds || bounds.end + SETTLEMENT_GRACE_MS > ctx.now) continue;
      const period = await settlePeriod(ctx, { id, ...bounds }, bounds.end, flush);
      report.periods.push(period);
      if (period.steps.some((s) => s.outcome === "failed")) break;
    }
    return report;
  });
  return held?.value ?? { chore: "settlement", skipped: LEASE_HELD, periods: [] };
}

/**
 * Closes the period open at `now` without waiting for its end (POST /api/v1/admin/finance/periods/close): its
 * usage up to now is invoiced. Undefined when another settlement run holds the lease.
 */
export async function closeCurrentPeriod(env: Env, now: Date): Promise<{ periodId: string; report: PeriodReport } | undefined> {
  const ctx: RunContext = { env, db: openDb(env.DB), now: now.getTime(), fault: settlementFaultPoint(env) };
  const periodMinutes = configOf(env).finance.periodMinutes;
  const id = periodIdAt(ctx.now, periodMinutes);
  const bounds = periodBounds(id, periodMinutes)!;
  const held = await withSettlementLease(env, ctx.now, async () => {
    const flush = await runUsageFlush(env, now);
    return settlePeriod(ctx, { id, ...bounds }, ctx.now, flush);
  });
  return held && { periodId: id, report: held.value };
}

async function settlePeriod(ctx: RunContext, period: { id: string; start: number; end: number }, cutoff: number, flush: UsageFlushReport): Promise<PeriodReport> {
  await ensureSettlementPeriod(ctx.db, period, ctx.now);
  const steps: StepReport[] = [];
  for (const step of SETTLEMENT_STEPS) {
    const recorded = await getSettlementStep(ctx.db, period.id, step);
    if (recorded?.state === "done") {
      steps.push({ step, outcome: "already done" });
      continue;
    }
    await startSettlementStep(ctx.db, period.id, step, ctx.now);
    try {
      await closeStep(ctx, period, cutoff, flush);
      steps.push({ step, outcome: "done" });
      checkpoint(ctx, step);
    } catch (error) {
      if (error instanceof SettlementFault) throw error;
      const message = error instanceof Error ? error.message : String(error);
      await failSettlementStep(ctx.db, period.id, step, message, ctx.now);
      console.error(JSON.stringify({ event: "settlement_step_failed", periodId: period.id, step, error: message }));
      steps.push({ step, outcome: "failed", error: message });
      break;
    }
  }
  const row = (await ensureSettlementPeriod(ctx.db, period, ctx.now))!;
  return { id: period.id, state: row.state, steps };
}

// ---- Step 1: close

/** What the close step recorded: the invoices it priced, written once, so a resumed step posts exactly these. */
export interface CloseRecord {
  /** The instant the usage was taken up to (the period's end, or the moment of a close on demand). */
  closedAt: number;
  currency: PaymentCurrency;
  priceSheetVersion: number;
  revenueMinor: string;
  invoices: { accountId: string; totalMinor: string; lines: { item: InvoiceItem; quantity: string; quantityUnit: string; unitPriceMicros: string; priceUnit: InvoiceLine["priceUnit"]; amountMinor: string }[] }[];
}

function closeRecordOf(invoices: Invoice[], closedAt: number, currency: PaymentCurrency, priceSheetVersion: number): CloseRecord {
  return {
    closedAt,
    currency,
    priceSheetVersion,
    revenueMinor: invoices.reduce((sum, i) => sum + i.totalMinor, 0n).toString(),
    invoices: invoices.map((i) => ({
      accountId: i.accountId,
      totalMinor: i.totalMinor.toString(),
      lines: i.lines.map((l) => ({ ...l, quantity: l.quantity.toString(), unitPriceMicros: l.unitPriceMicros.toString(), amountMinor: l.amountMinor.toString() })),
    })),
  };
}

function invoicesOf(record: CloseRecord, periodId: string): Invoice[] {
  return record.invoices.map((i) => ({
    accountId: i.accountId,
    periodId,
    currency: record.currency,
    priceSheetVersion: record.priceSheetVersion,
    totalMinor: BigInt(i.totalMinor),
    lines: i.lines.map((l) => ({ ...l, quantity: BigInt(l.quantity), unitPriceMicros: BigInt(l.unitPriceMicros), amountMinor: BigInt(l.amountMinor) })),
  }));
}

async function closeStep(ctx: RunContext, period: { id: string; start: number; end: number }, cutoff: number, flush: UsageFlushReport): Promise<void> {
  let step = (await getSettlementStep(ctx.db, period.id, "close"))!;
  if (step.state !== "prepared") {
    // A bucket whose usage did not reach D1 would go unbilled: wait for the flush to succeed for every bucket.
    if (flush.failedBuckets > 0) throw new SettlementStepError(period.id, "close", `${flush.failedBuckets} bucket(s) could not flush their usage; the period closes once they do.`);
    const usage = await usageForPeriod(ctx.db, period.id);
    // The sheet in force when the period began prices all of it: a sheet published later takes effect only from
    // the next period, so usage always keeps the price it was metered under.
    const sheet = await priceSheetAt(ctx.db, period.start);
    const invoices = [...usage.accounts.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([accountId, u]) => buildInvoice({ accountId, periodId: period.id, sheet, usage: u }));
    step = await prepareSettlementStep(ctx.db, period.id, "close", JSON.stringify(closeRecordOf(invoices, cutoff, sheet.currency, sheet.version)), ctx.now);
    checkpoint(ctx, "close.prepared");
  }
  const record = JSON.parse(step.result!) as CloseRecord;
  let posted = 0;
  for (const invoice of invoicesOf(record, period.id)) {
    const entry = invoiceLedgerEntry(invoice, record.closedAt);
    if (!entry) continue;
    await postLedgerEntry(ctx.db, entry, ctx.now);
    if (++posted === 1) checkpoint(ctx, "close.invoice");
  }
  await recordPeriodClosed(ctx.db, {
    periodId: period.id,
    result: step.result!,
    closedAt: record.closedAt,
    currency: record.currency,
    revenueMinor: BigInt(record.revenueMinor),
    invoices: record.invoices.filter((i) => i.totalMinor !== "0").length,
    now: ctx.now,
  });
}
