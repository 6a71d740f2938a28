// Chore: flushes metered usage to D1, at least hourly (its own cron, USAGE_FLUSH_CRON, and on demand through the
// admin chores route). For each bucket: the index seals its open counters into a batch and returns every batch not
// yet confirmed, D1 inserts them keyed by batch id (a batch already there inserts nothing), and only then does the
// index drop them. A crash at any point leaves a batch either pending in the index or in D1 and acknowledged
// later, never lost, never counted twice. Then each node's holding is integrated from placed_blobs up to now.

import { configOf } from "../../src/config.ts";
import { openDb } from "../../src/db/client.ts";
import { integrateNodeHolding, listMeteredBuckets, listNodeIds } from "../../src/db/usage.ts";
import type { Env } from "../../src/env.ts";
import { periodLocator } from "../../src/services/metering.ts";
import { flushBucketUsage } from "../../src/services/usage-flush.ts";

export { flushBucketUsage };

/** Top of every hour (UTC); the every-minute tick does not run this chore. */
export const USAGE_FLUSH_CRON = "0 * * * *";

export interface UsageFlushReport {
  chore: "usage-flush";
  buckets: number;
  batches: number;
  failedBuckets: number;
  nodes: number;
}

export async function runOnce(env: Env, now: Date): Promise<UsageFlushReport> {
  const db = openDb(env.DB);
  const report: UsageFlushReport = { chore: "usage-flush", buckets: 0, batches: 0, failedBuckets: 0, nodes: 0 };
  for (const bucket of await listMeteredBuckets(db)) {
    try {
      report.batches += await flushBucketUsage(env, db, bucket, now.getTime());
      report.buckets++;
    } catch (error) {
      // Its batches stay pending in its index; the next run sends them again.
      report.failedBuckets++;
      console.error(JSON.stringify({ event: "usage_flush_failed", bucket: bucket.name, error: String(error) }));
    }
  }
  const periodOf = periodLocator(configOf(env).finance.periodMinutes);
  for (const nodeId of await listNodeIds(db)) {
    await integrateNodeHolding(db, nodeId, now.getTime(), periodOf);
    report.nodes++;
  }
  return report;
}

