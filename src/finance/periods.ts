// Accounting periods. A period id names the span of time whose entries a trial balance is taken over: a UTC
// calendar month ("2026-12") by default, or, with FINANCE_PERIOD_MINUTES set (tests, a local network), windows of
// that many minutes counted from the Unix epoch, named by their start ("2026-12-01T12:05Z").

const MONTH_ID = /^(\d{4})-(\d{2})$/;
const WINDOW_ID = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})Z$/;

/** The id of the period `atMs` falls in. */
export function periodIdAt(atMs: number, periodMinutes?: number): string {
  if (periodMinutes === undefined) {
    const d = new Date(atMs);
    return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, "0")}`;
  }
  const windowMs = periodMinutes * 60_000;
  return new Date(Math.floor(atMs / windowMs) * windowMs).toISOString().slice(0, 16) + "Z";
}

/** The span [start, end) of a period id, in ms; undefined for an id neither form describes. */
export function periodBounds(periodId: string, periodMinutes?: number): { start: number; end: number } | undefined {
  const month = MONTH_ID.exec(periodId);
  if (month && periodMinutes === undefined) {
    const year = Number(month[1]);
    const m = Number(month[2]) - 1;
    if (m > 11) return undefined;
    return { start: Date.UTC(year, m, 1), end: Date.UTC(year, m + 1, 1) };
  }
  const window = WINDOW_ID.exec(periodId);
  if (window && periodMinutes !== undefined) {
    const start = Date.parse(`${periodId.slice(0, 16)}:00Z`);
    if (Number.isNaN(start) || start % (periodMinutes * 60_000) !== 0) return undefined;
    return { start, end: start + periodMinutes * 60_000 };
  }
  return undefined;
}
