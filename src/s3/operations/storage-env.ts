import { configOf } from "../../config.ts";
import { NO_ERASURE_CODE, type BucketRow } from "../../db/schema.ts";
import { parseErasureCode } from "../../protocol/piece-layout.ts";
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

/**
 * Where a bucket's new segments go and in what form: blob ids carry its id; its erasure code (the edge's default
 * unless the bucket chose one, or chose replication with "none"), and its replication factor for segments that
 * are replicated.
 */
export function storageTarget(ctx: S3Context, bucket: BucketRow): StorageTarget {
  const config = configOf(ctx.env);
  const erasure = bucket.erasureCode === null ? config.erasureCode : bucket.erasureCode === NO_ERASURE_CODE ? undefined : parseErasureCode(bucket.erasureCode);
  return {
    bucketId: bucket.id,
    replicationFactor: bucket.replicationFactor,
    erasure,
    erasureExtraPieces: config.erasureWriteExtraPieces,
    inlineMaxBytes: config.inlineObjectMaxBytes,
  };
}
