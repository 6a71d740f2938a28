// Settlement periods under /api/v1/admin/finance/periods (issue 17, Interfaces): closing the open period on demand
// (admin token) and each period's report and trial balance (admin or finance token). Mounted ahead of the admin
// API, whose guard admits the admin token only; each route here names its own guard.

import { Hono } from "hono";
import { z } from "zod";
import { clockNow } from "../clock.ts";
import { configOf } from "../config.ts";
import { openDb } from "../db/client.ts";
import { trialBalance } from "../db/ledger.ts";
import { periodHasRecords } from "../db/settlement.ts";
import type { Env } from "../env.ts";
import { periodBounds, periodIdAt } from "../finance/periods.ts";
import { periodReport, periodReportRows } from "../services/settlement/report.ts";
import { closeCurrentPeriod, LEASE_HELD } from "../services/settlement/run.ts";
import { csvDocument } from "../finance/csv.ts";
import { ApiError, parseWith } from "./errors.ts";
import { csvResponse, format, requireAdminToken, requireFinanceOrAdminToken, trialBalanceView } from "./finance.ts";

export const financePeriodsApi = new Hono<{ Bindings: Env }>();

/** A period id of this edge's period length: "2026-12", or "2026-12-01T12:05Z" with FINANCE_PERIOD_MINUTES. */
export function periodIdSchema(periodMinutes: number | undefined) {
  return z
    .string()
    .max(64)
    .refine((id) => periodBounds(id, periodMinutes) !== undefined, {
      message: periodMinutes === undefined ? "must be a period id such as 2026-12" : `must be a period id such as 2026-12-01T12:00Z, on a ${periodMinutes}-minute boundary`,
    });
}

/** Closes the period open now, without waiting for its end: its usage so far is invoiced and its revenue recognized. */
financePeriodsApi.post("/close", requireAdminToken, async (c) => {
  const closed = await closeCurrentPeriod(c.env, await clockNow(c.env));
  if (!closed) throw new ApiError(409, "SettlementBusy", `The period was not closed: ${LEASE_HELD}. Try again when it ends.`);
  const failed = closed.report.steps.find((s) => s.outcome === "failed");
  if (failed) throw new ApiError(503, "PeriodNotClosed", `Period ${closed.periodId} was not closed: ${failed.error}`, { periodId: closed.periodId });
  return c.json({ periodId: closed.periodId });
});

/** The period `id` names, or 404 when nothing was ever recorded under it and it is not the period open now. */
async function knownPeriod(env: Env, id: string): Promise<string> {
  const periodMinutes = configOf(env).finance.periodMinutes;
  const periodId = parseWith(periodIdSchema(periodMinutes), id);
  const current = periodIdAt((await clockNow(env)).getTime(), periodMinutes);
  if (periodId !== current && !(await periodHasRecords(openDb(env.DB), periodId))) {
    throw new ApiError(404, "NoSuchPeriod", `Nothing was recorded in period ${periodId}.`);
  }
  return periodId;
}

/** The period's report (src/services/settlement/report.ts); `?format=csv` gives it as rows of section, key, amount. */
financePeriodsApi.get("/:id", requireFinanceOrAdminToken, async (c) => {
  const id = await knownPeriod(c.env, c.req.param("id"));
  const q = parseWith(z.object({ format }), c.req.query());
  const report = await periodReport(openDb(c.env.DB), id);
  if (q.format === "csv") return csvResponse(csvDocument(["section", "key", "amount"], periodReportRows(report)), `period-${id}.csv`, null);
  return c.json(report);
});

financePeriodsApi.get("/:id/trial-balance", requireFinanceOrAdminToken, async (c) => {
  const id = await knownPeriod(c.env, c.req.param("id"));
  return c.json(trialBalanceView(await trialBalance(openDb(c.env.DB), id)));
});
