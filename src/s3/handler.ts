// The S3 front door: request id, routing, authentication, dispatch to the operation, and every failure
// rendered once as S3 XML.

import { clockNow } from "../clock.ts";
import { configOf } from "../config.ts";
import { bucketIndexFor } from "../services/bucket-indexes.ts";
import { RequestMeter, requestBytesIn } from "../services/metering.ts";
import { openDb } from "../db/client.ts";
import type { Env } from "../env.ts";
import { randomHex, base64 } from "../protocol/crypto.ts";
import { headersAsSigned, rawPathAndQuery, SigV4Error } from "../protocol/sigv4.ts";
import { NoCapacityError } from "../services/blob-storage.ts";
import { CiphertextIntegrityError } from "../services/crypto/errors.ts";
import { NodeRequestError } from "../services/node-client.ts";
import { authenticateS3, refuseUnsignedAmzHeaders } from "./auth.ts";
import { checkKeyScope } from "./key-scope.ts";
import type { Principal, S3Context } from "./context.ts";
import { S3Error } from "./errors.ts";
import { deleteBucketEncryptionOp, getBucketEncryptionOp, putBucketEncryptionOp } from "./operations/bucket-encryption.ts";
import {
  createBucketOp,
  deleteBucketOp,
  deleteBucketTaggingOp,
  getBucketLocationOp,
  getBucketTaggingOp,
  getBucketCorsOp,
  putBucketCorsOp,
  deleteBucketCorsOp,
  CORS_CONFIG,
  getBucketLifecycleOp,
  putBucketLifecycleOp,
  deleteBucketLifecycleOp,
  getBucketVersioningOp,
  putBucketVersioningOp,
  headBucketOp,
  listBucketsOp,
  putBucketTaggingOp,
} from "./operations/buckets.ts";
import { listObjectsV1Op, listObjectsV2Op, listObjectVersionsOp } from "./operations/list.ts";
import {
  abortMultipartUploadOp,
  completeMultipartUploadOp,
  createMultipartUploadOp,
  listMultipartUploadsOp,
  listPartsOp,
  uploadPartCopyOp,
  uploadPartOp,
} from "./operations/multipart.ts";
import {
  copyObjectOp,
  deleteObjectOp,
  deleteObjectsOp,
  deleteObjectTaggingOp,
  getObjectAttributesOp,
  getObjectOp,
  getObjectTaggingOp,
  putObjectOp,
  putObjectTaggingOp,
  postObjectOp,
} from "./operations/objects.ts";
import {
  getObjectLegalHoldOp,
  getObjectLockConfigurationOp,
  getObjectRetentionOp,
  putObjectLegalHoldOp,
  putObjectLockConfigurationOp,
  putObjectRetentionOp,
} from "./operations/object-lock.ts";
import { errorResponse } from "./respond.ts";
import { ServerTiming, serverTimingEnabled, timedEnv } from "./server-timing.ts";
import { locate, parseS3Query, routeS3Request, type S3Op } from "./router.ts";
import { checkResponseOverrides } from "./object-headers.ts";
import { corsHeaders, matchCorsRule, requestedHeaders, type CorsRule } from "./cors.ts";
import { authorizeOperation, checkExpectedBucketOwners, getBucket } from "./bucket-access.ts";
import { deleteBucketPolicyOp, getBucketPolicyOp, getBucketPolicyStatusOp, putBucketPolicyOp } from "./operations/bucket-policy.ts";
import { getBucketAclOp, getObjectAclOp, putBucketAclOp, putObjectAclOp } from "./operations/acls.ts";
import {
  deleteBucketOwnershipControlsOp,
  deletePublicAccessBlockOp,
  getBucketOwnershipControlsOp,
  getPublicAccessBlockOp,
  putBucketOwnershipControlsOp,
  putPublicAccessBlockOp,
} from "./operations/bucket-controls.ts";

export async function handleS3(request: Request, plainEnv: Env, waitUntil: (p: Promise<unknown>) => void): Promise<Response> {
  // Off unless the SERVER_TIMING debug var is set: then D1, Durable Object and subrequest time is reported.
  const timing = serverTimingEnabled(plainEnv) ? new ServerTiming() : undefined;
  const env = timing ? timedEnv(plainEnv, timing) : plainEnv;
  const started = performance.now();
  const requestId = randomHex(8).toUpperCase();
  const { rawPath, rawQuery } = rawPathAndQuery(request.url);
  const headers = headersAsSigned(request);
  const host = headers.get("host")!;
  const baseDomains = configOf(env).s3BaseDomains;
  const db = openDb(env.DB);
  const origin = request.headers.get("origin");
  let bucketName: string | undefined;
  let response: Response;
  try {
    // Malformed percent-encoding in the path or the query is InvalidURI, before anything else reads them.
    const query = parseS3Query(rawQuery);
    bucketName = locate(host, rawPath, baseDomains).bucket;
    if (request.method === "OPTIONS") {
      response = await answerPreflight(request, env, db, bucketName);
      return finish(response, requestId, timing, started);
    }
    const op = routeS3Request({ method: request.method, host, rawPath, query, headers: request.headers }, baseDomains);
    const now = await clockNow(env);
    const regions = configOf(env).s3Regions;
    const authenticate = () => authenticateS3({ method: request.method, rawPath, rawQuery, headers }, db, env.KEY_ENCRYPTION_KEY, regions, baseDomains, now);
    const principal = await (timing ? timing.time("auth", authenticate) : authenticate());
    checkUnsignedRequest(op, principal, request.headers);
    checkKeyScope(principal, op, query, request.headers);
    if (op.op === "GetObject" || op.op === "HeadObject") checkResponseOverrides(query, principal.signature === null);
    const meter = new RequestMeter(op.op, "bucket" in op ? op.bucket : undefined, now.getTime(), requestBytesIn(request), request);
    const ctx: S3Context = { request, env, db, principal, requestId, now, region: regions[0]!, waitUntil, query, meter };
    await checkExpectedBucketOwners(ctx, op);
    await authorizeOperation(ctx, op);
    response = await dispatch(ctx, op);
  } catch (error) {
    response = errorResponse(toS3Error(error, requestId), requestId, safeDecode(rawPath), request.method);
  }
  if (origin !== null && bucketName !== undefined) {
    const rules = await bucketCorsRules(env, db, bucketName).catch(() => null);
    const rule = rules && matchCorsRule(rules, origin, request.method, []);
    if (rule) corsHeaders(rule, origin, false, []).forEach((value, name) => response.headers.set(name, value));
  }
  return finish(response, requestId, timing, started);
}

/**
 * A request without a signature has nothing to vouch for its x-amz-* headers. An anonymous caller's headers are
 * its own, shaping only what a bucket policy lets anyone do (no anonymous request carries a body: payload.ts). A browser form upload is
 * authorized by its signed policy, which covers its form fields, never its HTTP headers: S3 takes everything
 * from the fields, so an x-amz-* header there (say, a customer encryption key) is refused rather than acted on.
 */
function checkUnsignedRequest(op: S3Op, principal: Principal, requestHeaders: Headers): void {
  if (op.op === "PostObject") refuseUnsignedAmzHeaders(requestHeaders, principal.signature?.signedHeaders ?? []);
}

/** Headers every S3 response carries. */
function finish(response: Response, requestId: string, timing: ServerTiming | undefined, started: number): Response {
  // S3 never compresses; Cloudflare's edge would compress XML and text bodies for clients that accept gzip,
  // and clients that asked for gzip explicitly (rclone) would then store compressed bytes. A response that has
  // a Content-Encoding of its own is left alone by the edge.
  if (!response.headers.has("content-encoding")) response.headers.set("content-encoding", "identity");
  response.headers.set("x-amz-request-id", requestId);
  response.headers.set("x-amz-id-2", base64(crypto.getRandomValues(new Uint8Array(24))));
  if (timing) {
    timing.add("handler", performance.now() - started);
    response.headers.set("server-timing", timing.header());
  }
  return response;
}

async function bucketCorsRules(env: Env, db: ReturnType<typeof openDb>, name: string): Promise<CorsRule[] | null> {
  const bucket = await getBucket(db, name);
  if (!bucket) return null;
  return bucketIndexFor(env, bucket.id).getConfig(CORS_CONFIG);
}

/** A CORS preflight: unauthenticated, answered from the bucket's CORS rules (https://docs.aws.amazon.com/AmazonS3/latest/API/RESTOPTIONSobject.html). */
async function answerPreflight(request: Request, env: Env, db: ReturnType<typeof openDb>, bucketName: string | undefined): Promise<Response> {
  const origin = request.headers.get("origin");
  const method = request.headers.get("access-control-request-method");
  if (!origin || !method) throw new S3Error("InvalidRequest", "Insufficient information. Origin request header needed.");
  if (bucketName === undefined) throw new S3Error("AccessForbidden", "CORSResponse: Bucket not found");
  const rules = await bucketCorsRules(env, db, bucketName);
  if (!rules) throw new S3Error("AccessForbidden", "CORSResponse: CORS is not enabled for this bucket.");
  const wanted = requestedHeaders(request.headers.get("access-control-request-headers"));
  const rule = matchCorsRule(rules, origin, method, wanted);
  if (!rule) {
    throw new S3Error(
      "AccessForbidden",
      "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
    );
  }
  return new Response(null, { status: 200, headers: corsHeaders(rule, origin, true, wanted) });
}

function dispatch(ctx: S3Context, op: S3Op): Promise<Response> {
  switch (op.op) {
    case "ListBuckets":
      return listBucketsOp(ctx);
    case "CreateBucket":
      return createBucketOp(ctx, op.bucket);
    case "HeadBucket":
      return headBucketOp(ctx, op.bucket);
    case "DeleteBucket":
      return deleteBucketOp(ctx, op.bucket);
    case "GetBucketLocation":
      return getBucketLocationOp(ctx, op.bucket);
    case "ListObjectsV2":
      return listObjectsV2Op(ctx, op.bucket);
    case "ListObjects":
      return listObjectsV1Op(ctx, op.bucket);
    case "DeleteObjects":
      return deleteObjectsOp(ctx, op.bucket);
    case "PutObject":
      return putObjectOp(ctx, op.bucket, op.key);
    case "GetObject":
      return getObjectOp(ctx, op.bucket, op.key, false);
    case "HeadObject":
      return getObjectOp(ctx, op.bucket, op.key, true);
    case "DeleteObject":
      return deleteObjectOp(ctx, op.bucket, op.key);
    case "CreateMultipartUpload":
      return createMultipartUploadOp(ctx, op.bucket, op.key);
    case "UploadPart":
      return uploadPartOp(ctx, op.bucket, op.key, op.uploadId, op.partNumber);
    case "CompleteMultipartUpload":
      return completeMultipartUploadOp(ctx, op.bucket, op.key, op.uploadId);
    case "AbortMultipartUpload":
      return abortMultipartUploadOp(ctx, op.bucket, op.key, op.uploadId);
    case "ListParts":
      return listPartsOp(ctx, op.bucket, op.key, op.uploadId);
    case "CopyObject":
      return copyObjectOp(ctx, op.bucket, op.key);
    case "UploadPartCopy":
      return uploadPartCopyOp(ctx, op.bucket, op.key, op.uploadId, op.partNumber);
    case "ListMultipartUploads":
      return listMultipartUploadsOp(ctx, op.bucket);
    case "GetObjectTagging":
      return getObjectTaggingOp(ctx, op.bucket, op.key);
    case "PutObjectTagging":
      return putObjectTaggingOp(ctx, op.bucket, op.key);
    case "DeleteObjectTagging":
      return deleteObjectTaggingOp(ctx, op.bucket, op.key);
    case "GetObjectAttributes":
      return getObjectAttributesOp(ctx, op.bucket, op.key);
    case "GetBucketTagging":
      return getBucketTaggingOp(ctx, op.bucket);
    case "PutBucketTagging":
      return putBucketTaggingOp(ctx, op.bucket);
    case "DeleteBucketTagging":
      return deleteBucketTaggingOp(ctx, op.bucket);
    case "GetBucketVersioning":
      return getBucketVersioningOp(ctx, op.bucket);
    case "PutBucketVersioning":
      return putBucketVersioningOp(ctx, op.bucket);
    case "ListObjectVersions":
      return listObjectVersionsOp(ctx, op.bucket);
    case "GetBucketAcl":
      return getBucketAclOp(ctx, op.bucket);
    case "PutBucketAcl":
      return putBucketAclOp(ctx, op.bucket);
    case "GetObjectAcl":
      return getObjectAclOp(ctx, op.bucket, op.key);
    case "PutObjectAcl":
      return putObjectAclOp(ctx, op.bucket, op.key);
    case "GetBucketEncryption":
      return getBucketEncryptionOp(ctx, op.bucket);
    case "PutBucketEncryption":
      return putBucketEncryptionOp(ctx, op.bucket);
    case "DeleteBucketEncryption":
      return deleteBucketEncryptionOp(ctx, op.bucket);
    case "GetBucketCors":
      return getBucketCorsOp(ctx, op.bucket);
    case "PutBucketCors":
      return putBucketCorsOp(ctx, op.bucket);
    case "DeleteBucketCors":
      return deleteBucketCorsOp(ctx, op.bucket);
    case "GetBucketLifecycle":
      return getBucketLifecycleOp(ctx, op.bucket);
    case "PutBucketLifecycle":
      return putBucketLifecycleOp(ctx, op.bucket);
    case "DeleteBucketLifecycle":
      return deleteBucketLifecycleOp(ctx, op.bucket);
    case "PostObject":
      return postObjectOp(ctx, op.bucket);
    case "GetBucketPolicy":
      return getBucketPolicyOp(ctx, op.bucket);
    case "PutBucketPolicy":
      return putBucketPolicyOp(ctx, op.bucket);
    case "DeleteBucketPolicy":
      return deleteBucketPolicyOp(ctx, op.bucket);
    case "GetBucketPolicyStatus":
      return getBucketPolicyStatusOp(ctx, op.bucket);
    case "GetObjectLockConfiguration":
      return getObjectLockConfigurationOp(ctx, op.bucket);
    case "PutObjectLockConfiguration":
      return putObjectLockConfigurationOp(ctx, op.bucket);
    case "GetObjectRetention":
      return getObjectRetentionOp(ctx, op.bucket, op.key);
    case "PutObjectRetention":
      return putObjectRetentionOp(ctx, op.bucket, op.key);
    case "GetObjectLegalHold":
      return getObjectLegalHoldOp(ctx, op.bucket, op.key);
    case "PutObjectLegalHold":
      return putObjectLegalHoldOp(ctx, op.bucket, op.key);
    case "GetBucketOwnershipControls":
      return getBucketOwnershipControlsOp(ctx, op.bucket);
    case "PutBucketOwnershipControls":
      return putBucketOwnershipControlsOp(ctx, op.bucket);
    case "DeleteBucketOwnershipControls":
      return deleteBucketOwnershipControlsOp(ctx, op.bucket);
    case "GetPublicAccessBlock":
      return getPublicAccessBlockOp(ctx, op.bucket);
    case "PutPublicAccessBlock":
      return putPublicAccessBlockOp(ctx, op.bucket);
    case "DeletePublicAccessBlock":
      return deletePublicAccessBlockOp(ctx, op.bucket);
    default: {
      const unreachable: never = op;
      throw new Error(`unrouted operation ${JSON.stringify(unreachable)}`);
    }
  }
}

function toS3Error(error: unknown, requestId: string): S3Error {
  if (error instanceof S3Error) return error;
  // SigV4's failure codes are S3's; its details (our canonical request, string to sign) are S3's debug fields.
  if (error instanceof SigV4Error) return new S3Error(error.code, error.message, error.details);
  // Storage nodes failing or full: 503 so SDKs retry the request (their bodies are replayable; ours are not).
  if (error instanceof NoCapacityError || error instanceof NodeRequestError) {
    console.warn(JSON.stringify({ event: "storage_unavailable", requestId, error: error.message }));
    return new S3Error("ServiceUnavailable", "Storage is temporarily unavailable; please retry.");
  }
  if (error instanceof CiphertextIntegrityError) {
    // Every replica tried served ciphertext that does not authenticate: nothing of it was sent, and the
    // replicas are queued for repair.
    console.error(JSON.stringify({ event: "no_intact_replica", requestId, error: error.message }));
    return new S3Error("InternalError", "No intact copy of the object could be read; please retry later.");
  }
  console.error(JSON.stringify({ event: "s3_internal_error", requestId, error: String(error), stack: (error as Error)?.stack }));
  return new S3Error("InternalError");
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
