// Queries over `price_sheets`: versions are appended, never changed; the sheet in force at an instant is the
// newest version effective by then.

import { desc, eq, lte } from "drizzle-orm";
import type { Db } from "./client.ts";
import { priceSheets } from "./schema.ts";
import { FinanceError } from "../finance/errors.ts";
import { parseAmount, type PaymentCurrency } from "../finance/money.ts";
import { DEFAULT_PRICE_SHEET, type PriceSheet } from "../finance/pricing.ts";

function toSheet(row: typeof priceSheets.$inferSelect): PriceSheet {
  return {
    version: row.version,
    currency: row.currency as PaymentCurrency,
    effectiveFrom: row.effectiveFrom,
    storagePerTbMonth: parseAmount(row.storagePerTbMonth),
    egressPerTb: parseAmount(row.egressPerTb),
    classAPerMillion: parseAmount(row.classAPerMillion),
    classBPerMillion: parseAmount(row.classBPerMillion),
  };
}

/** Every stored version, newest first. */
export async function listPriceSheets(db: Db): Promise<PriceSheet[]> {
  return (await db.select().from(priceSheets).orderBy(desc(priceSheets.version)).all()).map(toSheet);
}

/** The sheet that prices usage at `atMs`: the newest version effective by then, or DEFAULT_PRICE_SHEET. */
export async function priceSheetAt(db: Db, atMs: number): Promise<PriceSheet> {
  const row = await db.select().from(priceSheets).where(lte(priceSheets.effectiveFrom, atMs)).orderBy(desc(priceSheets.effectiveFrom), desc(priceSheets.version)).limit(1).get();
  return row ? toSheet(row) : DEFAULT_PRICE_SHEET;
}

/**
 * Stores the next version. `sheet.version` must be the newest stored version + 1 (two finance ops publishing at
 * once: one wins, the other is told), and it may not take effect before now or before the newest version does:
 * usage already metered keeps the price it was metered under.
 */
export async function publishPriceSheet(db: Db, sheet: PriceSheet, now: number): Promise<PriceSheet> {
  const newest = await db.select().from(priceSheets).orderBy(desc(priceSheets.version)).limit(1).get();
  const expected = (newest?.version ?? 0) + 1;
  if (sheet.version !== expected) {
    throw new FinanceError("PriceSheetVersionTaken", `The next price sheet version is ${expected}.`, { expectedVersion: expected });
  }
  if (sheet.effectiveFrom < now || (newest !== undefined && sheet.effectiveFrom < newest.effectiveFrom)) {
    throw new FinanceError("PriceSheetNotEffective", "A price sheet takes effect now or later, and not before the newest version.", {
      notBefore: Math.max(now, newest?.effectiveFrom ?? 0),
    });
  }
  try {
    await db.insert(priceSheets).values({
      version: sheet.version,
      currency: sheet.currency,
      effectiveFrom: sheet.effectiveFrom,
      storagePerTbMonth: sheet.storagePerTbMonth.toString(),
      egressPerTb: sheet.egressPerTb.toString(),
      classAPerMillion: sheet.classAPerMillion.toString(),
      classBPerMillion: sheet.classBPerMillion.toString(),
      createdAt: now,
    });
  } catch (error) {
    // The version's primary key: another publish took it between the read and the insert.
    if (await db.select({ version: priceSheets.version }).from(priceSheets).where(eq(priceSheets.version, sheet.version)).get()) {
      throw new FinanceError("PriceSheetVersionTaken", `Price sheet version ${sheet.version} was published meanwhile.`, { expectedVersion: sheet.version + 1 });
    }
    throw error;
  }
  return sheet;
}
