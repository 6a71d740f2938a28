// Invoice exports: finance ops read the closed periods' invoices (GET /api/v1/finance/invoices, by period and
// account, JSON or one CSV row per line) exactly as the close step priced and posted them; a customer reads only
// its own (GET /api/v1/invoices, signed with its access key), never another account's.

import { env, SELF } from "cloudflare:test";
import { AwsClient } from "aws4fetch";
import { beforeAll, describe, expect, expectTypeOf, it } from "vitest";
import { clockMs } from "../../src/clock.ts";
import { configOf } from "../../src/config.ts";
import { openDb } from "../../src/db/client.ts";
import { CloseRecordError, parseCloseRecord, type StoredCloseRecord } from "../../src/db/invoices.ts";
import { getLedgerEntry } from "../../src/db/ledger.ts";
import { listPriceSheets, publishPriceSheet } from "../../src/db/price-sheets.ts";
import { ensureSettlementPeriod, getSettlementStep, prepareSettlementStep, recordPeriodClosed, startSettlementStep } from "../../src/db/settlement.ts";
import type { Env } from "../../src/env.ts";
import { parseCsv } from "../../src/finance/csv.ts";
import { periodBounds, periodIdAt } from "../../src/finance/periods.ts";
import type { CloseRecord } from "../../src/services/settlement/run.ts";
import { admin, ADMIN_TOKEN, checkedS3Response, createAccountWithKey, EDGE, type TestAccount } from "./helpers.ts";
import { financeFetch, financeGet } from "./finance-helpers.ts";

const e = env as unknown as Env;
const db = openDb(e.DB);
const periodMinutes = configOf(e).finance.periodMinutes;
const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

interface LineView {
  item: string;
  quantity: string;
  quantityUnit: string;
  unitPriceMicros: string;
  priceUnit: string;
  amountMinor: string;
}
interface InvoiceView {
  periodId: string;
  accountId: string;
  currency: string;
  priceSheetVersion: number;
  closedAt: string;
  totalMinor: string;
  lines: LineView[];
}

/** A request signed at the edge's (advanced) clock, as a client whose clock agrees with the edge's signs it. */
async function signedAt(account: TestAccount, method: string, url: string, init: { body?: BodyInit; headers?: Record<string, string> } = {}): Promise<Request> {
  const datetime = new Date(await clockMs(e)).toISOString().replace(/[:-]|\.\d{3}/g, "");
  return account.s3.sign(url, { method, body: init.body, headers: init.headers, aws: { datetime } });
}

async function s3(account: TestAccount, method: string, path: string, body?: string): Promise<Response> {
  return checkedS3Response(await SELF.fetch(await signedAt(account, method, `${EDGE}${path}`, { body })), `${method} ${path}`);
}

/** GET /api/v1/invoices as `account` signs it (SigV4, service s3, over the empty body's hash). */
async function customerInvoices(account: TestAccount, query = ""): Promise<Response> {
  return SELF.fetch(await signedAt(account, "GET", `${EDGE}/api/v1/invoices${query}`, { headers: { "x-amz-content-sha256": EMPTY_SHA256 } }));
}

async function financeInvoices(query: string): Promise<{ invoices: InvoiceView[]; next: string | null }> {
  const res = await financeGet(`/invoices${query}`);
  expect(res.status, query).toBe(200);
  return (await res.json()) as { invoices: InvoiceView[]; next: string | null };
}

/** Records a period closed with `record` as the close step does (src/services/settlement.ts), through src/db/settlement.ts. */
async function recordClose(periodId: string, record: CloseRecord, options: { done: boolean } = { done: true }): Promise<void> {
  const bounds = periodBounds(periodId)!;
  const now = await clockMs(e);
  await ensureSettlementPeriod(db, { id: periodId, ...bounds }, now);
  await startSettlementStep(db, periodId, "close", now);
  await prepareSettlementStep(db, periodId, "close", JSON.stringify(record), now);
  if (!options.done) return;
  await recordPeriodClosed(db, { periodId, result: JSON.stringify(record), closedAt: record.closedAt, currency: record.currency, revenueMinor: BigInt(record.revenueMinor), invoices: record.invoices.length, now });
}

function invoiceOf(accountId: string, cents: bigint): CloseRecord["invoices"][number] {
  return {
    accountId,
    totalMinor: cents.toString(),
    lines: [
      { item: "storage", quantity: "0", quantityUnit: "byte-hours", unitPriceMicros: "4000000", priceUnit: "TB-month", amountMinor: "0" },
      { item: "egress", quantity: (cents * 10n ** 8n).toString(), quantityUnit: "bytes", unitPriceMicros: "10000", priceUnit: "TB", amountMinor: cents.toString() },
    ],
  };
}

function recordOf(periodId: string, invoices: CloseRecord["invoices"]): CloseRecord {
  return { closedAt: periodBounds(periodId)!.end, currency: "USD", priceSheetVersion: 0, revenueMinor: invoices.reduce((s, i) => s + BigInt(i.totalMinor), 0n).toString(), invoices };
}

it("reads the close record the settlement writes, field for field", () => {
  // A change to CloseRecord that src/db/invoices.ts does not follow fails the type check (npx tsc -p tsconfig.json).
  expectTypeOf<StoredCloseRecord>().toEqualTypeOf<CloseRecord>();
  expect(() => parseCloseRecord("2020-01", "{")).toThrow(CloseRecordError);
  expect(() => parseCloseRecord("2020-01", JSON.stringify({ ...recordOf("2020-01", []), revenueMinor: 12 }))).toThrow(/revenueMinor/);
});

describe("invoices of a period closed by the settlement", () => {
  let alpha: TestAccount;
  let beta: TestAccount;
  let idle: TestAccount;
  let period: string;

  beforeAll(async () => {
    // Prices high enough that a few bytes and requests cost whole cents, from the next period on.
    const now = await clockMs(e);
    const start = periodBounds(periodIdAt(now, periodMinutes), periodMinutes)!.end;
    const version = ((await listPriceSheets(db))[0]?.version ?? 0) + 1;
    await publishPriceSheet(db, { version, currency: "USD", effectiveFrom: start, storagePerTbMonth: 720n * 10n ** 16n, egressPerTb: 10n ** 16n, classAPerMillion: 10n ** 10n, classBPerMillion: 2n * 10n ** 10n }, now);
    alpha = await createAccountWithKey("invoice-alpha");
    beta = await createAccountWithKey("invoice-beta");
    idle = await createAccountWithKey("invoice-idle");
    expect((await s3(alpha, "PUT", "/invoice-alpha")).status).toBe(200);
    expect((await s3(beta, "PUT", "/invoice-beta")).status).toBe(200);
    const seconds = Math.ceil((start + 60_000 - (await clockMs(e))) / 1000);
    expect((await admin("POST", "/clock", { advanceSeconds: seconds })).status).toBe(200);

    expect((await s3(alpha, "PUT", "/invoice-alpha/a", "a".repeat(300))).status).toBe(200);
    expect(await (await s3(alpha, "GET", "/invoice-alpha/a")).text()).toHaveLength(300);
    expect((await s3(beta, "PUT", "/invoice-beta/b", "b".repeat(50))).status).toBe(200);
    const closed = await admin("POST", "/finance/periods/close");
    expect(closed.status).toBe(200);
    period = ((await closed.json()) as { periodId: string }).periodId;
    expect(period).toBe(periodIdAt(start + 60_000, periodMinutes));
  });

  it("exports each account's invoice as the close step recorded it and the ledger posted it", async () => {
    const record = JSON.parse((await getSettlementStep(db, period, "close"))!.result!) as CloseRecord;
    const { invoices, next } = await financeInvoices(`?period=${period}`);
    expect(next).toBeNull();
    expect(invoices.map((i) => i.accountId)).toEqual([alpha.id, beta.id].sort());
    for (const invoice of invoices) {
      const recorded = record.invoices.find((i) => i.accountId === invoice.accountId)!;
      expect(invoice).toEqual({
        periodId: period,
        accountId: recorded.accountId,
        currency: "USD",
        priceSheetVersion: record.priceSheetVersion,
        closedAt: new Date(record.closedAt).toISOString(),
        totalMinor: recorded.totalMinor,
        lines: recorded.lines,
      });
      expect(BigInt(invoice.totalMinor)).toBeGreaterThan(0n);
      const entry = (await getLedgerEntry(db, `invoice:${period}:${invoice.accountId}`))!;
      expect(entry.lines.find((l) => l.account === "receivables")!.amount).toBe(BigInt(invoice.totalMinor));
      expect(invoice.lines.reduce((s, l) => s + BigInt(l.amountMinor), 0n)).toBe(BigInt(invoice.totalMinor));
    }
    // alpha: the PUT and the GET of 300 bytes at 1 and 2 cents a request and a cent a byte sent.
    const alphaLines = invoices.find((i) => i.accountId === alpha.id)!.lines;
    expect(alphaLines.find((l) => l.item === "egress")).toMatchObject({ quantity: "300", quantityUnit: "bytes", amountMinor: "300" });
    expect(alphaLines.find((l) => l.item === "class_b_requests")).toMatchObject({ quantity: "1", amountMinor: "2" });

    expect((await financeInvoices(`?period=${period}&account=${beta.id}`)).invoices.map((i) => i.accountId)).toEqual([beta.id]);
    expect((await financeInvoices(`?period=${period}&account=${idle.id}`)).invoices).toEqual([]);
  });

  it("exports one CSV row per invoice line with a header and a file name", async () => {
    const json = (await financeInvoices(`?period=${period}&account=${alpha.id}`)).invoices[0]!;
    const res = await financeGet(`/invoices?period=${period}&account=${alpha.id}&format=csv`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    expect(res.headers.get("content-disposition")).toBe(`attachment; filename="invoices-${period}-${alpha.id}.csv"`);
    const text = await res.text();
    expect(text.endsWith("\r\n")).toBe(true);
    const records = parseCsv(text);
    expect(records[0]!.fields).toEqual(["period_id", "account_id", "item", "quantity", "quantity_unit", "unit_price_micros", "price_unit", "amount_minor", "currency", "price_sheet_version"]);
    expect(records.slice(1).map((r) => r.fields)).toEqual(
      json.lines.map((l) => [period, alpha.id, l.item, l.quantity, l.quantityUnit, l.unitPriceMicros, l.priceUnit, l.amountMinor, "USD", String(json.priceSheetVersion)]),
    );
    // Each row's amount is a decimal string of cents; they sum to the invoice's total.
    expect(records.slice(1).reduce((s, r) => s + BigInt(r.fields[7]!), 0n)).toBe(BigInt(json.totalMinor));
    // "million requests" has a space, not a character that needs quoting.
    expect(text).toContain(",million requests,");
  });

  it("shows a customer its own invoices and never another account's", async () => {
    const mine = await customerInvoices(alpha);
    expect(mine.status).toBe(200);
    const body = (await mine.json()) as { accountId: string; invoices: (Omit<InvoiceView, "accountId"> & { accountId?: string })[]; next: string | null };
    expect(body.accountId).toBe(alpha.id);
    const finance = (await financeInvoices(`?account=${alpha.id}`)).invoices;
    expect(body.invoices).toEqual(finance.map(({ accountId: _, ...rest }) => rest));
    expect(body.invoices.map((i) => i.periodId)).toEqual([period]);

    const betas = (await (await customerInvoices(beta)).json()) as { accountId: string; invoices: { totalMinor: string }[] };
    expect(betas.accountId).toBe(beta.id);
    expect(betas.invoices.map((i) => i.totalMinor)).toEqual((await financeInvoices(`?account=${beta.id}`)).invoices.map((i) => i.totalMinor));
    expect(betas.invoices.map((i) => i.totalMinor)).not.toContain(body.invoices[0]!.totalMinor);

    // Naming another account changes nothing: the account is the key's.
    const asking = (await (await customerInvoices(alpha, `?account=${beta.id}&accountId=${beta.id}`)).json()) as { accountId: string; invoices: unknown[] };
    expect(asking).toEqual(body);
    expect(((await (await customerInvoices(idle)).json()) as { invoices: unknown[] }).invoices).toEqual([]);
    expect((await customerInvoices(alpha, `?period=${period}`)).status).toBe(200);
    expect((await customerInvoices(alpha, "?limit=0")).status).toBe(400);

    // Unsigned, or signed with a wrong secret: refused.
    const unsigned = await SELF.fetch(`${EDGE}/api/v1/invoices`);
    expect(unsigned.status).toBe(403);
    expect(((await unsigned.json()) as { code: string }).code).toBe("AccessDenied");
    const forged = await customerInvoices({ ...alpha, s3: new AwsClient({ accessKeyId: alpha.accessKeyId, secretAccessKey: "wrong", service: "s3", region: "us-east-1", retries: 0 }) });
    expect(forged.status).toBe(403);
    expect(((await forged.json()) as { code: string }).code).toBe("SignatureDoesNotMatch");
  });
});

describe("invoice exports across periods", () => {
  beforeAll(async () => {
    await recordClose("2020-01", recordOf("2020-01", [invoiceOf("acc_exp_b", 700n), invoiceOf("acc_exp_a", 500n), invoiceOf("acc_exp_zero", 0n)]));
    // Prepared but not done: the close step may still resume, so its invoices are not issued yet.
    await recordClose("2020-02", recordOf("2020-02", [invoiceOf("acc_exp_a", 900n)]), { done: false });
    await recordClose("2020-03", recordOf("2020-03", [invoiceOf("acc_exp_a", 300n), invoiceOf("acc_exp_c", 100n)]));
  });

  it("filters by period and by account, leaving out invoices of nothing and periods not closed", async () => {
    const jan = (await financeInvoices("?period=2020-01")).invoices;
    expect(jan.map((i) => [i.accountId, i.totalMinor])).toEqual([
      ["acc_exp_a", "500"],
      ["acc_exp_b", "700"],
    ]);
    expect((await financeInvoices("?period=2020-02")).invoices).toEqual([]);
    expect((await financeInvoices("?period=2019-12")).invoices).toEqual([]);
    const a = (await financeInvoices("?account=acc_exp_a")).invoices;
    expect(a.map((i) => [i.periodId, i.totalMinor])).toEqual([
      ["2020-01", "500"],
      ["2020-03", "300"],
    ]);
    expect(a[0]!.closedAt).toBe("2020-02-01T00:00:00.000Z");
  });

  it("pages by (period, account)", async () => {
    const all = (await financeInvoices("?limit=1000")).invoices.filter((i) => i.periodId.startsWith("2020-"));
    expect(all.map((i) => `${i.periodId}:${i.accountId}`)).toEqual(["2020-01:acc_exp_a", "2020-01:acc_exp_b", "2020-03:acc_exp_a", "2020-03:acc_exp_c"]);
    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 10; page++) {
      const res: { invoices: InvoiceView[]; next: string | null } = await financeInvoices(`?limit=1${after === null ? "" : `&after=${encodeURIComponent(after)}`}`);
      seen.push(...res.invoices.map((i) => `${i.periodId}:${i.accountId}`));
      if (res.next === null) break;
      after = res.next;
    }
    expect(seen.filter((k) => k.startsWith("2020-"))).toEqual(all.map((i) => `${i.periodId}:${i.accountId}`));
    expect((await financeGet("/invoices?after=nocolon")).status).toBe(400);
    expect((await financeGet("/invoices?format=xml")).status).toBe(400);
  });

  it("is the finance role's: the admin token and no token are refused", async () => {
    for (const res of [await financeGet("/invoices", ADMIN_TOKEN), await financeFetch("/invoices"), await financeGet("/invoices?format=csv&period=2020-01", ADMIN_TOKEN)]) {
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ code: "Unauthorized", message: "A valid finance bearer token is required." });
    }
  });
});
