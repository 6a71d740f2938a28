// Paces byte streams to an average rate: the scrub's disk reads and repair pulls from peers. One limiter is
// shared by everything it caps, so N concurrent repairs together stay under the operator's bandwidth budget.

import { setTimeout as sleep } from "node:timers/promises";

export const MIB = 1024 * 1024;

/**
 * Credit a limiter may bank while idle. Small, so a capped stream never bursts far above its rate, but
 * enough to absorb timer lateness (setTimeout fires late, never early) without the average dropping below it.
 */
const MAX_BANKED_MS = 50;

export class ByteRateLimiter {
  private readonly bytesPerMs: number;
  private readonly clock: () => number;
  /** The moment at which every byte accounted so far has been "paid for" at the configured rate. */
  private paidUntil: number;

  constructor(bytesPerSecond: number, clock: () => number = () => performance.now()) {
    if (!(bytesPerSecond > 0)) throw new RangeError("a rate limit must be positive");
    this.bytesPerMs = bytesPerSecond / 1000;
    this.clock = clock;
    this.paidUntil = clock();
  }

  /** Accounts for `bytes` just moved and waits as long as needed to keep the average at or under the rate. */
  async consume(bytes: number, signal?: AbortSignal): Promise<void> {
    const now = this.clock();
    this.paidUntil = Math.max(this.paidUntil, now - MAX_BANKED_MS) + bytes / this.bytesPerMs;
    const wait = this.paidUntil - now;
    if (wait >= 1) await sleep(wait, undefined, { signal });
  }

  /** Like consume, but when the wait would be longer than `maxWaitMs` it accounts nothing and answers false at once. */
  async tryConsume(bytes: number, maxWaitMs: number, signal?: AbortSignal): Promise<boolean> {
    const now = this.clock();
    const paidUntil = Math.max(this.paidUntil, now - MAX_BANKED_MS) + bytes / this.bytesPerMs;
    if (paidUntil - now > maxWaitMs) return false;
    this.paidUntil = paidUntil;
    const wait = paidUntil - now;
    if (wait >= 1) await sleep(wait, undefined, { signal });
    return true;
  }
}

/**
 * Requests per second per caller (a remote address), each caller paced by its own limiter: a burst waits its turn,
 * and a request that would wait longer than `maxWaitMs` is refused, so one caller cannot queue unbounded work.
 * Memory is bounded: past `maxCallers`, the caller heard from least recently is forgotten.
 */
export class PerCallerLimiter {
  private readonly perSecond: number;
  private readonly maxWaitMs: number;
  private readonly maxCallers: number;
  private readonly callers = new Map<string, ByteRateLimiter>();

  constructor(perSecond: number, maxWaitMs: number, maxCallers = 10_000) {
    this.perSecond = perSecond;
    this.maxWaitMs = maxWaitMs;
    this.maxCallers = maxCallers;
  }

  /** Waits for this caller's turn; false when it would have to wait too long (nothing is accounted then). */
  async admit(caller: string): Promise<boolean> {
    let limiter = this.callers.get(caller);
    if (limiter === undefined) {
      limiter = new ByteRateLimiter(this.perSecond);
      if (this.callers.size >= this.maxCallers) this.callers.delete(this.callers.keys().next().value!);
    }
    this.callers.delete(caller);
    this.callers.set(caller, limiter);
    return limiter.tryConsume(1, this.maxWaitMs);
  }
}

/** A limiter for a MiB/s setting; undefined (no cap) when the setting is undefined. */
export function limiterForMiBps(mibps: number | undefined): ByteRateLimiter | undefined {
  return mibps === undefined ? undefined : new ByteRateLimiter(mibps * MIB);
}
