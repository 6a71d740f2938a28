// The finance CSV exports as RFC 4180 writes CSV (https://www.rfc-editor.org/rfc/rfc4180#section-2): a header
// row, CRLF line ends, a field quoted when it holds a comma, a quote or a line break, quotes inside doubled; amounts
// as decimal strings of base units; and a file name in Content-Disposition (RFC 6266) that a query value cannot
// break out of.

import { beforeAll, describe, expect, it } from "vitest";
import { csvDocument, csvLine, parseCsv } from "../../src/finance/csv.ts";
import { createAccountWithKey } from "./helpers.ts";
import { deliver, financeGet } from "./finance-helpers.ts";

describe("the CSV writer", () => {
  it("quotes a field with a comma, a quote or a line break, doubling its quotes, and leaves others bare", () => {
    expect(csvLine(["plain", "a,b", 'say "hi"', "two\nlines", "cr\rhere", "", null, undefined, 12n, -3, " spaced "])).toBe(
      'plain,"a,b","say ""hi""","two\nlines","cr\rhere",,,,12,-3, spaced ',
    );
    expect(csvLine(['"'])).toBe('""""');
    expect(csvDocument(["a", "b"], [["1", "x,y"]])).toBe('a,b\r\n1,"x,y"\r\n');
    // A header alone when there are no rows.
    expect(csvDocument(["a", "b"], [])).toBe("a,b\r\n");
  });

  it("writes what its parser reads back, field for field", () => {
    const rows = [["=1+1", 'he said "no, not\r\nthat"', ",", '""', "\n", "é ünïcode"]];
    expect(parseCsv(csvDocument(["a", "b", "c", "d", "e", "f"], rows)).map((r) => r.fields)).toEqual([["a", "b", "c", "d", "e", "f"], ...rows]);
  });
});

describe("the finance exports in CSV", () => {
  let accountId: string;
  // A provider's id may hold a comma and a quote (printable ASCII without spaces: the webhook's bound).
  const eventId = 'evt_1,"quoted"';
  beforeAll(async () => {
    accountId = (await createAccountWithKey("finance-csv")).id;
    const res = await deliver({ id: eventId, type: "payment.succeeded", data: { accountId, amountMinor: "123456789012", currency: "USD" } });
    expect(res.status).toBe(200);
  });

  it("escapes a provider's event id in the payments export and keeps the amount exact", async () => {
    const res = await financeGet(`/payments?accountId=${accountId}&format=csv`);
    expect(res.headers.get("content-disposition")).toBe('attachment; filename="payments.csv"');
    const text = await res.text();
    expect(text).toContain(`\r\n"evt_1,""quoted""",${accountId},USD,123456789012,0,webhook,"evt_1,""quoted""",`);
    const records = parseCsv(text);
    expect(records[0]!.fields.slice(0, 5)).toEqual(["id", "account_id", "currency", "amount_minor", "refunded_minor"]);
    expect(records).toHaveLength(2);
    expect(records[1]!.fields.slice(0, 7)).toEqual([eventId, accountId, "USD", "123456789012", "0", "webhook", eventId]);
  });

  it("writes the ledger and its trial balance with a header and amounts in base units", async () => {
    const ledger = await financeGet("/ledger?format=csv");
    expect(ledger.headers.get("content-disposition")).toBe('attachment; filename="ledger.csv"');
    const lines = parseCsv(await ledger.text());
    expect(lines[0]!.fields).toEqual(["entry_key", "period_id", "kind", "occurred_at", "line", "account", "subaccount", "currency", "side", "amount", "memo"]);
    const payment = lines.filter((r) => r.fields[0] === `payment:${eventId}`);
    expect(payment.map((r) => [r.fields[5], r.fields[8], r.fields[9]])).toEqual([
      ["cash", "debit", "123456789012"],
      ["receivables", "credit", "123456789012"],
    ]);

    const tb = await financeGet("/ledger/trial-balance?format=csv");
    expect(tb.headers.get("content-disposition")).toBe('attachment; filename="trial-balance.csv"');
    const rows = parseCsv(await tb.text());
    expect(rows[0]!.fields).toEqual(["account", "subaccount", "currency", "debits", "credits", "balance"]);
    expect(rows.find((r) => r.fields[0] === "receivables" && r.fields[1] === accountId)!.fields.slice(3)).toEqual(["0", "123456789012", "-123456789012"]);
  });

  it("names the file after the period without letting the period id break the header", async () => {
    const res = await financeGet(`/ledger?format=csv&period=${encodeURIComponent('x";filename=evil.sh')}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-disposition")).toBe('attachment; filename="ledger-x__filename_evil.sh.csv"');
    const tb = await financeGet(`/ledger/trial-balance?format=csv&period=2026-12-01T12:05Z`);
    expect(tb.headers.get("content-disposition")).toBe('attachment; filename="trial-balance-2026-12-01T12_05Z.csv"');
  });
});
