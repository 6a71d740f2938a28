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
}

/** A limiter for a MiB/s setting; undefined (no cap) when the setting is undefined. */
export function limiterForMiBps(mibps: number | undefined): ByteRateLimiter | undefined {
  return mibps === undefined ? undefined : new ByteRateLimiter(mibps * MIB);
}
