// The finance surface under /api/v1/finance (issue 17): the payment provider's webhook (signed, no token), and for
// the finance role (bearer FINANCE_TOKEN, separate from the admin token) the bank-statement import, the price
// sheet, and JSON or CSV exports of payments, the ledger and its trial balance.

import { Hono, type MiddlewareHandler } from "hono";
import { z } from "zod";
import { clockNow } from "../clock.ts";
import { openDb } from "../db/client.ts";
import { listLedgerEntries, trialBalance, type PostedEntry } from "../db/ledger.ts";
import { listPayments, type PaymentRow } from "../db/payments.ts";
import { listPriceSheets, priceSheetAt, publishPriceSheet } from "../db/price-sheets.ts";
import type { Env } from "../env.ts";
import { BankStatementError, importBankStatement } from "../finance/bank-import.ts";
import { configOf } from "../config.ts";
import { csvDocument } from "../finance/csv.ts";
import { FinanceError } from "../finance/errors.ts";
import type { TrialBalance } from "../finance/ledger.ts";
import { PAYMENT_CURRENCIES } from "../finance/money.ts";
import { applyPaymentEvent } from "../finance/payments.ts";
import { periodIdAt } from "../finance/periods.ts";
import type { PriceSheet } from "../finance/pricing.ts";
import { sha256Hex, timingSafeEqualHex } from "../protocol/crypto.ts";
import { apiErrorResponse } from "./error-response.ts";
import { ApiError, parseWith } from "./errors.ts";
import { readBodyWithLimit, readTextWithLimit } from "./guards/body-limit.ts";
import { verifyTimestampedHmac } from "./guards/hmac.ts";
import { parseJsonBody, parseJsonText } from "./guards/json-body.ts";

/** A provider's event is a few hundred bytes; anything near this cap is not one. */
export const WEBHOOK_MAX_BODY_BYTES = 16 * 1024;
/** A bank statement of MAX_IMPORT_ROWS rows fits comfortably. */
export const BANK_STATEMENT_MAX_BYTES = 1024 * 1024;

/**
 * An event or payment id becomes part of a ledger entry key (`payment:<id>`, `refund:<id>`), which is printable
 * ASCII without spaces: an id outside that is refused here (400) rather than failing the posting (500, retried by
 * the provider forever). Stripe's ids (`evt_…`, `pi_…`) are well inside it; a bank reference has the same bound.
 */
const providerId = z.string().regex(/^[\x21-\x7e]{1,128}$/, "must be 1-128 printable ASCII characters without spaces");

/** The webhook's body (issue 17, Interfaces). amountMinor: a JSON integer, or a decimal string for exactness. */
export const paymentWebhookEventSchema = z
  .object({
    id: providerId,
    type: z.enum(["payment.succeeded", "payment.refunded"]),
    data: z.object({
      accountId: z.string().min(1).max(128),
      amountMinor: z.union([z.number().int().positive().max(Number.MAX_SAFE_INTEGER), z.string().regex(/^[1-9]\d{0,15}$/, "must be a positive decimal integer")]),
      currency: z.string().min(1).max(16),
      paymentId: providerId.optional(),
    }),
  })
  .refine((e) => e.type !== "payment.refunded" || e.data.paymentId !== undefined, { path: ["data", "paymentId"], message: "a refund names the payment it refunds" });

const micros = z.string().regex(/^(0|[1-9]\d{0,30})$/, "must be a decimal integer of micro-units");
export const publishPriceSheetRequestSchema = z.object({
  version: z.number().int().positive(),
  currency: z.enum(PAYMENT_CURRENCIES),
  effectiveFrom: z.iso.datetime(),
  storagePerTbMonth: micros,
  egressPerTb: micros,
  classAPerMillion: micros,
  classBPerMillion: micros,
});

/** Query parameters the finance exports share: `?format=`, `?period=`, `?limit=`. */
export const format = z.enum(["json", "csv"]).default("json");
export const periodId = z.string().regex(/^[\x21-\x7e]{1,64}$/, "must be a period id such as 2026-12");
export const limit = (max: number, fallback: number) =>
  z
    .string()
    .regex(/^\d{1,6}$/)
    .transform(Number)
    .pipe(z.number().int().min(1).max(max))
    .default(fallback);
export const ledgerQuerySchema = z.object({ period: periodId.optional(), after: z.string().min(1).max(200).optional(), limit: limit(1000, 500), format });
export const trialBalanceQuerySchema = z.object({ period: periodId.optional(), format });
export const paymentsQuerySchema = z.object({
  accountId: z.string().min(1).max(128).optional(),
  after: z.string().regex(/^\d{1,16}:.+$/, "must be a cursor from a previous page").optional(),
  limit: limit(10_000, 1000),
  format,
});

/** The ApiError a finance domain error answers as; undefined for the ledger's own rules, whose breach is a defect. */
export function toFinanceApiError(error: FinanceError): ApiError | undefined {
  const d = error.details;
  switch (error.code) {
    case "UnknownAccount":
      return new ApiError(422, "UnknownAccount", error.message, d);
    case "UnsupportedCurrency":
      return new ApiError(422, "UnsupportedCurrency", error.message, d);
    case "InvalidAmount":
      return new ApiError(422, "InvalidAmount", error.message, d);
    case "NoSuchPayment":
      return new ApiError(422, "NoSuchPayment", error.message, d);
    case "PaymentMismatch":
      return new ApiError(422, "PaymentMismatch", error.message, d);
    case "RefundExceedsPayment":
      return new ApiError(422, "RefundExceedsPayment", error.message, d);
    case "PaymentAlreadyRecorded":
      return new ApiError(409, "PaymentAlreadyRecorded", error.message, d);
    case "EventIdConflict":
      return new ApiError(409, "EventIdConflict", error.message, d);
    case "PriceSheetVersionTaken":
      return new ApiError(409, "PriceSheetVersionTaken", error.message, d);
    case "PriceSheetNotEffective":
      return new ApiError(422, "PriceSheetNotEffective", error.message, d);
    case "InvalidEntry":
    case "UnknownLedgerAccount":
    case "CurrencyNotAllowed":
    case "UnbalancedEntry":
    case "EntryKeyConflict":
      return undefined;
  }
}

async function bearerMatches(header: string | undefined, expected: string | undefined): Promise<boolean> {
  const token = header?.startsWith("Bearer ") ? header.slice(7) : "";
  // Digests compared, so the comparison is constant-time whatever the lengths.
  return Boolean(expected) && token !== "" && timingSafeEqualHex(await sha256Hex(token), await sha256Hex(expected!));
}

/** The finance role: FINANCE_TOKEN as a bearer token. An unset secret lets nobody in. */
export const requireFinanceToken: MiddlewareHandler<{ Bindings: Env }> = async (c, next) => {
  if (!(await bearerMatches(c.req.header("authorization"), c.env.FINANCE_TOKEN))) {
    throw new ApiError(401, "Unauthorized", "A valid finance bearer token is required.");
  }
  await next();
};

/** The admin token alone, for the admin routes mounted beside the finance ones (closing a period). */
export const requireAdminToken: MiddlewareHandler<{ Bindings: Env }> = async (c, next) => {
  if (!(await bearerMatches(c.req.header("authorization"), c.env.ADMIN_TOKEN))) {
    throw new ApiError(401, "Unauthorized", "A valid admin bearer token is required.");
  }
  await next();
};

/** For routes finance ops and admins both read (the settlement's period reports): either token. */
export const requireFinanceOrAdminToken: MiddlewareHandler<{ Bindings: Env }> = async (c, next) => {
  const header = c.req.header("authorization");
  if (!(await bearerMatches(header, c.env.FINANCE_TOKEN)) && !(await bearerMatches(header, c.env.ADMIN_TOKEN))) {
    throw new ApiError(401, "Unauthorized", "A valid finance or admin bearer token is required.");
  }
  await next();
};

export const financeApi = new Hono<{ Bindings: Env }>();

financeApi.onError((error, c) => {
  const mapped = error instanceof FinanceError ? toFinanceApiError(error) : undefined;
  return apiErrorResponse(c, mapped ?? error, "finance_error");
});

/**
 * The payment provider's webhook, signed as Stripe signs (src/api/guards/hmac.ts): the body is read with its cap,
 * the signature checked over the raw bytes, and only then parsed. A bad or stale signature is a 401 that records
 * nothing; a redelivered event id answers 200 with duplicate: true and changes nothing.
 */
financeApi.post("/payments/webhook", async (c) => {
  const config = configOf(c.env).finance;
  // The provider's signing secrets, current first ("new,old" during a rotation).
  const secrets = (c.env.FINANCE_WEBHOOK_SECRET ?? "").split(",").map((x) => x.trim()).filter(Boolean);
  if (secrets.length === 0) throw new ApiError(503, "WebhookNotConfigured", "FINANCE_WEBHOOK_SECRET is not set: this edge accepts no payment events.");
  const body = await readBodyWithLimit(c.req.raw, WEBHOOK_MAX_BODY_BYTES);
  const now = await clockNow(c.env);
  await verifyTimestampedHmac({ header: c.req.header("icn-signature") ?? null, body, secrets, now, toleranceSeconds: config.webhookToleranceSeconds });
  const event = parseJsonText(new TextDecoder().decode(body), paymentWebhookEventSchema);
  const result = await applyPaymentEvent(
    openDb(c.env.DB),
    { id: event.id, type: event.type, accountId: event.data.accountId, amountMinor: BigInt(event.data.amountMinor), currency: event.data.currency, paymentId: event.data.paymentId },
    { now: now.getTime(), periodId: periodIdAt(now.getTime(), config.periodMinutes) },
  );
  return c.json({ received: true, eventId: event.id, duplicate: !result.applied, paymentId: result.paymentId, entryKey: result.entryKey });
});

financeApi.post("/payments/import", requireFinanceToken, async (c) => {
  const csv = await readTextWithLimit(c.req.raw, BANK_STATEMENT_MAX_BYTES);
  const now = (await clockNow(c.env)).getTime();
  try {
    return c.json(await importBankStatement(openDb(c.env.DB), csv, { now, periodId: periodIdAt(now, configOf(c.env).finance.periodMinutes) }));
  } catch (error) {
    if (error instanceof BankStatementError) throw new ApiError(400, "InvalidStatement", error.message, error.details);
    throw error;
  }
});

function paymentView(p: PaymentRow) {
  return {
    id: p.id,
    accountId: p.accountId,
    currency: p.currency,
    amountMinor: p.amountMinor,
    refundedMinor: p.refundedMinor,
    source: p.source,
    sourceRef: p.sourceRef,
    entryKey: p.entryKey,
    receivedAt: new Date(p.receivedAt).toISOString(),
  };
}

/**
 * `attachment; filename="<name>"` (RFC 6266 §4.1) for a name built from query values (a period id may hold any
 * printable character): anything but letters, digits, `.`, `_` and `-` becomes `_`, so no quote, `;` or path
 * separator reaches the header or the name a browser saves under.
 */
export function attachmentDisposition(filename: string): string {
  return `attachment; filename="${filename.replace(/[^A-Za-z0-9._-]/g, "_")}"`;
}

/** A CSV export's response: RFC 4180 text (its §3 registers text/csv), a file name to save it as, the next page's cursor. */
export function csvResponse(text: string, filename: string, next: string | null): Response {
  const headers: Record<string, string> = { "content-type": "text/csv; charset=utf-8", "content-disposition": attachmentDisposition(filename) };
  if (next !== null) headers["icn-next-cursor"] = next;
  return new Response(text, { headers });
}

financeApi.get("/payments", requireFinanceToken, async (c) => {
  const q = parseWith(paymentsQuerySchema, c.req.query());
  const after = q.after === undefined ? undefined : { receivedAt: Number(q.after.slice(0, q.after.indexOf(":"))), id: q.after.slice(q.after.indexOf(":") + 1) };
  const rows = await listPayments(openDb(c.env.DB), { accountId: q.accountId, after, limit: q.limit });
  const last = rows[rows.length - 1];
  const next = rows.length === q.limit && last ? `${last.receivedAt}:${last.id}` : null;
  const views = rows.map(paymentView);
  if (q.format === "json") return c.json({ payments: views, next });
  const header = ["id", "account_id", "currency", "amount_minor", "refunded_minor", "source", "source_ref", "entry_key", "received_at"];
  return csvResponse(csvDocument(header, views.map((p) => [p.id, p.accountId, p.currency, p.amountMinor, p.refundedMinor, p.source, p.sourceRef, p.entryKey, p.receivedAt])), "payments.csv", next);
});

function entryView(e: PostedEntry) {
  return {
    key: e.key,
    periodId: e.periodId,
    kind: e.kind,
    memo: e.memo ?? "",
    occurredAt: new Date(e.occurredAt).toISOString(),
    postedAt: new Date(e.postedAt).toISOString(),
    lines: e.lines.map((l) => ({ account: l.account, subaccount: l.subaccount ?? "", currency: l.currency, side: l.side, amount: l.amount.toString() })),
  };
}

financeApi.get("/ledger", requireFinanceToken, async (c) => {
  const q = parseWith(ledgerQuerySchema, c.req.query());
  const entries = await listLedgerEntries(openDb(c.env.DB), { periodId: q.period, after: q.after, limit: q.limit });
  const next = entries.length === q.limit ? entries[entries.length - 1]!.key : null;
  const views = entries.map(entryView);
  if (q.format === "json") return c.json({ entries: views, next });
  const header = ["entry_key", "period_id", "kind", "occurred_at", "line", "account", "subaccount", "currency", "side", "amount", "memo"];
  const rows = views.flatMap((e) => e.lines.map((l, i) => [e.key, e.periodId, e.kind, e.occurredAt, i, l.account, l.subaccount, l.currency, l.side, l.amount, e.memo]));
  return csvResponse(csvDocument(header, rows), `ledger${q.period ? `-${q.period}` : ""}.csv`, next);
});

/** The trial balance as JSON: amounts as decimal strings of base units (issue 17, Interfaces). */
export function trialBalanceView(tb: TrialBalance) {
  return {
    periodId: tb.periodId,
    balanced: tb.balanced,
    currencies: tb.currencies.map((t) => ({ currency: t.currency, debits: t.debits.toString(), credits: t.credits.toString() })),
    accounts: tb.accounts.map((a) => ({ account: a.account, subaccount: a.subaccount, currency: a.currency, debits: a.debits.toString(), credits: a.credits.toString(), balance: a.balance.toString() })),
  };
}

financeApi.get("/ledger/trial-balance", requireFinanceToken, async (c) => {
  const q = parseWith(trialBalanceQuerySchema, c.req.query());
  const view = trialBalanceView(await trialBalance(openDb(c.env.DB), q.period));
  if (q.format === "json") return c.json(view);
  const header = ["account", "subaccount", "currency", "debits", "credits", "balance"];
  const rows = [
    ...view.accounts.map((a) => [a.account, a.subaccount, a.currency, a.debits, a.credits, a.balance]),
    // One total row per currency: its debits equal its credits when the books balance.
    ...view.currencies.map((t) => ["TOTAL", "", t.currency, t.debits, t.credits, (BigInt(t.debits) - BigInt(t.credits)).toString()]),
  ];
  return csvResponse(csvDocument(header, rows), `trial-balance${q.period ? `-${q.period}` : ""}.csv`, null);
});

function priceSheetView(s: PriceSheet) {
  return {
    version: s.version,
    currency: s.currency,
    effectiveFrom: new Date(s.effectiveFrom).toISOString(),
    storagePerTbMonth: s.storagePerTbMonth.toString(),
    egressPerTb: s.egressPerTb.toString(),
    classAPerMillion: s.classAPerMillion.toString(),
    classBPerMillion: s.classBPerMillion.toString(),
  };
}

financeApi.get("/price-sheets", requireFinanceToken, async (c) => {
  const db = openDb(c.env.DB);
  const current = await priceSheetAt(db, (await clockNow(c.env)).getTime());
  return c.json({ current: priceSheetView(current), versions: (await listPriceSheets(db)).map(priceSheetView) });
});

financeApi.post("/price-sheets", requireFinanceToken, async (c) => {
  const body = await parseJsonBody(c.req.raw, publishPriceSheetRequestSchema);
  const sheet = await publishPriceSheet(
    openDb(c.env.DB),
    {
      version: body.version,
      currency: body.currency,
      effectiveFrom: Date.parse(body.effectiveFrom),
      storagePerTbMonth: BigInt(body.storagePerTbMonth),
      egressPerTb: BigInt(body.egressPerTb),
      classAPerMillion: BigInt(body.classAPerMillion),
      classBPerMillion: BigInt(body.classBPerMillion),
    },
    (await clockNow(c.env)).getTime(),
  );
  return c.json(priceSheetView(sheet), 201);
});
