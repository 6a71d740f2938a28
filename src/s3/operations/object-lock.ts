// Object Lock operations: Get/PutObjectLockConfiguration (?object-lock on a bucket), Get/PutObjectRetention
// (?retention) and Get/PutObjectLegalHold (?legal-hold), and what the write operations ask of Object Lock.
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html

import { recordS3Change, s3Arn } from "../../db/access-audit.ts";
import type { BucketRow } from "../../db/schema.ts";
import type { ObjectLock } from "../../services/object-model.ts";
import { authorize, authorizedBucket, bucketIndex } from "../bucket-access.ts";
import type { S3Context } from "../context.ts";
import { S3Error } from "../errors.ts";
import {
  BUCKET_NOT_LOCKED_MESSAGE,
  bypassRequested,
  LOCK_LEGAL_HOLD_HEADER,
  LOCK_MODE_HEADER,
  LOCK_RETAIN_UNTIL_HEADER,
  lockFromHeaders,
  OBJECT_LOCK_CONFIG,
  OBJECT_LOCKED_MESSAGE,
  objectLockConfigurationXml,
  parseLegalHoldXml,
  parseObjectLockConfiguration,
  parseRetentionXml,
  requireIntegrityHeader,
  type BucketObjectLock,
} from "../object-lock.ts";
import type { LockChangeFailure } from "../../../workers/durable/bucket-index/lock.ts";
import { readDocumentBody } from "../payload.ts";
import { isoTime, xmlResponse } from "../respond.ts";
import { readVersion } from "./objects.ts";

export async function getObjectLockConfigurationOp(ctx: S3Context, name: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, name);
  const config = await bucketIndex(ctx, bucket).getConfig(OBJECT_LOCK_CONFIG);
  if (!config) throw new S3Error("ObjectLockConfigurationNotFoundError", undefined, { BucketName: name });
  return xmlResponse("ObjectLockConfiguration", objectLockConfigurationXml(config));
}

/**
 * PutObjectLockConfiguration. It turns Object Lock on for a bucket whose versioning is Enabled (S3 allows this on
 * existing buckets since 2023; InvalidBucketState otherwise) and sets or removes the default retention. Object
 * Lock cannot be turned off again.
 */
export async function putObjectLockConfigurationOp(ctx: S3Context, name: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, name);
  requireIntegrityHeader(ctx.request.headers, "this request");
  const config = parseObjectLockConfiguration(await readDocumentBody(ctx.request, ctx.principal));
  const change = await bucketIndex(ctx, bucket).putObjectLockConfiguration(config);
  if (!change.ok) {
    throw new S3Error("InvalidBucketState", "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration", { BucketName: name });
  }
  await recordLockChange(ctx, bucket, "PutObjectLockConfiguration", s3Arn(bucket.name), change.before, config);
  return new Response(null, { status: 200 });
}

export async function getObjectRetentionOp(ctx: S3Context, bucketName: string, key: string): Promise<Response> {
  const { lock } = await lockedVersion(ctx, bucketName, key);
  if (lock?.mode === undefined || lock.retainUntil === undefined) throw new S3Error("NoSuchObjectLockConfiguration");
  return xmlResponse("Retention", { Mode: lock.mode, RetainUntilDate: isoTime(lock.retainUntil) });
}

/**
 * PutObjectRetention: extending is open to anyone allowed to call it; shortening or removing a GOVERNANCE
 * retention needs x-amz-bypass-governance-retention, and a COMPLIANCE one cannot be shortened by anyone.
 */
export async function putObjectRetentionOp(ctx: S3Context, bucketName: string, key: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, bucketName);
  requireIntegrityHeader(ctx.request.headers, "this request");
  const retention = parseRetentionXml(await readDocumentBody(ctx.request, ctx.principal), ctx.now.getTime());
  // The index checks the rules and applies the change in one call, and answers with the lock it replaced.
  const result = await bucketIndex(ctx, bucket).setRetention(key, versionIdParam(ctx), retention, ctx.now.getTime(), await governanceBypass(ctx, bucket.name, key));
  if (!result.ok) answerLockRefusal(ctx, result.code, key);
  else await recordLockChange(ctx, bucket, "PutObjectRetention", s3Arn(bucket.name, key), retentionEntry(result.versionId, result.before), retentionEntry(result.versionId, result.after));
  return new Response(null, { status: 200 });
}

export async function getObjectLegalHoldOp(ctx: S3Context, bucketName: string, key: string): Promise<Response> {
  const { lock } = await lockedVersion(ctx, bucketName, key);
  if (lock?.legalHold === undefined) throw new S3Error("NoSuchObjectLockConfiguration");
  return xmlResponse("LegalHold", { Status: lock.legalHold ? "ON" : "OFF" });
}

export async function putObjectLegalHoldOp(ctx: S3Context, bucketName: string, key: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, bucketName);
  requireIntegrityHeader(ctx.request.headers, "this request");
  const on = parseLegalHoldXml(await readDocumentBody(ctx.request, ctx.principal));
  const result = await bucketIndex(ctx, bucket).setLegalHold(key, versionIdParam(ctx), on);
  if (!result.ok) answerLockRefusal(ctx, result.code, key);
  else {
    const entry = (lock: ObjectLock) => ({ versionId: result.versionId, legalHold: lock.legalHold === true });
    await recordLockChange(ctx, bucket, "PutObjectLegalHold", s3Arn(bucket.name, key), entry(result.before), entry(result.after));
  }
  return new Response(null, { status: 200 });
}

/** The version a retention or legal-hold read names, in a bucket that has Object Lock. */
async function lockedVersion(ctx: S3Context, bucketName: string, key: string): Promise<{ lock: ObjectLock | undefined }> {
  const bucket = authorizedBucket(ctx, bucketName);
  if (!(await bucketLock(ctx, bucket))) throw new S3Error("InvalidRequest", BUCKET_NOT_LOCKED_MESSAGE);
  const record = await readVersion(ctx, bucket, key, versionIdParam(ctx));
  return { lock: record.lock };
}

/** A version's retention as the audit log shows it; null when it has none. */
function retentionEntry(versionId: string, lock: ObjectLock): { versionId: string; mode: string; retainUntil: string } | null {
  return lock.mode !== undefined && lock.retainUntil !== undefined ? { versionId, mode: lock.mode, retainUntil: isoTime(lock.retainUntil) } : null;
}

/** Object Lock changes are access-control changes too: who may delete what, and until when. */
function recordLockChange(ctx: S3Context, bucket: BucketRow, action: string, target: string, before: unknown, after: unknown): Promise<void> {
  return recordS3Change(ctx, { accountId: bucket.accountId, action, target, before, after });
}

function answerLockRefusal(ctx: S3Context, code: LockChangeFailure, key: string): never {
  const versionId = versionIdParam(ctx);
  switch (code) {
    case "InvalidRequest":
      throw new S3Error("InvalidRequest", BUCKET_NOT_LOCKED_MESSAGE);
    case "AccessDenied":
      throw new S3Error("AccessDenied", OBJECT_LOCKED_MESSAGE);
    case "NoSuchKey":
      throw new S3Error("NoSuchKey", undefined, { Key: key });
    case "NoSuchVersion":
      throw new S3Error("NoSuchVersion", undefined, { Key: key, VersionId: versionId ?? "" });
    case "MethodNotAllowed":
      throw new S3Error("MethodNotAllowed", undefined, { Method: ctx.request.method, ResourceType: "DeleteMarker" });
  }
}

function versionIdParam(ctx: S3Context): string | undefined {
  return ctx.query.get("versionId") ?? undefined;
}

/**
 * x-amz-bypass-governance-retention as this request may use it: S3 honours it only for a caller granted
 * s3:BypassGovernanceRetention on the object (the bucket's owner, unless its policy denies it; another account when
 * the policy allows it). Without the permission the header changes nothing, so a protected version stays protected.
 */
export async function governanceBypass(ctx: S3Context, bucketName: string, key: string): Promise<boolean> {
  if (!bypassRequested(ctx.request.headers)) return false;
  try {
    await authorize(ctx, "s3:BypassGovernanceRetention", bucketName, key);
    return true;
  } catch (error) {
    if (error instanceof S3Error && error.code === "AccessDenied") return false;
    throw error;
  }
}

export function bucketLock(ctx: S3Context, bucket: BucketRow): Promise<BucketObjectLock | null> {
  return bucketIndex(ctx, bucket).getConfig(OBJECT_LOCK_CONFIG);
}

/** True when the request (headers, or a POST form's fields) names any x-amz-object-lock-* setting. */
function namesLock(fields: Headers): boolean {
  return fields.has(LOCK_MODE_HEADER) || fields.has(LOCK_RETAIN_UNTIL_HEADER) || fields.has(LOCK_LEGAL_HOLD_HEADER);
}

/**
 * The Object Lock a write asks for, checked against the bucket (a bucket without Object Lock refuses lock
 * headers). With `body`, the write uploads bytes that Object Lock will protect (lock headers, or the bucket's
 * default retention), and S3 then requires Content-MD5 or a checksum. The bucket's configuration is read only when
 * it can change the answer: a request with no lock headers that proves its body anyway needs nothing from it (the
 * bucket index applies the default retention at commit).
 */
export async function lockForWrite(ctx: S3Context, bucket: BucketRow, fields: Headers, body: boolean): Promise<ObjectLock | undefined> {
  const named = namesLock(fields);
  let proven = true;
  if (body) {
    try {
      requireIntegrityHeader(ctx.request.headers);
    } catch {
      proven = false;
    }
  }
  if (!named && proven) return undefined;
  const config = await bucketLock(ctx, bucket);
  const lock = lockFromHeaders(fields, config, ctx.now.getTime());
  if (body && (lock || config?.defaultRetention)) requireIntegrityHeader(ctx.request.headers);
  return lock;
}
