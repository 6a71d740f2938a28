// Invoices as the settlement's close step recorded them: each closed period's `close` step, once done, holds the
// invoices it priced as JSON (CloseRecord, src/services/settlement.ts), the same record the ledger's invoice entries
// were posted from. Read here with zod, since a row written by an older version of the code is still data to
// check, and exported by GET /api/v1/finance/invoices (finance ops) and GET /api/v1/invoices (the customer).

import { and, asc, eq, gt, gte } from "drizzle-orm";
import { z } from "zod";
import type { Db } from "./client.ts";
import { settlementSteps } from "./schema.ts";
import { PAYMENT_CURRENCIES } from "../finance/money.ts";

const decimal = z.string().regex(/^(0|[1-9]\d*)$/, "must be a decimal integer");

/** The JSON the close step records (src/services/settlement.ts, CloseRecord); test/worker/finance-invoices.test.ts keeps them in step. */
export const closeRecordSchema = z.object({
  closedAt: z.number().int().nonnegative(),
  currency: z.enum(PAYMENT_CURRENCIES),
  priceSheetVersion: z.number().int().nonnegative(),
  revenueMinor: decimal,
  invoices: z.array(
    z.object({
      accountId: z.string().min(1),
      totalMinor: decimal,
      lines: z.array(
        z.object({
          item: z.enum(["storage", "egress", "class_a_requests", "class_b_requests"]),
          quantity: decimal,
          quantityUnit: z.string(),
          unitPriceMicros: decimal,
          priceUnit: z.enum(["TB-month", "TB", "million requests"]),
          amountMinor: decimal,
        }),
      ),
    }),
  ),
});
export type StoredCloseRecord = z.infer<typeof closeRecordSchema>;
export type StoredInvoiceLine = StoredCloseRecord["invoices"][number]["lines"][number];

export interface InvoiceRow {
  periodId: string;
  accountId: string;
  currency: StoredCloseRecord["currency"];
  priceSheetVersion: number;
  /** The instant the period's usage was taken up to. */
  closedAt: number;
  totalMinor: bigint;
  lines: { item: StoredInvoiceLine["item"]; quantity: bigint; quantityUnit: string; unitPriceMicros: bigint; priceUnit: StoredInvoiceLine["priceUnit"]; amountMinor: bigint }[];
  /** The ledger entry that recognized it (src/finance/pricing.ts, invoiceLedgerEntry). */
  entryKey: string;
}

/** A stored close record that does not parse: a defect or a damaged row, never something to export silently. */
export class CloseRecordError extends Error {
  override name = "CloseRecordError";
  readonly periodId: string;
  constructor(periodId: string, detail: string) {
    super(`The close record of period ${periodId} cannot be read: ${detail}`);
    this.periodId = periodId;
  }
}

/** The parsed close record of one period's `close` step. */
export function parseCloseRecord(periodId: string, json: string): StoredCloseRecord {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    throw new CloseRecordError(periodId, String(error));
  }
  const parsed = closeRecordSchema.safeParse(value);
  if (!parsed.success) throw new CloseRecordError(periodId, z.prettifyError(parsed.error));
  return parsed.data;
}

export interface InvoiceFilter {
  periodId?: string;
  accountId?: string;
  /** Resume after this invoice (the last one of the previous page). */
  after?: { periodId: string; accountId: string };
  limit: number;
}

/** Close records read per query: each holds a whole period's invoices, so a few at a time. */
const PERIODS_PER_READ = 8;

/**
 * The invoices of closed periods in (period, account) order, one per account and period with something to pay: an
 * account whose usage priced to nothing has no ledger entry and no invoice (the period's `invoices` count agrees).
 * Only a close step recorded done counts; a prepared one may still be resumed.
 */
export async function listInvoices(db: Db, filter: InvoiceFilter): Promise<InvoiceRow[]> {
  const out: InvoiceRow[] = [];
  const after = filter.after;
  let fromPeriod = after?.periodId;
  let inclusive = true;
  while (out.length < filter.limit) {
    const steps = await db
      .select({ periodId: settlementSteps.periodId, result: settlementSteps.result })
      .from(settlementSteps)
      .where(
        and(
          eq(settlementSteps.step, "close"),
          eq(settlementSteps.state, "done"),
          filter.periodId === undefined ? undefined : eq(settlementSteps.periodId, filter.periodId),
          fromPeriod === undefined ? undefined : inclusive ? gte(settlementSteps.periodId, fromPeriod) : gt(settlementSteps.periodId, fromPeriod),
        ),
      )
      .orderBy(asc(settlementSteps.periodId))
      .limit(PERIODS_PER_READ)
      .all();
    for (const step of steps) {
      if (step.result === null) throw new CloseRecordError(step.periodId, "the step is done but recorded nothing");
      const record = parseCloseRecord(step.periodId, step.result);
      const invoices = [...record.invoices].sort((a, b) => (a.accountId < b.accountId ? -1 : a.accountId > b.accountId ? 1 : 0));
      for (const invoice of invoices) {
        if (invoice.totalMinor === "0") continue;
        if (filter.accountId !== undefined && invoice.accountId !== filter.accountId) continue;
        if (after && step.periodId === after.periodId && invoice.accountId <= after.accountId) continue;
        out.push({
          periodId: step.periodId,
          accountId: invoice.accountId,
          currency: record.currency,
          priceSheetVersion: record.priceSheetVersion,
          closedAt: record.closedAt,
          totalMinor: BigInt(invoice.totalMinor),
          lines: invoice.lines.map((l) => ({ ...l, quantity: BigInt(l.quantity), unitPriceMicros: BigInt(l.unitPriceMicros), amountMinor: BigInt(l.amountMinor) })),
          entryKey: `invoice:${step.periodId}:${invoice.accountId}`,
        });
        if (out.length === filter.limit) return out;
      }
    }
    if (steps.length < PERIODS_PER_READ) break;
    fromPeriod = steps[steps.length - 1]!.periodId;
    inclusive = false;
  }
  return out;
}
