// Bucket policies: PutBucketPolicy, GetBucketPolicy, DeleteBucketPolicy and GetBucketPolicyStatus.
// https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketPolicy.html
// Who may call these is decided in bucket-access.ts (authorize): the owner's account always may.

import { recordS3Change, s3Arn } from "../../db/access-audit.ts";
import { getAccount } from "../../db/accounts.ts";
import type { BucketRow } from "../../db/schema.ts";
import { accountsNamedIn, MAX_POLICY_BYTES, parseBucketPolicy } from "../access/policy-document.ts";
import { isPublicPolicy } from "../access/policy-status.ts";
import { accessControlsOf, authorizedBucket, bucketPolicyOf, deleteBucketPolicy, putBucketPolicy } from "../bucket-access.ts";
import type { S3Context } from "../context.ts";
import { S3Error } from "../errors.ts";
import { readDocumentBody } from "../payload.ts";
import { xmlResponse } from "../respond.ts";

export async function putBucketPolicyOp(ctx: S3Context, name: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, name);
  // A little over the limit is read, so that a larger policy is refused as MalformedPolicy with the reason.
  const text = await readDocumentBody(ctx.request, ctx.principal, MAX_POLICY_BYTES + 1024);
  const document = parseBucketPolicy(text, bucket.name);
  // S3 refuses a principal that does not exist ("Invalid principal in policy").
  for (const accountId of accountsNamedIn(document)) {
    if (!(await getAccount(ctx.db, accountId))) throw new S3Error("MalformedPolicy", "Invalid principal in policy", { Detail: `No account ${accountId}` });
  }
  // BlockPublicPolicy: "Amazon S3 rejects calls to PUT Bucket policy if the specified bucket policy allows public
  // access" (access-control-block-public-access.html).
  if ((await accessControlsOf(ctx.env, bucket)).publicAccessBlock?.blockPublicPolicy && isPublicPolicy(document)) {
    throw new S3Error("AccessDenied", "Block Public Access (BlockPublicPolicy) refuses public bucket policies on this bucket.");
  }
  const before = await bucketPolicyOf(ctx.env, bucket);
  await putBucketPolicy(ctx.env, bucket, { text, document });
  // The audit log keeps the documents as they were put, parsed (JSON values).
  await recordS3Change(ctx, { accountId: bucket.accountId, action: "PutBucketPolicy", target: s3Arn(bucket.name), before: before && JSON.parse(before.text), after: JSON.parse(text) });
  return new Response(null, { status: 204 });
}

/** The policy exactly as it was put, as JSON. */
export async function getBucketPolicyOp(ctx: S3Context, name: string): Promise<Response> {
  const policy = await bucketPolicyOf(ctx.env, authorizedBucket(ctx, name));
  if (!policy) throw new S3Error("NoSuchBucketPolicy", undefined, { BucketName: name });
  return new Response(policy.text, { status: 200, headers: { "content-type": "application/json" } });
}

/** Deleting a policy that does not exist succeeds too, as in S3. */
export async function deleteBucketPolicyOp(ctx: S3Context, name: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, name);
  const before = await bucketPolicyOf(ctx.env, bucket);
  await deleteBucketPolicy(ctx.env, bucket);
  if (before) await recordS3Change(ctx, { accountId: bucket.accountId, action: "DeleteBucketPolicy", target: s3Arn(bucket.name), before: JSON.parse(before.text), after: null });
  return new Response(null, { status: 204 });
}

/** https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketPolicyStatus.html */
export async function getBucketPolicyStatusOp(ctx: S3Context, name: string): Promise<Response> {
  const policy = await bucketPolicyOf(ctx.env, authorizedBucket(ctx, name));
  if (!policy) throw new S3Error("NoSuchBucketPolicy", undefined, { BucketName: name });
  return xmlResponse("PolicyStatus", { IsPublic: isPublicPolicy(policy.document) });
}
