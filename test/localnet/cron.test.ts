// The launcher's cron reader (src/localnet/cron.ts): five-field expressions in UTC as Cloudflare reads them, and
// the `[triggers] crons` of wrangler.toml.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cronMatches, nextCronTime, parseCron, readTriggerCrons } from "../../src/localnet/cron.ts";
import { REPO_ROOT } from "../../src/localnet/paths.ts";

const at = (iso: string) => new Date(iso);
const next = (expr: string, after: string) => nextCronTime(parseCron(expr), at(after))?.toISOString();

describe("parseCron", () => {
  it("reads *, numbers, lists, ranges and steps", () => {
    const s = parseCron("*/15 1-3,22 * JAN,jul-AUG 1-5/2");
    expect([...s.minutes]).toEqual([0, 15, 30, 45]);
    expect([...s.hours]).toEqual([1, 2, 3, 22]);
    expect(s.daysOfMonth.size).toBe(31);
    expect([...s.months]).toEqual([1, 7, 8]);
    expect([...s.daysOfWeek]).toEqual([1, 3, 5]);
    expect([...parseCron("5/20 * * * *").minutes]).toEqual([5, 25, 45]);
    expect([...parseCron("0 0 * * 7").daysOfWeek]).toEqual([0]);
    expect([...parseCron("0 0 * * SUN-SAT/3").daysOfWeek]).toEqual([0, 3, 6]);
  });

  it("refuses what it cannot read, saying which field", () => {
    for (const bad of ["* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8", "*/0 * * * *", "5-1 * * * *", "a * * * *", "1,,2 * * * *", "* * L * *", "* * * * 1#2", "1-2-3 * * * *"]) {
      expect(() => parseCron(bad), bad).toThrow(/cron "/);
    }
    expect(() => parseCron("61 * * * *")).toThrow(/minute "61": 61 is outside 0-59/);
  });
});

describe("cronMatches and nextCronTime, in UTC", () => {
  it("every minute fires at the start of the next minute", () => {
    expect(next("* * * * *", "2026-03-01T10:00:00.000Z")).toBe("2026-03-01T10:01:00.000Z");
    expect(next("* * * * *", "2026-03-01T10:00:59.999Z")).toBe("2026-03-01T10:01:00.000Z");
    expect(cronMatches(parseCron("* * * * *"), at("2026-03-01T10:00:30Z"))).toBe(true);
  });

  it("steps, ranges and month and year boundaries", () => {
    expect(next("*/15 * * * *", "2026-03-01T10:44:00Z")).toBe("2026-03-01T10:45:00.000Z");
    expect(next("*/15 * * * *", "2026-03-01T23:45:00Z")).toBe("2026-03-02T00:00:00.000Z");
    expect(next("30 2 * * *", "2026-12-31T03:00:00Z")).toBe("2027-01-01T02:30:00.000Z");
    expect(next("0 0 1 * *", "2026-01-15T00:00:00Z")).toBe("2026-02-01T00:00:00.000Z");
    expect(next("0 12 29 2 *", "2026-01-01T00:00:00Z")).toBe("2028-02-29T12:00:00.000Z");
    expect(next("0 0 31 2 *", "2026-01-01T00:00:00Z")).toBeUndefined();
  });

  it("a day of week alone, and either day when both are restricted", () => {
    // 2026-03-01 is a Sunday.
    expect(next("0 9 * * MON", "2026-03-01T00:00:00Z")).toBe("2026-03-02T09:00:00.000Z");
    expect(next("0 9 * * 0", "2026-03-01T10:00:00Z")).toBe("2026-03-08T09:00:00.000Z");
    // The 15th or any Friday: Friday 2026-03-06 comes first.
    expect(next("0 0 15 * FRI", "2026-03-01T00:00:00Z")).toBe("2026-03-06T00:00:00.000Z");
    expect(cronMatches(parseCron("0 0 15 * FRI"), at("2026-03-15T00:00:00Z"))).toBe(true);
    expect(cronMatches(parseCron("0 0 15 * FRI"), at("2026-03-16T00:00:00Z"))).toBe(false);
  });
});

describe("readTriggerCrons", () => {
  it("reads the crons of wrangler.toml's [triggers] table", () => {
    // The minute tick, the hourly usage flush and the settlement at half past.
    expect(readTriggerCrons(readFileSync(join(REPO_ROOT, "wrangler.toml"), "utf8"))).toEqual(["* * * * *", "0 * * * *", "30 * * * *"]);
    const toml = `name = "x"\n[vars]\ncrons = ["0 0 * * *"]\n[triggers]\n# comment ["no"]\ncrons = [\n  "*/5 * * * *", # five\n  '0 3 * * 1',\n]\n[other]\nx = 1\n`;
    expect(readTriggerCrons(toml)).toEqual(["*/5 * * * *", "0 3 * * 1"]);
    expect(readTriggerCrons(`[vars]\nA = "1"\n`)).toEqual([]);
  });
});
