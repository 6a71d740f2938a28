// The bank-statement import, the fallback when payments do not come through the provider's webhook. A statement
// is CSV with a header naming its columns (any order, case-insensitive):
//
//   reference     the bank's unique reference of the transfer (what makes a row idempotent)      required
//   account_id    the customer account credited (acc_…)                                           required
//   amount        in major units, "1234.56" (exact: more decimals than the currency has is an error)   one of
//   amount_minor  in minor units, "123456"                                                                these
//   currency      ISO 4217 code, USD                                                               required
//   received_at   when the bank received it: YYYY-MM-DD or an ISO 8601 instant                     optional
//
// Each row is applied on its own (one D1 batch: payment and ledger entry), so a bad row is reported and the rest
// go in; a row imported before changes nothing.

import type { Db } from "../db/client.ts";
import { parseCsv, CsvSyntaxError } from "./csv.ts";
import { FinanceError } from "./errors.ts";
import { isCurrency, parseMajorAmount } from "./money.ts";
import { recordBankPayment, type PaymentContext } from "./payments.ts";

/** Rows per import at most: each is a few D1 queries, within one request's budget. */
export const MAX_IMPORT_ROWS = 1000;

export interface ImportedRow {
  /** The row's line in the file (the header is line 1). */
  line: number;
  reference: string | null;
  status: "applied" | "duplicate" | "error";
  paymentId?: string;
  /** For an error: a FinanceError code, or InvalidRow. */
  code?: string;
  message?: string;
}

export interface ImportReport {
  applied: number;
  duplicates: number;
  errors: number;
  rows: ImportedRow[];
}

const COLUMNS = ["reference", "account_id", "amount", "amount_minor", "currency", "received_at"] as const;

/** Thrown for a file that cannot be read at all (syntax, header, size): nothing was applied. */
export class BankStatementError extends Error {
  override name = "BankStatementError";
  readonly details: unknown;
  constructor(message: string, details: unknown) {
    super(message);
    this.details = details;
  }
}

function rowError(line: number, reference: string | null, code: string, message: string): ImportedRow {
  return { line, reference, status: "error", code, message };
}

function parseReceivedAt(text: string, fallback: number): number | undefined {
  if (text === "") return fallback;
  if (!/^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:\d{2}))?$/.test(text)) return undefined;
  const ms = Date.parse(text.length === 10 ? `${text}T00:00:00Z` : text);
  return Number.isNaN(ms) ? undefined : ms;
}

/** Reads a statement and records its rows in order; throws BankStatementError when the file itself is unusable. */
export async function importBankStatement(db: Db, csv: string, context: PaymentContext): Promise<ImportReport> {
  let records;
  try {
    records = parseCsv(csv);
  } catch (error) {
    if (error instanceof CsvSyntaxError) throw new BankStatementError(`CSV syntax error on line ${error.line}: ${error.message}.`, { line: error.line });
    throw error;
  }
  const [header, ...rows] = records;
  if (!header) throw new BankStatementError("The statement is empty: a header line is required.", { columns: COLUMNS });
  const names = header.fields.map((f) => f.trim().toLowerCase());
  const col = (name: (typeof COLUMNS)[number]) => names.indexOf(name);
  const missing = ["reference", "account_id", "currency"].filter((n) => !names.includes(n));
  if (missing.length > 0 || (col("amount") < 0) === (col("amount_minor") < 0)) {
    throw new BankStatementError(`The header needs reference, account_id, currency and one of amount, amount_minor.`, { header: header.fields, columns: COLUMNS });
  }
  if (rows.length > MAX_IMPORT_ROWS) throw new BankStatementError(`A statement has at most ${MAX_IMPORT_ROWS} rows; split it.`, { rows: rows.length });

  const report: ImportReport = { applied: 0, duplicates: 0, errors: 0, rows: [] };
  const seen = new Set<string>();
  for (const { line, fields } of rows) {
    const get = (name: (typeof COLUMNS)[number]) => (col(name) < 0 ? "" : (fields[col(name)] ?? "").trim());
    const reference = get("reference") || null;
    const result = await (async (): Promise<ImportedRow> => {
      if (fields.length !== header.fields.length) return rowError(line, reference, "InvalidRow", `The row has ${fields.length} fields, the header ${header.fields.length}.`);
      if (reference === null || !/^[\x21-\x7e]{1,128}$/.test(reference)) return rowError(line, reference, "InvalidRow", "reference is 1-128 printable characters without spaces.");
      if (seen.has(reference)) return rowError(line, reference, "InvalidRow", "The reference appears twice in this statement.");
      seen.add(reference);
      const currency = get("currency").toUpperCase();
      if (!isCurrency(currency)) return rowError(line, reference, "UnsupportedCurrency", `"${currency}" is not a currency.`);
      const receivedAt = parseReceivedAt(get("received_at"), context.now);
      if (receivedAt === undefined) return rowError(line, reference, "InvalidRow", "received_at is YYYY-MM-DD or an ISO 8601 instant.");
      try {
        const amountMinor = col("amount") >= 0 ? parseMajorAmount(get("amount"), currency) : parseMinor(get("amount_minor"));
        const applied = await recordBankPayment(db, { reference, accountId: get("account_id"), currency, amountMinor, receivedAt }, context);
        return { line, reference, status: applied.applied ? "applied" : "duplicate", paymentId: applied.paymentId };
      } catch (error) {
        if (error instanceof FinanceError) return rowError(line, reference, error.code, error.message);
        throw error;
      }
    })();
    report.rows.push(result);
    if (result.status === "applied") report.applied += 1;
    else if (result.status === "duplicate") report.duplicates += 1;
    else report.errors += 1;
  }
  return report;
}

function parseMinor(text: string): bigint {
  if (!/^[1-9]\d{0,30}$/.test(text)) throw new FinanceError("InvalidAmount", `amount_minor "${text}" is not a positive whole number of minor units.`, { amount: text });
  return BigInt(text);
}
