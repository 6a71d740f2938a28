// IAM action names: which one each S3 operation needs, and the names a policy may use.
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html (operation -> action)
// https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html (every S3 action)

import type { S3Op } from "../router.ts";

/**
 * Every action Amazon S3 defines (the service authorization reference). A policy naming an action outside this
 * list is refused (MalformedPolicy, "Policy has invalid action"), as S3 does; an action this edge has no
 * operation for is accepted and simply never requested.
 */
export const S3_ACTIONS = [
  "AbortMultipartUpload", "BypassGovernanceRetention", "CreateAccessPoint", "CreateBucket", "CreateJob", "CreateSession",
  "DeleteAccessPoint", "DeleteAccessPointPolicy", "DeleteBucket", "DeleteBucketOwnershipControls", "DeleteBucketPolicy",
  "DeleteBucketWebsite", "DeleteObject", "DeleteObjectTagging", "DeleteObjectVersion", "DeleteObjectVersionTagging",
  "GetAccelerateConfiguration", "GetAccessPoint", "GetAccessPointPolicy", "GetAccessPointPolicyStatus", "GetAnalyticsConfiguration",
  "GetBucketAcl", "GetBucketCORS", "GetBucketLocation", "GetBucketLogging", "GetBucketNotification", "GetBucketObjectLockConfiguration",
  "GetBucketOwnershipControls", "GetBucketPolicy", "GetBucketPolicyStatus", "GetBucketPublicAccessBlock", "GetBucketRequestPayment",
  "GetBucketTagging", "GetBucketVersioning", "GetBucketWebsite", "GetEncryptionConfiguration", "GetIntelligentTieringConfiguration",
  "GetInventoryConfiguration", "GetLifecycleConfiguration", "GetMetricsConfiguration", "GetObject", "GetObjectAcl", "GetObjectAttributes",
  "GetObjectLegalHold", "GetObjectRetention", "GetObjectTagging", "GetObjectTorrent", "GetObjectVersion", "GetObjectVersionAcl",
  "GetObjectVersionAttributes", "GetObjectVersionForReplication", "GetObjectVersionTagging", "GetObjectVersionTorrent",
  "GetReplicationConfiguration", "InitiateReplication", "ListAllMyBuckets", "ListBucket", "ListBucketMultipartUploads", "ListBucketVersions",
  "ListMultipartUploadParts", "ObjectOwnerOverrideToBucketOwner", "PutAccelerateConfiguration", "PutAnalyticsConfiguration",
  "PutBucketAcl", "PutBucketCORS", "PutBucketLogging", "PutBucketNotification", "PutBucketObjectLockConfiguration",
  "PutBucketOwnershipControls", "PutBucketPolicy", "PutBucketPublicAccessBlock", "PutBucketRequestPayment", "PutBucketTagging",
  "PutBucketVersioning", "PutBucketWebsite", "PutEncryptionConfiguration", "PutIntelligentTieringConfiguration",
  "PutInventoryConfiguration", "PutLifecycleConfiguration", "PutMetricsConfiguration", "PutObject", "PutObjectAcl",
  "PutObjectLegalHold", "PutObjectRetention", "PutObjectTagging", "PutObjectVersionAcl", "PutObjectVersionTagging",
  "PutReplicationConfiguration", "ReplicateDelete", "ReplicateObject", "ReplicateTags", "RestoreObject",
].map((name) => `s3:${name}`);

/** What an operation needs: an IAM action on its bucket (or object), or only a signed-in account. */
export type RequiredPermission =
  | { kind: "account" }
  | { kind: "action"; action: string }
  /** Decided inside the operation, which knows what the decision depends on (form fields, body tags, each key). */
  | { kind: "in-operation" };

const action = (name: string): RequiredPermission => ({ kind: "action", action: `s3:${name}` });

/**
 * The IAM action each operation needs. A request naming a version (versionId) needs the action's Version form,
 * as S3 requires (s3:GetObjectVersion for a GET of a version, s3:DeleteObjectVersion to delete one for good).
 */
export function requiredPermission(op: S3Op, query: URLSearchParams): RequiredPermission {
  const versioned = (plain: string, version: string) => action(query.has("versionId") ? version : plain);
  switch (op.op) {
    case "ListBuckets":
    case "CreateBucket":
      return { kind: "account" };
    case "HeadBucket":
    case "ListObjects":
    case "ListObjectsV2":
      return action("ListBucket");
    case "ListObjectVersions":
      return action("ListBucketVersions");
    case "ListMultipartUploads":
      return action("ListBucketMultipartUploads");
    case "DeleteBucket":
      return action("DeleteBucket");
    case "GetBucketLocation":
      return action("GetBucketLocation");
    // Each key of a multi-object delete is authorized on its own (s3:DeleteObject or s3:DeleteObjectVersion).
    case "DeleteObjects":
    // A form upload's principal is the account whose key signed its policy, not the (unsigned) request.
    case "PostObject":
    // s3:RequestObjectTag/<key> conditions read the tags in the request body.
    case "PutObjectTagging":
      return { kind: "in-operation" };
    case "PutObject":
    case "CopyObject":
    case "CreateMultipartUpload":
    case "UploadPart":
    case "UploadPartCopy":
    case "CompleteMultipartUpload":
      return action("PutObject");
    case "GetObject":
    case "HeadObject":
      return versioned("GetObject", "GetObjectVersion");
    case "DeleteObject":
      return versioned("DeleteObject", "DeleteObjectVersion");
    case "AbortMultipartUpload":
      return action("AbortMultipartUpload");
    case "ListParts":
      return action("ListMultipartUploadParts");
    case "GetObjectTagging":
      return versioned("GetObjectTagging", "GetObjectVersionTagging");
    case "DeleteObjectTagging":
      return versioned("DeleteObjectTagging", "DeleteObjectVersionTagging");
    case "GetObjectAttributes":
      return versioned("GetObjectAttributes", "GetObjectVersionAttributes");
    case "GetObjectAcl":
      return versioned("GetObjectAcl", "GetObjectVersionAcl");
    case "PutObjectAcl":
      return versioned("PutObjectAcl", "PutObjectVersionAcl");
    case "GetBucketTagging":
      return action("GetBucketTagging");
    // S3 has no separate delete actions for these configurations: deleting one needs the Put action.
    case "PutBucketTagging":
    case "DeleteBucketTagging":
      return action("PutBucketTagging");
    case "GetBucketVersioning":
      return action("GetBucketVersioning");
    case "PutBucketVersioning":
      return action("PutBucketVersioning");
    case "GetBucketAcl":
      return action("GetBucketAcl");
    case "PutBucketAcl":
      return action("PutBucketAcl");
    case "GetBucketEncryption":
      return action("GetEncryptionConfiguration");
    case "PutBucketEncryption":
    case "DeleteBucketEncryption":
      return action("PutEncryptionConfiguration");
    case "GetBucketCors":
      return action("GetBucketCORS");
    case "PutBucketCors":
    case "DeleteBucketCors":
      return action("PutBucketCORS");
    case "GetBucketLifecycle":
      return action("GetLifecycleConfiguration");
    case "PutBucketLifecycle":
    case "DeleteBucketLifecycle":
      return action("PutLifecycleConfiguration");
    case "GetBucketPolicy":
      return action("GetBucketPolicy");
    case "PutBucketPolicy":
      return action("PutBucketPolicy");
    case "DeleteBucketPolicy":
      return action("DeleteBucketPolicy");
    case "GetBucketPolicyStatus":
      return action("GetBucketPolicyStatus");
    case "GetObjectLockConfiguration":
      return action("GetBucketObjectLockConfiguration");
    case "PutObjectLockConfiguration":
      return action("PutBucketObjectLockConfiguration");
    case "GetObjectRetention":
      return action("GetObjectRetention");
    case "PutObjectRetention":
      return action("PutObjectRetention");
    case "GetObjectLegalHold":
      return action("GetObjectLegalHold");
    case "PutObjectLegalHold":
      return action("PutObjectLegalHold");
    case "GetBucketOwnershipControls":
      return action("GetBucketOwnershipControls");
    case "PutBucketOwnershipControls":
      return action("PutBucketOwnershipControls");
    // S3 has no delete action of its own for these: deleting needs the put permission.
    case "DeleteBucketOwnershipControls":
      return action("PutBucketOwnershipControls");
    case "GetPublicAccessBlock":
      return action("GetBucketPublicAccessBlock");
    case "PutPublicAccessBlock":
    case "DeletePublicAccessBlock":
      return action("PutBucketPublicAccessBlock");
    default: {
      const unreachable: never = op;
      throw new Error(`no IAM action for ${JSON.stringify(unreachable)}`);
    }
  }
}
