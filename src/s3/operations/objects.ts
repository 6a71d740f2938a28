// Object operations: PutObject, CopyObject, GetObject, HeadObject, DeleteObject, DeleteObjects,
// object tagging and GetObjectAttributes.

import { configOf } from "../../config.ts";
import type { BucketRow } from "../../db/schema.ts";
import { freeBlobs, segmentKeysUnder, storeSegment, streamSegments } from "../../services/blob-storage.ts";
import type { KeyEncryptionKey } from "../../services/segment-cipher.ts";
import { checkWriteCondition, isDeleteMarker, NULL_VERSION, replicasOf, type ObjectRecord, type WriteCondition } from "../../services/object-model.ts";
import { NodeEgressTally, recordNodeEgress } from "../../services/metering.ts";
import { DigestStage, readChunks, readSizeFor } from "../../services/pipeline.ts";
import { authorize, authorizedBucket, bucketIndex, getBucket, objectAclForWrite } from "../bucket-access.ts";
import { lookupAccessKey, type AccessKey } from "../auth.ts";
import { checkFormUploadScope, keyScopeAllowsWrite, keyScopeDeniesWrite } from "../key-scope.ts";
import { readFormUpload, verifyPostPolicy } from "../form-upload.ts";
import { ChecksumStage, checksumHeaderName, parseChecksumAlgorithm } from "../checksums.ts";
import { bucketEncryptionDefault, checkCustomerKey, COPY_SOURCE_CUSTOMER_KEY, encryptionForWrite, keyForRead, setEncryptionHeaders } from "../encryption.ts";
import { kmsNeedsSigV4 } from "../sigv2.ts";
import type { S3Context } from "../context.ts";
import { S3Error } from "../errors.ts";
import {
  evaluateCopySourceConditions,
  evaluateReadPreconditions,
  isMultipartObject,
  objectResponseHeaders,
  parseCopySource,
  parseRange,
  partRange,
  storedHeadersFrom,
  userMetadataFrom,
  validateObjectKey,
  writeConditionError,
  writeConditionFrom,
} from "../object-headers.ts";
import { MAX_PUT_SIZE, openPayload, readDocumentBody } from "../payload.ts";
import { isoTime, quoteEtag, xmlResponse } from "../respond.ts";
import { parseTaggingHeader, parseTaggingXml, taggingXml } from "../tagging.ts";
import { parsePartNumber } from "../router.ts";
import { childText, parseXml } from "../xml.ts";
import { storageEnv, storageTarget } from "./storage-env.ts";
import { governanceBypass, lockForWrite } from "./object-lock.ts";
import { OBJECT_LOCKED_MESSAGE, setLockHeaders } from "../object-lock.ts";
import { MAX_OPEN_CONNECTIONS } from "../../services/connection-limit.ts";

export async function putObjectOp(ctx: S3Context, bucketName: string, key: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, bucketName);
  validateObjectKey(key);
  const headers = ctx.request.headers;
  const condition = writeConditionFrom(headers);
  const record = {
    headers: storedHeadersFrom(headers),
    userMetadata: userMetadataFrom(headers),
    tags: parseTaggingHeader(headers.get("x-amz-tagging")),
  };
  const index = bucketIndex(ctx, bucket);
  // Fail fast before moving any bytes; the bucket's writer checks again at commit, where it counts.
  if (condition) await assertWritable(index, key, condition);
  const lock = await lockForWrite(ctx, bucket, headers, true);
  const acl = await objectAclForWrite(ctx, bucket, headers, ctx.principal.accountId);
  const { encryption, kek } = await encryptionForWrite(ctx, bucket);

  const payload = openPayload(ctx.request, ctx.principal);
  const segment = await storeSegment(storageEnv(ctx), storageTarget(ctx, bucket), payload, kek);
  const stored: ObjectRecord = {
    key,
    size: segment.size,
    etag: segment.md5,
    lastModified: ctx.now.getTime(),
    ...record,
    storageClass: "STANDARD",
    segments: [segment],
    checksum: payload.checksum ? { algorithm: payload.checksum.algorithm, value: payload.checksum.value } : undefined,
    encryption,
    ...(lock ? { lock } : {}),
    ...(acl ? { acl } : {}),
  };
  const committed = await commitObject(ctx, bucket, stored, condition);

  const response = new Headers({ etag: quoteEtag(stored.etag) });
  setVersionHeader(response, committed.versionId);
  setEncryptionHeaders(response, encryption);
  if (stored.checksum && payload.checksum) response.set(checksumHeaderName(payload.checksum.algorithm), stored.checksum.value);
  return new Response(null, { status: 200, headers: response });
}

async function assertWritable(index: ReturnType<typeof bucketIndex>, key: string, condition: WriteCondition): Promise<void> {
  const failure = checkWriteCondition(await index.getObject(key), condition);
  if (failure) throw writeConditionError(failure, key);
}

/**
 * x-amz-version-id, as S3 sends it: the id of the version a request wrote, read or deleted, omitted only in
 * buckets that were never versioned (whose versions are all "null").
 */
export function setVersionHeader(headers: Headers, versionId: string | undefined): void {
  if (versionId !== undefined && versionId !== NULL_VERSION) headers.set("x-amz-version-id", versionId);
}

/** Records the object in the bucket's index; frees the blobs of what it replaced, or its own if refused. */
async function commitObject(ctx: S3Context, bucket: BucketRow, record: ObjectRecord, condition?: WriteCondition): Promise<ObjectRecord> {
  const storage = storageEnv(ctx);
  let result;
  try {
    result = await bucketIndex(ctx, bucket).putObject(record, condition);
  } catch (error) {
    ctx.waitUntil(freeBlobs(storage, replicasOf(record.segments)));
    throw error;
  }
  if (!result.ok) {
    ctx.waitUntil(freeBlobs(storage, replicasOf(record.segments)));
    throw writeConditionError(result.code, record.key);
  }
  if (result.replaced) ctx.waitUntil(freeBlobs(storage, replicasOf(result.replaced.segments)));
  return result.record;
}

/** A copy source the caller may read: its record, and the key that opens it (the copy-source SSE-C key if any). */
export interface CopySource {
  bucket: BucketRow;
  record: ObjectRecord;
  kek: KeyEncryptionKey;
}

/**
 * Looks up a copy source (optionally a specific version) that the source bucket lets the caller read: a copy
 * needs s3:GetObject (s3:GetObjectVersion for a version) on its source as well as s3:PutObject on its target
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html, "Permissions").
 */
export async function readCopySource(ctx: S3Context): Promise<CopySource> {
  const source = parseCopySource(ctx.request.headers.get("x-amz-copy-source")!);
  const read = source.versionId === undefined ? "s3:GetObject" : "s3:GetObjectVersion";
  const bucket = await authorize(ctx, read, source.bucket, source.key, { versionId: source.versionId });
  const record = await readVersion(ctx, bucket, source.key, source.versionId, true);
  const kek = await keyForRead(ctx, bucket, record.encryption, COPY_SOURCE_CUSTOMER_KEY);
  evaluateCopySourceConditions(record, ctx.request.headers);
  return { bucket, record, kek };
}

/**
 * The current version of a key, or the version asked for. A delete marker named by version id answers
 * 405 MethodNotAllowed (400 InvalidRequest as a copy source), as S3 does.
 */
export async function readVersion(ctx: S3Context, bucket: BucketRow, key: string, versionId: string | undefined, asCopySource = false): Promise<ObjectRecord> {
  const index = bucketIndex(ctx, bucket);
  if (versionId === undefined) {
    const current = await index.getObject(key);
    if (!current) throw new S3Error("NoSuchKey", undefined, { Key: key });
    return current;
  }
  const version = await index.getVersion(key, versionId);
  if (!version) throw new S3Error("NoSuchVersion", undefined, { Key: key, VersionId: versionId });
  if (isDeleteMarker(version)) {
    if (asCopySource) throw new S3Error("InvalidRequest", "The source of a copy request may not specifically refer to a delete marker by version id.");
    throw new S3Error("MethodNotAllowed", "The specified method is not allowed against this resource.", { Method: ctx.request.method, ResourceType: "DeleteMarker" });
  }
  return version;
}

function versionIdParam(ctx: S3Context): string | undefined {
  return ctx.query.get("versionId") ?? undefined;
}

/**
 * Streams bytes [start, end] of an existing object into a new blob, computing MD5 (and a checksum): decrypted
 * with the source's key and encrypted under `kek`, so a copy may change bucket and encryption mode.
 */
export async function copyBytes(ctx: S3Context, target: BucketRow, source: CopySource, start: number, end: number, kek: KeyEncryptionKey, checksumAlgorithm?: string) {
  const { record } = source;
  const length = record.size === 0 ? 0 : end - start + 1;
  const stream =
    length === 0
      ? new ReadableStream<Uint8Array>({ start: (c) => c.close() })
      : // The source is read on one connection: the destination's pieces stream on the other five (Workers allow six).
        await streamSegments(storageEnv(ctx), record.segments, start, end, ctx.waitUntil, segmentKeysUnder(source.kek), { oneConnection: true });
  const algorithm = checksumAlgorithm ? parseChecksumAlgorithm(checksumAlgorithm) : undefined;
  const checksum = algorithm ? new ChecksumStage(algorithm) : undefined;
  const segment = await storeSegment(storageEnv(ctx), { ...storageTarget(ctx, target), maxConnections: MAX_OPEN_CONNECTIONS - 1 }, {
    length,
    source: readChunks(stream, readSizeFor(length)),
    checks: checksum ? [checksum] : [],
    md5: new DigestStage("MD5"),
    verify: async () => {},
  }, kek);
  return { segment, checksum: checksum ? { algorithm: checksum.algorithm, value: checksum.value } : undefined };
}

/** CopyObject: https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html */
export async function copyObjectOp(ctx: S3Context, bucketName: string, key: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, bucketName);
  validateObjectKey(key);
  const headers = ctx.request.headers;
  const copySource = await readCopySource(ctx);
  const { bucket: sourceBucket, record: source } = copySource;
  const metadataDirective = (headers.get("x-amz-metadata-directive") ?? "COPY").toUpperCase();
  const taggingDirective = (headers.get("x-amz-tagging-directive") ?? "COPY").toUpperCase();
  if (!["COPY", "REPLACE"].includes(metadataDirective)) throw new S3Error("InvalidArgument", "Unknown metadata directive.", { ArgumentName: "x-amz-metadata-directive" });
  if (!["COPY", "REPLACE"].includes(taggingDirective)) throw new S3Error("InvalidArgument", "Unknown tagging directive.", { ArgumentName: "x-amz-tagging-directive" });
  const changesEncryption = headers.has("x-amz-server-side-encryption") || headers.has("x-amz-server-side-encryption-customer-algorithm");
  if (sourceBucket.name === bucket.name && source.key === key && metadataDirective === "COPY" && taggingDirective === "COPY" && !changesEncryption) {
    throw new S3Error(
      "InvalidRequest",
      "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
    );
  }
  if (source.size > MAX_PUT_SIZE) throw new S3Error("InvalidRequest", "The specified copy source is larger than the maximum allowable size for a copy source: 5368709120");
  const condition = writeConditionFrom(headers);
  if (condition) await assertWritable(bucketIndex(ctx, bucket), key, condition);
  // The copy is a new version: it gets the lock this request names (or the destination's default), never the source's.
  const lock = await lockForWrite(ctx, bucket, headers, false);
  // Like any new object, the copy gets the ACL its request sets, never the source's (API_CopyObject.html, x-amz-acl).
  const acl = await objectAclForWrite(ctx, bucket, headers, ctx.principal.accountId);

  // The destination is encrypted as the request or the destination bucket says, never as the source was.
  const { encryption, kek } = await encryptionForWrite(ctx, bucket);
  const checksumAlgorithm = headers.get("x-amz-checksum-algorithm") ?? source.checksum?.algorithm;
  const { segment, checksum } = await copyBytes(ctx, bucket, copySource, 0, source.size - 1, kek, checksumAlgorithm);
  const replace = metadataDirective === "REPLACE";
  const record: ObjectRecord = {
    key,
    size: segment.size,
    etag: segment.md5,
    lastModified: ctx.now.getTime(),
    headers: replace ? storedHeadersFrom(headers) : source.headers,
    userMetadata: replace ? userMetadataFrom(headers) : source.userMetadata,
    tags: taggingDirective === "REPLACE" ? parseTaggingHeader(headers.get("x-amz-tagging")) : source.tags,
    storageClass: "STANDARD",
    segments: [segment],
    checksum,
    encryption,
    ...(lock ? { lock } : {}),
    ...(acl ? { acl } : {}),
  };
  const committed = await commitObject(ctx, bucket, record, condition);
  const response = new Headers();
  setVersionHeader(response, committed.versionId);
  setEncryptionHeaders(response, encryption);
  if (source.versionId && source.versionId !== NULL_VERSION) response.set("x-amz-copy-source-version-id", source.versionId);
  return xmlResponse(
    "CopyObjectResult",
    {
      ETag: quoteEtag(record.etag),
      LastModified: isoTime(record.lastModified),
      ...(checksum ? { [`Checksum${checksum.algorithm}`]: checksum.value } : {}),
    },
    { headers: response },
  );
}

export async function getObjectOp(ctx: S3Context, bucketName: string, key: string, head: boolean): Promise<Response> {
  const bucket = authorizedBucket(ctx, bucketName);
  const partNumber = ctx.query.has("partNumber") ? parsePartNumber(ctx.query.get("partNumber")) : undefined;
  const record = await readVersion(ctx, bucket, key, versionIdParam(ctx));
  // An SSE-C object answers nothing, not even its size, without its key. HEAD decrypts nothing, so it needs
  // no usable KMS key (as in S3); a GET resolves its key before answering.
  const kek = head ? await checkCustomerKey(ctx, bucket, record.encryption).then(() => undefined) : await keyForRead(ctx, bucket, record.encryption);

  // Preconditions come before Range (RFC 9110 section 13.2.2).
  const condition = evaluateReadPreconditions(record, ctx.request.headers);
  const rangeHeader = ctx.request.headers.get("range");
  const range = condition === 304 ? undefined : partNumber !== undefined ? partRange(record, partNumber, rangeHeader) : parseRange(rangeHeader, record.size);
  const headers = objectResponseHeaders(record, ctx.query, ctx.request.headers, range === undefined);
  // "The count of parts this object has. This value is only returned if you specify partNumber in your request and
  // the object was uploaded as a multipart upload." (API_HeadObject, x-amz-mp-parts-count)
  if (partNumber !== undefined && isMultipartObject(record)) headers.set("x-amz-mp-parts-count", String(record.segments.length));
  setVersionHeader(headers, record.versionId);
  setEncryptionHeaders(headers, record.encryption);
  // The owner may read a version's retention and legal hold (s3:GetObjectRetention, s3:GetObjectLegalHold); others
  // reading a public bucket do not see them, as S3 sends them only to callers with those permissions.
  if (bucket.accountId === ctx.principal.accountId) setLockHeaders(headers, record.lock);
  if (condition === 304) {
    const notModified = new Headers();
    for (const name of ["etag", "last-modified", "cache-control", "expires"]) {
      const v = headers.get(name);
      if (v !== null) notModified.set(name, v);
    }
    return new Response(null, { status: 304, headers: notModified });
  }

  const start = range?.start ?? 0;
  const end = range?.end ?? record.size - 1;
  const length = record.size === 0 ? 0 : end - start + 1;
  headers.set("content-length", String(length));
  if (range) headers.set("content-range", `bytes ${start}-${end}/${record.size}`);
  const status = range ? 206 : 200;
  if (head || length === 0) return new Response(null, { status, headers });

  // Bytes each node delivers are counted as they pass and recorded in the bucket's index once the body has ended.
  const served = new NodeEgressTally();
  const afterEnd = () => recordNodeEgress(bucketIndex(ctx, bucket), ctx.now.getTime(), served);
  const body = await streamSegments({ ...storageEnv(ctx), served }, record.segments, start, end, ctx.waitUntil, segmentKeysUnder(kek), { afterEnd });
  // "manual": the bytes go out exactly as stored, even when the object's Content-Encoding says gzip.
  return new Response(body, { status, headers, encodeBody: "manual" });
}

export async function deleteObjectOp(ctx: S3Context, bucketName: string, key: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, bucketName);
  const versionId = versionIdParam(ctx);
  const outcome = await bucketIndex(ctx, bucket).deleteObject(key, versionId, ctx.now.getTime(), await governanceBypass(ctx, bucket.name, key));
  // A version Object Lock protects stays; a delete without a version id only ever adds a delete marker.
  if (outcome.locked) throw new S3Error("AccessDenied", OBJECT_LOCKED_MESSAGE);
  if (outcome.freed) ctx.waitUntil(freeBlobs(storageEnv(ctx), replicasOf(outcome.freed.segments)));
  // https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObject.html: x-amz-version-id is the version the
  // request deleted, or the delete marker it created, which in a suspended bucket is the "null" version;
  // x-amz-delete-marker says that version is (or was) a delete marker. An unversioned bucket answers neither.
  const headers = new Headers();
  if (outcome.versionId !== undefined && (versionId !== undefined || outcome.deleteMarker)) headers.set("x-amz-version-id", outcome.versionId);
  if (outcome.deleteMarker) headers.set("x-amz-delete-marker", "true");
  return new Response(null, { status: 204, headers });
}

/** DeleteObjects: up to 1000 keys; every key gets a Deleted or Error entry (Deleted omitted in quiet mode). */
export async function deleteObjectsOp(ctx: S3Context, bucketName: string): Promise<Response> {
  const bucket = await getBucket(ctx.db, bucketName);
  if (!bucket) throw new S3Error("NoSuchBucket", undefined, { BucketName: bucketName });
  const doc = parseXml(await readDocumentBody(ctx.request, ctx.principal));
  if (!doc || doc.name !== "Delete") throw new S3Error("MalformedXML");
  const quiet = childText(doc, "Quiet")?.trim().toLowerCase() === "true";
  const targets = doc.children.filter((c) => c.name === "Object").map((o) => ({ key: childText(o, "Key"), versionId: childText(o, "VersionId") }));
  if (targets.length === 0 || targets.length > 1000 || targets.some((t) => t.key === undefined)) throw new S3Error("MalformedXML");

  const index = bucketIndex(ctx, bucket);
  const deleted: Record<string, string | boolean | undefined>[] = [];
  const errors: { Key: string; VersionId?: string; Code: string; Message: string }[] = [];
  for (const { key, versionId } of targets as { key: string; versionId?: string }[]) {
    try {
      if (!keyScopeAllowsWrite(ctx.principal.scope, bucket.name, key)) throw keyScopeDeniesWrite(ctx.principal.accessKeyId, bucket.name, key);
      // Each key is its own decision: S3 answers AccessDenied for the keys the caller may not delete.
      await authorize(ctx, versionId === undefined ? "s3:DeleteObject" : "s3:DeleteObjectVersion", bucket.name, key, { versionId });
      const outcome = await index.deleteObject(key, versionId, ctx.now.getTime(), await governanceBypass(ctx, bucket.name, key));
      if (outcome.locked) throw new S3Error("AccessDenied", OBJECT_LOCKED_MESSAGE);
      if (outcome.freed) ctx.waitUntil(freeBlobs(storageEnv(ctx), replicasOf(outcome.freed.segments)));
      const marker = outcome.deleteMarker;
      deleted.push({
        Key: key,
        VersionId: versionId,
        DeleteMarker: marker ? true : undefined,
        DeleteMarkerVersionId: marker && versionId === undefined ? outcome.versionId : undefined,
      });
    } catch (error) {
      // The client gets S3's code and message only; what went wrong goes to the log under the request id.
      const s3Error = error instanceof S3Error ? error : new S3Error("InternalError");
      if (!(error instanceof S3Error)) console.error(JSON.stringify({ event: "delete_objects_key_failed", requestId: ctx.requestId, error: String(error), stack: (error as Error)?.stack }));
      errors.push({ Key: key, VersionId: versionId, Code: s3Error.code, Message: s3Error.message });
    }
  }
  return xmlResponse("DeleteResult", { Deleted: quiet ? undefined : deleted, Error: errors });
}

export async function getObjectTaggingOp(ctx: S3Context, bucketName: string, key: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, bucketName);
  const record = await readVersion(ctx, bucket, key, versionIdParam(ctx));
  const headers = new Headers();
  setVersionHeader(headers, record.versionId);
  return xmlResponse("Tagging", taggingXml(record.tags ?? {}), { headers });
}

export async function putObjectTaggingOp(ctx: S3Context, bucketName: string, key: string): Promise<Response> {
  const tags = parseTaggingXml(await readDocumentBody(ctx.request, ctx.principal), "object");
  // Authorized once the tags are known: s3:RequestObjectTag/<key> conditions test them.
  const action = versionIdParam(ctx) === undefined ? "s3:PutObjectTagging" : "s3:PutObjectVersionTagging";
  const bucket = await authorize(ctx, action, bucketName, key, { requestTags: tags });
  await setTags(ctx, bucket, key, tags);
  return new Response(null, { status: 200 });
}

export async function deleteObjectTaggingOp(ctx: S3Context, bucketName: string, key: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, bucketName);
  await setTags(ctx, bucket, key, {});
  return new Response(null, { status: 204 });
}

async function setTags(ctx: S3Context, bucket: BucketRow, key: string, tags: Record<string, string>): Promise<void> {
  const versionId = versionIdParam(ctx);
  if (!(await bucketIndex(ctx, bucket).setObjectTags(key, tags, versionId))) {
    throw versionId === undefined ? new S3Error("NoSuchKey", undefined, { Key: key }) : new S3Error("NoSuchVersion", undefined, { Key: key, VersionId: versionId });
  }
}

/** GetObjectAttributes: https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObjectAttributes.html */
export async function getObjectAttributesOp(ctx: S3Context, bucketName: string, key: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, bucketName);
  const record = await readVersion(ctx, bucket, key, versionIdParam(ctx));
  // Like GET and HEAD, an SSE-C object describes itself only to the holder of its key.
  await checkCustomerKey(ctx, bucket, record.encryption);
  const wanted = new Set(
    (ctx.request.headers.get("x-amz-object-attributes") ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
  );
  if (wanted.size === 0) throw new S3Error("InvalidArgument", "x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty", { ArgumentName: "x-amz-object-attributes" });
  const maxParts = Math.min(Number(ctx.request.headers.get("x-amz-max-parts") ?? "1000"), 1000);
  const marker = Number(ctx.request.headers.get("x-amz-part-number-marker") ?? "0");
  const multipart = isMultipartObject(record);
  // Each part with the checksum it arrived with (ChecksumCRC32, ...), as the ObjectPart type lists it.
  const parts = record.segments
    .map((s, i) => ({ PartNumber: i + 1, Size: s.size, ...(s.checksum ? { [`Checksum${s.checksum.algorithm}`]: s.checksum.value } : {}) }))
    .filter((p) => p.PartNumber > marker);
  const page = parts.slice(0, maxParts);
  const headers = new Headers({ "last-modified": new Date(record.lastModified).toUTCString() });
  // The version read is named in x-amz-version-id (API_GetObjectAttributes, response headers).
  setVersionHeader(headers, record.versionId);
  return xmlResponse(
    "GetObjectAttributesResponse",
    {
      ETag: wanted.has("ETag") ? record.etag : undefined,
      Checksum:
        wanted.has("Checksum") && record.checksum
          ? { [`Checksum${record.checksum.algorithm}`]: record.checksum.value, ChecksumType: record.checksum.type ?? "FULL_OBJECT" }
          : undefined,
      ObjectParts:
        wanted.has("ObjectParts") && multipart
          ? {
              PartsCount: record.segments.length,
              PartNumberMarker: marker,
              NextPartNumberMarker: page.length ? page[page.length - 1]!.PartNumber : marker,
              MaxParts: maxParts,
              IsTruncated: parts.length > page.length,
              Part: page,
            }
          : undefined,
      StorageClass: wanted.has("StorageClass") ? record.storageClass : undefined,
      ObjectSize: wanted.has("ObjectSize") ? record.size : undefined,
    },
    { headers },
  );
}

/**
 * PostObject: a browser form upload authorized by a signed policy instead of a signed request.
 * https://docs.aws.amazon.com/AmazonS3/latest/API/RESTObjectPOST.html
 */
export async function postObjectOp(ctx: S3Context, bucketName: string): Promise<Response> {
  const contentLength = Number(ctx.request.headers.get("content-length") ?? NaN);
  if (!Number.isSafeInteger(contentLength)) throw new S3Error("MissingContentLength");
  const form = await readFormUpload(ctx.request.headers.get("content-type") ?? "", contentLength, readChunks(ctx.request.body ?? new ReadableStream()));
  const named = await getBucket(ctx.db, bucketName);
  if (!named) throw new S3Error("NoSuchBucket", undefined, { BucketName: bucketName });
  const regions = configOf(ctx.env).s3Regions;
  // The signer's key is looked up once, for its secret and then for its account and scope.
  let signerKey: AccessKey | undefined;
  const signer = await verifyPostPolicy(form, named.name, ctx.now, regions, async (id) => (signerKey = await lookupAccessKey(ctx.db, ctx.env.KEY_ENCRYPTION_KEY, id, ctx.now))?.secret);
  if (!signerKey) throw new S3Error("AccessDenied");
  const signerAccount = signerKey.accountId;

  const fields = form.fields;
  const keyTemplate = fields.get("key");
  if (!keyTemplate) throw new S3Error("InvalidArgument", "Bucket POST must contain a field named 'key'.", { ArgumentName: "key" });
  const key = keyTemplate.replace(/\$\{filename\}/g, form.filename);
  validateObjectKey(key);
  checkFormUploadScope(signerKey.scope, signer.accessKeyId, named.name, key, fields);
  // The form acts as the account whose key signed its policy, with its fields as the request's S3 headers.
  const bucket = await authorize(ctx, "s3:PutObject", named.name, key, {
    accountId: signerAccount,
    headers: new Headers([...fields].filter(([name]) => name.startsWith("x-amz-") || name === "acl").map(([name, value]) => [name === "acl" ? "x-amz-acl" : name, value])),
    authType: "POST",
    signatureVersion: signer.v2 ? "AWS" : "AWS4-HMAC-SHA256",
    requestTags: fields.has("tagging") ? parseTaggingXml(fields.get("tagging")!, "object") : {},
  });
  const formHeaders = new Headers();
  for (const [name, value] of fields) {
    if (name.startsWith("x-amz-meta-") || ["content-type", "cache-control", "content-disposition", "content-encoding", "expires"].includes(name)) formHeaders.set(name, value);
  }
  if (!formHeaders.has("content-type") && form.fileContentType) formHeaders.set("content-type", form.fileContentType);
  const lockFields = new Headers();
  for (const name of ["x-amz-object-lock-mode", "x-amz-object-lock-retain-until-date", "x-amz-object-lock-legal-hold"]) {
    if (fields.has(name)) lockFields.set(name, fields.get(name)!);
  }
  // A form's bytes are covered by its signed policy, not by Content-MD5, which browsers cannot compute.
  const lock = await lockForWrite(ctx, bucket, lockFields, false);
  const aclFields = new Headers();
  if (fields.has("acl")) aclFields.set("x-amz-acl", fields.get("acl")!);
  for (const [name, value] of fields) if (name.startsWith("x-amz-grant-")) aclFields.set(name, value);
  const acl = await objectAclForWrite(ctx, bucket, aclFields, signerAccount);

  if (fields.has("x-amz-server-side-encryption")) formHeaders.set("x-amz-server-side-encryption", fields.get("x-amz-server-side-encryption")!);
  // A V2-signed form may not write under the bucket's default KMS key either (a KMS field was refused already).
  if (signer.v2 && !fields.has("x-amz-server-side-encryption") && (await bucketEncryptionDefault(ctx, bucket))?.algorithm === "aws:kms") throw kmsNeedsSigV4();
  const { encryption, kek } = await encryptionForWrite(ctx, bucket, formHeaders);
  const input = { length: form.fileLength, source: form.file, checks: [], md5: new DigestStage("MD5"), verify: async () => {} };
  const segment = await storeSegment(storageEnv(ctx), storageTarget(ctx, bucket), input, kek);
  const record: ObjectRecord = {
    key,
    size: segment.size,
    etag: segment.md5,
    lastModified: ctx.now.getTime(),
    headers: storedHeadersFrom(formHeaders),
    userMetadata: userMetadataFrom(formHeaders),
    tags: fields.has("tagging") ? parseTaggingXml(fields.get("tagging")!, "object") : undefined,
    storageClass: "STANDARD",
    segments: [segment],
    encryption,
    ...(lock ? { lock } : {}),
    ...(acl ? { acl } : {}),
  };
  const committed = await commitObject(ctx, bucket, record);

  const etag = quoteEtag(record.etag);
  const location = `${new URL(ctx.request.url).origin}/${bucket.name}/${encodeURIComponent(key)}`;
  const headers = new Headers({ etag, location });
  setVersionHeader(headers, committed.versionId);
  setEncryptionHeaders(headers, encryption);
  const redirect = fields.get("success_action_redirect") ?? fields.get("redirect");
  if (redirect) {
    const target = new URL(redirect);
    target.searchParams.set("bucket", bucket.name);
    target.searchParams.set("key", key);
    target.searchParams.set("etag", etag);
    headers.set("location", target.toString());
    return new Response(null, { status: 303, headers });
  }
  const status = fields.get("success_action_status");
  if (status === "201") return xmlResponse("PostResponse", { Location: location, Bucket: bucket.name, Key: key, ETag: etag }, { status: 201, headers });
  return new Response(null, { status: status === "200" ? 200 : 204, headers });
}
