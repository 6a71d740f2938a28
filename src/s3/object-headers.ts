// HTTP headers of objects: what a PUT stores (representation headers, x-amz-meta-*), what GET/HEAD return,
// Range parsing and conditional-request evaluation.

import { base64, fromBase64 } from "../protocol/crypto.ts";
import type { ObjectRecord, StoredHeaders, WriteCondition, WriteConditionFailure } from "../services/object-model.ts";
import { checksumHeaderName, parseChecksumAlgorithm } from "./checksums.ts";
import { S3Error } from "./errors.ts";
import { httpDate, quoteEtag } from "./respond.ts";

/** User-defined metadata limit: https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html */
export const MAX_USER_METADATA_BYTES = 2048;
export const MAX_KEY_BYTES = 1024;

export function validateObjectKey(key: string): void {
  if (new TextEncoder().encode(key).length > MAX_KEY_BYTES) throw new S3Error("KeyTooLongError", undefined, { Size: String(key.length), MaxSizeAllowed: String(MAX_KEY_BYTES) });
}

/**
 * x-amz-storage-class: every object here is STANDARD (replicated across zones); S3's other classes name
 * tiers this network does not have, so they are refused rather than silently ignored.
 */
export function validateStorageClass(headers: Headers): void {
  const storageClass = headers.get("x-amz-storage-class");
  if (storageClass !== null && storageClass !== "STANDARD") {
    throw new S3Error("InvalidStorageClass", `The storage class '${storageClass}' is not offered; use STANDARD.`, { StorageClassRequested: storageClass });
  }
}

export function storedHeadersFrom(headers: Headers): StoredHeaders {
  validateStorageClass(headers);
  const pick = (name: string) => headers.get(name) ?? undefined;
  return {
    contentType: pick("content-type"),
    // aws-chunked is transfer framing, not part of the object's Content-Encoding.
    contentEncoding: stripAwsChunked(headers.get("content-encoding")),
    contentDisposition: pick("content-disposition"),
    contentLanguage: pick("content-language"),
    cacheControl: pick("cache-control"),
    expires: pick("expires"),
  };
}

function stripAwsChunked(value: string | null): string | undefined {
  if (value === null) return undefined;
  const rest = value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "" && s !== "aws-chunked");
  return rest.length ? rest.join(", ") : undefined;
}

export function userMetadataFrom(headers: Headers): Record<string, string> {
  const meta: Record<string, string> = {};
  let size = 0;
  headers.forEach((raw, name) => {
    if (!name.startsWith("x-amz-meta-")) return;
    const key = name.slice("x-amz-meta-".length);
    const value = metadataValueFromHeader(raw);
    meta[key] = value;
    size += key.length + value.length;
  });
  if (size > MAX_USER_METADATA_BYTES) {
    throw new S3Error("MetadataTooLarge", undefined, { Size: String(size), MaxSizeAllowed: String(MAX_USER_METADATA_BYTES) });
  }
  return meta;
}

// Non-ASCII user metadata, as https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html says S3
// handles it: "Values of such headers are character decoded as per RFC 2047 before storing and encoded as per
// RFC 2047 to make them mail-safe before returning. If the string contains only US-ASCII characters, it is
// presented as is."

/**
 * The value a client meant by an x-amz-meta-* header. The runtime hands header bytes over one character per byte
 * (Latin-1), so UTF-8 sent raw arrives as "Ã©" for "é": bytes that are valid UTF-8 are read as UTF-8, others
 * (a client that sent Latin-1) as they are. RFC 2047 encoded-words (=?UTF-8?B?...?=, =?UTF-8?Q?...?=) are decoded.
 */
export function metadataValueFromHeader(raw: string): string {
  let value = raw;
  if (/[\x80-\xff]/.test(raw) && !/[^\x00-\xff]/.test(raw)) {
    try {
      value = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(Uint8Array.from(raw, (c) => c.charCodeAt(0)));
    } catch {
      value = raw;
    }
  }
  return value.includes("=?") ? decodeEncodedWords(value) : value;
}

/** A stored metadata value as S3 returns it: as is when US-ASCII, otherwise one RFC 2047 "B" encoded-word. */
export function metadataValueForHeader(value: string): string {
  if (!/[^\x20-\x7e\t]/.test(value)) return value;
  return `=?UTF-8?B?${base64(new TextEncoder().encode(value))}?=`;
}

const ENCODED_WORD = /=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=/g;

/** RFC 2047 section 6: decodes UTF-8 and ISO-8859-1 encoded-words, drops white space between adjacent ones. */
function decodeEncodedWords(value: string): string {
  return value.replace(/(\?=)\s+(?==\?)/g, "$1").replace(ENCODED_WORD, (word, charset: string, encoding: string, text: string) => {
    const label = charset.toLowerCase();
    if (label !== "utf-8" && label !== "iso-8859-1" && label !== "us-ascii") return word;
    try {
      const bytes =
        encoding.toUpperCase() === "B"
          ? fromBase64(text)
          : Uint8Array.from(text.replace(/_/g, " ").replace(/=([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), (c) => c.charCodeAt(0));
      return label === "utf-8" ? new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes) : String.fromCharCode(...bytes);
    } catch {
      return word;
    }
  });
}

/**
 * Headers GET and HEAD return for an object, with response-* query overrides applied. The stored checksum
 * covers the whole object, so (as S3 does) it is only returned when the whole object is.
 */
export function objectResponseHeaders(record: ObjectRecord, query: URLSearchParams, requestHeaders: Headers, wholeObject: boolean): Headers {
  const h = new Headers();
  const stored = record.headers;
  h.set("content-type", stored.contentType ?? "binary/octet-stream");
  if (stored.contentEncoding) h.set("content-encoding", stored.contentEncoding);
  if (stored.contentDisposition) h.set("content-disposition", stored.contentDisposition);
  if (stored.contentLanguage) h.set("content-language", stored.contentLanguage);
  if (stored.cacheControl) h.set("cache-control", stored.cacheControl);
  if (stored.expires) h.set("expires", stored.expires);
  h.set("etag", quoteEtag(record.etag));
  h.set("last-modified", httpDate(record.lastModified));
  h.set("accept-ranges", "bytes");
  for (const [name, value] of Object.entries(record.userMetadata)) h.set(`x-amz-meta-${name}`, metadataValueForHeader(value));
  const tagCount = record.tags ? Object.keys(record.tags).length : 0;
  if (tagCount > 0) h.set("x-amz-tagging-count", String(tagCount));
  if (wholeObject && record.checksum && requestHeaders.get("x-amz-checksum-mode")?.toUpperCase() === "ENABLED") {
    const algorithm = parseChecksumAlgorithm(record.checksum.algorithm);
    if (algorithm) {
      h.set(checksumHeaderName(algorithm), record.checksum.value);
      h.set("x-amz-checksum-type", record.checksum.type ?? "FULL_OBJECT");
    }
  }
  for (const [param, header] of RESPONSE_OVERRIDES) {
    const value = query.get(param);
    if (value !== null) h.set(header, value);
  }
  return h;
}

/** GetObject's response-* query parameters and the response header each one overrides. */
const RESPONSE_OVERRIDES: readonly (readonly [string, string])[] = [
  ["response-content-type", "content-type"],
  ["response-content-language", "content-language"],
  ["response-expires", "expires"],
  ["response-cache-control", "cache-control"],
  ["response-content-disposition", "content-disposition"],
  ["response-content-encoding", "content-encoding"],
];

/** Control characters (tab aside) can never be part of a header value (RFC 9110 section 5.5). */
const NOT_IN_HEADER_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;

/**
 * Checks GetObject's and HeadObject's response-* overrides before anything is read. S3 refuses them on anonymous
 * requests ("Request specific response headers cannot be used for anonymous GET requests", 400 InvalidRequest):
 * otherwise anyone could make a public object's origin serve it as, say, text/html. Signed requests may use
 * them, with values that can be a header value (no CR, LF or other control characters).
 * https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html
 */
export function checkResponseOverrides(query: URLSearchParams, anonymous: boolean): void {
  const present = RESPONSE_OVERRIDES.filter(([param]) => query.has(param));
  if (present.length === 0) return;
  if (anonymous) throw new S3Error("InvalidRequest", "Request specific response headers cannot be used for anonymous GET requests.");
  for (const [param] of present) {
    if (query.getAll(param).some((value) => NOT_IN_HEADER_VALUE.test(value))) {
      throw new S3Error("InvalidArgument", `The value of ${param} contains characters a header value cannot hold.`, { ArgumentName: param });
    }
  }
}

/** True for an object written by CompleteMultipartUpload: its ETag ends in "-<part count>", one segment per part. */
export function isMultipartObject(record: ObjectRecord): boolean {
  return /-\d+$/.test(record.etag);
}

/**
 * The bytes GetObject and HeadObject serve for `?partNumber=N`: "effectively a 'ranged' GET request for the part
 * specified" (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html). An object not uploaded in
 * parts is one part. A part that does not exist is 416 InvalidPartNumber; asking for a Range as well is refused.
 * Undefined for an empty object (nothing to range over).
 */
export function partRange(record: ObjectRecord, partNumber: number, rangeHeader: string | null): { start: number; end: number } | undefined {
  if (rangeHeader !== null) throw new S3Error("InvalidRequest", "Cannot specify both Range header and partNumber query parameter.");
  const sizes = isMultipartObject(record) ? record.segments.map((s) => s.size) : [record.size];
  if (partNumber > sizes.length) {
    throw new S3Error("InvalidPartNumber", undefined, { PartNumberRequested: String(partNumber), ActualPartCount: String(sizes.length) });
  }
  if (record.size === 0) return undefined;
  const start = sizes.slice(0, partNumber - 1).reduce((sum, size) => sum + size, 0);
  return { start, end: start + sizes[partNumber - 1]! - 1 };
}

/**
 * Parses a Range header against an object size. Returns undefined for "whole object" (no header, or a form
 * S3 ignores such as multiple ranges), throws InvalidRange when unsatisfiable.
 * https://www.rfc-editor.org/rfc/rfc9110#section-14.1.2
 */
export function parseRange(header: string | null, size: number): { start: number; end: number } | undefined {
  if (header === null) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return undefined;
  let start: number;
  let end: number;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) throw invalidRange(size);
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== "" && Number(m[2]) < start) return undefined; // syntactically invalid: ignored, as RFC 9110 says
    if (start >= size) throw invalidRange(size);
  }
  return { start, end };
}

function invalidRange(size: number): S3Error {
  return new S3Error("InvalidRange", undefined, { RangeRequested: "", ActualObjectSize: String(size) });
}

/**
 * Conditional GET/HEAD, with S3's precedence: If-Match beats If-Unmodified-Since, If-None-Match beats
 * If-Modified-Since. https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html
 * Returns 304 or throws PreconditionFailed; undefined when the request proceeds.
 */
export function evaluateReadPreconditions(record: ObjectRecord, headers: Headers): 304 | undefined {
  const ifMatch = headers.get("if-match");
  const ifNoneMatch = headers.get("if-none-match");
  const ifModifiedSince = parseHttpDate(headers.get("if-modified-since"));
  const ifUnmodifiedSince = parseHttpDate(headers.get("if-unmodified-since"));
  const lastModifiedS = Math.floor(record.lastModified / 1000) * 1000;

  if (ifMatch !== null) {
    if (!etagMatches(ifMatch, record.etag)) throw new S3Error("PreconditionFailed", undefined, { Condition: "If-Match" });
  } else if (ifUnmodifiedSince !== undefined && lastModifiedS > ifUnmodifiedSince) {
    throw new S3Error("PreconditionFailed", undefined, { Condition: "If-Unmodified-Since" });
  }
  if (ifNoneMatch !== null) {
    if (etagMatches(ifNoneMatch, record.etag)) return 304;
  } else if (ifModifiedSince !== undefined && lastModifiedS <= ifModifiedSince) {
    return 304;
  }
  return undefined;
}

function etagMatches(condition: string, etag: string): boolean {
  return condition.split(",").some((c) => {
    const v = c.trim().replace(/^W\//, "").replace(/^"|"$/g, "");
    return v === "*" || v === etag;
  });
}

function parseHttpDate(value: string | null): number | undefined {
  if (value === null) return undefined;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : t;
}

/** If-None-Match / If-Match on PutObject and CompleteMultipartUpload. S3 supports only "*" for If-None-Match. */
export function writeConditionFrom(headers: Headers): WriteCondition | undefined {
  const ifNoneMatch = headers.get("if-none-match");
  const ifMatch = headers.get("if-match");
  if (ifNoneMatch !== null) {
    if (ifNoneMatch.trim() !== "*") throw new S3Error("NotImplemented", "If-None-Match on writes supports only '*'.", { Header: "If-None-Match" });
    return { ifNoneMatch: "*" };
  }
  if (ifMatch !== null) return { ifMatch };
  return undefined;
}

/** Turns a refused conditional write into S3's error. */
export function writeConditionError(code: WriteConditionFailure, key: string): S3Error {
  return code === "NoSuchKey" ? new S3Error("NoSuchKey", undefined, { Key: key }) : new S3Error("PreconditionFailed", undefined, { Condition: "If-Match/If-None-Match" });
}

/** x-amz-copy-source: "/bucket/key" or "bucket/key", URL-encoded, optionally "?versionId=...". */
export function parseCopySource(value: string): { bucket: string; key: string; versionId?: string } {
  const [path, query] = value.split("?", 2) as [string, string | undefined];
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    throw new S3Error("InvalidArgument", "Invalid copy source encoding", { ArgumentName: "x-amz-copy-source" });
  }
  const trimmed = decoded.startsWith("/") ? decoded.slice(1) : decoded;
  const slash = trimmed.indexOf("/");
  if (slash <= 0 || slash === trimmed.length - 1) {
    throw new S3Error("InvalidArgument", "Copy Source must mention the source bucket and key: sourcebucket/sourcekey", { ArgumentName: "x-amz-copy-source" });
  }
  const versionId = query ? new URLSearchParams(query).get("versionId") ?? undefined : undefined;
  return { bucket: trimmed.slice(0, slash), key: trimmed.slice(slash + 1), versionId };
}

/** x-amz-copy-source-if-* conditions, evaluated like GET's but always failing with 412. */
export function evaluateCopySourceConditions(record: ObjectRecord, headers: Headers): void {
  const mapped = new Headers();
  for (const name of ["if-match", "if-none-match", "if-modified-since", "if-unmodified-since"]) {
    const v = headers.get(`x-amz-copy-source-${name}`);
    if (v !== null) mapped.set(name, v);
  }
  if (evaluateReadPreconditions(record, mapped) === 304) throw new S3Error("PreconditionFailed", undefined, { Condition: "x-amz-copy-source-If-None-Match/If-Modified-Since" });
}
