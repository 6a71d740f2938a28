// Moving one bucket's metered usage from its index to D1 (the index keeps a batch until D1 has it): shared by the
// usage-flush chore, the settlement's close step and DeleteBucket.

import type { Db } from "../db/client.ts";
import { writeUsageBatches, type MeteredBucket } from "../db/usage.ts";
import type { Env } from "../env.ts";
import { bucketIndexFor } from "./bucket-indexes.ts";

/**
 * Seals, writes and acknowledges one bucket's usage; returns how many batches it wrote (again). The flush chore
 * runs it for every bucket; DeleteBucket runs it before the bucket's row goes, or its last usage would be lost.
 */
export async function flushBucketUsage(env: Env, db: Db, bucket: MeteredBucket, now: number): Promise<number> {
  const index = bucketIndexFor(env, bucket.id);
  const batches = await index.sealUsage(now);
  if (batches.length === 0) return 0;
  await writeUsageBatches(db, bucket, batches, now);
  await index.ackUsage(batches.map((b) => b.batchId));
  return batches.length;
}
