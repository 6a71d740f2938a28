// The price sheet and the invoice builder.
//
// Prices are integers of micro-units of the sheet's currency (1 USD = 1,000,000 µUSD), per billing unit:
//   storage   per TB-month, TB = 10^12 bytes and a month = 720 hours (30 days), so the same usage costs the same
//             in February and in March; usage arrives as byte-hours (bytes stored × hours held)
//   egress    per TB (10^12 bytes) sent to clients
//   requests  per million, class A (writes, lists) and class B (reads), as S3 classes them
//
// An invoice line's amount is exact until the one rounding: quantity × price is divided by the unit and by the
// micro-units in one minor unit (10^4 for USD cents) and rounded half up (0.5 cent → 1 cent) to a whole minor
// unit. Nothing is rounded before that, and the invoice's total is the sum of its rounded lines, so the lines a
// customer reads always add up to what they pay.

import { FinanceError } from "./errors.ts";
import { transfer, type LedgerEntry } from "./ledger.ts";
import { CURRENCIES, type PaymentCurrency } from "./money.ts";

/** Micro-units per unit of a currency: prices are written in these. */
export const MICROS_PER_UNIT = 1_000_000n;
/** Bytes in the TB that storage and egress are priced per (SI). */
export const BYTES_PER_TB = 10n ** 12n;
/** Hours in the month that storage is priced per. */
export const HOURS_PER_MONTH = 720n;
export const REQUESTS_PER_MILLION = 1_000_000n;

export interface PriceSheet {
  /** Versions count up from 1; version 0 is DEFAULT_PRICE_SHEET, used until one is stored. */
  version: number;
  currency: PaymentCurrency;
  /** From when (ms) it prices usage. */
  effectiveFrom: number;
  storagePerTbMonth: bigint;
  egressPerTb: bigint;
  classAPerMillion: bigint;
  classBPerMillion: bigint;
}

/**
 * Prices until finance ops store a sheet: $4 per TB-month stored and $7 per TB of egress (Storj's published
 * prices), $5 per million class A and $0.40 per million class B requests (S3 Standard's PUT and GET).
 */
export const DEFAULT_PRICE_SHEET: PriceSheet = {
  version: 0,
  currency: "USD",
  effectiveFrom: 0,
  storagePerTbMonth: 4_000_000n,
  egressPerTb: 7_000_000n,
  classAPerMillion: 5_000_000n,
  classBPerMillion: 400_000n,
};

/** Micro-units in one minor (base) unit of `currency`: 10^4 for USD cents. */
export function microsPerMinorUnit(currency: PaymentCurrency): bigint {
  const decimals = CURRENCIES[currency].decimals;
  if (decimals > 6) throw new FinanceError("UnsupportedCurrency", `${currency} has base units finer than a micro-unit.`);
  return 10n ** BigInt(6 - decimals);
}

/** numerator / denominator rounded half up (ties away from zero), for numerator ≥ 0 and denominator > 0. */
export function divideRoundHalfUp(numerator: bigint, denominator: bigint): bigint {
  if (numerator < 0n || denominator <= 0n) throw new RangeError("divideRoundHalfUp takes numerator >= 0 and denominator > 0");
  return (numerator * 2n + denominator) / (denominator * 2n);
}

/** Usage of one account over one period, as metering reports it. */
export interface Usage {
  /** Σ bytes stored × hours held (as clients see object sizes). */
  storageByteHours: bigint;
  /** Bytes sent to clients. */
  egressBytes: bigint;
  classARequests: bigint;
  classBRequests: bigint;
}

export type InvoiceItem = "storage" | "egress" | "class_a_requests" | "class_b_requests";

export interface InvoiceLine {
  item: InvoiceItem;
  quantity: bigint;
  /** What quantity counts, for people: "byte-hours", "bytes", "requests". */
  quantityUnit: string;
  /** The price on the sheet, in micro-units per `priceUnit`. */
  unitPriceMicros: bigint;
  priceUnit: "TB-month" | "TB" | "million requests";
  /** quantity × price, in minor units, rounded half up once (see the top of this file). */
  amountMinor: bigint;
}

export interface Invoice {
  accountId: string;
  periodId: string;
  currency: PaymentCurrency;
  priceSheetVersion: number;
  lines: InvoiceLine[];
  /** The sum of the lines' amounts. */
  totalMinor: bigint;
}

/** Prices one account's usage for one period with `sheet`: a line per billed item, and their total. */
export function buildInvoice(params: { accountId: string; periodId: string; sheet: PriceSheet; usage: Usage }): Invoice {
  const { sheet, usage } = params;
  const perMinor = microsPerMinorUnit(sheet.currency);
  const line = (item: InvoiceItem, quantity: bigint, quantityUnit: string, price: bigint, priceUnit: InvoiceLine["priceUnit"], unit: bigint): InvoiceLine => {
    if (quantity < 0n) throw new RangeError(`usage ${item} is negative`);
    return { item, quantity, quantityUnit, unitPriceMicros: price, priceUnit, amountMinor: divideRoundHalfUp(quantity * price, unit * perMinor) };
  };
  const lines = [
    line("storage", usage.storageByteHours, "byte-hours", sheet.storagePerTbMonth, "TB-month", BYTES_PER_TB * HOURS_PER_MONTH),
    line("egress", usage.egressBytes, "bytes", sheet.egressPerTb, "TB", BYTES_PER_TB),
    line("class_a_requests", usage.classARequests, "requests", sheet.classAPerMillion, "million requests", REQUESTS_PER_MILLION),
    line("class_b_requests", usage.classBRequests, "requests", sheet.classBPerMillion, "million requests", REQUESTS_PER_MILLION),
  ];
  return {
    accountId: params.accountId,
    periodId: params.periodId,
    currency: sheet.currency,
    priceSheetVersion: sheet.version,
    lines,
    totalMinor: lines.reduce((sum, l) => sum + l.amountMinor, 0n),
  };
}

/**
 * The ledger entry that recognizes an invoice: the customer owes its total (debit receivables) as revenue
 * (credit revenue). Undefined for an invoice of nothing (the ledger has no zero lines). Key
 * `invoice:<period>:<account>`: one invoice per account and period.
 */
export function invoiceLedgerEntry(invoice: Invoice, occurredAt: number): LedgerEntry | undefined {
  if (invoice.totalMinor === 0n) return undefined;
  return {
    key: `invoice:${invoice.periodId}:${invoice.accountId}`,
    periodId: invoice.periodId,
    kind: "invoice",
    memo: `price sheet v${invoice.priceSheetVersion}`,
    occurredAt,
    lines: transfer({ debit: { account: "receivables", subaccount: invoice.accountId }, credit: "revenue", currency: invoice.currency, amount: invoice.totalMinor }),
  };
}
