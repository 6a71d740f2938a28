// Multipart upload: CreateMultipartUpload, UploadPart, CompleteMultipartUpload, AbortMultipartUpload, ListParts.
// Each part is its own blob on a node; completing writes the object's manifest and never copies data.
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html

import { fromBase64, fromHex, hex, randomHex } from "../../protocol/crypto.ts";
import { ChecksumStage, checksumHeaderName, parseChecksumAlgorithm, type ChecksumAlgorithm } from "../checksums.ts";
import { freeBlobs, storeSegment } from "../../services/blob-storage.ts";
import { MAX_PART_NUMBER, replicasOf, type ObjectRecord, type UploadedPart } from "../../services/object-model.ts";
import { authorizedBucket, bucketIndex, objectAclForWrite } from "../bucket-access.ts";
import type { S3Context } from "../context.ts";
import { S3Error } from "../errors.ts";
import { storedHeadersFrom, userMetadataFrom, validateObjectKey, writeConditionError, writeConditionFrom } from "../object-headers.ts";
import { parseTaggingHeader } from "../tagging.ts";
import { copyBytes, readCopySource, setVersionHeader } from "./objects.ts";
import { checkCustomerKey, encryptionForWrite, keyForRead, setEncryptionHeaders } from "../encryption.ts";
import { openPayload, readDocumentBody } from "../payload.ts";
import { isoTime, quoteEtag, xmlResponse } from "../respond.ts";
import { childText, parseXml } from "../xml.ts";
import { storageEnv, storageTarget } from "./storage-env.ts";
import { lockForWrite } from "./object-lock.ts";

export async function createMultipartUploadOp(ctx: S3Context, bucketName: string, key: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, bucketName);
  validateObjectKey(key);
  const uploadId = randomHex(24);
  // Chosen once for the whole upload: every part is encrypted the same way (an SSE-C upload's parts must
  // each present the same customer key).
  const { encryption } = await encryptionForWrite(ctx, bucket);
  const lock = await lockForWrite(ctx, bucket, ctx.request.headers, false);
  const acl = await objectAclForWrite(ctx, bucket, ctx.request.headers, ctx.principal.accountId);
  await bucketIndex(ctx, bucket).createUpload({
    uploadId,
    key,
    initiated: ctx.now.getTime(),
    headers: storedHeadersFrom(ctx.request.headers),
    userMetadata: userMetadataFrom(ctx.request.headers),
    tags: parseTaggingHeader(ctx.request.headers.get("x-amz-tagging")),
    checksumAlgorithm: ctx.request.headers.get("x-amz-checksum-algorithm")?.toUpperCase() ?? undefined,
    encryption,
    ...(lock ? { lock } : {}),
    ...(acl ? { acl } : {}),
  });
  const algorithm = ctx.request.headers.get("x-amz-checksum-algorithm");
  const headers = new Headers();
  setEncryptionHeaders(headers, encryption);
  if (algorithm) {
    headers.set("x-amz-checksum-algorithm", algorithm.toUpperCase());
    headers.set("x-amz-checksum-type", "COMPOSITE");
  }
  return xmlResponse("InitiateMultipartUploadResult", { Bucket: bucket.name, Key: key, UploadId: uploadId }, { headers });
}

export async function uploadPartOp(ctx: S3Context, bucketName: string, key: string, uploadId: string, partNumber: number): Promise<Response> {
  const bucket = authorizedBucket(ctx, bucketName);
  const index = bucketIndex(ctx, bucket);
  const upload = await index.getUpload(uploadId);
  if (!upload || upload.key !== key) throw new S3Error("NoSuchUpload", undefined, { UploadId: uploadId });
  const kek = await keyForRead(ctx, bucket, upload.encryption);

  const payload = openPayload(ctx.request, ctx.principal);
  const segment = await storeSegment(storageEnv(ctx), storageTarget(ctx, bucket), payload, kek);
  const checksum = payload.checksum ? { algorithm: payload.checksum.algorithm, value: payload.checksum.value } : undefined;
  const part = await recordPart(ctx, index, uploadId, { ...segment, partNumber, lastModified: ctx.now.getTime(), checksum });
  const headers = new Headers({ etag: quoteEtag(part.md5) });
  setEncryptionHeaders(headers, upload.encryption);
  if (checksum) headers.set(checksumHeaderName(checksum.algorithm as ChecksumAlgorithm), checksum.value);
  return new Response(null, { status: 200, headers });
}

/** UploadPartCopy: a part made from (a range of) an existing object. */
export async function uploadPartCopyOp(ctx: S3Context, bucketName: string, key: string, uploadId: string, partNumber: number): Promise<Response> {
  const bucket = authorizedBucket(ctx, bucketName);
  const index = bucketIndex(ctx, bucket);
  const upload = await index.getUpload(uploadId);
  if (!upload || upload.key !== key) throw new S3Error("NoSuchUpload", undefined, { UploadId: uploadId });
  const kek = await keyForRead(ctx, bucket, upload.encryption);
  const copySource = await readCopySource(ctx);
  const source = copySource.record;
  const rangeHeader = ctx.request.headers.get("x-amz-copy-source-range");
  let start = 0;
  let end = source.size - 1;
  if (rangeHeader !== null) {
    // Unlike GET, a copy range must be an explicit first-last pair; one that reaches past the source's last byte
    // is 416 InvalidRange ("The requested range is not satisfiable",
    // https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html#ErrorCodeList), not clipped as GET does.
    const m = /^bytes=(\d+)-(\d+)$/.exec(rangeHeader.trim());
    if (m && Number(m[1]) <= Number(m[2]) && Number(m[2]) >= source.size) {
      throw new S3Error("InvalidRange", undefined, { RangeRequested: rangeHeader, ActualObjectSize: String(source.size) });
    }
    if (!m || Number(m[1]) > Number(m[2])) {
      throw new S3Error("InvalidArgument", "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy", {
        ArgumentName: "x-amz-copy-source-range",
        ArgumentValue: rangeHeader,
      });
    }
    start = Number(m[1]);
    end = Number(m[2]);
  }
  const { segment } = await copyBytes(ctx, bucket, copySource, start, end, kek);
  const part = await recordPart(ctx, index, uploadId, { ...segment, partNumber, lastModified: ctx.now.getTime() });
  const headers = new Headers();
  setEncryptionHeaders(headers, upload.encryption);
  return xmlResponse("CopyPartResult", { ETag: quoteEtag(part.md5), LastModified: isoTime(part.lastModified) }, { headers });
}

/** Records a stored part in the upload; frees the part it replaced, or its own blob when the upload is gone. */
async function recordPart(ctx: S3Context, index: ReturnType<typeof bucketIndex>, uploadId: string, part: UploadedPart): Promise<UploadedPart> {
  const outcome = await index.putPart(uploadId, part).catch((error: unknown) => {
    ctx.waitUntil(freeBlobs(storageEnv(ctx), part.replicas));
    throw error;
  });
  if (!outcome.ok) {
    // Aborted or completed while this part streamed: its blob belongs to nothing.
    ctx.waitUntil(freeBlobs(storageEnv(ctx), part.replicas));
    throw new S3Error("NoSuchUpload", undefined, { UploadId: uploadId });
  }
  if (outcome.replaced) ctx.waitUntil(freeBlobs(storageEnv(ctx), outcome.replaced.replicas));
  return part;
}

/**
 * CompleteMultipartUpload: https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html. A retry
 * of a completion whose answer was lost (same upload, key and parts) answers that completion again.
 */
export async function completeMultipartUploadOp(ctx: S3Context, bucketName: string, key: string, uploadId: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, bucketName);
  const doc = parseXml(await readDocumentBody(ctx.request, ctx.principal));
  if (!doc || doc.name !== "CompleteMultipartUpload") throw new S3Error("MalformedXML");
  const requested = doc.children
    .filter((c) => c.name === "Part")
    .map((p) => ({
      partNumber: Number(childText(p, "PartNumber")),
      etag: (childText(p, "ETag") ?? "").trim().replace(/^"|"$/g, "").toLowerCase(),
      // The part checksum the client recorded (ChecksumCRC32, ...), checked against what the part arrived with.
      checksums: Object.fromEntries(p.children.filter((c) => c.name.startsWith("Checksum") && c.name !== "ChecksumType").map((c) => [c.name.slice(8).toUpperCase(), c.text.trim()])),
    }));
  const badNumber = (n: number) => !Number.isInteger(n) || n < 1 || n > MAX_PART_NUMBER;
  if (requested.length === 0 || requested.length > MAX_PART_NUMBER || requested.some((p) => badNumber(p.partNumber))) {
    throw new S3Error("MalformedXML");
  }

  const index = bucketIndex(ctx, bucket);
  const upload = await index.getUpload(uploadId);
  // A missing upload may have completed already: the index answers a retry with the same parts, or NoSuchUpload.
  if (upload && upload.key !== key) throw new S3Error("NoSuchUpload", undefined, { UploadId: uploadId });
  // Every part ETag this edge issues is an MD5; anything else cannot name an uploaded part.
  if (requested.some((p) => !/^[0-9a-f]{32}$/.test(p.etag))) {
    throw upload ? new S3Error("InvalidPart") : new S3Error("NoSuchUpload", undefined, { UploadId: uploadId });
  }
  // An SSE-C upload's customer key, when sent here too, must be the upload's.
  if (upload?.encryption?.mode === "SSE-C" && ctx.request.headers.has("x-amz-server-side-encryption-customer-key")) await checkCustomerKey(ctx, bucket, upload.encryption);

  // S3's multipart ETag: MD5 of the concatenated binary part MD5s, then "-<part count>".
  const joined = new Uint8Array(requested.length * 16);
  requested.forEach((p, i) => joined.set(fromHex(p.etag), i * 16));
  const etag = `${hex(await crypto.subtle.digest("MD5", joined))}-${requested.length}`;

  const checksum = upload ? await compositeChecksum(upload.checksumAlgorithm, requested, await index.listParts(uploadId)) : undefined;
  const result = await index.completeUpload(
    uploadId,
    key,
    requested.map(({ partNumber, etag: partEtag }) => ({ partNumber, etag: partEtag })),
    etag,
    ctx.now.getTime(),
    writeConditionFrom(ctx.request.headers),
    checksum,
  );
  if (!result.ok) {
    if (result.code === "PreconditionFailed" || result.code === "NoSuchKey") throw writeConditionError(result.code, key);
    throw new S3Error(result.code, result.message, { UploadId: uploadId });
  }
  const { completion } = result;
  if (result.replayed && completion.encryption?.mode === "SSE-C" && ctx.request.headers.has("x-amz-server-side-encryption-customer-key")) {
    await checkCustomerKey(ctx, bucket, completion.encryption);
  }
  const freed = [...replicasOf(result.discarded), ...(result.replaced ? replicasOf(result.replaced.segments) : [])];
  if (freed.length) ctx.waitUntil(freeBlobs(storageEnv(ctx), freed));

  const location = new URL(ctx.request.url);
  const headers = new Headers();
  setVersionHeader(headers, completion.versionId);
  setEncryptionHeaders(headers, completion.encryption);
  return xmlResponse(
    "CompleteMultipartUploadResult",
    {
      Location: `${location.origin}/${bucket.name}/${encodeURIComponent(key)}`,
      Bucket: bucket.name,
      Key: key,
      ETag: quoteEtag(completion.etag),
      ...(completion.checksum ? { [`Checksum${completion.checksum.algorithm}`]: completion.checksum.value, ChecksumType: "COMPOSITE" } : {}),
    },
    { headers },
  );
}

/**
 * S3's composite checksum of a multipart object: the algorithm applied to the concatenated binary part
 * checksums, then "-<part count>" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html).
 * A part checksum the client lists must be the one the part arrived with, else the completion fails with
 * InvalidPart, S3's answer for a listed part that does not match the uploaded one
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html, "Errors"); a part that
 * arrived with no checksum of that algorithm cannot match either. Undefined when the upload asked for no
 * checksum or some part came without one.
 */
async function compositeChecksum(
  algorithmName: string | undefined,
  requested: { partNumber: number; checksums: Record<string, string> }[],
  parts: UploadedPart[],
): Promise<ObjectRecord["checksum"]> {
  const byNumber = new Map(parts.map((p) => [p.partNumber, p]));
  for (const want of requested) {
    for (const [algorithm, value] of Object.entries(want.checksums)) {
      const stored = byNumber.get(want.partNumber)?.checksum;
      if (!stored || stored.algorithm !== algorithm || stored.value !== value) {
        throw new S3Error("InvalidPart", `The ${algorithm} checksum of part ${want.partNumber} does not match the part that was uploaded.`);
      }
    }
  }
  const algorithm = algorithmName ? parseChecksumAlgorithm(algorithmName) : undefined;
  if (!algorithm) return undefined;
  const stage = new ChecksumStage(algorithm);
  for (const want of requested) {
    const partChecksum = byNumber.get(want.partNumber)?.checksum;
    if (!partChecksum || partChecksum.algorithm !== algorithm) return undefined;
    await stage.write(fromBase64(partChecksum.value));
  }
  await stage.finish();
  return { algorithm, value: `${stage.value}-${requested.length}`, type: "COMPOSITE" };
}

export async function abortMultipartUploadOp(ctx: S3Context, bucketName: string, key: string, uploadId: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, bucketName);
  const index = bucketIndex(ctx, bucket);
  const upload = await index.getUpload(uploadId);
  if (!upload || upload.key !== key) throw new S3Error("NoSuchUpload", undefined, { UploadId: uploadId });
  const parts = await index.abortUpload(uploadId);
  if (!parts) throw new S3Error("NoSuchUpload", undefined, { UploadId: uploadId });
  ctx.waitUntil(freeBlobs(storageEnv(ctx), replicasOf(parts)));
  return new Response(null, { status: 204 });
}

export async function listPartsOp(ctx: S3Context, bucketName: string, key: string, uploadId: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, bucketName);
  const index = bucketIndex(ctx, bucket);
  const upload = await index.getUpload(uploadId);
  if (!upload || upload.key !== key) throw new S3Error("NoSuchUpload", undefined, { UploadId: uploadId });
  const q = ctx.query;
  const marker = Number(q.get("part-number-marker") ?? "0");
  const maxParts = Math.min(Number(q.get("max-parts") ?? "1000"), 1000);
  if (!Number.isInteger(marker) || !Number.isInteger(maxParts) || maxParts < 0) throw new S3Error("InvalidArgument");
  const all = (await index.listParts(uploadId)).filter((p) => p.partNumber > marker);
  const page = all.slice(0, maxParts);
  const truncated = all.length > page.length;
  return xmlResponse("ListPartsResult", {
    Bucket: bucket.name,
    Key: key,
    UploadId: uploadId,
    PartNumberMarker: marker,
    NextPartNumberMarker: page.length ? page[page.length - 1]!.partNumber : marker,
    MaxParts: maxParts,
    IsTruncated: truncated,
    Initiator: { ID: bucket.accountId, DisplayName: bucket.accountId },
    Owner: { ID: bucket.accountId, DisplayName: bucket.accountId },
    StorageClass: "STANDARD",
    Part: page.map((p) => ({ PartNumber: p.partNumber, LastModified: isoTime(p.lastModified), ETag: quoteEtag(p.md5), Size: p.size })),
  });
}

/** ListMultipartUploads: https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListMultipartUploads.html */
export async function listMultipartUploadsOp(ctx: S3Context, bucketName: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, bucketName);
  const q = ctx.query;
  const maxRaw = q.get("max-uploads");
  if (maxRaw !== null && !/^\d+$/.test(maxRaw)) throw new S3Error("InvalidArgument", "max-uploads must be an integer", { ArgumentName: "max-uploads", ArgumentValue: maxRaw });
  const query = {
    prefix: q.get("prefix") ?? "",
    delimiter: q.get("delimiter") ?? "",
    maxUploads: Math.min(maxRaw === null ? 1000 : Number(maxRaw), 1000),
    keyMarker: q.get("key-marker") ?? "",
    // Without a key marker, an upload-id marker means nothing (S3 ignores it).
    uploadIdMarker: q.get("key-marker") ? (q.get("upload-id-marker") ?? "") : "",
  };
  const result = await bucketIndex(ctx, bucket).listUploads(query);
  const owner = { ID: bucket.accountId, DisplayName: bucket.accountId };
  return xmlResponse("ListMultipartUploadsResult", {
    Bucket: bucket.name,
    KeyMarker: query.keyMarker,
    UploadIdMarker: query.uploadIdMarker,
    NextKeyMarker: result.nextKeyMarker,
    NextUploadIdMarker: result.nextUploadIdMarker,
    Prefix: query.prefix,
    Delimiter: query.delimiter || undefined,
    MaxUploads: query.maxUploads,
    IsTruncated: result.isTruncated,
    Upload: result.uploads.map((u) => ({
      Key: u.key,
      UploadId: u.uploadId,
      Initiator: owner,
      Owner: owner,
      StorageClass: "STANDARD",
      Initiated: isoTime(u.initiated),
    })),
    CommonPrefixes: result.commonPrefixes.map((Prefix) => ({ Prefix })),
  });
}
