// ACL operations: GetBucketAcl, PutBucketAcl, GetObjectAcl, PutObjectAcl.
// https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketAcl.html, API_PutObjectAcl.html
// Who may call them is decided in bucket-access.ts (authorize): the owner, a policy, or a READ_ACP/WRITE_ACP grant.

import { recordS3Change, s3Arn } from "../../db/access-audit.ts";
import type { BucketRow } from "../../db/schema.ts";
import { isDeleteMarker } from "../../services/object-model.ts";
import { accessControlPolicyXml, aclFromHeaders, describeAcl, parseAccessControlPolicy, type StoredAcl } from "../access/acl.ts";
import { ACL_CONFIG, accessControlsOf, authorizedBucket, bucketIndex, checkAclAllowed, checkGranteesExist, effectiveObjectAcl, type BucketAccessControls } from "../bucket-access.ts";
import type { S3Context } from "../context.ts";
import { S3Error } from "../errors.ts";
import { readDocumentBody } from "../payload.ts";
import { xmlResponse } from "../respond.ts";

/** The bucket's ACL; with ACLs disabled (BucketOwnerEnforced) the owner's full control, as S3 answers. */
export async function getBucketAclOp(ctx: S3Context, name: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, name);
  const controls = await accessControlsOf(ctx.env, bucket);
  return xmlResponse("AccessControlPolicy", accessControlPolicyXml(bucket.accountId, bucketAclAsAnswered(bucket, controls)));
}

function bucketAclAsAnswered(bucket: BucketRow, controls: BucketAccessControls): StoredAcl {
  if (controls.ownership !== "BucketOwnerEnforced") return controls.acl;
  return { canned: "private", grants: [{ grantee: { type: "CanonicalUser", id: bucket.accountId }, permission: "FULL_CONTROL" }] };
}

/** PutBucketAcl: a canned ACL, grant headers, or an AccessControlPolicy body (exactly one of them). */
export async function putBucketAclOp(ctx: S3Context, name: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, name);
  const controls = await accessControlsOf(ctx.env, bucket);
  const acl = await requestedAcl(ctx, bucket.accountId, bucket.accountId, "bucket");
  checkAclAllowed(controls, acl, bucket.accountId);
  await checkGranteesExist(ctx, acl);
  await bucketIndex(ctx, bucket).setConfig(ACL_CONFIG, acl);
  await recordS3Change(ctx, { accountId: bucket.accountId, action: "PutBucketAcl", target: s3Arn(name), before: describeAcl(controls.acl), after: describeAcl(acl) });
  return new Response(null, { status: 200 });
}

export async function getObjectAclOp(ctx: S3Context, bucketName: string, key: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, bucketName);
  const record = await readRecord(ctx, bucket, key);
  const acl = effectiveObjectAcl(bucket, await accessControlsOf(ctx.env, bucket), record);
  const headers = new Headers();
  if (record.versionId && record.versionId !== "null") headers.set("x-amz-version-id", record.versionId);
  return xmlResponse("AccessControlPolicy", accessControlPolicyXml(acl.owner, acl), { headers });
}

/** PutObjectAcl: replaces the version's ACL; its owner stays who it was. */
export async function putObjectAclOp(ctx: S3Context, bucketName: string, key: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, bucketName);
  const record = await readRecord(ctx, bucket, key);
  const controls = await accessControlsOf(ctx.env, bucket);
  const before = effectiveObjectAcl(bucket, controls, record);
  const acl = await requestedAcl(ctx, before.owner, bucket.accountId, "object");
  checkAclAllowed(controls, acl, bucket.accountId);
  await checkGranteesExist(ctx, acl);
  const versionId = ctx.query.get("versionId") ?? undefined;
  if (!(await bucketIndex(ctx, bucket).setObjectAcl(key, { owner: before.owner, ...acl }, versionId))) throw new S3Error("NoSuchKey", undefined, { Key: key });
  await recordS3Change(ctx, { accountId: bucket.accountId, action: "PutObjectAcl", target: s3Arn(bucketName, key), before: describeAcl(before), after: describeAcl(acl) });
  const headers = new Headers();
  if (record.versionId && record.versionId !== "null") headers.set("x-amz-version-id", record.versionId);
  return new Response(null, { status: 200, headers });
}

async function readRecord(ctx: S3Context, bucket: BucketRow, key: string) {
  const versionId = ctx.query.get("versionId") ?? undefined;
  const index = bucketIndex(ctx, bucket);
  const record = versionId === undefined ? await index.getObject(key) : await index.getVersion(key, versionId);
  if (!record) throw versionId === undefined ? new S3Error("NoSuchKey", undefined, { Key: key }) : new S3Error("NoSuchVersion", undefined, { Key: key, VersionId: versionId });
  if (isDeleteMarker(record)) throw new S3Error("MethodNotAllowed", "The specified method is not allowed against this resource.", { Method: ctx.request.method, ResourceType: "DeleteMarker" });
  return record;
}

/**
 * The ACL a PutBucketAcl/PutObjectAcl request sets: from its headers or from its body, never both, never neither
 * (S3: "you can specify the ACL in the request body or in the headers, not both" - MissingSecurityHeader otherwise).
 */
async function requestedAcl(ctx: S3Context, owner: string, bucketOwner: string, target: "bucket" | "object"): Promise<StoredAcl> {
  const body = (await readDocumentBody(ctx.request, ctx.principal)).trim();
  const fromHeaders = aclFromHeaders(ctx.request.headers, owner, bucketOwner, target);
  if (body !== "" && fromHeaders) throw new S3Error("UnexpectedContent", "This request does not support content");
  if (fromHeaders) return fromHeaders;
  if (body === "") throw new S3Error("MissingSecurityHeader", "Your request was missing a required header", { MissingHeaderName: "x-amz-acl" });
  return parseAccessControlPolicy(body, owner);
}
