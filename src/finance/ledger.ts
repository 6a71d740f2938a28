// The rules of the double-entry ledger, apart from storage (src/db/ledger.ts): an entry is a set of lines, each a
// positive amount on one side of one chart account in one currency, and for every currency its debits equal its
// credits. An entry that breaks a rule is refused before anything is written. Amounts are bigint throughout.

import { CHART, isAccountCode, type AccountCode } from "./chart.ts";
import { FinanceError } from "./errors.ts";
import { isCurrency, type Currency } from "./money.ts";
import { sha256Hex } from "../protocol/crypto.ts";

export type Side = "debit" | "credit";

export interface LedgerLine {
  account: AccountCode;
  /** The sub-ledger key (customer account id, payee address); omitted or "" for accounts without one. */
  subaccount?: string;
  currency: Currency;
  side: Side;
  /** Base units, > 0. */
  amount: bigint;
}

export interface LedgerEntry {
  /**
   * The idempotency key: posting an entry whose key is already in the ledger changes nothing (and an entry with
   * the same key but other lines is refused). Name it after the event: `payment:<id>`, `refund:<event id>`,
   * `invoice:<period>:<account>`, `settlement:<period>:<step>`.
   */
  key: string;
  periodId: string;
  /** The event recorded: payment, refund, invoice, conversion, buyback, payout… */
  kind: string;
  memo?: string;
  /** When it happened (ms). */
  occurredAt: number;
  lines: readonly LedgerLine[];
}

export interface CurrencyTotals {
  currency: Currency;
  debits: bigint;
  credits: bigint;
}

/** Lines per entry at most: an entry is written in one D1 batch. */
export const MAX_LINES_PER_ENTRY = 500;
const KEY_PATTERN = /^[\x21-\x7e]{1,200}$/;
const SUBACCOUNT_PATTERN = /^[\x21-\x7e]{1,128}$/;

/** Two lines moving `amount` of `currency` from the credited account to the debited one. */
export function transfer(params: {
  debit: AccountCode | { account: AccountCode; subaccount: string };
  credit: AccountCode | { account: AccountCode; subaccount: string };
  currency: Currency;
  amount: bigint;
}): [LedgerLine, LedgerLine] {
  const side = (s: Side, target: AccountCode | { account: AccountCode; subaccount: string }): LedgerLine =>
    typeof target === "string" ? { account: target, currency: params.currency, side: s, amount: params.amount } : { ...target, currency: params.currency, side: s, amount: params.amount };
  return [side("debit", params.debit), side("credit", params.credit)];
}

/**
 * Checks every rule and returns the entry's totals per currency (debits = credits in each). Throws FinanceError:
 * InvalidEntry (key, period, line count, subaccount), InvalidAmount (≤ 0), UnknownLedgerAccount,
 * CurrencyNotAllowed, UnbalancedEntry (details: the totals of each currency that does not balance).
 */
export function validateEntry(entry: LedgerEntry): CurrencyTotals[] {
  if (!KEY_PATTERN.test(entry.key)) throw new FinanceError("InvalidEntry", "An entry key is 1-200 printable ASCII characters without spaces.", { key: entry.key });
  if (!KEY_PATTERN.test(entry.periodId)) throw new FinanceError("InvalidEntry", "An entry needs a period id.", { key: entry.key });
  if (entry.lines.length < 2 || entry.lines.length > MAX_LINES_PER_ENTRY) {
    throw new FinanceError("InvalidEntry", `An entry has 2 to ${MAX_LINES_PER_ENTRY} lines.`, { key: entry.key, lines: entry.lines.length });
  }
  const totals = new Map<Currency, CurrencyTotals>();
  entry.lines.forEach((line, index) => {
    if (!isAccountCode(line.account)) throw new FinanceError("UnknownLedgerAccount", `No account "${line.account}" in the chart of accounts.`, { key: entry.key, line: index });
    if (!isCurrency(line.currency)) throw new FinanceError("CurrencyNotAllowed", `"${line.currency}" is not a currency.`, { key: entry.key, line: index });
    const chart = CHART[line.account];
    if (!(chart.currencies as readonly Currency[]).includes(line.currency)) {
      throw new FinanceError("CurrencyNotAllowed", `Account ${line.account} holds ${chart.currencies.join(", ")}, not ${line.currency}.`, { key: entry.key, line: index });
    }
    const sub = line.subaccount ?? "";
    if (chart.subledger === "none" ? sub !== "" : !SUBACCOUNT_PATTERN.test(sub)) {
      throw new FinanceError(
        "InvalidEntry",
        chart.subledger === "none" ? `Account ${line.account} has no sub-ledger.` : `Account ${line.account} needs its ${chart.subledger} as subaccount.`,
        { key: entry.key, line: index },
      );
    }
    if (typeof line.amount !== "bigint" || line.amount <= 0n) {
      throw new FinanceError("InvalidAmount", "Every line moves a positive amount of base units (a bigint).", { key: entry.key, line: index });
    }
    if (line.side !== "debit" && line.side !== "credit") throw new FinanceError("InvalidEntry", "A line is a debit or a credit.", { key: entry.key, line: index });
    const t = totals.get(line.currency) ?? { currency: line.currency, debits: 0n, credits: 0n };
    if (line.side === "debit") t.debits += line.amount;
    else t.credits += line.amount;
    totals.set(line.currency, t);
  });
  const unbalanced = [...totals.values()].filter((t) => t.debits !== t.credits);
  if (unbalanced.length > 0) {
    throw new FinanceError("UnbalancedEntry", `Entry ${entry.key} does not balance in ${unbalanced.map((t) => t.currency).join(", ")}: debits must equal credits in each currency.`, {
      key: entry.key,
      currencies: unbalanced.map((t) => ({ currency: t.currency, debits: t.debits.toString(), credits: t.credits.toString() })),
    });
  }
  return [...totals.values()];
}

/**
 * SHA-256 of what an entry records (its kind and lines, in order), not when it was posted: a retry of the same
 * event posts the same digest, anything else under the same key is a conflict.
 */
export async function entryDigest(entry: LedgerEntry): Promise<string> {
  const canonical = JSON.stringify([entry.kind, entry.lines.map((l) => [l.account, l.subaccount ?? "", l.currency, l.side, l.amount.toString()])]);
  return sha256Hex(canonical);
}

/** A trial balance: per currency and per (account, subaccount, currency), debits and credits. */
export interface TrialBalance {
  /** The period it covers; null for the whole ledger. */
  periodId: string | null;
  /** Every currency's debits equal its credits. */
  balanced: boolean;
  currencies: CurrencyTotals[];
  accounts: {
    account: string;
    subaccount: string;
    currency: Currency;
    debits: bigint;
    credits: bigint;
    /** Signed debits - credits (positive for a debit balance). */
    balance: bigint;
  }[];
}
