// Pricing: integer micro-units per unit on a versioned sheet, converted to minor units (cents) once per invoice
// line with half-up rounding; an invoice's total is the sum of its lines. Known values worked by hand.

import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { openDb } from "../../src/db/client.ts";
import { postLedgerEntry, trialBalance } from "../../src/db/ledger.ts";
import { priceSheetAt } from "../../src/db/price-sheets.ts";
import { buildInvoice, DEFAULT_PRICE_SHEET, divideRoundHalfUp, invoiceLedgerEntry, microsPerMinorUnit, type PriceSheet, type Usage } from "../../src/finance/pricing.ts";
import { edgeUnixSeconds, FINANCE_TOKEN, financeFetch, financeGet } from "./finance-helpers.ts";

const TB = 10n ** 12n;
const NONE: Usage = { storageByteHours: 0n, egressBytes: 0n, classARequests: 0n, classBRequests: 0n };
/** $4/TB-month, $7/TB egress, $5 per million class A, $0.40 per million class B. */
const SHEET: PriceSheet = { ...DEFAULT_PRICE_SHEET, version: 3 };

function invoice(usage: Partial<Usage>, sheet = SHEET) {
  return buildInvoice({ accountId: "acc_price", periodId: "2026-12", sheet, usage: { ...NONE, ...usage } });
}
const amountOf = (usage: Partial<Usage>, item: string) => invoice(usage).lines.find((l) => l.item === item)!.amountMinor;

describe("unit conversion and rounding", () => {
  it("has 10^4 micro-dollars in a cent", () => {
    expect(microsPerMinorUnit("USD")).toBe(10_000n);
  });

  it("rounds half up: .5 goes up, anything below stays down", () => {
    expect(divideRoundHalfUp(5n, 10n)).toBe(1n);
    expect(divideRoundHalfUp(4n, 10n)).toBe(0n);
    expect(divideRoundHalfUp(15n, 10n)).toBe(2n);
    expect(divideRoundHalfUp(14_999n, 10_000n)).toBe(1n);
    expect(divideRoundHalfUp(0n, 7n)).toBe(0n);
  });
});

describe("invoice lines", () => {
  it("prices a TB held for a 720-hour month at the sheet's $4.00", () => {
    expect(amountOf({ storageByteHours: TB * 720n }, "storage")).toBe(400n);
    // 10 GB for 30 days: 10^10 × 720 byte-hours = 1/100 TB-month = 4 cents.
    expect(amountOf({ storageByteHours: 10n ** 10n * 720n }, "storage")).toBe(4n);
  });

  it("rounds storage once at the line: a TB for one hour is 0.5556 cents, so 1 cent", () => {
    expect(amountOf({ storageByteHours: TB }, "storage")).toBe(1n);
    // A TB for 0.9 hours (9 × 10^11 byte-hours) is 0.5 cents exactly: up to 1. One byte-hour less rounds down.
    expect(amountOf({ storageByteHours: 9n * 10n ** 11n }, "storage")).toBe(1n);
    expect(amountOf({ storageByteHours: 9n * 10n ** 11n - 1n }, "storage")).toBe(0n);
  });

  it("prices egress per TB and requests per million, rounding half a cent up", () => {
    expect(amountOf({ egressBytes: 3n * TB / 2n }, "egress")).toBe(1050n);
    expect(amountOf({ classARequests: 2000n }, "class_a_requests")).toBe(1n); // 10,000 µ$ = 1 cent
    expect(amountOf({ classARequests: 1000n }, "class_a_requests")).toBe(1n); // 0.5 cent → 1
    expect(amountOf({ classARequests: 999n }, "class_a_requests")).toBe(0n); // 0.4995 cent → 0
    expect(amountOf({ classBRequests: 1_000_000n }, "class_b_requests")).toBe(40n);
    expect(amountOf({ classBRequests: 12_500n }, "class_b_requests")).toBe(1n); // 0.5 cent → 1
  });

  it("totals the rounded lines, so the lines a customer reads add up to what they pay", () => {
    const inv = invoice({ storageByteHours: TB, egressBytes: 1n, classARequests: 1000n, classBRequests: 12_500n });
    expect(inv.lines.map((l) => l.amountMinor)).toEqual([1n, 0n, 1n, 1n]);
    expect(inv.totalMinor).toBe(3n);
    expect(inv).toMatchObject({ currency: "USD", priceSheetVersion: 3, accountId: "acc_price", periodId: "2026-12" });
  });

  it("stays exact for usage far past 2^53 (an exabyte stored for a year)", () => {
    const exabyteYear = 10n ** 18n * 8760n;
    expect(exabyteYear > 2n ** 53n).toBe(true);
    // 10^6 TB × 8760/720 months × $4 = $48,666,666.67 (…666.666 rounds up).
    expect(amountOf({ storageByteHours: exabyteYear }, "storage")).toBe(4_866_666_667n);
  });

  it("recognizes an invoice in the ledger as receivable revenue, balanced, once per account and period", async () => {
    const db = openDb(env.DB);
    const inv = buildInvoice({ accountId: "acc_inv", periodId: "inv-period", sheet: SHEET, usage: { ...NONE, storageByteHours: TB * 720n } });
    const e = invoiceLedgerEntry(inv, Date.now())!;
    expect(e.key).toBe("invoice:inv-period:acc_inv");
    expect(await postLedgerEntry(db, e, Date.now())).toBe(true);
    expect(await postLedgerEntry(db, e, Date.now())).toBe(false);
    const tb = await trialBalance(db, "inv-period");
    expect(tb.balanced).toBe(true);
    expect(tb.accounts.map((a) => [a.account, a.subaccount, a.balance])).toEqual([
      ["receivables", "acc_inv", 400n],
      ["revenue", "", -400n],
    ]);
    expect(invoiceLedgerEntry(invoice({}), Date.now())).toBeUndefined();
  });
});

describe("the versioned price sheet", () => {
  const body = (version: number, effectiveFrom: string, storage = "5000000") => ({
    version,
    currency: "USD",
    effectiveFrom,
    storagePerTbMonth: storage,
    egressPerTb: "6000000",
    classAPerMillion: "4500000",
    classBPerMillion: "350000",
  });
  const publish = (b: unknown, token = FINANCE_TOKEN) =>
    financeFetch("/price-sheets", { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(b) });

  it("prices with the built-in version 0 until a version is published, then with the newest effective one", async () => {
    const now = (await edgeUnixSeconds()) * 1000;
    expect(await priceSheetAt(openDb(env.DB), now)).toEqual(DEFAULT_PRICE_SHEET);
    const first = await (await financeGet("/price-sheets")).json();
    expect(first).toMatchObject({ current: { version: 0, storagePerTbMonth: "4000000" }, versions: [] });

    const start = new Date(now + 60_000).toISOString();
    const res = await publish(body(1, start));
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ version: 1, storagePerTbMonth: "5000000", effectiveFrom: start });
    // Not in force before its start; in force from it.
    expect((await priceSheetAt(openDb(env.DB), now)).version).toBe(0);
    expect((await priceSheetAt(openDb(env.DB), now + 60_000)).storagePerTbMonth).toBe(5_000_000n);

    // The version number must be the next one, and a sheet cannot take effect in the past.
    expect((await publish(body(1, start))).status).toBe(409);
    const past = await publish(body(2, new Date(now - 3_600_000).toISOString()));
    expect(past.status).toBe(422);
    expect(((await past.json()) as { code: string }).code).toBe("PriceSheetNotEffective");
    // Only the finance role publishes.
    expect((await publish(body(2, start), "test-admin-token")).status).toBe(401);
    expect((await (await financeGet("/price-sheets")).json()) as { versions: unknown[] }).toMatchObject({ versions: [{ version: 1 }] });
  });
});
