// Listing: ListObjectsV2 and ListObjects (v1). The BucketIndex does the ordering and rolling-up; this file
// speaks the query parameters and the XML. https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html

import type { ListQuery, ListResult, ListVersionsResult } from "../../services/object-model.ts";
import { base64, fromBase64 } from "../../protocol/crypto.ts";
import { authorizedBucket, bucketIndex } from "../bucket-access.ts";
import type { S3Context } from "../context.ts";
import { S3Error } from "../errors.ts";
import { isoTime, quoteEtag, xmlResponse } from "../respond.ts";
import type { XmlNode } from "../xml.ts";

const MAX_KEYS = 1000;

export async function listObjectsV2Op(ctx: S3Context, bucketName: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, bucketName);
  const q = ctx.query;
  const common = commonParams(q);
  // An empty continuation token names no resume point: the listing starts from the beginning (or start-after).
  const token = q.get("continuation-token") || null;
  const startAfter = q.get("start-after") ?? undefined;
  const cursor = token !== null ? decodeToken(token) : startAfter ? { value: startAfter, skipPrefix: false } : undefined;

  const result = await runList(ctx, bucket, { ...common.query, cursor });
  return xmlResponse("ListBucketResult", {
    Name: bucket.name,
    Prefix: common.encode(common.query.prefix),
    Delimiter: common.query.delimiter ? common.encode(common.query.delimiter) : undefined,
    MaxKeys: common.query.maxKeys,
    EncodingType: common.encodingType,
    KeyCount: result.contents.length + result.commonPrefixes.length,
    IsTruncated: result.isTruncated,
    ContinuationToken: token ?? undefined,
    NextContinuationToken: result.isTruncated && result.next ? encodeToken(result.next) : undefined,
    StartAfter: startAfter !== undefined ? common.encode(startAfter) : undefined,
    ...entries(bucket.accountId, result, common.encode, q.get("fetch-owner") === "true"),
  });
}

export async function listObjectsV1Op(ctx: S3Context, bucketName: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, bucketName);
  const q = ctx.query;
  const common = commonParams(q);
  const marker = q.get("marker") ?? "";
  const { prefix, delimiter } = common.query;
  // A marker that is itself a common prefix resumes after everything rolled up under it.
  const markerIsPrefix =
    delimiter !== "" && marker.startsWith(prefix) && marker.endsWith(delimiter) && marker.indexOf(delimiter, prefix.length) === marker.length - delimiter.length;
  const cursor = marker ? { value: marker, skipPrefix: markerIsPrefix } : undefined;

  const result = await runList(ctx, bucket, { ...common.query, cursor });
  return xmlResponse("ListBucketResult", {
    Name: bucket.name,
    Prefix: common.encode(prefix),
    Marker: common.encode(marker),
    // S3 returns NextMarker only when a delimiter was given; clients otherwise resume from the last key.
    NextMarker: result.isTruncated && delimiter && result.next ? common.encode(result.next.value) : undefined,
    MaxKeys: common.query.maxKeys,
    Delimiter: delimiter ? common.encode(delimiter) : undefined,
    EncodingType: common.encodingType,
    IsTruncated: result.isTruncated,
    ...entries(bucket.accountId, result, common.encode, true),
  });
}

function commonParams(q: URLSearchParams) {
  const maxKeysRaw = q.get("max-keys");
  if (maxKeysRaw !== null && !/^\d+$/.test(maxKeysRaw)) {
    throw new S3Error("InvalidArgument", "Provided max-keys not an integer or within integer range", { ArgumentName: "max-keys", ArgumentValue: maxKeysRaw });
  }
  const encodingType = q.get("encoding-type") ?? undefined;
  if (encodingType !== undefined && encodingType !== "url") {
    throw new S3Error("InvalidArgument", "Invalid Encoding Method specified in Request", { ArgumentName: "encoding-type", ArgumentValue: encodingType });
  }
  const query: Omit<ListQuery, "cursor"> = {
    prefix: q.get("prefix") ?? "",
    delimiter: q.get("delimiter") ?? "",
    maxKeys: Math.min(maxKeysRaw === null ? MAX_KEYS : Number(maxKeysRaw), MAX_KEYS),
  };
  // encoding-type=url: keys, prefixes and delimiters in the response are percent-encoded, '/' left as is.
  const encode = (s: string) => (encodingType === "url" ? encodeURIComponent(s).replace(/%2F/g, "/") : s);
  return { query, encodingType, encode };
}

async function runList(ctx: S3Context, bucket: Parameters<typeof bucketIndex>[1], query: ListQuery): Promise<ListResult> {
  if (query.maxKeys === 0) return { contents: [], commonPrefixes: [], isTruncated: false };
  return bucketIndex(ctx, bucket).listObjects(query);
}

function entries(ownerId: string, result: ListResult, encode: (s: string) => string, withOwner: boolean): XmlNode {
  const owner = withOwner ? { ID: ownerId, DisplayName: ownerId } : undefined;
  return {
    Contents: result.contents.map((o) => ({
      Key: encode(o.key),
      LastModified: isoTime(o.lastModified),
      ETag: quoteEtag(o.etag),
      Size: o.size,
      Owner: owner,
      StorageClass: o.storageClass,
    })),
    CommonPrefixes: result.commonPrefixes.map((p) => ({ Prefix: encode(p) })),
  };
}

/** Continuation tokens are opaque to clients: base64 of where the next page starts. */
function encodeToken(next: { value: string; skipPrefix: boolean }): string {
  return base64(new TextEncoder().encode(JSON.stringify([next.skipPrefix ? 1 : 0, next.value])));
}

function decodeToken(token: string): { value: string; skipPrefix: boolean } {
  try {
    const [skip, value] = JSON.parse(new TextDecoder().decode(fromBase64(token))) as [unknown, unknown];
    if ((skip === 0 || skip === 1) && typeof value === "string") return { value, skipPrefix: skip === 1 };
  } catch {
    // fall through
  }
  throw new S3Error("InvalidArgument", "The continuation token provided is incorrect", { ArgumentName: "continuation-token" });
}

/** ListObjectVersions: https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectVersions.html */
export async function listObjectVersionsOp(ctx: S3Context, bucketName: string): Promise<Response> {
  const bucket = authorizedBucket(ctx, bucketName);
  const q = ctx.query;
  const common = commonParams(q);
  const keyMarker = q.get("key-marker") ?? "";
  const versionIdMarker = q.get("version-id-marker") ?? "";
  if (versionIdMarker && !keyMarker) {
    throw new S3Error("InvalidArgument", "A version-id marker cannot be specified without a key marker.", { ArgumentName: "version-id-marker" });
  }
  const result: ListVersionsResult =
    common.query.maxKeys === 0
      ? { versions: [], commonPrefixes: [], isTruncated: false }
      : await bucketIndex(ctx, bucket).listVersions({ ...common.query, keyMarker, versionIdMarker });
  const owner = { ID: bucket.accountId, DisplayName: bucket.accountId };
  return xmlResponse("ListVersionsResult", {
    Name: bucket.name,
    Prefix: common.encode(common.query.prefix),
    KeyMarker: common.encode(keyMarker),
    VersionIdMarker: versionIdMarker,
    NextKeyMarker: result.nextKeyMarker !== undefined ? common.encode(result.nextKeyMarker) : undefined,
    NextVersionIdMarker: result.nextVersionIdMarker,
    MaxKeys: common.query.maxKeys,
    Delimiter: common.query.delimiter ? common.encode(common.query.delimiter) : undefined,
    EncodingType: common.encodingType,
    IsTruncated: result.isTruncated,
    Version: result.versions
      .filter((v) => !v.deleteMarker)
      .map((v) => ({
        Key: common.encode(v.key),
        VersionId: v.versionId,
        IsLatest: v.isLatest,
        LastModified: isoTime(v.lastModified),
        ETag: quoteEtag(v.etag),
        Size: v.size,
        Owner: owner,
        StorageClass: "STANDARD",
      })),
    DeleteMarker: result.versions
      .filter((v) => v.deleteMarker)
      .map((v) => ({ Key: common.encode(v.key), VersionId: v.versionId, IsLatest: v.isLatest, LastModified: isoTime(v.lastModified), Owner: owner })),
    CommonPrefixes: result.commonPrefixes.map((p) => ({ Prefix: common.encode(p) })),
  });
}
