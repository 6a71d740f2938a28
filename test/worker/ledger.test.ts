// The double-entry ledger (src/finance/ledger.ts rules, src/db/ledger.ts in real D1): an entry balances in every
// currency or is refused with nothing written; a key posts once; amounts far past 2^53 stay exact; and the trial
// balance of any mix of posted entries is zero in every currency.

import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { openDb } from "../../src/db/client.ts";
import { getLedgerEntry, listLedgerEntries, postLedgerEntry, trialBalance } from "../../src/db/ledger.ts";
import { FinanceError } from "../../src/finance/errors.ts";
import { transfer, validateEntry, type LedgerEntry } from "../../src/finance/ledger.ts";
import { formatMajorAmount, parseAmount, parseMajorAmount } from "../../src/finance/money.ts";
import { periodBounds, periodIdAt } from "../../src/finance/periods.ts";

const db = () => openDb(env.DB);
const NOW = Date.parse("2026-12-01T12:00:00Z");
const ICNT = 10n ** 18n;

function entry(key: string, lines: LedgerEntry["lines"], periodId = "2026-12"): LedgerEntry {
  return { key, periodId, kind: "test", occurredAt: NOW, lines };
}

function codeOf(work: () => unknown): string | undefined {
  try {
    work();
  } catch (error) {
    if (error instanceof FinanceError) return error.code;
    throw error;
  }
  return undefined;
}

async function rejection(work: Promise<unknown>): Promise<FinanceError> {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(FinanceError);
  return error as FinanceError;
}

/** A buyback as settlement will post it: USDC out of the treasury, ICNT in, each currency through `buyback`. */
function buyback(key: string, usdc: bigint, icnt: bigint, periodId = "2026-12"): LedgerEntry {
  return entry(key, [...transfer({ debit: "buyback", credit: "stablecoin_treasury", currency: "USDC", amount: usdc }), ...transfer({ debit: "icnt_treasury", credit: "buyback", currency: "ICNT", amount: icnt })], periodId);
}

describe("ledger rules", () => {
  it("accepts an entry balanced in each of its currencies and returns the totals", () => {
    expect(validateEntry(buyback("b", 1_000_000n, 3n * ICNT))).toEqual([
      { currency: "USDC", debits: 1_000_000n, credits: 1_000_000n },
      { currency: "ICNT", debits: 3n * ICNT, credits: 3n * ICNT },
    ]);
  });

  it("refuses an entry whose debits and credits differ by one base unit, naming the currency", () => {
    const e = entry("u", [
      { account: "icnt_treasury", currency: "ICNT", side: "debit", amount: 5n * ICNT + 1n },
      { account: "protocol_share", currency: "ICNT", side: "credit", amount: 5n * ICNT },
    ]);
    try {
      validateEntry(e);
      expect.unreachable();
    } catch (error) {
      expect((error as FinanceError).code).toBe("UnbalancedEntry");
      expect((error as FinanceError).details).toMatchObject({ currencies: [{ currency: "ICNT", debits: "5000000000000000001", credits: "5000000000000000000" }] });
    }
  });

  it("refuses an entry that balances in total but not per currency", () => {
    const e = entry("x", [
      { account: "stablecoin_treasury", currency: "USDC", side: "debit", amount: 100n },
      { account: "cash", currency: "USD", side: "credit", amount: 100n },
    ]);
    expect(codeOf(() => validateEntry(e))).toBe("UnbalancedEntry");
  });

  it("refuses zero and negative amounts, unknown accounts, currencies an account does not hold, and a missing or stray subaccount", () => {
    const ok = transfer({ debit: "cash", credit: { account: "receivables", subaccount: "acc_1" }, currency: "USD", amount: 100n });
    expect(codeOf(() => validateEntry(entry("z", transfer({ debit: "cash", credit: { account: "receivables", subaccount: "acc_1" }, currency: "USD", amount: 0n }))))).toBe("InvalidAmount");
    expect(codeOf(() => validateEntry(entry("n", [{ ...ok[0], amount: -5n }, { ...ok[1], amount: -5n }])))).toBe("InvalidAmount");
    expect(codeOf(() => validateEntry(entry("a", [{ ...ok[0], account: "petty_cash" as "cash" }, ok[1]])))).toBe("UnknownLedgerAccount");
    expect(codeOf(() => validateEntry(entry("c", transfer({ debit: "cash", credit: "revenue", currency: "ICNT", amount: 1n }))))).toBe("CurrencyNotAllowed");
    expect(codeOf(() => validateEntry(entry("s", transfer({ debit: "cash", credit: "receivables", currency: "USD", amount: 1n }))))).toBe("InvalidEntry");
    expect(codeOf(() => validateEntry(entry("t", transfer({ debit: { account: "cash", subaccount: "x" }, credit: "revenue", currency: "USD", amount: 1n }))))).toBe("InvalidEntry");
    expect(codeOf(() => validateEntry(entry("o", [ok[0]])))).toBe("InvalidEntry");
    expect(codeOf(() => validateEntry(entry("bad key", ok)))).toBe("InvalidEntry");
  });
});

describe("posting to D1", () => {
  it("writes a balanced entry whole and reads it back with exact bigint amounts beyond 2^53", async () => {
    const big = 123_456_789n * ICNT + 987_654_321_987_654_321n; // ~1.2e26 base units
    expect(big > 2n ** 64n).toBe(true);
    expect(await postLedgerEntry(db(), buyback("test:big", 2n ** 60n + 7n, big), NOW)).toBe(true);
    const read = await getLedgerEntry(db(), "test:big");
    expect(read?.lines.map((l) => [l.account, l.side, l.currency, l.amount])).toEqual([
      ["buyback", "debit", "USDC", 2n ** 60n + 7n],
      ["stablecoin_treasury", "credit", "USDC", 2n ** 60n + 7n],
      ["icnt_treasury", "debit", "ICNT", big],
      ["buyback", "credit", "ICNT", big],
    ]);
  });

  it("refuses an unbalanced entry and writes nothing of it", async () => {
    const e = entry("test:unbalanced", [
      { account: "cash", currency: "USD", side: "debit", amount: 100n },
      { account: "revenue", currency: "USD", side: "credit", amount: 99n },
    ]);
    expect((await rejection(postLedgerEntry(db(), e, NOW))).code).toBe("UnbalancedEntry");
    expect(await getLedgerEntry(db(), "test:unbalanced")).toBeUndefined();
  });

  it("posts a key once: the same entry again changes nothing, other lines under the key are refused", async () => {
    const pay = entry("payment:test-once", transfer({ debit: "cash", credit: { account: "receivables", subaccount: "acc_once" }, currency: "USD", amount: 2500n }), "once");
    expect(await postLedgerEntry(db(), pay, NOW)).toBe(true);
    expect(await postLedgerEntry(db(), { ...pay, occurredAt: NOW + 5000 }, NOW + 5000)).toBe(false);
    const other = { ...pay, lines: transfer({ debit: "cash", credit: { account: "receivables", subaccount: "acc_once" }, currency: "USD", amount: 2600n }) };
    expect((await rejection(postLedgerEntry(db(), other, NOW))).code).toBe("EntryKeyConflict");
    const tb = await trialBalance(db(), "once");
    expect(tb.currencies).toEqual([{ currency: "USD", debits: 2500n, credits: 2500n }]);
    expect((await listLedgerEntries(db(), { periodId: "once", limit: 10 })).map((e) => e.key)).toEqual(["payment:test-once"]);
  });

  it("posts the same key from concurrent calls exactly once", async () => {
    const e = entry("test:race", transfer({ debit: "icnt_treasury", credit: "protocol_share", currency: "ICNT", amount: 42n * ICNT }), "race");
    const results = await Promise.all(Array.from({ length: 6 }, () => postLedgerEntry(db(), e, NOW)));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect((await trialBalance(db(), "race")).currencies).toEqual([{ currency: "ICNT", debits: 42n * ICNT, credits: 42n * ICNT }]);
  });

  it("keeps the trial balance of a period at zero in every currency, with per-account balances that add up", async () => {
    const p = "tb-period";
    const acc = "acc_tb";
    const entries = [
      entry("tb:invoice", transfer({ debit: { account: "receivables", subaccount: acc }, credit: "revenue", currency: "USD", amount: 10_000n }), p),
      entry("tb:payment", transfer({ debit: "cash", credit: { account: "receivables", subaccount: acc }, currency: "USD", amount: 12_345n }), p),
      entry("tb:fx", [...transfer({ debit: "fx_clearing", credit: "cash", currency: "USD", amount: 5_000n }), ...transfer({ debit: "stablecoin_treasury", credit: "fx_clearing", currency: "USDC", amount: 50_000_000n })], p),
      buyback("tb:buyback", 50_000_000n, 1234n * ICNT + 1n, p),
      // The ICNT bought is allocated out of the buyback account to payees and the protocol; parts sum to the whole.
      entry(
        "tb:split",
        [
          { account: "buyback", currency: "ICNT", side: "debit", amount: 1234n * ICNT + 1n },
          { account: "operator_payables", subaccount: "0xaaa", currency: "ICNT", side: "credit", amount: 700n * ICNT },
          { account: "validator_payables", subaccount: "0xbbb", currency: "ICNT", side: "credit", amount: 300n * ICNT },
          { account: "held_back", subaccount: "0xaaa", currency: "ICNT", side: "credit", amount: 100n * ICNT },
          { account: "protocol_share", currency: "ICNT", side: "credit", amount: 134n * ICNT + 1n },
        ],
        p,
      ),
    ];
    for (const e of entries) expect(await postLedgerEntry(db(), e, NOW)).toBe(true);
    // Another period's entry does not enter this period's balance.
    await postLedgerEntry(db(), entry("tb:other-period", transfer({ debit: "cash", credit: "revenue", currency: "USD", amount: 1n }), "tb-other"), NOW);

    const tb = await trialBalance(db(), p);
    expect(tb.balanced).toBe(true);
    expect(tb.currencies).toEqual([
      { currency: "ICNT", debits: 2468n * ICNT + 2n, credits: 2468n * ICNT + 2n },
      { currency: "USD", debits: 27_345n, credits: 27_345n },
      { currency: "USDC", debits: 100_000_000n, credits: 100_000_000n },
    ]);
    const balance = (account: string, currency: string, subaccount = "") => tb.accounts.find((a) => a.account === account && a.currency === currency && a.subaccount === subaccount)?.balance;
    expect(balance("receivables", "USD", acc)).toBe(10_000n - 12_345n); // a credit balance: paid ahead
    expect(balance("cash", "USD")).toBe(12_345n - 5_000n);
    expect(balance("revenue", "USD")).toBe(-10_000n);
    expect(balance("icnt_treasury", "ICNT")).toBe(1234n * ICNT + 1n);
    expect(balance("buyback", "ICNT")).toBe(0n);
    expect(balance("buyback", "USDC")).toBe(50_000_000n);
    expect(balance("operator_payables", "ICNT", "0xaaa")).toBe(-700n * ICNT);
    // Per currency, the accounts' balances sum to zero.
    for (const currency of ["USD", "USDC", "ICNT"]) expect(tb.accounts.filter((a) => a.currency === currency).reduce((s, a) => s + a.balance, 0n)).toBe(0n);
  });
});

describe("amounts and periods", () => {
  it("reads and writes amounts exactly, refusing what is not a whole number of base units", () => {
    expect(parseAmount("340282366920938463463374607431768211456")).toBe(2n ** 128n);
    expect(() => parseAmount("1.5")).toThrow(FinanceError);
    expect(() => parseAmount("-1")).toThrow(FinanceError);
    expect(() => parseAmount("01")).toThrow(FinanceError);
    expect(parseMajorAmount("12.34", "USD")).toBe(1234n);
    expect(parseMajorAmount("12.3", "USD")).toBe(1230n);
    expect(parseMajorAmount("7", "USD")).toBe(700n);
    expect(parseMajorAmount("0.000000000000000001", "ICNT")).toBe(1n);
    expect(() => parseMajorAmount("12.345", "USD")).toThrow(FinanceError);
    expect(formatMajorAmount(1234n, "USD")).toBe("12.34");
    expect(formatMajorAmount(5n, "USD")).toBe("0.05");
    expect(formatMajorAmount(-1n, "USDC")).toBe("-0.000001");
    expect(formatMajorAmount(10n ** 18n + 1n, "ICNT")).toBe("1.000000000000000001");
  });

  it("names periods by UTC month, or by the start of a window of N minutes", () => {
    expect(periodIdAt(Date.parse("2026-12-31T23:59:59.999Z"))).toBe("2026-12");
    expect(periodIdAt(Date.parse("2027-01-01T00:00:00Z"))).toBe("2027-01");
    expect(periodBounds("2026-12")).toEqual({ start: Date.parse("2026-12-01T00:00:00Z"), end: Date.parse("2027-01-01T00:00:00Z") });
    expect(periodIdAt(Date.parse("2026-12-01T12:07:30Z"), 5)).toBe("2026-12-01T12:05Z");
    expect(periodBounds("2026-12-01T12:05Z", 5)).toEqual({ start: Date.parse("2026-12-01T12:05:00Z"), end: Date.parse("2026-12-01T12:10:00Z") });
    expect(periodBounds("2026-12-01T12:06Z", 5)).toBeUndefined();
    expect(periodBounds("2026-13")).toBeUndefined();
  });
});
