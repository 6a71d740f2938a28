// Object Ownership and Block Public Access on a bucket: Put/Get/DeleteBucketOwnershipControls
// (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketOwnershipControls.html) and
// Put/Get/DeletePublicAccessBlock (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutPublicAccessBlock.html).
// Each change is recorded in the access audit log with what was in force before.

import { recordS3Change, s3Arn } from "../../db/access-audit.ts";
import { ownershipControlsXml, parseOwnershipControlsXml, parsePublicAccessBlockXml, publicAccessBlockXml } from "../access/bucket-controls.ts";
import { accessControlsOf, authorizedBucket, bucketIndex, OWNERSHIP_CONFIG, PUBLIC_ACCESS_BLOCK_CONFIG } from "../bucket-access.ts";
import type { S3Context } from "../context.ts";
import { S3Error } from "../errors.ts";
import { readDocumentBody } from "../payload.ts";
import { xmlResponse } from "../respond.ts";

export async function getBucketOwnershipControlsOp(ctx: S3Context, name: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, name);
  const ownership = await bucketIndex(ctx, bucket).getConfig(OWNERSHIP_CONFIG);
  if (ownership === null) throw new S3Error("OwnershipControlsNotFoundError", undefined, { BucketName: name });
  return xmlResponse("OwnershipControls", ownershipControlsXml(ownership));
}

export async function putBucketOwnershipControlsOp(ctx: S3Context, name: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, name);
  const ownership = parseOwnershipControlsXml(await readDocumentBody(ctx.request, ctx.principal));
  const index = bucketIndex(ctx, bucket);
  const before = await index.getConfig(OWNERSHIP_CONFIG);
  if (ownership === "BucketOwnerEnforced") {
    // S3 refuses to disable ACLs while the bucket's ACL grants anyone but its owner (InvalidBucketAclWithObjectOwnership).
    const { acl } = await accessControlsOf(ctx.env, bucket);
    if (acl.grants.some((g) => g.grantee.type !== "CanonicalUser" || g.grantee.id !== bucket.accountId)) {
      throw new S3Error("InvalidRequest", "Bucket ACLs must grant only the bucket owner before ACLs can be disabled with BucketOwnerEnforced.");
    }
  }
  await index.setConfig(OWNERSHIP_CONFIG, ownership);
  await recordS3Change(ctx, { accountId: bucket.accountId, action: "PutBucketOwnershipControls", target: s3Arn(name), before: before === null ? null : { objectOwnership: before }, after: { objectOwnership: ownership } });
  return new Response(null, { status: 200 });
}

export async function deleteBucketOwnershipControlsOp(ctx: S3Context, name: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, name);
  const index = bucketIndex(ctx, bucket);
  const before = await index.getConfig(OWNERSHIP_CONFIG);
  await index.deleteConfig(OWNERSHIP_CONFIG);
  if (before !== null) await recordS3Change(ctx, { accountId: bucket.accountId, action: "DeleteBucketOwnershipControls", target: s3Arn(name), before: { objectOwnership: before }, after: null });
  return new Response(null, { status: 204 });
}

export async function getPublicAccessBlockOp(ctx: S3Context, name: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, name);
  const config = await bucketIndex(ctx, bucket).getConfig(PUBLIC_ACCESS_BLOCK_CONFIG);
  if (config === null) throw new S3Error("NoSuchPublicAccessBlockConfiguration", undefined, { BucketName: name });
  return xmlResponse("PublicAccessBlockConfiguration", publicAccessBlockXml(config));
}

export async function putPublicAccessBlockOp(ctx: S3Context, name: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, name);
  const config = parsePublicAccessBlockXml(await readDocumentBody(ctx.request, ctx.principal));
  const index = bucketIndex(ctx, bucket);
  const before = await index.getConfig(PUBLIC_ACCESS_BLOCK_CONFIG);
  await index.setConfig(PUBLIC_ACCESS_BLOCK_CONFIG, config);
  await recordS3Change(ctx, { accountId: bucket.accountId, action: "PutPublicAccessBlock", target: s3Arn(name), before, after: config });
  return new Response(null, { status: 200 });
}

export async function deletePublicAccessBlockOp(ctx: S3Context, name: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, name);
  const index = bucketIndex(ctx, bucket);
  const before = await index.getConfig(PUBLIC_ACCESS_BLOCK_CONFIG);
  await index.deleteConfig(PUBLIC_ACCESS_BLOCK_CONFIG);
  if (before !== null) await recordS3Change(ctx, { accountId: bucket.accountId, action: "DeletePublicAccessBlock", target: s3Arn(name), before, after: null });
  return new Response(null, { status: 204 });
}
