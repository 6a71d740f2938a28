import { configOf } from "../../config.ts";
import type { BucketRow } from "../../db/schema.ts";
import type { StorageEnv, StorageTarget } from "../../services/blob-storage.ts";
import type { S3Context } from "../context.ts";

/** The blob-storage view of a request: registry, secrets, liveness window and the request's clock. */
export function storageEnv(ctx: S3Context): StorageEnv {
  return {
    db: ctx.db,
    kek: ctx.env.KEY_ENCRYPTION_KEY,
    offlineAfterMs: configOf(ctx.env).nodeOfflineAfterMs,
    now: ctx.now.getTime(),
  };
}

/** Where a bucket's new segments go: blob ids carry its id, and it sets how many replicas each needs. */
export function storageTarget(bucket: BucketRow): StorageTarget {
  return { bucketId: bucket.id, replicationFactor: bucket.replicationFactor };
}
