// Bucket lookups and the one access decision (authorize): the owner's account, the bucket policy, the ACLs of
// the bucket and the object, Object Ownership and Block Public Access decide who may do what with a bucket and
// its objects.

import { bucketIndexFor } from "../services/bucket-indexes.ts";
import { meteredIndex } from "../services/metering.ts";
import { getAccount, getBucket as readBucket } from "../db/accounts.ts";
import type { Db } from "../db/client.ts";
import { TtlCache } from "../services/ttl-cache.ts";
import type { BucketRow } from "../db/schema.ts";
import { isDeleteMarker } from "../services/object-model.ts";
import type { S3Context } from "./context.ts";
import { S3Error } from "./errors.ts";
import { parseCopySource } from "./object-headers.ts";
import type { S3Op } from "./router.ts";
import { requiredPermission } from "./access/actions.ts";
import { parseBucketPolicy, readsExistingObjectTags, type BucketPolicy } from "./access/policy-document.ts";
import { evaluatePolicy, resourceArn, type PolicyDecision } from "./access/policy-evaluation.ts";
import { conditionContext, signatureFacts, type RequestFacts } from "./access/request-context.ts";
import { parseTaggingHeader, type TagSet } from "./tagging.ts";
import type { ObjectAcl } from "../services/object-model.ts";
import { aclAllows, aclFromHeaders, accountsGranted, cannedGrants, isPublicAcl, type AclPermission, type StoredAcl } from "./access/acl.ts";
import type { ObjectOwnership, PublicAccessBlock } from "./access/bucket-controls.ts";
import { isPublicPolicy } from "./access/policy-status.ts";

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

/** What authorize() knows beyond the request itself. */
export interface AccessOptions {
  /** The acting account when it is not the request's signer: a browser form's policy signer. */
  accountId?: string | null;
  /** The S3 headers the request carries: a browser form's fields. */
  headers?: Headers;
  authType?: RequestFacts["authType"];
  signatureVersion?: RequestFacts["signatureVersion"];
  /** The version acted on, when it is not the request's versionId (a copy's source). */
  versionId?: string;
  /** Tags the request sets (default: its x-amz-tagging header). */
  requestTags?: TagSet;
}

/**
 * Root lockout protection: "the root user of the AWS account that owns a bucket can always use the
 * GetBucketPolicy, PutBucketPolicy, and DeleteBucketPolicy API actions" even when the policy denies them
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketPolicy.html). Every caller here is an account root.
 */
const OWNER_ALWAYS = new Set(["s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"]);
/**
 * Only the owner's account may manage the policy: another account with the permission gets 405 MethodNotAllowed
 * (API_PutBucketPolicy.html, API_GetBucketPolicy.html, API_DeleteBucketPolicy.html).
 */
const OWNER_ACCOUNT_ONLY = OWNER_ALWAYS;
/**
 * What each permission of a bucket's ACL allows (https://docs.aws.amazon.com/AmazonS3/latest/userguide/acl-overview.html#permissions):
 * READ lists the bucket, WRITE creates, overwrites and deletes its objects, READ_ACP and WRITE_ACP read and
 * write the bucket's ACL.
 */
const BUCKET_ACL_PERMISSIONS: Record<string, AclPermission> = {
  "s3:ListBucket": "READ",
  "s3:ListBucketVersions": "READ",
  "s3:ListBucketMultipartUploads": "READ",
  "s3:PutObject": "WRITE",
  "s3:DeleteObject": "WRITE",
  "s3:DeleteObjectVersion": "WRITE",
  "s3:AbortMultipartUpload": "WRITE",
  "s3:ListMultipartUploadParts": "WRITE",
  "s3:GetBucketAcl": "READ_ACP",
  "s3:PutBucketAcl": "WRITE_ACP",
};
/** An object's ACL: READ reads the object (and its metadata), READ_ACP and WRITE_ACP its ACL. */
const OBJECT_ACL_PERMISSIONS: Record<string, AclPermission> = {
  "s3:GetObject": "READ",
  "s3:GetObjectVersion": "READ",
  "s3:GetObjectAcl": "READ_ACP",
  "s3:GetObjectVersionAcl": "READ_ACP",
  "s3:PutObjectAcl": "WRITE_ACP",
  "s3:PutObjectVersionAcl": "WRITE_ACP",
};
const LIST_ACTIONS = new Set(["s3:ListBucket", "s3:ListBucketVersions", "s3:ListBucketMultipartUploads"]);

/**
 * The one access decision for a bucket or an object in it, as S3 makes it
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/how-s3-evaluates-access-control.html): an explicit Deny
 * in the bucket policy refuses anyone, the owner too; otherwise the owner may; another account or an anonymous
 * caller may only where the policy allows it, or a public-read ACL grants the read. Returns the bucket.
 */
export async function authorize(ctx: S3Context, action: string, bucketName: string, key?: string, options: AccessOptions = {}): Promise<BucketRow> {
  const bucket = await getBucket(ctx.db, bucketName);
  if (!bucket) throw new S3Error("NoSuchBucket", undefined, { BucketName: bucketName });
  const accountId = options.accountId !== undefined ? options.accountId : ctx.principal.accountId;
  const owner = accountId !== null && accountId === bucket.accountId;
  const policy = (await bucketPolicyOf(ctx.env, bucket))?.document;
  let decision: PolicyDecision = "NotApplicable";
  if (policy) {
    const headers = options.headers ?? ctx.request.headers;
    const versionId = options.versionId ?? ctx.query.get("versionId") ?? undefined;
    const facts: RequestFacts = {
      accountId,
      bucketOwner: bucket.accountId,
      headers,
      ...signatureFacts(ctx),
      ...(options.authType ? { authType: options.authType, signatureVersion: options.signatureVersion } : {}),
      versionId,
      requestTags: options.requestTags ?? requestTagsOf(headers),
      existingTags: key !== undefined && readsExistingObjectTags(policy) ? await existingTags(ctx, bucket, key, versionId) : undefined,
      listQuery: LIST_ACTIONS.has(action) ? ctx.query : undefined,
    };
    decision = evaluatePolicy(policy, { accountId, action, resource: resourceArn(bucket.name, key), context: conditionContext(ctx, facts) });
  }
  if (owner && OWNER_ALWAYS.has(action)) return bucket;
  if (decision === "Deny") throw new S3Error("AccessDenied");
  if (owner) return bucket;
  if (OWNER_ACCOUNT_ONLY.has(action)) {
    if (decision === "Allow") throw new S3Error("MethodNotAllowed", "The bucket policy can only be managed by the account that owns the bucket.", { Method: ctx.request.method, ResourceType: "BUCKETPOLICY" });
    throw new S3Error("AccessDenied");
  }
  const controls = await accessControlsOf(ctx.env, bucket);
  // RestrictPublicBuckets: a public policy admits only the owner's account, cross-account statements included
  // (access-control-block-public-access.html, "RestrictPublicBuckets").
  if (decision === "Allow" && !(controls.publicAccessBlock?.restrictPublicBuckets && policy && isPublicPolicy(policy))) return bucket;
  // An ACL grant admits as a policy Allow does (how-s3-evaluates-access-control.html), unless ACLs are disabled.
  if (controls.ownership !== "BucketOwnerEnforced") {
    const ignorePublic = controls.publicAccessBlock?.ignorePublicAcls ?? false;
    const bucketPermission = BUCKET_ACL_PERMISSIONS[action];
    if (bucketPermission && aclAllows(controls.acl, accountId, bucketPermission, ignorePublic)) return bucket;
    const objectPermission = OBJECT_ACL_PERMISSIONS[action];
    if (objectPermission && key !== undefined) {
      const acl = await objectAclOf(ctx, bucket, controls, key, options.versionId ?? ctx.query.get("versionId") ?? undefined);
      if (acl && aclAllows(acl, accountId, objectPermission, ignorePublic)) return bucket;
    }
  }
  throw new S3Error("AccessDenied");
}

/** What a bucket's ACL, Object Ownership and Block Public Access say; absent settings are S3's defaults. */
export interface BucketAccessControls {
  acl: StoredAcl;
  /** null: the bucket never set ownership controls, and keeps working as before they existed (ACLs accepted). */
  ownership: ObjectOwnership | null;
  publicAccessBlock: PublicAccessBlock | null;
}

export async function accessControlsOf(env: S3Context["env"], bucket: BucketRow): Promise<BucketAccessControls> {
  // Not metered (bucketIndexFor): a stranger's refused request is not billed to the bucket's owner.
  const index = bucketIndexFor(env, bucket.id);
  const [acl, ownership, publicAccessBlock] = await Promise.all([index.getConfig(ACL_CONFIG), index.getConfig(OWNERSHIP_CONFIG), index.getConfig(PUBLIC_ACCESS_BLOCK_CONFIG)]);
  return { acl: storedBucketAcl(acl, bucket.accountId), ownership, publicAccessBlock };
}

/** The bucket's ACL, also as older releases stored it: a canned name ("private" or "public-read"). */
function storedBucketAcl(acl: BucketAcl | StoredAcl | null, owner: string): StoredAcl {
  if (acl === null) return { canned: "private", grants: cannedGrants("private", owner, owner, "bucket") };
  if (typeof acl === "string") return { canned: acl, grants: cannedGrants(acl, owner, owner, "bucket") };
  return acl;
}

/**
 * The ACL an object version answers with. A version written with its own ACL (or by another account) carries it;
 * one without follows its bucket's ACL, as every object did before object ACLs, so a public-read bucket of an
 * earlier release stays readable. In a bucket with ownership controls, such a version is private to the bucket's
 * owner, as in S3.
 */
export function effectiveObjectAcl(bucket: BucketRow, controls: BucketAccessControls, record: { acl?: ObjectAcl } | null): ObjectAcl {
  const owner = bucket.accountId;
  if (controls.ownership === "BucketOwnerEnforced") return { owner, grants: cannedGrants("private", owner, owner, "object") };
  if (record?.acl) return record.acl;
  if (controls.ownership === null) return { owner, ...controls.acl };
  return { owner, grants: cannedGrants("private", owner, owner, "object") };
}

async function objectAclOf(ctx: S3Context, bucket: BucketRow, controls: BucketAccessControls, key: string, versionId: string | undefined): Promise<ObjectAcl | null> {
  const index = bucketIndexFor(ctx.env, bucket.id);
  const record = versionId === undefined ? await index.getObject(key) : await index.getVersion(key, versionId);
  if (!record || isDeleteMarker(record)) return null;
  return effectiveObjectAcl(bucket, controls, record);
}

/** An ACL may be as S3 allows on this bucket: not public under BlockPublicAcls, not at all under BucketOwnerEnforced. */
export function checkAclAllowed(controls: Pick<BucketAccessControls, "ownership" | "publicAccessBlock">, acl: StoredAcl, owner: string): void {
  if (controls.ownership === "BucketOwnerEnforced" && !ownerFullControlOnly(acl, owner)) {
    // "Bucket owner enforced ... ACLs are disabled": only bucket-owner-full-control (or its equivalent) is accepted.
    throw new S3Error("AccessControlListNotSupported");
  }
  if (controls.publicAccessBlock?.blockPublicAcls && isPublicAcl(acl)) throw new S3Error("AccessDenied", "Block Public Access (BlockPublicAcls) refuses public ACLs on this bucket.");
}

function ownerFullControlOnly(acl: StoredAcl, owner: string): boolean {
  return acl.grants.every((g) => g.permission === "FULL_CONTROL" && g.grantee.type === "CanonicalUser" && g.grantee.id === owner);
}

/** S3 refuses grants to canonical ids that are no account ("Invalid id"). */
export async function checkGranteesExist(ctx: S3Context, acl: StoredAcl): Promise<void> {
  for (const id of accountsGranted(acl)) {
    if (!(await getAccount(ctx.db, id))) throw new S3Error("InvalidArgument", "Invalid id", { ArgumentName: "CanonicalUser/ID", ArgumentValue: id });
  }
}

/**
 * The ACL and owner a new object version gets from its write request (PutObject, CopyObject, CreateMultipartUpload,
 * a browser form): undefined when it simply follows its bucket. Under ObjectWriter the writer owns what it writes;
 * under BucketOwnerPreferred it does unless it grants bucket-owner-full-control (about-object-ownership.html). A
 * bucket without ownership controls keeps what this edge always did: the bucket's owner owns every object in it.
 */
export async function objectAclForWrite(ctx: S3Context, bucket: BucketRow, headers: Headers, writer: string | null): Promise<ObjectAcl | undefined> {
  const controls = await accessControlsOf(ctx.env, bucket);
  const bucketOwner = bucket.accountId;
  const writerOwns =
    controls.ownership === "ObjectWriter" || (controls.ownership === "BucketOwnerPreferred" && headers.get("x-amz-acl")?.trim() !== "bucket-owner-full-control");
  const owner = writer !== null && writerOwns ? writer : bucketOwner;
  const requested = aclFromHeaders(headers, owner, bucketOwner, "object");
  if (requested) {
    checkAclAllowed(controls, requested, bucketOwner);
    await checkGranteesExist(ctx, requested);
  }
  if (controls.ownership === "BucketOwnerEnforced") return undefined;
  if (requested) return { owner, ...requested };
  if (owner !== bucketOwner) return { owner, canned: "private", grants: cannedGrants("private", owner, bucketOwner, "object") };
  return undefined;
}

function requestTagsOf(headers: Headers): TagSet | undefined {
  try {
    return parseTaggingHeader(headers.get("x-amz-tagging"));
  } catch {
    return undefined; // the operation refuses malformed tags itself (InvalidTag)
  }
}

async function existingTags(ctx: S3Context, bucket: BucketRow, key: string, versionId: string | undefined): Promise<TagSet | undefined> {
  // Not metered: the decision's own read is not the request's.
  const index = bucketIndexFor(ctx.env, bucket.id);
  const record = versionId === undefined ? await index.getObject(key) : await index.getVersion(key, versionId);
  return record && !isDeleteMarker(record) ? record.tags : undefined;
}

/** Buckets each request was authorized for by authorizeOperation, for the operation to read. */
const authorizedBuckets = new WeakMap<S3Context, BucketRow>();

/**
 * The access check every request passes before its operation runs: the operation's IAM action (actions.ts) on
 * its bucket or object. Operations whose decision depends on what they read themselves (form uploads, each key
 * of a multi-object delete, the tags in a PutObjectTagging body) call authorize() at that point.
 */
export async function authorizeOperation(ctx: S3Context, op: S3Op): Promise<void> {
  const required = requiredPermission(op, ctx.query);
  if (required.kind === "account") {
    requireAccount(ctx);
    return;
  }
  if (required.kind === "in-operation" || op.op === "ListBuckets" || op.op === "CreateBucket") return;
  const key = "key" in op ? op.key : undefined;
  authorizedBuckets.set(ctx, await authorize(ctx, required.action, op.bucket, key));
}

/** The bucket authorizeOperation approved this request for. */
export function authorizedBucket(ctx: S3Context, name: string): BucketRow {
  const bucket = authorizedBuckets.get(ctx);
  // An operation reading a bucket its request was not authorized for is a bug here, never a client's doing.
  if (!bucket || bucket.name !== name) throw new Error(`bucket ${name} was not authorized for this request`);
  return bucket;
}

const POLICY_CONFIG = "policy";

/** A bucket's policy: the text as its owner put it, and the parsed document that is evaluated. */
export interface StoredBucketPolicy {
  text: string;
  document: BucketPolicy;
}

/** Policies by bucket id, per isolate, no longer than bucket rows; a change in this isolate is seen at once. */
const policies = new TtlCache<string, { policy: StoredBucketPolicy | null }>(BUCKET_CACHE_TTL_MS);

export async function bucketPolicyOf(env: S3Context["env"], bucket: BucketRow): Promise<StoredBucketPolicy | null> {
  const entry = await policies.get(bucket.id, Date.now(), async () => {
    const text = await bucketIndexFor(env, bucket.id).getConfig(POLICY_CONFIG);
    return { policy: text === null ? null : { text, document: parseBucketPolicy(text, bucket.name) } };
  });
  return entry!.policy;
}

export async function putBucketPolicy(env: S3Context["env"], bucket: BucketRow, policy: StoredBucketPolicy): Promise<void> {
  await bucketIndexFor(env, bucket.id).setConfig(POLICY_CONFIG, policy.text);
  policies.delete(bucket.id);
}

export async function deleteBucketPolicy(env: S3Context["env"], bucket: BucketRow): Promise<void> {
  await bucketIndexFor(env, bucket.id).deleteConfig(POLICY_CONFIG);
  policies.delete(bucket.id);
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

/** The canned ACLs earlier releases stored for a bucket as a bare name. */
export type BucketAcl = "private" | "public-read";
export const ACL_CONFIG = "acl";
export const OWNERSHIP_CONFIG = "ownershipControls";
export const PUBLIC_ACCESS_BLOCK_CONFIG = "publicAccessBlock";

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
