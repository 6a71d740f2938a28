// What every settlement step shares: the run's context, the test-only fault points, and the step errors.

import { configOf, type SettlementConfig } from "../../config.ts";
import type { Db } from "../../db/client.ts";
import type { Env } from "../../env.ts";
import { EdgeError } from "../../protocol/errors.ts";
import type { UsageFlushReport } from "../../../workers/cron/usage-flush.ts";

export const SETTLEMENT_STEPS = ["close", "draw", "buyback", "split", "post"] as const;
export type SettlementStep = (typeof SETTLEMENT_STEPS)[number];

/**
 * Test-only points where a run stops as a crash would (nothing after them happens, nothing is undone):
 * - `close.prepared` once the invoices are priced and recorded, `close.invoice` after the first invoice is posted;
 * - `buyback.converted` once the stablecoin is funded and recorded, `buyback.swapped` once the swap is mined and
 *   before it is recorded;
 * - `split.prepared` once the split is computed and recorded, before any of its entries is posted;
 * - `post.rewards` once the root is posted and funded on chain, before it is recorded;
 * - a step's name once that step is recorded done.
 * Honoured only when TEST_CLOCK is "true".
 */
export const SETTLEMENT_FAULT_POINTS = [
  "close.prepared",
  "close.invoice",
  "close",
  "draw",
  "buyback.converted",
  "buyback.swapped",
  "buyback",
  "split.prepared",
  "split",
  "post.rewards",
  "post",
] as const;
export type SettlementFaultPoint = (typeof SETTLEMENT_FAULT_POINTS)[number];

export class SettlementFault extends EdgeError<"SettlementFault", { point: SettlementFaultPoint }> {
  override name = "SettlementFault";
  constructor(point: SettlementFaultPoint) {
    super("SettlementFault", `Settlement stopped at ${point} (SETTLEMENT_FAULT_AFTER_STEP, a test-only fault).`, { point });
  }
}

/** A step that could not finish; recorded on the step, and the run stops settling (later periods only close). */
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

export interface RunContext {
  env: Env;
  db: Db;
  now: number;
  fault: SettlementFaultPoint | undefined;
  settlement: SettlementConfig;
  periodMinutes: number | undefined;
}

export function runContext(env: Env, db: Db, now: number): RunContext {
  const config = configOf(env);
  return { env, db, now, fault: settlementFaultPoint(env), settlement: config.finance.settlement, periodMinutes: config.finance.periodMinutes };
}

export function checkpoint(ctx: RunContext, point: SettlementFaultPoint): void {
  if (ctx.fault === point) throw new SettlementFault(point);
}

/** The period a step works on. */
export interface PeriodContext {
  id: string;
  start: number;
  end: number;
  /** The instant the close takes usage up to: the period's end, or now for a close on demand. */
  cutoff: number;
  flush: UsageFlushReport;
}

/** How a step ended when it did not throw: done, or waiting for the market (the buyback's guard deferred it). */
export type StepOutcome = { kind: "done" } | { kind: "deferred"; reason: string; message: string };
