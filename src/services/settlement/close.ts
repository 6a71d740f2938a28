// Step 1, close: usage flushed, each account's usage priced with the price sheet in force at the period's start,
// one invoice entry per account (receivables ← revenue), the revenue recorded; the period is closed.

import { postLedgerEntry } from "../../db/ledger.ts";
import { priceSheetAt } from "../../db/price-sheets.ts";
import { getSettlementStep, prepareSettlementStep, recordPeriodClosed } from "../../db/settlement.ts";
import { usageForPeriod } from "../../db/usage.ts";
import type { PaymentCurrency } from "../../finance/money.ts";
import { buildInvoice, invoiceLedgerEntry, type Invoice, type InvoiceItem, type InvoiceLine } from "../../finance/pricing.ts";
import { checkpoint, SettlementStepError, type PeriodContext, type RunContext, type StepOutcome } from "./context.ts";

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

export async function closeStep(ctx: RunContext, period: PeriodContext): Promise<StepOutcome> {
  let step = (await getSettlementStep(ctx.db, period.id, "close"))!;
  if (step.state !== "prepared") {
    // A bucket whose usage did not reach D1 would go unbilled: wait for the flush to succeed for every bucket.
    if (period.flush.failedBuckets > 0) throw new SettlementStepError(period.id, "close", `${period.flush.failedBuckets} bucket(s) could not flush their usage; the period closes once they do.`);
    const usage = await usageForPeriod(ctx.db, period.id);
    // The sheet in force when the period began prices all of it: a sheet published later takes effect only from
    // the next period, so usage always keeps the price it was metered under.
    const sheet = await priceSheetAt(ctx.db, period.start);
    const invoices = [...usage.accounts.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([accountId, u]) => buildInvoice({ accountId, periodId: period.id, sheet, usage: u }));
    step = await prepareSettlementStep(ctx.db, period.id, "close", JSON.stringify(closeRecordOf(invoices, period.cutoff, sheet.currency, sheet.version)), ctx.now);
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
  return { kind: "done" };
}
