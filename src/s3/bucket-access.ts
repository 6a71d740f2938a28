// Bucket lookups with ownership enforced: one account never sees or touches another's buckets.

import { bucketIndexFor } from "../services/bucket-indexes.ts";
import { meteredIndex } from "../services/metering.ts";
import { getBucket as readBucket } from "../db/accounts.ts";
import type { Db } from "../db/client.ts";
import { TtlCache } from "../services/ttl-cache.ts";
import type { BucketRow } from "../db/schema.ts";
import type { S3Context } from "./context.ts";
import { S3Error } from "./errors.ts";
import { parseCopySource } from "./object-headers.ts";
import type { S3Op } from "./router.ts";

/**
 * Bucket rows by name, per isolate. Create and delete in this isolate update it at once; another isolate may
 * see a deleted bucket for up to this long, but a recreated bucket gets a new id (a new index), so a stale
 * entry can never reach another account's objects.
 */
const BUCKET_CACHE_TTL_MS = 5_000;
const bucketRows = new TtlCache<string, BucketRow>(BUCKET_CACHE_TTL_MS);

export function getBucket(db: Db, name: string): Promise<BucketRow | undefined> {
  return bucketRows.get(name, Date.now(), () => readBucket(db, name));
}

export function forgetBucket(name: string): void {
  bucketRows.delete(name);
}

/** The caller's account; anonymous callers are refused. */
export function requireAccount(ctx: S3Context): string {
  if (ctx.principal.accountId === null) throw new S3Error("AccessDenied", "Anonymous access is not allowed for this operation.");
  return ctx.principal.accountId;
}

/** A bucket the caller owns. */
export async function requireOwnedBucket(ctx: S3Context, name: string): Promise<BucketRow> {
  const bucket = await getBucket(ctx.db, name);
  if (!bucket) throw new S3Error("NoSuchBucket", undefined, { BucketName: name });
  // S3 answers AccessDenied, not NoSuchBucket, for a bucket that exists under another account.
  if (bucket.accountId !== ctx.principal.accountId) throw new S3Error("AccessDenied");
  return bucket;
}

/**
 * x-amz-expected-bucket-owner (and x-amz-source-expected-bucket-owner for a copy's source): the caller states
 * which account must own the bucket, and S3 answers 403 AccessDenied when another does, so a request meant for
 * one's own bucket never lands in a same-named bucket of someone else. The value is the owner's account id,
 * as ListBuckets and GetBucketAcl report it in Owner/ID.
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-owner-condition.html
 * A bucket that does not exist is left to the operation (NoSuchBucket).
 */
export async function checkExpectedBucketOwners(ctx: S3Context, op: S3Op): Promise<void> {
  if (op.op === "ListBuckets" || op.op === "CreateBucket") return;
  const headers = ctx.request.headers;
  await checkOwner(ctx, op.bucket, headers.get("x-amz-expected-bucket-owner"));
  const sourceOwner = headers.get("x-amz-source-expected-bucket-owner");
  const copySource = headers.get("x-amz-copy-source");
  if ((op.op === "CopyObject" || op.op === "UploadPartCopy") && sourceOwner !== null && copySource !== null) {
    await checkOwner(ctx, parseCopySource(copySource).bucket, sourceOwner);
  }
}

async function checkOwner(ctx: S3Context, name: string, expected: string | null): Promise<void> {
  if (expected === null) return;
  const bucket = await getBucket(ctx.db, name);
  if (bucket && bucket.accountId !== expected.trim()) throw new S3Error("AccessDenied");
}

/** Canned ACLs a bucket can carry (x-amz-acl); "public-read" lets anyone list and read it. */
export const BUCKET_ACLS = ["private", "public-read"] as const;
export type BucketAcl = (typeof BUCKET_ACLS)[number];
export const ACL_CONFIG = "acl";

/**
 * A bucket the caller may read: its own, or (for anyone, signed in or not) one its owner made public-read.
 * Nothing else is ever served anonymously.
 */
export async function requireReadableBucket(ctx: S3Context, name: string): Promise<BucketRow> {
  const bucket = await getBucket(ctx.db, name);
  if (!bucket) throw new S3Error("NoSuchBucket", undefined, { BucketName: name });
  if (bucket.accountId === ctx.principal.accountId) return bucket;
  // Not metered: a stranger's refused read is not billed to the bucket's owner.
  const acl = await bucketIndexFor(ctx.env, bucket.id).getConfig(ACL_CONFIG);
  if (acl !== "public-read") throw new S3Error("AccessDenied");
  return bucket;
}

/** The bucket's index; calls to the index of the bucket the request names carry its usage report. */
export function bucketIndex(ctx: S3Context, bucket: BucketRow) {
  return meteredIndex(bucketIndexFor(ctx.env, bucket.id), bucket, ctx.meter);
}

/** Bucket naming rules: https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html */
export function validateBucketName(name: string): void {
  const valid =
    name.length >= 3 &&
    name.length <= 63 &&
    /^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(name) &&
    !name.includes("..") &&
    !/^\d+\.\d+\.\d+\.\d+$/.test(name) &&
    !name.startsWith("xn--") &&
    !name.startsWith("sthree-") &&
    !name.endsWith("-s3alias") &&
    !name.endsWith("--ol-s3");
  if (!valid) throw new S3Error("InvalidBucketName", undefined, { BucketName: name });
}
