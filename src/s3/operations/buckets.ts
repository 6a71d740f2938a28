// Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation.

import { configOf } from "../../config.ts";
import { recordS3Change, s3Arn } from "../../db/access-audit.ts";
import { deleteBucketRow, insertBucket, listBuckets } from "../../db/accounts.ts";
import { randomHex } from "../../protocol/crypto.ts";
import { formatErasureCode, parseErasureCode, type ErasureCode } from "../../protocol/piece-layout.ts";
import { NO_ERASURE_CODE } from "../../db/schema.ts";
import { newWrappedBucketKey } from "../../services/bucket-keys.ts";
import { parseMasterKeyRing } from "../../services/crypto/keys.ts";
import { ACL_CONFIG, accessControlsOf, OWNERSHIP_CONFIG, bucketIndex, checkAclAllowed, checkGranteesExist, forgetBucket, getBucket, requireAccount, authorizedBucket, validateBucketName } from "../bucket-access.ts";
import { aclFromHeaders, cannedGrants, describeAcl } from "../access/acl.ts";
import { parseObjectOwnership, type ObjectOwnership } from "../access/bucket-controls.ts";
import { corsXml, parseCorsXml } from "../cors.ts";
import { objectLockRequested } from "../object-lock.ts";
import { lifecycleXml, parseLifecycleXml } from "../lifecycle-xml.ts";
import { LIFECYCLE_CONFIG } from "../../services/lifecycle.ts";
import type { S3Context } from "../context.ts";
import { S3Error } from "../errors.ts";
import { flushBucketUsage } from "../../services/usage-flush.ts";
import { readDocumentBody } from "../payload.ts";
import { isoTime, xmlResponse } from "../respond.ts";
import { parseTaggingXml, taggingXml } from "../tagging.ts";
import { childText, parseXml, toXmlText } from "../xml.ts";

/** ListBuckets, with the optional pagination S3 added in 2024 (max-buckets, continuation-token, prefix). */
export async function listBucketsOp(ctx: S3Context): Promise<Response> {
  const q = ctx.query;
  const maxRaw = q.get("max-buckets");
  if (maxRaw !== null && (!/^\d+$/.test(maxRaw) || Number(maxRaw) < 1 || Number(maxRaw) > 10_000)) {
    throw new S3Error("InvalidArgument", "max-buckets must be an integer between 1 and 10000", { ArgumentName: "max-buckets", ArgumentValue: maxRaw });
  }
  const prefix = q.get("prefix") ?? "";
  const after = q.get("continuation-token") ?? "";
  const region = q.get("bucket-region");
  const accountId = requireAccount(ctx);
  const all = (await listBuckets(ctx.db, accountId)).filter(
    (b) => b.name.startsWith(prefix) && b.name > after && (region === null || b.region === region),
  );
  const limit = maxRaw === null ? all.length : Number(maxRaw);
  const page = all.slice(0, limit);
  return xmlResponse("ListAllMyBucketsResult", {
    Owner: { ID: accountId, DisplayName: accountId },
    Buckets: { Bucket: page.map((b) => ({ Name: b.name, CreationDate: isoTime(b.createdAt), BucketRegion: b.region })) },
    // Bucket names are unique and ordered, so the last one returned is a sound continuation token.
    ContinuationToken: all.length > page.length ? page[page.length - 1]!.name : undefined,
    Prefix: q.has("prefix") ? prefix : undefined,
  });
}

export async function createBucketOp(ctx: S3Context, name: string): Promise<Response> {
  const accountId = requireAccount(ctx);
  validateBucketName(name);
  const acl = aclFromHeaders(ctx.request.headers, accountId, accountId, "bucket") ?? { canned: "private", grants: cannedGrants("private", accountId, accountId, "bucket") };
  const ownershipHeader = ctx.request.headers.get("x-amz-object-ownership");
  const ownership: ObjectOwnership | null = ownershipHeader === null ? null : parseObjectOwnership(ownershipHeader, "x-amz-object-ownership");
  // A new bucket has no Block Public Access yet; with ACLs disabled only the owner's full control is accepted.
  checkAclAllowed({ ownership, publicAccessBlock: null }, acl, accountId);
  await checkGranteesExist(ctx, acl);
  const replicationFactor = replicationFactorFrom(ctx.request.headers);
  const erasureCode = erasureCodeFrom(ctx.request.headers);
  const lockEnabled = objectLockRequested(ctx.request.headers);
  const body = await readDocumentBody(ctx.request, ctx.principal);
  if (body.trim() !== "") {
    const doc = parseXml(body);
    if (!doc || doc.name !== "CreateBucketConfiguration") throw new S3Error("MalformedXML");
    const constraint = childText(doc, "LocationConstraint");
    const regions = configOf(ctx.env).s3Regions;
    if (constraint && !regions.includes(constraint)) {
      throw new S3Error("InvalidLocationConstraint", `The specified location-constraint '${constraint}' is not valid for this endpoint.`);
    }
  }
  const id = randomHex(16);
  const inserted = await insertBucket(ctx.db, {
    name,
    id,
    accountId,
    region: ctx.region,
    createdAt: ctx.now.getTime(),
    replicationFactor,
    erasureCode,
    // The bucket key exists from the start; deleting the bucket row destroys it (crypto-erase).
    wrappedKey: await newWrappedBucketKey(await parseMasterKeyRing(ctx.env.MASTER_KEYS), id),
  });
  if (!inserted) {
    const existing = await getBucket(ctx.db, name);
    if (existing?.accountId !== accountId) throw new S3Error("BucketAlreadyExists", undefined, { BucketName: name });
    // "Amazon S3 returns this error in all AWS Regions except in the North Virginia Region. For legacy
    // compatibility, if you re-create an existing bucket that you already own in the North Virginia Region, Amazon
    // S3 returns 200 OK and resets the bucket access control lists (ACLs)."
    // (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CreateBucket.html, BucketAlreadyOwnedByYou)
    if (existing.region !== "us-east-1") throw new S3Error("BucketAlreadyOwnedByYou", undefined, { BucketName: name });
    const before = (await accessControlsOf(ctx.env, existing)).acl;
    if (acl.canned === "private") await bucketIndex(ctx, existing).deleteConfig(ACL_CONFIG);
    else await bucketIndex(ctx, existing).setConfig(ACL_CONFIG, acl);
    await recordS3Change(ctx, { accountId: existing.accountId, action: "CreateBucket", target: s3Arn(name), before: describeAcl(before), after: describeAcl(acl) });
    return new Response(null, { status: 200, headers: { location: `/${name}` } });
  }
  if (acl.canned !== "private") await bucketIndex(ctx, (await getBucket(ctx.db, name))!).setConfig(ACL_CONFIG, acl);
  if (ownership !== null) {
    await bucketIndex(ctx, (await getBucket(ctx.db, name))!).setConfig(OWNERSHIP_CONFIG, ownership);
    await recordS3Change(ctx, { accountId, action: "CreateBucket", target: s3Arn(name), before: null, after: { objectOwnership: ownership } });
  }
  if (lockEnabled) {
    // "Enables Object Lock ... also automatically enables versioning" (API_CreateBucket, x-amz-bucket-object-lock-enabled).
    const index = bucketIndex(ctx, (await getBucket(ctx.db, name))!);
    await index.setVersioning("Enabled");
    await index.putObjectLockConfiguration({ enabled: true });
  }
  await recordS3Change(ctx, { accountId, action: "CreateBucket", target: s3Arn(name), before: null, after: describeAcl(acl) });
  return new Response(null, { status: 200, headers: { location: `/${name}` } });
}

export async function headBucketOp(ctx: S3Context, name: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, name);
  const code = bucket.erasureCode ?? formatErasureCode(configOf(ctx.env).erasureCode);
  return new Response(null, {
    status: 200,
    headers: { "x-amz-bucket-region": bucket.region, [REPLICATION_FACTOR_HEADER]: String(bucket.replicationFactor), [ERASURE_CODE_HEADER]: code },
  });
}

export async function deleteBucketOp(ctx: S3Context, name: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, name);
  if (!(await bucketIndex(ctx, bucket).isEmpty())) throw new S3Error("BucketNotEmpty", undefined, { BucketName: name });
  // Its usage since the last flush goes to D1 first: the flush chore only finds buckets that still have a row.
  await flushBucketUsage(ctx.env, ctx.db, bucket, ctx.now.getTime());
  await deleteBucketRow(ctx.db, name);
  forgetBucket(name);
  return new Response(null, { status: 204 });
}

export async function getBucketLocationOp(ctx: S3Context, name: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, name);
  // us-east-1 is reported as an empty LocationConstraint, as S3 does.
  const region = bucket.region === "us-east-1" ? "" : bucket.region;
  return new Response(toXmlText("LocationConstraint", region), { headers: { "content-type": "application/xml" } });
}

const TAGGING = "tagging";

export async function getBucketTaggingOp(ctx: S3Context, name: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, name);
  const tags = await bucketIndex(ctx, bucket).getConfig(TAGGING);
  if (!tags) throw new S3Error("NoSuchTagSet", undefined, { BucketName: name });
  return xmlResponse("Tagging", taggingXml(tags));
}

export async function putBucketTaggingOp(ctx: S3Context, name: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, name);
  const tags = parseTaggingXml(await readDocumentBody(ctx.request, ctx.principal), "bucket");
  await bucketIndex(ctx, bucket).setConfig(TAGGING, tags);
  return new Response(null, { status: 204 });
}

export async function deleteBucketTaggingOp(ctx: S3Context, name: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, name);
  await bucketIndex(ctx, bucket).deleteConfig(TAGGING);
  return new Response(null, { status: 204 });
}

/** GetBucketVersioning: an empty document for a bucket that was never versioned. */
export async function getBucketVersioningOp(ctx: S3Context, name: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, name);
  const state = await bucketIndex(ctx, bucket).versioning();
  return xmlResponse("VersioningConfiguration", state === "Unversioned" ? {} : { Status: state });
}

export async function putBucketVersioningOp(ctx: S3Context, name: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, name);
  const doc = parseXml(await readDocumentBody(ctx.request, ctx.principal));
  if (!doc || doc.name !== "VersioningConfiguration") throw new S3Error("MalformedXML");
  const status = childText(doc, "Status");
  if (childText(doc, "MfaDelete") === "Enabled") throw new S3Error("NotImplemented", "MFA delete is not supported.");
  if (status !== "Enabled" && status !== "Suspended") throw new S3Error("MalformedXML", "Status must be Enabled or Suspended.");
  if (!(await bucketIndex(ctx, bucket).setVersioning(status))) {
    throw new S3Error("InvalidBucketState", "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.", { BucketName: name });
  }
  return new Response(null, { status: 200 });
}

/** The header that sets a new bucket's replication factor (an ICN extension; S3 clients simply omit it). */
export const REPLICATION_FACTOR_HEADER = "x-icn-replication-factor";
export const DEFAULT_REPLICATION_FACTOR = 3;

function replicationFactorFrom(headers: Headers): number {
  const value = headers.get(REPLICATION_FACTOR_HEADER);
  if (value === null) return DEFAULT_REPLICATION_FACTOR;
  if (!/^[1-5]$/.test(value.trim())) {
    throw new S3Error("InvalidArgument", "The replication factor must be an integer from 1 to 5.", { ArgumentName: REPLICATION_FACTOR_HEADER, ArgumentValue: value });
  }
  return Number(value);
}

/**
 * The header that sets a new bucket's erasure code (an ICN extension): "k+m" (k + m ≤ 6, what one Worker request
 * can stream to at once), or "none" for full replicas. A bucket that sets only a replication factor replicates;
 * one that sets neither uses the edge's default code (ERASURE_CODE).
 */
export const ERASURE_CODE_HEADER = "x-icn-erasure-code";
const MAX_STREAMED_PIECES = 6;

function erasureCodeFrom(headers: Headers): string | null {
  const value = headers.get(ERASURE_CODE_HEADER)?.trim();
  if (value === undefined) return headers.has(REPLICATION_FACTOR_HEADER) ? NO_ERASURE_CODE : null;
  if (value === NO_ERASURE_CODE) return value;
  let code: ErasureCode;
  try {
    code = parseErasureCode(value);
  } catch {
    code = { k: 0, m: 0 };
  }
  if (code.k < 1 || code.m < 1 || code.k + code.m > MAX_STREAMED_PIECES) {
    throw new S3Error("InvalidArgument", `The erasure code must be "none" or k+m with k ≥ 1, m ≥ 1 and k + m ≤ ${MAX_STREAMED_PIECES}, like 4+2.`, {
      ArgumentName: ERASURE_CODE_HEADER,
      ArgumentValue: value,
    });
  }
  return formatErasureCode(code);
}

export const CORS_CONFIG = "cors";

export async function getBucketCorsOp(ctx: S3Context, name: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, name);
  const rules = await bucketIndex(ctx, bucket).getConfig(CORS_CONFIG);
  if (!rules) throw new S3Error("NoSuchCORSConfiguration", undefined, { BucketName: name });
  return xmlResponse("CORSConfiguration", corsXml(rules));
}

export async function putBucketCorsOp(ctx: S3Context, name: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, name);
  await bucketIndex(ctx, bucket).setConfig(CORS_CONFIG, parseCorsXml(await readDocumentBody(ctx.request, ctx.principal)));
  return new Response(null, { status: 200 });
}

export async function deleteBucketCorsOp(ctx: S3Context, name: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, name);
  await bucketIndex(ctx, bucket).deleteConfig(CORS_CONFIG);
  return new Response(null, { status: 204 });
}

export async function getBucketLifecycleOp(ctx: S3Context, name: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, name);
  const rules = await bucketIndex(ctx, bucket).getConfig(LIFECYCLE_CONFIG);
  if (!rules) throw new S3Error("NoSuchLifecycleConfiguration", undefined, { BucketName: name });
  return xmlResponse("LifecycleConfiguration", lifecycleXml(rules));
}

export async function putBucketLifecycleOp(ctx: S3Context, name: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, name);
  await bucketIndex(ctx, bucket).setConfig(LIFECYCLE_CONFIG, parseLifecycleXml(await readDocumentBody(ctx.request, ctx.principal)));
  return new Response(null, { status: 200 });
}

export async function deleteBucketLifecycleOp(ctx: S3Context, name: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, name);
  await bucketIndex(ctx, bucket).deleteConfig(LIFECYCLE_CONFIG);
  return new Response(null, { status: 204 });
}
