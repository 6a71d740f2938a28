// Finance ops' exports beside src/api/finance.ts, under /api/v1/finance and the finance token: the invoices of
// closed periods (one CSV row per invoice line) and the alerts settlement raised for deferred or failed steps.
// JSON by default, CSV with ?format=csv; amounts are decimal strings of base units.

import { Hono } from "hono";
import { z } from "zod";
import { openDb } from "../db/client.ts";
import { listAlerts, type FinanceAlertRow } from "../db/finance-alerts.ts";
import { listInvoices, type InvoiceRow } from "../db/invoices.ts";
import type { Env } from "../env.ts";
import { csvDocument } from "../finance/csv.ts";
import { parseWith } from "./errors.ts";
import { csvResponse, format, limit, periodId, requireFinanceToken } from "./finance.ts";

const accountId = z.string().regex(/^[\x21-\x39\x3b-\x7e]{1,128}$/, "must be an account id such as acc_0123456789abcdef");
export const alertsQuerySchema = z.object({
  state: z.enum(["open", "all"]).default("open"),
  after: z.string().regex(/^\d{1,15}$/, "must be a cursor from a previous page").optional(),
  limit: limit(1000, 200),
  format,
});

/** `<period id>:<account id>` of the last invoice of the previous page (an account id has no colon). */
const invoiceCursor = z
  .string()
  .regex(/^[\x21-\x7e]{1,64}:[\x21-\x39\x3b-\x7e]{1,128}$/, "must be a cursor from a previous page")
  .transform((s) => ({ periodId: s.slice(0, s.lastIndexOf(":")), accountId: s.slice(s.lastIndexOf(":") + 1) }));

export const financeInvoicesQuerySchema = z.object({
  period: periodId.optional(),
  account: accountId.optional(),
  after: invoiceCursor.optional(),
  limit: limit(1000, 200),
  format,
});

/** An invoice as the exports show it, amounts as decimal strings (shared with the customer's GET /api/v1/invoices). */
export function invoiceView(i: InvoiceRow) {
  return {
    periodId: i.periodId,
    accountId: i.accountId,
    currency: i.currency,
    priceSheetVersion: i.priceSheetVersion,
    closedAt: new Date(i.closedAt).toISOString(),
    totalMinor: i.totalMinor.toString(),
    lines: i.lines.map((l) => ({
      item: l.item,
      quantity: l.quantity.toString(),
      quantityUnit: l.quantityUnit,
      unitPriceMicros: l.unitPriceMicros.toString(),
      priceUnit: l.priceUnit,
      amountMinor: l.amountMinor.toString(),
    })),
  };
}

function alertView(a: FinanceAlertRow) {
  return {
    id: a.id,
    periodId: a.periodId,
    step: a.step,
    kind: a.kind,
    reason: a.reason,
    state: a.resolvedAt === null ? ("open" as const) : ("resolved" as const),
    occurrences: a.occurrences,
    message: a.message,
    raisedAt: new Date(a.raisedAt).toISOString(),
    lastSeenAt: new Date(a.lastSeenAt).toISOString(),
    resolvedAt: a.resolvedAt === null ? null : new Date(a.resolvedAt).toISOString(),
  };
}

export const financeExportsApi = new Hono<{ Bindings: Env }>();

financeExportsApi.get("/invoices", requireFinanceToken, async (c) => {
  const q = parseWith(financeInvoicesQuerySchema, c.req.query());
  const invoices = await listInvoices(openDb(c.env.DB), { periodId: q.period, accountId: q.account, after: q.after, limit: q.limit });
  const last = invoices[invoices.length - 1];
  const next = invoices.length === q.limit && last ? `${last.periodId}:${last.accountId}` : null;
  const views = invoices.map(invoiceView);
  if (q.format === "json") return c.json({ invoices: views, next });
  const header = ["period_id", "account_id", "item", "quantity", "quantity_unit", "unit_price_micros", "price_unit", "amount_minor", "currency", "price_sheet_version"];
  const rows = views.flatMap((i) => i.lines.map((l) => [i.periodId, i.accountId, l.item, l.quantity, l.quantityUnit, l.unitPriceMicros, l.priceUnit, l.amountMinor, i.currency, i.priceSheetVersion]));
  const name = ["invoices", q.period, q.account].filter((part) => part !== undefined).join("-");
  return csvResponse(csvDocument(header, rows), `${name}.csv`, next);
});

financeExportsApi.get("/alerts", requireFinanceToken, async (c) => {
  const q = parseWith(alertsQuerySchema, c.req.query());
  const alerts = await listAlerts(openDb(c.env.DB), { open: q.state === "open", after: q.after === undefined ? undefined : Number(q.after), limit: q.limit });
  const next = alerts.length === q.limit ? String(alerts[alerts.length - 1]!.id) : null;
  const views = alerts.map(alertView);
  if (q.format === "json") return c.json({ alerts: views, next });
  const header = ["id", "period_id", "step", "kind", "reason", "state", "occurrences", "raised_at", "last_seen_at", "resolved_at", "message"];
  const rows = views.map((a) => [a.id, a.periodId, a.step, a.kind, a.reason, a.state, a.occurrences, a.raisedAt, a.lastSeenAt, a.resolvedAt, a.message]);
  return csvResponse(csvDocument(header, rows), `finance-alerts-${q.state}.csv`, next);
});
