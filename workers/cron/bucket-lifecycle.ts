// Chore: applies every bucket's lifecycle rules (expiration by prefix/tag and age, abort incomplete multipart
// uploads) and, for all buckets, aborts multipart uploads older than MULTIPART_ABANDON_AFTER_HOURS.
// Blobs that no longer belong to anything are freed on their nodes.

import { configOf } from "../../src/config.ts";
import { bucketIndexFor } from "../../src/services/bucket-indexes.ts";
import { listAllBuckets } from "../../src/db/accounts.ts";
import { openDb } from "../../src/db/client.ts";
import type { Env } from "../../src/env.ts";
import { freeBlobs, type StorageEnv } from "../../src/services/blob-storage.ts";
import { replicasOf } from "../../src/services/object-model.ts";

export interface BucketLifecycleReport {
  chore: "bucket-lifecycle";
  buckets: number;
  expiredObjects: number;
  abortedUploads: number;
  freedBlobs: number;
}

export async function runOnce(env: Env, now: Date): Promise<BucketLifecycleReport> {
  const db = openDb(env.DB);
  const storage: StorageEnv = { db, kek: env.KEY_ENCRYPTION_KEY, offlineAfterMs: configOf(env).nodeOfflineAfterMs, now: now.getTime() };
  const abandonBefore = now.getTime() - configOf(env).multipartAbandonAfterMs;
  const report: BucketLifecycleReport = { chore: "bucket-lifecycle", buckets: 0, expiredObjects: 0, abortedUploads: 0, freedBlobs: 0 };

  for (const bucket of await listAllBuckets(db)) {
    const index = bucketIndexFor(env, bucket.id);
    const lifecycle = await index.applyLifecycle(now.getTime());
    const abandoned = await index.abortUploadsStartedBefore(abandonBefore);
    const uploads = [...lifecycle.aborted, ...abandoned];
    const replicas = [...lifecycle.freed.flatMap((r) => replicasOf(r.segments)), ...uploads.flatMap((u) => replicasOf(u.parts))];
    await freeBlobs(storage, replicas);
    report.buckets++;
    report.expiredObjects += lifecycle.expired.length;
    report.abortedUploads += uploads.length;
    report.freedBlobs += replicas.length;
  }
  return report;
}
