// Alerts for deferred or failed settlement steps: one open alert per period, step, kind and reason however often
// the chore meets the condition (concurrent raises included), resolved when the step succeeds, each raise logged as
// one JSON line; and GET /api/v1/finance/alerts in JSON and CSV, behind the finance token.

import { env } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { openDb } from "../../src/db/client.ts";
import { listAlerts, raiseAlert, resolveAlerts } from "../../src/db/finance-alerts.ts";
import type { Env } from "../../src/env.ts";
import { parseCsv } from "../../src/finance/csv.ts";
import { ADMIN_TOKEN } from "./helpers.ts";
import { financeFetch, financeGet } from "./finance-helpers.ts";

const db = openDb((env as unknown as Env).DB);
const T0 = Date.parse("2026-11-01T00:30:00Z");
const HOUR = 3_600_000;

interface AlertView {
  id: number;
  periodId: string;
  step: string;
  kind: string;
  reason: string;
  state: string;
  occurrences: number;
  message: string;
  raisedAt: string;
  lastSeenAt: string;
  resolvedAt: string | null;
}

async function alertsOf(query: string): Promise<{ alerts: AlertView[]; next: string | null }> {
  const res = await financeGet(`/alerts${query}`);
  expect(res.status).toBe(200);
  return (await res.json()) as { alerts: AlertView[]; next: string | null };
}

afterEach(() => vi.restoreAllMocks());

describe("raising and resolving finance alerts", () => {
  it("keeps one open alert per period, step, kind and reason while the chore meets it hour after hour", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const base = { periodId: "2026-10", step: "buyback", kind: "deferred" as const, reason: "twap_deviation" };
    const first = await raiseAlert(db, { ...base, message: "spot 1.31 is 31% from the TWAP 1.00", now: T0 });
    const second = await raiseAlert(db, { ...base, message: "spot 1.40 is 40% from the TWAP 1.00", now: T0 + HOUR });
    const third = await raiseAlert(db, { ...base, message: "spot 1.35 is 35% from the TWAP 1.00", now: T0 + 2 * HOUR });
    expect(first.opened).toBe(true);
    expect([second.opened, third.opened]).toEqual([false, false]);
    expect(third.alert).toMatchObject({ id: first.alert.id, occurrences: 3, raisedAt: T0, lastSeenAt: T0 + 2 * HOUR, resolvedAt: null, message: "spot 1.35 is 35% from the TWAP 1.00" });

    // Another reason, kind or step is another alert.
    await raiseAlert(db, { ...base, reason: "pool_too_thin", message: "reserve below the floor", now: T0 + HOUR });
    await raiseAlert(db, { ...base, kind: "failed", reason: "step_error", message: "execution reverted", now: T0 + HOUR });
    await raiseAlert(db, { ...base, step: "post", kind: "failed", reason: "step_error", message: "nonce too low", now: T0 + HOUR });
    const open = (await listAlerts(db, { open: true, limit: 100 })).filter((a) => a.periodId === "2026-10");
    expect(open.map((a) => [a.step, a.kind, a.reason, a.occurrences])).toEqual([
      ["buyback", "deferred", "twap_deviation", 3],
      ["buyback", "deferred", "pool_too_thin", 1],
      ["buyback", "failed", "step_error", 1],
      ["post", "failed", "step_error", 1],
    ]);

    // One structured line per raise, for the log push.
    const lines = logged.mock.calls.map((call) => JSON.parse(String(call[0])) as Record<string, unknown>).filter((l) => l.event === "finance_alert");
    expect(lines).toHaveLength(6);
    expect(lines[2]).toMatchObject({ event: "finance_alert", alertId: first.alert.id, periodId: "2026-10", step: "buyback", kind: "deferred", reason: "twap_deviation", occurrences: 3, opened: false });
  });

  it("counts concurrent raises of one alert on one row", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const base = { periodId: "2026-09", step: "buyback", kind: "deferred" as const, reason: "oracle_window_short", message: "window 10 min < 30 min", now: T0 };
    const raised = await Promise.all(Array.from({ length: 6 }, () => raiseAlert(db, base)));
    expect(raised.filter((r) => r.opened)).toHaveLength(1);
    const rows = (await listAlerts(db, { open: false, limit: 100 })).filter((a) => a.periodId === "2026-09");
    expect(rows.map((a) => a.occurrences)).toEqual([6]);
  });

  it("resolves a step's open alerts when it succeeds, and opens a new one if it fails again", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const base = { periodId: "2026-08", step: "split", kind: "failed" as const, reason: "step_error", message: "boom", now: T0 };
    const first = (await raiseAlert(db, base)).alert;
    await raiseAlert(db, { ...base, step: "post", now: T0 });
    expect(await resolveAlerts(db, { periodId: "2026-08", step: "split", now: T0 + HOUR })).toBe(1);
    expect(await resolveAlerts(db, { periodId: "2026-08", step: "split", now: T0 + 2 * HOUR })).toBe(0);

    const all = (await listAlerts(db, { open: false, limit: 100 })).filter((a) => a.periodId === "2026-08");
    expect(all.map((a) => [a.step, a.resolvedAt])).toEqual([
      ["split", T0 + HOUR],
      ["post", null],
    ]);
    const again = await raiseAlert(db, { ...base, now: T0 + 3 * HOUR });
    expect(again.opened).toBe(true);
    expect(again.alert.id).not.toBe(first.id);
    expect(again.alert.occurrences).toBe(1);
  });

  it("refuses a reason that is not a code", async () => {
    await expect(raiseAlert(db, { periodId: "2026-07", step: "buyback", kind: "deferred", reason: "TWAP moved!", message: "", now: T0 })).rejects.toThrow(RangeError);
  });
});

describe("GET /api/v1/finance/alerts", () => {
  it("lists open alerts by default and all with state=all, as JSON and as CSV", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const tricky = 'pool "ICNT/USDC", spot 1.31\nTWAP 1.00';
    const open = (await raiseAlert(db, { periodId: "2026-06", step: "buyback", kind: "deferred", reason: "twap_deviation", message: tricky, now: T0 })).alert;
    const resolved = (await raiseAlert(db, { periodId: "2026-06", step: "close", kind: "failed", reason: "usage_flush", message: "2 bucket(s) could not flush", now: T0 })).alert;
    await resolveAlerts(db, { periodId: "2026-06", step: "close", now: T0 + HOUR });

    const openIds = (await alertsOf("")).alerts.map((a) => a.id);
    expect(openIds).toContain(open.id);
    expect(openIds).not.toContain(resolved.id);
    expect((await alertsOf("?state=open")).alerts.map((a) => a.id)).toEqual(openIds);
    const all = (await alertsOf("?state=all")).alerts;
    expect(all.find((a) => a.id === resolved.id)).toEqual({
      id: resolved.id,
      periodId: "2026-06",
      step: "close",
      kind: "failed",
      reason: "usage_flush",
      state: "resolved",
      occurrences: 1,
      message: "2 bucket(s) could not flush",
      raisedAt: new Date(T0).toISOString(),
      lastSeenAt: new Date(T0).toISOString(),
      resolvedAt: new Date(T0 + HOUR).toISOString(),
    });

    const res = await financeGet("/alerts?state=all&format=csv");
    expect(res.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    expect(res.headers.get("content-disposition")).toBe('attachment; filename="finance-alerts-all.csv"');
    const text = await res.text();
    // RFC 4180: the field with a quote, a comma and a line break is quoted, its quotes doubled.
    expect(text).toContain(`,"pool ""ICNT/USDC"", spot 1.31\nTWAP 1.00"\r\n`);
    const records = parseCsv(text);
    expect(records[0]!.fields).toEqual(["id", "period_id", "step", "kind", "reason", "state", "occurrences", "raised_at", "last_seen_at", "resolved_at", "message"]);
    const row = records.find((r) => r.fields[0] === String(open.id))!;
    expect(row.fields).toEqual([String(open.id), "2026-06", "buyback", "deferred", "twap_deviation", "open", "1", new Date(T0).toISOString(), new Date(T0).toISOString(), "", tricky]);
    expect(records.slice(1).map((r) => Number(r.fields[0]))).toEqual(all.map((a) => a.id));
  });

  it("pages by id", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    for (const reason of ["page_a", "page_b", "page_c"]) await raiseAlert(db, { periodId: "2026-05", step: "buyback", kind: "deferred", reason, message: reason, now: T0 });
    const all = (await alertsOf("?state=all&limit=1000")).alerts;
    const first = await alertsOf("?state=all&limit=2");
    expect(first.alerts).toEqual(all.slice(0, 2));
    expect(first.next).toBe(String(all[1]!.id));
    const second = await alertsOf(`?state=all&limit=2&after=${first.next}`);
    expect(second.alerts).toEqual(all.slice(2, 4));
    expect((await financeGet("/alerts?state=closed")).status).toBe(400);
  });

  it("is the finance role's: the admin token and no token are refused", async () => {
    for (const res of [await financeGet("/alerts", ADMIN_TOKEN), await financeFetch("/alerts"), await financeGet("/alerts?format=csv", ADMIN_TOKEN)]) {
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ code: "Unauthorized", message: "A valid finance bearer token is required." });
    }
  });
});
