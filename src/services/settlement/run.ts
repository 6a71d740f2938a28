// Settlement: each accounting period settled exactly once, step by step (issue 17, "The settlement chore"). Each
// step is keyed by the period id and recorded in D1 (src/db/settlement.ts); a step recorded done is never run
// again, and a step that stopped halfway resumes from what it recorded. Runs exclude each other through a lease
// the ProtocolTransactions Durable Object grants (D1 has no interactive transactions to do it).
//
// Steps, in order (each in its own module here):
//   close    usage priced into one invoice per account; the period is closed          (close.ts)
//   draw     prepaying accounts' invoices paid from their ICNT escrow at the TWAP       (draw.ts)
//   buyback  a share of the fiat revenue swapped for ICNT at a TWAP-bounded price     (buyback.ts)
//   split    the ICNT divided among protocol, validators and nodes; hold-backs, top-ups (split.ts)
//   post     the Merkle root posted and funded; top-ups staked; the period is settled  (post.ts)
// Periods settle oldest first. Once one stops short of settled (a step failed, the buyback deferred, no chain is
// configured), later periods still close (their invoices go out) but settle only after it.

import { edgeChain } from "../../chain/edge-chain.ts";
import { openDb } from "../../db/client.ts";
import { raiseAlert, resolveAlerts } from "../../db/finance-alerts.ts";
import {
  ensureSettlementPeriod,
  failSettlementStep,
  getSettlementPeriod,
  getSettlementStep,
  periodsNotSettled,
  setPeriodDeferred,
  startSettlementStep,
} from "../../db/settlement.ts";
import type { SettlementPeriodState } from "../../db/schema.ts";
import type { Env } from "../../env.ts";
import { periodBounds, periodIdAt } from "../../finance/periods.ts";
import { runOnce as runUsageFlush, type UsageFlushReport } from "../../../workers/cron/usage-flush.ts";
import { protocolTransactionsOf } from "../protocol-signer.ts";
import { buybackStep } from "./buyback.ts";
import { closeStep } from "./close.ts";
import { drawStep } from "./draw.ts";
import { checkpoint, runContext, SettlementFault, SETTLEMENT_STEPS, type PeriodContext, type RunContext, type SettlementStep, type StepOutcome } from "./context.ts";
import { postStep } from "./post.ts";
import { splitStep } from "./split.ts";

export { settlementFaultPoint, SETTLEMENT_FAULT_POINTS, SETTLEMENT_STEPS, SettlementFault, SettlementStepError, type SettlementStep } from "./context.ts";
export type { CloseRecord } from "./close.ts";

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

const STEP_RUNNERS: Record<SettlementStep, (ctx: RunContext, period: PeriodContext) => Promise<StepOutcome>> = {
  close: closeStep,
  draw: drawStep,
  buyback: buybackStep,
  split: splitStep,
  post: postStep,
};

export interface StepReport {
  step: SettlementStep;
  outcome: "done" | "failed" | "deferred";
  /** Why it failed or was deferred. */
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
 * The chore: every period that ended (SETTLEMENT_GRACE_MS ago) and is not settled yet is taken as far as it can
 * go, oldest first. Usage is flushed once first, after the periods' ends, so each one's last hour is in D1 before
 * it is read.
 */
export async function settleEndedPeriods(env: Env, now: Date): Promise<SettlementReport> {
  const ctx = runContext(env, openDb(env.DB), now.getTime());
  const held = await withSettlementLease(env, ctx.now, async (): Promise<SettlementReport> => {
    const flush = await runUsageFlush(env, now);
    const current = periodIdAt(ctx.now, ctx.periodMinutes);
    const previous = periodIdAt(periodBounds(current, ctx.periodMinutes)!.start - 1, ctx.periodMinutes);
    // (Within the grace after its end, the previous period is skipped below and picked up by a later run.)
    const candidates = await periodsNotSettled(ctx.db);
    // The period that just ended is a candidate even before anything under its id reached D1.
    const previousRow = await getSettlementPeriod(ctx.db, previous);
    if (!previousRow || previousRow.state === "open") candidates.push(previous);
    candidates.sort();
    const report: SettlementReport = { chore: "settlement", flush, periods: [] };
    let settling = true;
    for (const id of new Set(candidates)) {
      const bounds = periodBounds(id, ctx.periodMinutes);
      // An id of another period length (FINANCE_PERIOD_MINUTES changed) is not one this edge can settle.
      if (!bounds) continue;
      // A period waits for its end (and the grace after it), unless finance ops closed it early: its invoices are
      // out, so it settles on what was metered up to its close.
      const row = await getSettlementPeriod(ctx.db, id);
      const closedEarly = row !== undefined && row.state !== "open";
      if (!closedEarly && bounds.end + SETTLEMENT_GRACE_MS > ctx.now) continue;
      const period = await settlePeriod(ctx, { id, ...bounds, cutoff: bounds.end, flush }, settling ? undefined : "close");
      if (period.steps.length > 0) report.periods.push(period);
      if (period.state !== "settled") settling = false;
      if (period.steps.some((s) => s.outcome === "failed" && s.step === "close")) break;
    }
    return report;
  });
  return held?.value ?? { chore: "settlement", skipped: LEASE_HELD, periods: [] };
}

/**
 * Closes the period open at `now` without waiting for its end (POST /api/v1/admin/finance/periods/close): its
 * usage up to now is invoiced, and the chore's next run settles it on what was metered up to now (what is metered
 * in it later is neither billed nor paid). Undefined when another run holds the lease.
 */
export async function closeCurrentPeriod(env: Env, now: Date): Promise<{ periodId: string; report: PeriodReport } | undefined> {
  const ctx = runContext(env, openDb(env.DB), now.getTime());
  const id = periodIdAt(ctx.now, ctx.periodMinutes);
  const bounds = periodBounds(id, ctx.periodMinutes)!;
  const held = await withSettlementLease(env, ctx.now, async () => {
    const flush = await runUsageFlush(env, now);
    return settlePeriod(ctx, { id, ...bounds, cutoff: ctx.now, flush }, "close");
  });
  return held && { periodId: id, report: held.value };
}

/**
 * Runs the period's steps not yet done, in order, through `lastStep` (all of them by default), and reports the
 * steps it ran (none when everything asked for was done before). Steps after close need the chain; without one
 * configured the period stays closed.
 */
async function settlePeriod(ctx: RunContext, period: PeriodContext, lastStep?: SettlementStep): Promise<PeriodReport> {
  await ensureSettlementPeriod(ctx.db, period, ctx.now);
  const steps: StepReport[] = [];
  const hasChain = edgeChain(ctx.env) !== undefined;
  for (const step of SETTLEMENT_STEPS) {
    if (step !== "close" && !hasChain) break;
    const recorded = await getSettlementStep(ctx.db, period.id, step);
    if (recorded?.state === "done") {
      if (step === lastStep) break;
      continue;
    }
    await startSettlementStep(ctx.db, period.id, step, ctx.now);
    let outcome: StepOutcome;
    try {
      outcome = await STEP_RUNNERS[step](ctx, period);
    } catch (error) {
      if (error instanceof SettlementFault) throw error;
      const message = error instanceof Error ? error.message : String(error);
      await failSettlementStep(ctx.db, period.id, step, message, ctx.now);
      await raiseAlert(ctx.db, { periodId: period.id, step, kind: "failed", reason: "step_error", message, now: ctx.now });
      steps.push({ step, outcome: "failed", error: message });
      break;
    }
    if (outcome.kind === "deferred") {
      await failSettlementStep(ctx.db, period.id, step, `deferred (${outcome.reason}): ${outcome.message}`, ctx.now);
      await setPeriodDeferred(ctx.db, period.id, true, ctx.now);
      await raiseAlert(ctx.db, { periodId: period.id, step, kind: "deferred", reason: alertReason(outcome.reason), message: outcome.message, now: ctx.now });
      steps.push({ step, outcome: "deferred", error: `${outcome.reason}: ${outcome.message}` });
      break;
    }
    await resolveAlerts(ctx.db, { periodId: period.id, step, now: ctx.now });
    await setPeriodDeferred(ctx.db, period.id, false, ctx.now);
    steps.push({ step, outcome: "done" });
    checkpoint(ctx, step);
    if (step === lastStep) break;
  }
  const row = (await ensureSettlementPeriod(ctx.db, period, ctx.now))!;
  return { id: period.id, state: row.state, steps };
}

/** An alert's reason code from a deferral's name: SpotDeviatesFromTwap → spot_deviates_from_twap. */
function alertReason(reason: string): string {
  return reason.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase();
}

