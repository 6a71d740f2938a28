// Fires the Worker's cron triggers locally, as Cloudflare does in production: neither Miniflare nor `wrangler dev`
// does, so without this repair, liveness, lifecycle and the other chores run only when an admin asks. At the start
// of each UTC minute a configured expression matches, the Worker's `scheduled` handler is called with that cron and
// that minute as its scheduledTime. How it is called is the caller's `dispatch` (the local edge: an HTTP request to
// Miniflare's trigger endpoint on the Worker's own port, see `triggerEndpointDispatch`).

import { cronMatches, nextCronTime, parseCron, type CronSchedule } from "./cron.ts";

/** Calls the Worker's scheduled handler once; resolves to its outcome ("ok", "exception", ...). */
export type ScheduledDispatch = (cron: string, scheduledTime: Date, signal: AbortSignal) => Promise<string>;

export interface CronDispatcherOptions {
  /** The expressions of wrangler.toml's `[triggers] crons`. */
  crons: string[];
  dispatch: ScheduledDispatch;
  /** One line per dispatch (and per skipped or failed one). */
  log: (line: string) => void;
  /**
   * For tests: fire every expression every `everyMs` instead of on its schedule (a compressed clock for chores
   * that would otherwise wait for the minute). scheduledTime is then the real time of the tick.
   */
  everyMs?: number;
}

export class CronDispatcher {
  private readonly schedules: CronSchedule[];
  private readonly options: CronDispatcherOptions;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private readonly abort = new AbortController();
  /** Dispatches still running, by cron: a tick that finds its cron still running is skipped, not stacked. */
  private readonly inFlight = new Map<string, Promise<void>>();

  constructor(options: CronDispatcherOptions) {
    this.options = options;
    this.schedules = options.crons.map(parseCron);
  }

  start(): void {
    if (this.schedules.length === 0) return;
    this.options.log(
      this.options.everyMs
        ? `cron: dispatching ${this.options.crons.join(", ")} every ${this.options.everyMs} ms (test tick)`
        : `cron: dispatching ${this.options.crons.join(", ")} on schedule (UTC)`,
    );
    this.scheduleNext();
  }

  /** No further dispatch starts; one in flight is aborted and waited for. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.abort.abort();
    await Promise.allSettled(this.inFlight.values());
  }

  private scheduleNext(): void {
    if (this.stopped) return;
    const now = Date.now();
    let at: number;
    let due: CronSchedule[];
    if (this.options.everyMs) {
      at = now + this.options.everyMs;
      due = this.schedules;
    } else {
      const next = this.schedules
        .map((s) => nextCronTime(s, new Date(now)))
        .filter((d): d is Date => d !== undefined)
        .reduce<number | undefined>((min, d) => (min === undefined || d.getTime() < min ? d.getTime() : min), undefined);
      if (next === undefined) return; // nothing ever matches (e.g. Feb 31)
      at = next;
      due = this.schedules.filter((s) => cronMatches(s, new Date(next)));
    }
    // Timers are capped near 24.8 days; a far trigger is reached in hops.
    const wait = Math.min(at - now, 2 ** 31 - 1);
    this.timer = setTimeout(() => {
      if (Date.now() < at - 5) return this.scheduleNext();
      // With a test tick, scheduledTime is now; on schedule, the minute the trigger was for (as Cloudflare passes).
      const scheduledTime = new Date(this.options.everyMs ? Date.now() : at);
      for (const schedule of due) this.fire(schedule.expression, scheduledTime);
      this.scheduleNext();
    }, wait);
    // A dispatcher alone never keeps the process alive.
    this.timer.unref();
  }

  private fire(cron: string, scheduledTime: Date): void {
    if (this.inFlight.has(cron)) {
      this.options.log(`cron: "${cron}" at ${scheduledTime.toISOString()} skipped: the previous dispatch is still running`);
      return;
    }
    const started = Date.now();
    const run = this.options
      .dispatch(cron, scheduledTime, this.abort.signal)
      .then(
        (outcome) => this.options.log(`cron: dispatched "${cron}" scheduledTime ${scheduledTime.toISOString()}: ${outcome} in ${Date.now() - started} ms`),
        (error: unknown) => {
          if (!this.stopped) this.options.log(`cron: dispatching "${cron}" at ${scheduledTime.toISOString()} failed: ${(error as Error).message ?? error}`);
        },
      )
      .finally(() => this.inFlight.delete(cron));
    this.inFlight.set(cron, run);
  }
}

/**
 * Miniflare's trigger endpoint (edge-runtime.ts turns it on; wrangler 4's dev server always has it)
 * `GET /cdn-cgi/local/scheduled?cron=…&time=<ms>&format=json`, which runs the Worker's scheduled handler with that
 * cron and scheduledTime and answers `{ outcome }` (200 when "ok", 500 otherwise). Only the launcher reaches it: the
 * front proxy keeps /cdn-cgi/ to itself, as Cloudflare's edge does.
 */
export function triggerEndpointDispatch(workerUrl: () => string): ScheduledDispatch {
  return async (cron, scheduledTime, signal) => {
    const url = new URL("/cdn-cgi/local/scheduled", workerUrl());
    url.search = new URLSearchParams({ cron, time: String(scheduledTime.getTime()), format: "json" }).toString();
    const res = await fetch(url, { signal });
    const text = await res.text();
    try {
      return (JSON.parse(text) as { outcome?: string }).outcome ?? `HTTP ${res.status} ${text.slice(0, 200)}`;
    } catch {
      return `HTTP ${res.status} ${text.slice(0, 200)}`;
    }
  };
}
