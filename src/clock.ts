// The edge's one clock. Request handlers, chores and (through the `now` their callers pass) the Durable Objects
// take the time from here, so a test can move all of them at once. With TEST_CLOCK = "true" (Worker tests, the
// end-to-end networks) the clock runs ahead of real time by an offset kept in D1 and advanced through
// POST /api/v1/admin/clock; otherwise it is real time and nothing is read. Timing that measures real elapsed time
// (latency, per-isolate cache freshness) keeps using Date.now() on purpose.

import { configOf } from "./config.ts";
import { openDb } from "./db/client.ts";
import { readClockOffset } from "./db/clock.ts";
import type { Env } from "./env.ts";

export interface Clock {
  /** How far this clock runs ahead of real time (always 0 unless TEST_CLOCK is on). */
  offsetMs: number;
  /** The edge's current time. */
  now(): Date;
  /** The edge's time at a real instant, e.g. a cron trigger's scheduledTime. */
  at(realMs: number): Date;
}

const REAL_TIME: Clock = { offsetMs: 0, now: () => new Date(), at: (realMs) => new Date(realMs) };

/** The clock of this env: real time, or real time plus the test offset when TEST_CLOCK is on. */
export async function clockOf(env: Env): Promise<Clock> {
  if (!configOf(env).testClock) return REAL_TIME;
  const offsetMs = await readClockOffset(openDb(env.DB));
  return { offsetMs, now: () => new Date(Date.now() + offsetMs), at: (realMs) => new Date(realMs + offsetMs) };
}

/** The edge's current time. */
export async function clockNow(env: Env): Promise<Date> {
  return (await clockOf(env)).now();
}

/** The edge's current time in ms since the epoch. */
export async function clockMs(env: Env): Promise<number> {
  return (await clockNow(env)).getTime();
}
