// Bucket keys (SSE-S3): one per bucket, generated with the bucket, kept in D1 wrapped by a master key, and
// re-wrapped (never regenerated) when the master key rotates. Deleting the bucket row destroys the key.

import { and, eq, isNull, or, sql } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { buckets } from "../db/schema.ts";
import { generateBucketKey, rewrapBucketKey, unwrapBucketKey, type BucketKey, type MasterKeyRing } from "./crypto/keys.ts";
import { TtlCache } from "./ttl-cache.ts";

/**
 * Unwrapped bucket keys, per isolate, by bucket id and wrapped form. A re-wrapped key gets a new entry; the
 * old one only ages out. A deleted bucket's key can outlive it here by at most this long, in memory only.
 */
const UNWRAPPED_TTL_MS = 60_000;
const unwrapped = new TtlCache<string, BucketKey>(UNWRAPPED_TTL_MS);

/** A fresh wrapped bucket key for a bucket about to be created. */
export async function newWrappedBucketKey(ring: MasterKeyRing, bucketId: string): Promise<string> {
  return (await generateBucketKey(ring, bucketId)).wrapped;
}

/**
 * The bucket's key. A bucket from before edge encryption gets one now: the first writer's key is stored only
 * where none is yet, so concurrent first writes agree on one key.
 */
export async function bucketKeyFor(db: Db, ring: MasterKeyRing, bucket: { id: string; wrappedKey: string | null }): Promise<BucketKey> {
  let wrapped = bucket.wrappedKey;
  if (wrapped === null) {
    await db
      .update(buckets)
      .set({ wrappedKey: await newWrappedBucketKey(ring, bucket.id) })
      .where(and(eq(buckets.id, bucket.id), isNull(buckets.wrappedKey)));
    const row = await db.select({ wrappedKey: buckets.wrappedKey }).from(buckets).where(eq(buckets.id, bucket.id)).get();
    if (!row?.wrappedKey) throw new Error(`bucket ${bucket.id} no longer exists`);
    wrapped = row.wrappedKey;
  }
  const opened = wrapped;
  return (await unwrapped.get(`${bucket.id}:${opened}`, Date.now(), () => unwrapBucketKey(ring, opened, bucket.id)))!;
}

export interface RewrapProgress {
  /** Bucket keys re-wrapped by this run. */
  rewrapped: number;
  /** Bucket keys still wrapped by an older master key. */
  remaining: number;
  /** Bucket keys under an older configured master key that did not open (tampered; never overwritten). */
  failed: { bucketId: string; error: string }[];
}

/**
 * Master-key rotation, one batch: re-wraps up to `limit` bucket keys wrapped by an older configured master key.
 * Keys under a master key that is no longer configured cannot be opened and are not attempted (the admin
 * encryption status lists them), so they never hold up the rotation of the others.
 */
export async function rewrapBucketKeys(db: Db, ring: MasterKeyRing, limit: number): Promise<RewrapProgress> {
  const progress: RewrapProgress = { rewrapped: 0, remaining: 0, failed: [] };
  const older = [...ring.byId.keys()].filter((id) => id !== ring.newest.id);
  if (older.length === 0) return progress;
  const stale = or(...older.map((id) => wrappedBy(id)));
  const batch = await db.select({ id: buckets.id, wrappedKey: buckets.wrappedKey }).from(buckets).where(stale).limit(limit).all();
  for (const row of batch) {
    try {
      const rewrapped = await rewrapBucketKey(ring, row.wrappedKey!, row.id);
      // Only over the exact value read: a concurrent rotation run never loses a write.
      await db.update(buckets).set({ wrappedKey: rewrapped }).where(and(eq(buckets.id, row.id), eq(buckets.wrappedKey, row.wrappedKey!)));
      progress.rewrapped++;
    } catch (error) {
      progress.failed.push({ bucketId: row.id, error: String(error) });
    }
  }
  const left = await db.select({ n: sql<number>`count(*)` }).from(buckets).where(stale).get();
  progress.remaining = left?.n ?? 0;
  return progress;
}

/** Bucket keys wrapped by master key `id` (a prefix compare: ids may contain LIKE's wildcard `_`). */
function wrappedBy(id: string) {
  const prefix = `v1.${id}.`;
  return sql`substr(${buckets.wrappedKey}, 1, ${prefix.length}) = ${prefix}`;
}

/** How many bucket keys each master key wraps (by the key id in the wrapped form), for rotation status. */
export async function bucketKeysByMasterKey(db: Db): Promise<Record<string, number>> {
  const keyId = sql<string>`substr(${buckets.wrappedKey}, 4, instr(substr(${buckets.wrappedKey}, 4), '.') - 1)`;
  const rows = await db
    .select({ keyId, n: sql<number>`count(*)` })
    .from(buckets)
    .where(sql`${buckets.wrappedKey} IS NOT NULL`)
    .groupBy(keyId)
    .all();
  return Object.fromEntries(rows.map((r) => [r.keyId, r.n]));
}
