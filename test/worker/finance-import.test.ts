// The finance role's routes: the bank-statement import (each row once, whole or not at all, errors per row), the
// JSON and CSV exports of payments, the ledger and its trial balance, and the finance token that guards them
// (the admin token does not open them).

import { describe, expect, it, beforeAll } from "vitest";
import { parseCsv } from "../../src/finance/csv.ts";
import { createAccountWithKey, ADMIN_TOKEN } from "./helpers.ts";
import { FINANCE_TOKEN, financeFetch, financeGet } from "./finance-helpers.ts";

let accountId: string;
beforeAll(async () => {
  accountId = (await createAccountWithKey("finance-import")).id;
});

function importCsv(csv: string, token = FINANCE_TOKEN): Promise<Response> {
  return financeFetch("/payments/import", { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "text/csv" }, body: csv });
}

interface Report {
  applied: number;
  duplicates: number;
  errors: number;
  rows: { line: number; reference: string | null; status: string; code?: string; paymentId?: string }[];
}

interface TrialBalanceView {
  balanced: boolean;
  currencies: { currency: string; debits: string; credits: string }[];
  accounts: { account: string; subaccount: string; currency: string; balance: string }[];
}

async function receivable(): Promise<bigint> {
  const tb = (await (await financeGet("/ledger/trial-balance")).json()) as TrialBalanceView;
  expect(tb.balanced).toBe(true);
  return BigInt(tb.accounts.find((a) => a.account === "receivables" && a.subaccount === accountId)?.balance ?? "0");
}

describe("the bank-statement import", () => {
  it("applies good rows, reports bad ones by line, and applies each reference once", async () => {
    const before = await receivable();
    const csv = [
      "Reference,Account_ID,Amount,Currency,Received_At",
      `BNK-1,${accountId},12.34,USD,2026-11-30`,
      `BNK-2,${accountId},"1,000.00",USD,`, // a thousands separator is not an amount
      `BNK-3,acc_nobody,5.00,USD,`,
      `BNK-4,${accountId},5.00,EUR,`,
      `BNK-5,${accountId},5.001,USD,`,
      `"BNK-6",${accountId},"100",usd,2026-12-01T10:00:00Z`,
      `BNK-1,${accountId},12.34,USD,2026-11-30`,
      `BNK-7,${accountId},1.00`,
    ].join("\r\n");
    const res = await importCsv(csv);
    expect(res.status).toBe(200);
    const report = (await res.json()) as Report;
    expect(report.rows.map((r) => [r.line, r.reference, r.status, r.code])).toEqual([
      [2, "BNK-1", "applied", undefined],
      [3, "BNK-2", "error", "InvalidAmount"],
      [4, "BNK-3", "error", "UnknownAccount"],
      [5, "BNK-4", "error", "UnsupportedCurrency"],
      [6, "BNK-5", "error", "InvalidAmount"],
      [7, "BNK-6", "applied", undefined],
      [8, "BNK-1", "error", "InvalidRow"], // twice in one statement
      [9, "BNK-7", "error", "InvalidRow"], // a field short
    ]);
    expect(report).toMatchObject({ applied: 2, duplicates: 0, errors: 6 });
    expect(await receivable()).toBe(before - 1234n - 10_000n);

    // The same statement again (a retried upload): nothing new.
    const again = (await (await importCsv(csv)).json()) as Report;
    expect(again).toMatchObject({ applied: 0, duplicates: 2 });
    expect(await receivable()).toBe(before - 11_234n);

    // A reference reused with another amount is refused, not applied on top.
    const changed = (await (await importCsv(`reference,account_id,amount_minor,currency\nBNK-6,${accountId},10001,USD\n`)).json()) as Report;
    expect(changed.rows).toEqual([expect.objectContaining({ status: "error", code: "PaymentAlreadyRecorded" })]);
    expect(await receivable()).toBe(before - 11_234n);

    const payments = (await (await financeGet(`/payments?accountId=${accountId}`)).json()) as { payments: { id: string; amountMinor: string; source: string; receivedAt: string }[] };
    expect(payments.payments.map((p) => [p.id, p.amountMinor, p.source, p.receivedAt])).toEqual([
      ["bank:BNK-1", "1234", "bank", "2026-11-30T00:00:00.000Z"],
      ["bank:BNK-6", "10000", "bank", "2026-12-01T10:00:00.000Z"],
    ]);
  });

  it("refuses a statement it cannot read as a whole, applying nothing", async () => {
    const before = await receivable();
    for (const csv of ["", "reference,account_id,currency\nX,acc,USD\n", `reference,account_id,amount,currency\n"BNK-9,${accountId},1.00,USD\n`]) {
      const res = await importCsv(csv);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { code: string }).code).toBe("InvalidStatement");
    }
    expect(await receivable()).toBe(before);
  });
});

describe("the finance role", () => {
  it("is required by every finance route but the webhook; the admin token does not open them", async () => {
    for (const path of ["/payments", "/ledger", "/ledger/trial-balance", "/price-sheets"]) {
      expect((await financeGet(path, ADMIN_TOKEN)).status, path).toBe(401);
      expect((await financeFetch(path)).status, path).toBe(401);
      expect((await financeGet(path)).status, path).toBe(200);
    }
    expect((await importCsv("reference,account_id,amount,currency\n", ADMIN_TOKEN)).status).toBe(401);
    // With no FINANCE_TOKEN configured, no token opens them.
    expect((await financeFetch("/payments", { headers: { authorization: "Bearer " } }, {})).status).toBe(401);
  });

  it("exports payments, the ledger and the trial balance as CSV that matches the JSON", async () => {
    await importCsv(`reference,account_id,amount_minor,currency\nCSV-1,${accountId},4200,USD\n`);

    const paymentsCsv = await financeGet(`/payments?accountId=${accountId}&format=csv`);
    expect(paymentsCsv.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    const payments = parseCsv(await paymentsCsv.text());
    expect(payments[0]!.fields).toEqual(["id", "account_id", "currency", "amount_minor", "refunded_minor", "source", "source_ref", "entry_key", "received_at"]);
    expect(payments.slice(1).map((r) => [r.fields[0], r.fields[3]])).toContainEqual(["bank:CSV-1", "4200"]);

    const ledger = parseCsv(await (await financeGet("/ledger?format=csv")).text());
    const lines = ledger.slice(1).filter((r) => r.fields[0] === "payment:bank:CSV-1");
    expect(lines.map((r) => [r.fields[5], r.fields[6], r.fields[7], r.fields[8], r.fields[9]])).toEqual([
      ["cash", "", "USD", "debit", "4200"],
      ["receivables", accountId, "USD", "credit", "4200"],
    ]);

    const json = (await (await financeGet("/ledger/trial-balance")).json()) as TrialBalanceView;
    const csv = parseCsv(await (await financeGet("/ledger/trial-balance?format=csv")).text());
    const totals = csv.filter((r) => r.fields[0] === "TOTAL").map((r) => ({ currency: r.fields[2], debits: r.fields[3], credits: r.fields[4], net: r.fields[5] }));
    expect(totals).toEqual(json.currencies.map((c) => ({ ...c, net: "0" })));
  });

  it("pages the ledger export by key", async () => {
    const first = (await (await financeGet("/ledger?limit=1")).json()) as { entries: { key: string }[]; next: string };
    expect(first.entries).toHaveLength(1);
    expect(first.next).toBe(first.entries[0]!.key);
    const second = (await (await financeGet(`/ledger?limit=1&after=${encodeURIComponent(first.next)}`)).json()) as { entries: { key: string }[] };
    expect(second.entries[0]!.key > first.next).toBe(true);
    expect((await financeGet("/ledger?limit=0")).status).toBe(400);
  });
});
