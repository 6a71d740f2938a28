// Which price class each S3 operation's request is billed in: the one table metering and pricing read.
//
// S3's price list has two request tiers: "PUT, COPY, POST, LIST requests" (class A) and "GET, SELECT, and all other
// requests" (class B), and "DELETE and CANCEL requests are free" (https://aws.amazon.com/s3/pricing/, Requests &
// data retrievals). R2 names the same split class A / class B and lists DeleteObject, DeleteBucket and
// AbortMultipartUpload as free (https://developers.cloudflare.com/r2/pricing/#class-a-operations). Writes of a
// bucket's or object's configuration are PUTs, so class A; their reads are GETs, so class B; their deletes are free.

import type { S3OpName } from "../s3/router.ts";

export type RequestClass = "A" | "B" | "free";

/** Every S3 operation the edge routes (the compiler checks none is missing). */
export const REQUEST_CLASSES: Record<S3OpName, RequestClass> = {
  // Class A: writes, copies, form posts and listings.
  ListBuckets: "A",
  CreateBucket: "A",
  ListObjects: "A",
  ListObjectsV2: "A",
  ListObjectVersions: "A",
  ListMultipartUploads: "A",
  ListParts: "A",
  PutObject: "A",
  PostObject: "A",
  CopyObject: "A",
  CreateMultipartUpload: "A",
  UploadPart: "A",
  UploadPartCopy: "A",
  CompleteMultipartUpload: "A",
  PutObjectTagging: "A",
  PutObjectAcl: "A",
  PutBucketTagging: "A",
  PutBucketVersioning: "A",
  PutBucketAcl: "A",
  PutBucketEncryption: "A",
  PutBucketCors: "A",
  PutBucketLifecycle: "A",
  PutBucketPolicy: "A",
  PutObjectLockConfiguration: "A",
  PutObjectRetention: "A",
  PutObjectLegalHold: "A",
  PutBucketOwnershipControls: "A",
  PutPublicAccessBlock: "A",
  // Class B: reads.
  GetObject: "B",
  HeadObject: "B",
  HeadBucket: "B",
  GetBucketLocation: "B",
  GetObjectTagging: "B",
  GetObjectAttributes: "B",
  GetObjectAcl: "B",
  GetBucketTagging: "B",
  GetBucketVersioning: "B",
  GetBucketAcl: "B",
  GetBucketEncryption: "B",
  GetBucketCors: "B",
  GetBucketLifecycle: "B",
  GetBucketPolicy: "B",
  GetBucketPolicyStatus: "B",
  GetObjectLockConfiguration: "B",
  GetObjectRetention: "B",
  GetObjectLegalHold: "B",
  GetBucketOwnershipControls: "B",
  GetPublicAccessBlock: "B",
  // Free: deletes and cancels (a multi-object delete is a POST that only deletes: free as its deletes are).
  DeleteObject: "free",
  DeleteObjects: "free",
  DeleteBucket: "free",
  AbortMultipartUpload: "free",
  DeleteObjectTagging: "free",
  DeleteBucketTagging: "free",
  DeleteBucketEncryption: "free",
  DeleteBucketCors: "free",
  DeleteBucketLifecycle: "free",
  DeleteBucketPolicy: "free",
  DeleteBucketOwnershipControls: "free",
  DeletePublicAccessBlock: "free",
};

export function requestClassOf(op: S3OpName): RequestClass {
  return REQUEST_CLASSES[op];
}
