// Bucket default encryption: PutBucketEncryption, GetBucketEncryption, DeleteBucketEncryption.
// https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketEncryption.html
// A bucket without a configuration encrypts with SSE-S3 (S3's default since January 2023), and deleting the
// configuration returns it there: never to plaintext.

import { recordS3Change, s3Arn } from "../../db/access-audit.ts";
import type { BucketRow } from "../../db/schema.ts";
import { authorizedBucket, bucketIndex } from "../bucket-access.ts";
import type { S3Context } from "../context.ts";
import { bucketEncryptionDefault, ENCRYPTION_CONFIG, setBucketEncryptionDefault, SSE_S3_DEFAULT, validateBucketDefault, type BucketEncryptionDefault } from "../encryption.ts";
import { S3Error } from "../errors.ts";
import { readDocumentBody } from "../payload.ts";
import { xmlResponse } from "../respond.ts";
import { childText, parseXml } from "../xml.ts";

export async function getBucketEncryptionOp(ctx: S3Context, name: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, name);
  const config = (await bucketEncryptionDefault(ctx, bucket)) ?? SSE_S3_DEFAULT;
  return xmlResponse("ServerSideEncryptionConfiguration", {
    Rule: {
      ApplyServerSideEncryptionByDefault: { SSEAlgorithm: config.algorithm, KMSMasterKeyID: config.kmsKeyId },
      BucketKeyEnabled: config.bucketKeyEnabled,
    },
  });
}

export async function putBucketEncryptionOp(ctx: S3Context, name: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, name);
  const doc = parseXml(await readDocumentBody(ctx.request, ctx.principal));
  if (!doc || doc.name !== "ServerSideEncryptionConfiguration") throw new S3Error("MalformedXML");
  const rules = doc.children.filter((c) => c.name === "Rule");
  if (rules.length !== 1) throw new S3Error("MalformedXML", "A server-side encryption configuration has exactly one rule.");
  const rule = rules[0]!;
  const byDefault = rule.children.find((c) => c.name === "ApplyServerSideEncryptionByDefault");
  const algorithm = byDefault ? childText(byDefault, "SSEAlgorithm")?.trim() : undefined;
  if (!byDefault || !algorithm) throw new S3Error("MalformedXML");
  if (algorithm !== "AES256" && algorithm !== "aws:kms") {
    throw new S3Error("InvalidArgument", "The encryption method specified is not supported", { ArgumentName: "SSEAlgorithm", ArgumentValue: algorithm });
  }
  const kmsKeyId = childText(byDefault, "KMSMasterKeyID")?.trim() || undefined;
  if (kmsKeyId && algorithm !== "aws:kms") {
    throw new S3Error("InvalidArgument", "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms", { ArgumentName: "ApplyServerSideEncryptionByDefault" });
  }
  const bucketKeyText = childText(rule, "BucketKeyEnabled")?.trim().toLowerCase();
  if (bucketKeyText !== undefined && bucketKeyText !== "true" && bucketKeyText !== "false") throw new S3Error("MalformedXML");
  const config: BucketEncryptionDefault = { algorithm, kmsKeyId, bucketKeyEnabled: bucketKeyText === "true" };
  await validateBucketDefault(ctx, bucket, config);
  const before = await bucketIndex(ctx, bucket).getConfig(ENCRYPTION_CONFIG);
  await setBucketEncryptionDefault(ctx, bucket, config);
  // An access-control change: the default decides whose KMS key (and so whose key policy) guards new objects.
  await recordS3Change(ctx, { accountId: bucket.accountId, action: "PutBucketEncryption", target: s3Arn(bucket.name), before, after: config });
  return new Response(null, { status: 200 });
}

export async function deleteBucketEncryptionOp(ctx: S3Context, name: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, name);
  const before = await bucketIndex(ctx, bucket).getConfig(ENCRYPTION_CONFIG);
  await setBucketEncryptionDefault(ctx, bucket, null);
  await recordS3Change(ctx, { accountId: bucket.accountId, action: "DeleteBucketEncryption", target: s3Arn(bucket.name), before, after: null });
  return new Response(null, { status: 204 });
}
