// Alerts for settlement steps that were deferred or failed (`finance_alerts`), for finance ops: listed by
// GET /api/v1/finance/alerts and logged as one JSON line each (event "finance_alert") for a deployment's log push.
// A cron chore meets the same condition every hour until it clears, so an alert is one row per (period, step, kind,
// reason) while it is open: raising it again counts an occurrence instead of adding a row.

import { and, asc, eq, gt, isNull, sql } from "drizzle-orm";
import type { Db } from "./client.ts";
import { financeAlerts, type FinanceAlertKind, type FinanceAlertRow } from "./schema.ts";

export type { FinanceAlertKind, FinanceAlertRow } from "./schema.ts";

/** A reason is a code scripts group by: lower-case words joined by _ . or -. */
export const ALERT_REASON_PATTERN = /^[a-z0-9][a-z0-9_.-]{0,63}$/;
/** Messages are for people; a longer one (a whole revert trace) is cut here. */
export const ALERT_MESSAGE_MAX_CHARS = 2000;

export interface RaiseAlertParameters {
  periodId: string;
  /** The settlement step: close, buyback, split, post. */
  step: string;
  kind: FinanceAlertKind;
  reason: string;
  message: string;
  now: number;
}

export interface RaiseAlertReturnType {
  alert: FinanceAlertRow;
  /** True when this raise opened the alert; false when it counted another occurrence of an open one. */
  opened: boolean;
}

/**
 * Opens the alert, or counts one more occurrence of the same open alert (its message becomes the latest one), in
 * one statement: concurrent raises of one alert leave one row. Logs a `finance_alert` line either way.
 */
export async function raiseAlert(db: Db, params: RaiseAlertParameters): Promise<RaiseAlertReturnType> {
  if (!ALERT_REASON_PATTERN.test(params.reason)) throw new RangeError(`alert reason ${JSON.stringify(params.reason)} is not a code (${ALERT_REASON_PATTERN})`);
  if (params.periodId === "" || params.step === "") throw new RangeError("an alert names its period and step");
  const message = params.message.slice(0, ALERT_MESSAGE_MAX_CHARS);
  const alert = (await db
    .insert(financeAlerts)
    .values({ periodId: params.periodId, step: params.step, kind: params.kind, reason: params.reason, message, raisedAt: params.now, lastSeenAt: params.now, occurrences: 1 })
    .onConflictDoUpdate({
      // The partial unique index finance_alerts_open_idx: only an open alert is the same alert.
      target: [financeAlerts.periodId, financeAlerts.step, financeAlerts.kind, financeAlerts.reason],
      targetWhere: isNull(financeAlerts.resolvedAt),
      set: {
        occurrences: sql`${financeAlerts.occurrences} + 1`,
        lastSeenAt: sql`MAX(${financeAlerts.lastSeenAt}, excluded.last_seen_at)`,
        message: sql`excluded.message`,
      },
    })
    .returning()
    .get())!;
  const opened = alert.occurrences === 1;
  console.error(
    JSON.stringify({
      event: "finance_alert",
      alertId: alert.id,
      periodId: alert.periodId,
      step: alert.step,
      kind: alert.kind,
      reason: alert.reason,
      message: alert.message,
      occurrences: alert.occurrences,
      opened,
      raisedAt: new Date(alert.raisedAt).toISOString(),
      lastSeenAt: new Date(alert.lastSeenAt).toISOString(),
    }),
  );
  return { alert, opened };
}

/** Resolves every open alert of the step (it has since succeeded); returns how many were open. */
export async function resolveAlerts(db: Db, params: { periodId: string; step: string; now: number }): Promise<number> {
  const resolved = await db
    .update(financeAlerts)
    .set({ resolvedAt: params.now })
    .where(and(eq(financeAlerts.periodId, params.periodId), eq(financeAlerts.step, params.step), isNull(financeAlerts.resolvedAt)))
    .returning({ id: financeAlerts.id })
    .all();
  if (resolved.length > 0) {
    console.log(JSON.stringify({ event: "finance_alert_resolved", periodId: params.periodId, step: params.step, alertIds: resolved.map((r) => r.id), resolvedAt: new Date(params.now).toISOString() }));
  }
  return resolved.length;
}

/** A page of alerts in the order they were opened, after the id `after`; only open ones when `open` is true. */
export async function listAlerts(db: Db, options: { open?: boolean; after?: number; limit: number }): Promise<FinanceAlertRow[]> {
  return db
    .select()
    .from(financeAlerts)
    .where(and(options.open ? isNull(financeAlerts.resolvedAt) : undefined, options.after === undefined ? undefined : gt(financeAlerts.id, options.after)))
    .orderBy(asc(financeAlerts.id))
    .limit(options.limit)
    .all();
}
