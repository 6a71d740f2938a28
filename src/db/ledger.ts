// Queries over the double-entry ledger (`ledger_entries`, `ledger_lines`). An entry and its lines go in one D1
// batch (a transaction), after the entry's own row: a key already posted makes that insert fail and the whole
// batch with it, so an entry is written once, whole, or not at all. Callers that record something else with the
// entry (a payment event, a settlement step) put their statements in the same batch (ledgerEntryStatements).

import { and, asc, eq, gt, inArray, or } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Db } from "./client.ts";
import { ledgerEntries, ledgerLines } from "./schema.ts";
import { entryDigest, validateEntry, type CurrencyTotals, type LedgerEntry, type LedgerLine, type TrialBalance } from "../finance/ledger.ts";
import { FinanceError } from "../finance/errors.ts";
import { parseAmount, type Currency } from "../finance/money.ts";
import type { AccountCode } from "../finance/chart.ts";

/** Lines per INSERT: 8 bound parameters each, under D1's 100 per statement. */
const LINES_PER_INSERT = 12;

export type Statement = BatchItem<"sqlite">;

export interface PreparedEntry {
  entry: LedgerEntry;
  digest: string;
  statements: Statement[];
}

/**
 * Validates `entry` (throws FinanceError when it breaks a ledger rule) and returns the statements that write it,
 * for a batch of the caller's. The entry's row comes first: a second post of its key fails the batch.
 */
export async function prepareLedgerEntry(db: Db, entry: LedgerEntry, now: number): Promise<PreparedEntry> {
  validateEntry(entry);
  const digest = await entryDigest(entry);
  const statements: Statement[] = [
    db.insert(ledgerEntries).values({ key: entry.key, periodId: entry.periodId, kind: entry.kind, memo: entry.memo ?? "", occurredAt: entry.occurredAt, digest, postedAt: now }),
  ];
  const rows = entry.lines.map((line, lineNo) => ({
    entryKey: entry.key,
    lineNo,
    account: line.account,
    subaccount: line.subaccount ?? "",
    currency: line.currency,
    side: line.side,
    amount: line.amount.toString(),
    periodId: entry.periodId,
  }));
  for (let i = 0; i < rows.length; i += LINES_PER_INSERT) statements.push(db.insert(ledgerLines).values(rows.slice(i, i + LINES_PER_INSERT)));
  return { entry, digest, statements };
}

/** The digest of the entry posted under `key`, if any. */
export async function postedEntryDigest(db: Db, key: string): Promise<string | undefined> {
  const row = await db.select({ digest: ledgerEntries.digest }).from(ledgerEntries).where(eq(ledgerEntries.key, key)).get();
  return row?.digest;
}

/**
 * After a batch carrying `prepared` failed: whether the entry was already there (posted by an earlier or a
 * concurrent call). The same entry answers true; another entry under its key is EntryKeyConflict; no entry
 * means the batch failed for another reason, and false is returned for the caller to rethrow.
 */
export async function alreadyPosted(db: Db, prepared: PreparedEntry): Promise<boolean> {
  const digest = await postedEntryDigest(db, prepared.entry.key);
  if (digest === undefined) return false;
  if (digest !== prepared.digest) {
    throw new FinanceError("EntryKeyConflict", `Ledger entry ${prepared.entry.key} was posted with other lines.`, { key: prepared.entry.key });
  }
  return true;
}

/** Posts one entry: true when written now, false when the same entry was already posted (nothing changes). */
export async function postLedgerEntry(db: Db, entry: LedgerEntry, now: number): Promise<boolean> {
  const prepared = await prepareLedgerEntry(db, entry, now);
  if (await alreadyPosted(db, prepared)) return false;
  try {
    await db.batch(prepared.statements as [Statement, ...Statement[]]);
    return true;
  } catch (error) {
    if (await alreadyPosted(db, prepared)) return false;
    throw error;
  }
}

export interface PostedEntry extends LedgerEntry {
  postedAt: number;
}

/** One entry with its lines, as posted. */
export async function getLedgerEntry(db: Db, key: string): Promise<PostedEntry | undefined> {
  const row = await db.select().from(ledgerEntries).where(eq(ledgerEntries.key, key)).get();
  if (!row) return undefined;
  const lines = await db.select().from(ledgerLines).where(eq(ledgerLines.entryKey, key)).orderBy(asc(ledgerLines.lineNo)).all();
  return toPosted(row, lines);
}

function toPosted(row: typeof ledgerEntries.$inferSelect, lines: (typeof ledgerLines.$inferSelect)[]): PostedEntry {
  return {
    key: row.key,
    periodId: row.periodId,
    kind: row.kind,
    memo: row.memo,
    occurredAt: row.occurredAt,
    postedAt: row.postedAt,
    lines: lines.map(
      (l): LedgerLine => ({ account: l.account as AccountCode, subaccount: l.subaccount, currency: l.currency as Currency, side: l.side, amount: parseAmount(l.amount) }),
    ),
  };
}

/**
 * Entries in key order after `after`, with their lines: a page of the ledger export. `periodId` narrows to one
 * period.
 */
export async function listLedgerEntries(db: Db, options: { periodId?: string; after?: string; limit: number }): Promise<PostedEntry[]> {
  const conditions = [options.periodId === undefined ? undefined : eq(ledgerEntries.periodId, options.periodId), options.after === undefined ? undefined : gt(ledgerEntries.key, options.after)];
  const rows = await db
    .select()
    .from(ledgerEntries)
    .where(and(...conditions))
    .orderBy(asc(ledgerEntries.key))
    .limit(options.limit)
    .all();
  if (rows.length === 0) return [];
  const lines: (typeof ledgerLines.$inferSelect)[] = [];
  // D1 allows 100 bound parameters per statement.
  for (let i = 0; i < rows.length; i += 90) {
    const keys = rows.slice(i, i + 90).map((r) => r.key);
    lines.push(...(await db.select().from(ledgerLines).where(inArray(ledgerLines.entryKey, keys)).orderBy(asc(ledgerLines.entryKey), asc(ledgerLines.lineNo)).all()));
  }
  const byEntry = new Map<string, (typeof ledgerLines.$inferSelect)[]>();
  for (const line of lines) byEntry.set(line.entryKey, [...(byEntry.get(line.entryKey) ?? []), line]);
  return rows.map((row) => toPosted(row, byEntry.get(row.key) ?? []));
}

/** Lines read per query while summing a trial balance. */
const TRIAL_BALANCE_PAGE = 2000;

/**
 * The trial balance of one period (or of the whole ledger): every line summed in bigint. SQLite's SUM would
 * overflow at 2^63 (a few ICNT payouts pass it) and turn TEXT into floats, so the lines are read in pages and
 * added here.
 */
export async function trialBalance(db: Db, periodId?: string): Promise<TrialBalance> {
  const accounts = new Map<string, TrialBalance["accounts"][number]>();
  const currencies = new Map<Currency, CurrencyTotals>();
  let cursor: { entryKey: string; lineNo: number } | undefined;
  for (;;) {
    const page = await db
      .select()
      .from(ledgerLines)
      .where(
        and(
          periodId === undefined ? undefined : eq(ledgerLines.periodId, periodId),
          cursor === undefined ? undefined : or(gt(ledgerLines.entryKey, cursor.entryKey), and(eq(ledgerLines.entryKey, cursor.entryKey), gt(ledgerLines.lineNo, cursor.lineNo))),
        ),
      )
      .orderBy(asc(ledgerLines.entryKey), asc(ledgerLines.lineNo))
      .limit(TRIAL_BALANCE_PAGE)
      .all();
    for (const line of page) {
      const currency = line.currency as Currency;
      const amount = parseAmount(line.amount);
      const id = `${line.account}\u0000${line.subaccount}\u0000${currency}`;
      const account = accounts.get(id) ?? { account: line.account, subaccount: line.subaccount, currency, debits: 0n, credits: 0n, balance: 0n };
      const total = currencies.get(currency) ?? { currency, debits: 0n, credits: 0n };
      if (line.side === "debit") {
        account.debits += amount;
        total.debits += amount;
      } else {
        account.credits += amount;
        total.credits += amount;
      }
      account.balance = account.debits - account.credits;
      accounts.set(id, account);
      currencies.set(currency, total);
    }
    if (page.length < TRIAL_BALANCE_PAGE) break;
    const last = page[page.length - 1]!;
    cursor = { entryKey: last.entryKey, lineNo: last.lineNo };
  }
  const byName = <T extends { currency: string }>(a: T & { account?: string; subaccount?: string }, b: T & { account?: string; subaccount?: string }) =>
    a.currency.localeCompare(b.currency) || (a.account ?? "").localeCompare(b.account ?? "") || (a.subaccount ?? "").localeCompare(b.subaccount ?? "");
  const totals = [...currencies.values()].sort(byName);
  return {
    periodId: periodId ?? null,
    balanced: totals.every((t) => t.debits === t.credits),
    currencies: totals,
    accounts: [...accounts.values()].sort(byName),
  };
}
