// The settlement chore's first step, close, on the test clock: S3 traffic from two accounts in one period, the
// period ends, the chore invoices each account exactly as the price sheet in force prices its usage and the
// period's books balance; the chore run again, concurrently, or stopped at each fault point and rerun bills nobody
// twice; and the period routes (validation, the admin and finance tokens).

import { createExecutionContext, env, SELF, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import worker from "../../src/index.ts";
import { clockMs } from "../../src/clock.ts";
import { configOf } from "../../src/config.ts";
import { openDb } from "../../src/db/client.ts";
import { getLedgerEntry, listLedgerEntries } from "../../src/db/ledger.ts";
import { listPriceSheets, publishPriceSheet } from "../../src/db/price-sheets.ts";
import { getSettlementPeriod, getSettlementStep } from "../../src/db/settlement.ts";
import { byteHoursOf } from "../../src/db/usage.ts";
import type { Env } from "../../src/env.ts";
import { periodBounds, periodIdAt } from "../../src/finance/periods.ts";
import type { PriceSheet } from "../../src/finance/pricing.ts";
import { protocolTransactionsOf } from "../../src/services/protocol-signer.ts";
import { LEASE_HELD, SETTLEMENT_GRACE_MS, SETTLEMENT_LEASE, settlementFaultPoint, type CloseRecord, type SettlementReport } from "../../src/services/settlement/run.ts";
import { runOnce as runSettlement } from "../../workers/cron/settlement.ts";
import { FINANCE_TOKEN } from "./finance-helpers.ts";
import { admin, ADMIN_TOKEN, checkedS3Response, createAccountWithKey, EDGE, type TestAccount } from "./helpers.ts";

const e = env as unknown as Env;
const db = openDb(e.DB);
const HOUR = 3_600_000n;
const periodMinutes = configOf(e).finance.periodMinutes;

/** Whole cents per unit, so each line's amount is its quantity times a small integer and rounding plays no part. */
const PRICES = {
  storagePerTbMonth: 720n * 10n ** 16n, // 1 cent per byte-hour
  egressPerTb: 10n ** 16n, // 1 cent per byte sent
  classAPerMillion: 10n ** 10n, // 1 cent per write or list
  classBPerMillion: 2n * 10n ** 10n, // 2 cents per read
};

async function edgeNow(): Promise<number> {
  return clockMs(e);
}

/** Moves the edge's clock forward to `targetMs` (or a little past it). */
async function advanceTo(targetMs: number): Promise<void> {
  const seconds = Math.ceil((targetMs - (await edgeNow())) / 1000);
  if (seconds > 0) expect((await admin("POST", "/clock", { advanceSeconds: seconds })).status).toBe(200);
}

/** An S3 request signed at the edge's (advanced) time, as a client whose clock agrees with the edge's signs it. */
async function s3(account: TestAccount, method: string, path: string, init: { body?: BodyInit; headers?: Record<string, string> } = {}): Promise<Response> {
  const datetime = new Date(await edgeNow()).toISOString().replace(/[:-]|\.\d{3}/g, "");
  const signed = await account.s3.sign(`${EDGE}${path}`, { method, body: init.body, headers: init.headers, aws: { datetime } });
  return checkedS3Response(await SELF.fetch(signed), `${method} ${path}`);
}

function boundsOf(periodId: string) {
  return periodBounds(periodId, periodMinutes)!;
}

async function runChore(): Promise<SettlementReport> {
  const res = await admin("POST", "/chores/settlement/run");
  expect(res.status).toBe(200);
  return (await res.json()) as SettlementReport;
}

/** The chore with a test-only fault point set, called as the cron would. */
async function runChoreWithFault(point: string): Promise<unknown> {
  return runSettlement({ ...e, SETTLEMENT_FAULT_AFTER_STEP: point }, new Date(await edgeNow()));
}

/** A period route through the Worker's entry point, with the finance token configured. */
async function periodsApi(method: string, path: string, token?: string): Promise<Response> {
  const ctx = createExecutionContext();
  const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
  const res = await worker.fetch(new Request(`${EDGE}/api/v1/admin/finance/periods${path}`, { method, headers }), { ...e, FINANCE_TOKEN } as Env, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

async function invoicesOf(periodId: string) {
  return (await listLedgerEntries(db, { periodId, limit: 1000 })).filter((entry) => entry.kind === "invoice");
}

/** What D1 holds of one account's usage in one period, summed here (not by the code under test). */
async function flushedUsage(accountId: string, periodId: string) {
  const rows = await e.DB.prepare("SELECT storage_byte_ms, bytes_out, class_a, class_b FROM bucket_usage WHERE account_id = ? AND period_id = ?")
    .bind(accountId, periodId)
    .all<{ storage_byte_ms: string; bytes_out: string; class_a: number; class_b: number }>();
  const sum = { byteMs: 0n, bytesOut: 0n, classA: 0n, classB: 0n };
  for (const r of rows.results) {
    sum.byteMs += BigInt(r.storage_byte_ms);
    sum.bytesOut += BigInt(r.bytes_out);
    sum.classA += BigInt(r.class_a);
    sum.classB += BigInt(r.class_b);
  }
  return sum;
}

describe("the settlement chore closes a period", () => {
  let alpha: TestAccount;
  let beta: TestAccount;
  let period: string;
  /** The edge's clock just before and after alpha's objects were written: bounds of their byte-hours. */
  let alphaPutFrom = 0;
  let alphaPutTo = 0;
  let betaPutFrom = 0;
  let betaPutTo = 0;

  beforeAll(async () => {
    // A price sheet that takes effect when the next period begins, then traffic in that period.
    const now = await edgeNow();
    const start = boundsOf(periodIdAt(now, periodMinutes)).end;
    const newest = (await listPriceSheets(db))[0]?.version ?? 0;
    const sheet: PriceSheet = { version: newest + 1, currency: "USD", effectiveFrom: start, ...PRICES };
    await publishPriceSheet(db, sheet, now);
    // The buckets are made before the period: its requests are the objects' alone.
    alpha = await createAccountWithKey("settle-alpha");
    beta = await createAccountWithKey("settle-beta");
    expect((await s3(alpha, "PUT", "/settle-alpha")).status).toBe(200);
    expect((await s3(beta, "PUT", "/settle-beta")).status).toBe(200);
    await advanceTo(start + 60_000);
    period = periodIdAt(await edgeNow(), periodMinutes);

    alphaPutFrom = await edgeNow();
    for (const [key, size] of [["a", 100], ["b", 200], ["c", 300]] as const) {
      expect((await s3(alpha, "PUT", `/settle-alpha/${key}`, { body: "x".repeat(size) })).status).toBe(200);
    }
    alphaPutTo = await edgeNow();
    betaPutFrom = await edgeNow();
    expect((await s3(beta, "PUT", "/settle-beta/big", { body: "y".repeat(1000) })).status).toBe(200);
    betaPutTo = await edgeNow();
    // alpha: two reads of 200 bytes, a HEAD (no body), a listing; beta: one ranged read of 100 bytes.
    for (let i = 0; i < 2; i++) expect(await (await s3(alpha, "GET", "/settle-alpha/b")).text()).toHaveLength(200);
    expect((await s3(alpha, "HEAD", "/settle-alpha/c")).status).toBe(200);
    expect((await s3(alpha, "GET", "/settle-alpha?list-type=2")).status).toBe(200);
    expect(await (await s3(beta, "GET", "/settle-beta/big", { headers: { range: "bytes=0-99" } })).text()).toHaveLength(100);
  });

  it("leaves a period alone until it has ended, and for the grace after its end", async () => {
    for (const at of [undefined, boundsOf(period).end + 60_000]) {
      if (at !== undefined) await advanceTo(at);
      const report = await runChore();
      expect(report.skipped).toBeUndefined();
      expect(report.periods.map((p) => p.id)).not.toContain(period);
      expect(await invoicesOf(period)).toEqual([]);
      expect((await getSettlementPeriod(db, period))?.state ?? "open").toBe("open");
    }
  });

  it("invoices each account its usage at the sheet's prices once the period has ended, and the books balance", async () => {
    await advanceTo(boundsOf(period).end + SETTLEMENT_GRACE_MS + 60_000);
    const report = await runChore();
    expect(report.periods.find((p) => p.id === period)).toEqual({ id: period, state: "closed", steps: [{ step: "close", outcome: "done" }] });

    const end = BigInt(boundsOf(period).end);
    const expected = {
      // Three PUTs and a ListObjectsV2; two GETs and a HEAD; 2 × 200 bytes sent.
      [alpha.id]: { classA: 4n, classB: 3n, egress: 400n, storedBytes: 600n, putFrom: alphaPutFrom, putTo: alphaPutTo },
      // One PUT; one ranged GET of 100 bytes.
      [beta.id]: { classA: 1n, classB: 1n, egress: 100n, storedBytes: 1000n, putFrom: betaPutFrom, putTo: betaPutTo },
    };
    const record = JSON.parse((await getSettlementStep(db, period, "close"))!.result!) as CloseRecord;
    let revenue = 0n;
    for (const [accountId, want] of Object.entries(expected)) {
      const invoice = record.invoices.find((i) => i.accountId === accountId)!;
      const line = (item: string) => invoice.lines.find((l) => l.item === item)!;
      expect(line("class_a_requests")).toMatchObject({ quantity: want.classA.toString(), amountMinor: want.classA.toString() });
      expect(line("class_b_requests")).toMatchObject({ quantity: want.classB.toString(), amountMinor: (2n * want.classB).toString() });
      expect(line("egress")).toMatchObject({ quantity: want.egress.toString(), amountMinor: want.egress.toString() });
      // Objects stay stored from their PUT to the period's end: between these bounds of byte-hours, and exactly
      // what D1 holds for the account.
      const byteHours = BigInt(line("storage").quantity);
      expect(byteHours).toBeGreaterThanOrEqual((want.storedBytes * (end - BigInt(want.putTo))) / HOUR);
      expect(byteHours).toBeLessThanOrEqual((want.storedBytes * (end - BigInt(want.putFrom))) / HOUR);
      expect(byteHours).toBe(byteHoursOf((await flushedUsage(accountId, period)).byteMs));
      expect(line("storage").amountMinor).toBe(byteHours.toString());
      const total = want.classA + 2n * want.classB + want.egress + byteHours;
      expect(invoice.totalMinor).toBe(total.toString());

      const entry = (await getLedgerEntry(db, `invoice:${period}:${accountId}`))!;
      expect(entry.lines.map((l) => [l.account, l.subaccount, l.side, l.amount])).toEqual([
        ["receivables", accountId, "debit", total],
        ["revenue", "", "credit", total],
      ]);
      revenue += total;
    }
    expect(record.priceSheetVersion).toBeGreaterThan(0);
    expect(await invoicesOf(period)).toHaveLength(2);

    const view = (await (await periodsApi("GET", `/${period}`, FINANCE_TOKEN)).json()) as Record<string, unknown>;
    expect(view).toMatchObject({ id: period, state: "closed", revenueMinor: revenue.toString(), buyback: null, payouts: [], rewardsRoot: null, rewardsTxHash: null });
    const tb = (await (await periodsApi("GET", `/${period}/trial-balance`, FINANCE_TOKEN)).json()) as { balanced: boolean; currencies: unknown[] };
    expect(tb.balanced).toBe(true);
    expect(tb.currencies).toEqual([{ currency: "USD", debits: revenue.toString(), credits: revenue.toString() }]);
  });

  it("changes nothing when run again, or several times at once", async () => {
    const before = { entries: await listLedgerEntries(db, { periodId: period, limit: 1000 }), row: await getSettlementPeriod(db, period), step: await getSettlementStep(db, period, "close") };
    const reports = await Promise.all([runChore(), runChore(), runChore()]);
    await runChore();
    for (const report of reports) expect(report.skipped === LEASE_HELD || report.periods.every((p) => p.id !== period)).toBe(true);
    expect(await listLedgerEntries(db, { periodId: period, limit: 1000 })).toEqual(before.entries);
    expect(await getSettlementPeriod(db, period)).toEqual(before.row);
    expect(await getSettlementStep(db, period, "close")).toEqual(before.step);
  });

  it("skips while another run holds the lease", async () => {
    const transactions = protocolTransactionsOf(e);
    expect((await transactions.acquireLease(SETTLEMENT_LEASE, "another-run", await edgeNow(), 60_000)).acquired).toBe(true);
    try {
      expect(await runChore()).toEqual({ chore: "settlement", skipped: LEASE_HELD, periods: [] });
      expect((await periodsApi("POST", "/close", ADMIN_TOKEN)).status).toBe(409);
    } finally {
      expect(await transactions.releaseLease(SETTLEMENT_LEASE, "another-run")).toBe(true);
    }
  });

  it("bills each account exactly once when stopped at each point and run again", async () => {
    // Traffic in the next period from both accounts, then that period ends.
    const next = periodIdAt(boundsOf(period).end + 60_000, periodMinutes);
    expect(await edgeNow()).toBeGreaterThanOrEqual(boundsOf(next).start);
    expect((await s3(alpha, "PUT", "/settle-alpha/d", { body: "z".repeat(50) })).status).toBe(200);
    expect((await s3(beta, "GET", "/settle-beta/big")).status).toBe(200);
    await advanceTo(boundsOf(next).end + SETTLEMENT_GRACE_MS + 60_000);

    // Priced and recorded, nothing posted.
    await expect(runChoreWithFault("close.prepared")).rejects.toThrow(/close\.prepared/);
    const prepared = (await getSettlementStep(db, next, "close"))!;
    expect(prepared.state).toBe("prepared");
    expect(await invoicesOf(next)).toEqual([]);
    expect((await getSettlementPeriod(db, next))!.state).toBe("open");

    // Traffic meanwhile lands in the period open now; the recorded invoices of `next` stand.
    expect((await s3(alpha, "GET", "/settle-alpha/d")).status).toBe(200);

    // One invoice posted, then the stop.
    await expect(runChoreWithFault("close.invoice")).rejects.toThrow(/close\.invoice/);
    expect(await invoicesOf(next)).toHaveLength(1);
    expect((await getSettlementPeriod(db, next))!.state).toBe("open");

    // The step finished and recorded, then the stop before any later step.
    await expect(runChoreWithFault("close")).rejects.toThrow(/at close \(/);
    expect((await getSettlementPeriod(db, next))!.state).toBe("closed");

    const report = await runChore();
    expect(report.periods.find((p) => p.id === next)).toBeUndefined();
    const invoices = await invoicesOf(next);
    expect(invoices.map((i) => i.key).sort()).toEqual([`invoice:${next}:${alpha.id}`, `invoice:${next}:${beta.id}`].sort());
    const record = JSON.parse(prepared.result!) as CloseRecord;
    expect(JSON.parse((await getSettlementStep(db, next, "close"))!.result!)).toEqual(record);
    for (const invoice of invoices) {
      const recorded = record.invoices.find((i) => `invoice:${next}:${i.accountId}` === invoice.key)!;
      expect(invoice.lines[0]!.amount.toString()).toBe(recorded.totalMinor);
    }
    const row = (await getSettlementPeriod(db, next))!;
    expect(row.revenueMinor).toBe(record.revenueMinor);
    expect(BigInt(row.revenueMinor)).toBe(invoices.reduce((sum, i) => sum + i.lines[0]!.amount, 0n));
    const tb = (await (await periodsApi("GET", `/${next}/trial-balance`, ADMIN_TOKEN)).json()) as { balanced: boolean };
    expect(tb.balanced).toBe(true);
  });

  it("honours the fault hook only on the test clock", () => {
    expect(settlementFaultPoint({ ...e, SETTLEMENT_FAULT_AFTER_STEP: "close" })).toBe("close");
    expect(settlementFaultPoint({ ...e, TEST_CLOCK: "false", SETTLEMENT_FAULT_AFTER_STEP: "close" })).toBeUndefined();
    expect(settlementFaultPoint({ ...e, SETTLEMENT_FAULT_AFTER_STEP: "nowhere" })).toBeUndefined();
  });
});

describe("the period routes", () => {
  it("close the open period now with the admin token only, and report it to admin and finance", async () => {
    const owner = await createAccountWithKey("settle-now");
    expect((await s3(owner, "PUT", "/settle-now")).status).toBe(200);
    expect((await s3(owner, "PUT", "/settle-now/k", { body: "n".repeat(10) })).status).toBe(200);
    const current = periodIdAt(await edgeNow(), periodMinutes);

    expect((await periodsApi("POST", "/close")).status).toBe(401);
    const refused = await periodsApi("POST", "/close", FINANCE_TOKEN);
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { code: string }).code).toBe("Unauthorized");
    expect((await getSettlementPeriod(db, current))?.state ?? "open").toBe("open");

    const closed = await periodsApi("POST", "/close", ADMIN_TOKEN);
    expect(closed.status).toBe(200);
    expect(await closed.json()).toEqual({ periodId: current });
    const invoices = await invoicesOf(current);
    expect(invoices.map((i) => i.key)).toContain(`invoice:${current}:${owner.id}`);

    for (const token of [FINANCE_TOKEN, ADMIN_TOKEN]) {
      const res = await periodsApi("GET", `/${current}`, token);
      expect(res.status).toBe(200);
      const view = (await res.json()) as { state: string; revenueMinor: string };
      expect(view.state).toBe("closed");
      expect(view.revenueMinor).toBe(invoices.reduce((sum, i) => sum + i.lines[0]!.amount, 0n).toString());
      expect((await periodsApi("GET", `/${current}/trial-balance`, token)).status).toBe(200);
    }

    // Closing again changes nothing.
    expect(await (await periodsApi("POST", "/close", ADMIN_TOKEN)).json()).toEqual({ periodId: current });
    expect(await invoicesOf(current)).toEqual(invoices);
  });

  it("refuse a missing or wrong token, a malformed period id and a period nothing was recorded in", async () => {
    const current = periodIdAt(await edgeNow(), periodMinutes);
    for (const path of [`/${current}`, `/${current}/trial-balance`]) {
      expect((await periodsApi("GET", path)).status).toBe(401);
      expect((await periodsApi("GET", path, "not-a-token")).status).toBe(401);
    }
    for (const bad of ["not-a-period", "2026-13", "2026-1", "2026-12-01T12:05Z%00", "%20"]) {
      const res = await periodsApi("GET", `/${bad}`, FINANCE_TOKEN);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { code: string }).code).toBe("ValidationError");
    }
    const future = periodIdAt(boundsOf(current).end + 400 * 24 * 3_600_000, periodMinutes);
    for (const path of [`/${future}`, `/${future}/trial-balance`]) {
      const res = await periodsApi("GET", path, FINANCE_TOKEN);
      expect(res.status).toBe(404);
      expect(((await res.json()) as { code: string }).code).toBe("NoSuchPeriod");
    }
  });
});
