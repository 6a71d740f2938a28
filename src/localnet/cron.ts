// Cron expressions as Cloudflare's cron triggers read them: five fields (minute, hour, day of month, month, day of
// week), evaluated in UTC, each `*`, a number or name, a range `a-b`, a step `*/n`, `a/n` or `a-b/n`, or a list of
// these joined by commas. When both day fields are restricted, a day matches either one (as Vixie cron, and
// Cloudflare, read it). Cloudflare's extras (`L`, `W`, `#`) are refused rather than misread.
// https://developers.cloudflare.com/workers/configuration/cron-triggers/#supported-cron-expressions

export interface CronSchedule {
  readonly expression: string;
  readonly minutes: ReadonlySet<number>;
  readonly hours: ReadonlySet<number>;
  readonly daysOfMonth: ReadonlySet<number>;
  readonly months: ReadonlySet<number>;
  /** 0 = Sunday; 7 in the expression is Sunday too. */
  readonly daysOfWeek: ReadonlySet<number>;
  readonly dayOfMonthRestricted: boolean;
  readonly dayOfWeekRestricted: boolean;
}

const MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  /** Names for min, min+1, ... (months, days of week). */
  names?: string[];
}

const FIELDS: FieldSpec[] = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day of month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12, names: MONTHS },
  // 7 is accepted as Sunday and folded to 0 below.
  { name: "day of week", min: 0, max: 7, names: DAYS },
];

export function parseCron(expression: string): CronSchedule {
  const parts = expression.trim().split(/\s+/);
  if (parts.length !== 5) throw new Error(`cron "${expression}": expected 5 fields (minute hour day-of-month month day-of-week), got ${parts.length}`);
  const [minutes, hours, daysOfMonth, months, rawDaysOfWeek] = parts.map((part, i) => parseField(part, FIELDS[i]!, expression));
  const daysOfWeek = new Set([...rawDaysOfWeek!].map((d) => d % 7));
  return {
    expression,
    minutes: minutes!,
    hours: hours!,
    daysOfMonth: daysOfMonth!,
    months: months!,
    daysOfWeek,
    dayOfMonthRestricted: parts[2] !== "*",
    dayOfWeekRestricted: parts[4] !== "*",
  };
}

function parseField(text: string, spec: FieldSpec, expression: string): Set<number> {
  const fail = (why: string): never => {
    throw new Error(`cron "${expression}": ${spec.name} "${text}": ${why}`);
  };
  const value = (token: string): number => {
    const named = spec.names?.indexOf(token.toUpperCase()) ?? -1;
    if (named >= 0) return spec.min + named;
    if (!/^\d+$/.test(token)) fail(`"${token}" is not a number${spec.names ? " or name" : ""}`);
    const n = Number(token);
    if (n < spec.min || n > spec.max) fail(`${n} is outside ${spec.min}-${spec.max}`);
    return n;
  };
  const out = new Set<number>();
  for (const item of text.split(",")) {
    if (item === "") fail("empty list item");
    const [range, stepText, extra] = item.split("/");
    if (extra !== undefined) fail("more than one '/'");
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) === 0) fail(`step "${stepText}" must be a positive integer`);
      step = Number(stepText);
    }
    let from: number;
    let to: number;
    if (range === "*") [from, to] = [spec.min, spec.max];
    else if (range!.includes("-")) {
      const [a, b, more] = range!.split("-");
      if (more !== undefined || !a || !b) fail(`bad range "${range}"`);
      [from, to] = [value(a!), value(b!)];
      if (from > to) fail(`range ${from}-${to} runs backwards`);
    } else {
      from = value(range!);
      // `a/n` means from a to the field's end in steps of n.
      to = stepText === undefined ? from : spec.max;
    }
    for (let v = from; v <= to; v += step) out.add(v);
  }
  return out;
}

/** Whether `schedule` fires in the UTC minute that `date` falls in. */
export function cronMatches(schedule: CronSchedule, date: Date): boolean {
  if (!schedule.minutes.has(date.getUTCMinutes()) || !schedule.hours.has(date.getUTCHours()) || !schedule.months.has(date.getUTCMonth() + 1)) return false;
  return dayMatches(schedule, date);
}

const MINUTE_MS = 60_000;
/** Far enough for any satisfiable expression (Feb 29 on a given weekday recurs within 28 years); bounds the search. */
const SEARCH_LIMIT_MINUTES = 29 * 366 * 24 * 60;

/** The start of the first UTC minute strictly after `after` in which `schedule` fires, or undefined if none (e.g. Feb 31). */
export function nextCronTime(schedule: CronSchedule, after: Date): Date | undefined {
  let t = Math.floor(after.getTime() / MINUTE_MS) * MINUTE_MS + MINUTE_MS;
  const end = t + SEARCH_LIMIT_MINUTES * MINUTE_MS;
  // Each step moves t on by at least a minute, so the loop ends.
  for (; t < end; t += MINUTE_MS) {
    const date = new Date(t);
    // Skip whole days and hours that cannot match, so a yearly expression is found in a few thousand steps.
    if (!schedule.months.has(date.getUTCMonth() + 1) || !dayMatches(schedule, date)) {
      t = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() + 1) - MINUTE_MS;
      continue;
    }
    if (!schedule.hours.has(date.getUTCHours())) {
      t = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate(), date.getUTCHours() + 1) - MINUTE_MS;
      continue;
    }
    if (schedule.minutes.has(date.getUTCMinutes())) return date;
  }
  return undefined;
}

function dayMatches(schedule: CronSchedule, date: Date): boolean {
  const dom = schedule.daysOfMonth.has(date.getUTCDate());
  const dow = schedule.daysOfWeek.has(date.getUTCDay());
  return schedule.dayOfMonthRestricted && schedule.dayOfWeekRestricted ? dom || dow : dom && dow;
}

/**
 * The `crons` of wrangler.toml's `[triggers]` table: `crons = ["…", …]`, on one line or several. Just enough TOML
 * for that one key; an absent table or key means no cron triggers.
 */
export function readTriggerCrons(toml: string): string[] {
  const table = /^\s*\[triggers\]\s*$/m.exec(toml);
  if (!table) return [];
  const rest = toml.slice(table.index + table[0].length);
  const nextTable = /^\s*\[/m.exec(rest);
  const body = nextTable ? rest.slice(0, nextTable.index) : rest;
  const key = /^\s*crons\s*=\s*\[([^\]]*)\]/m.exec(body);
  if (!key) return [];
  const crons: string[] = [];
  for (const line of key[1]!.split("\n")) {
    for (const m of line.matchAll(/"([^"]*)"|'([^']*)'|#/g)) {
      if (m[0] === "#") break; // a comment runs to the end of its line
      crons.push(m[1] ?? m[2]!);
    }
  }
  return crons;
}
