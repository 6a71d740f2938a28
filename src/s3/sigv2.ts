// AWS Signature Version 2 for S3, the scheme older clients still use (awscli v1's `aws s3 presign`, s3cmd
// --signature-v2, boto with signature_version "s3", V2-signed browser forms): HMAC-SHA1 over a StringToSign,
// in the Authorization header (`AWS AKID:signature`) or in a presigned query (AWSAccessKeyId, Expires, Signature).
// Spec: https://docs.aws.amazon.com/AmazonS3/latest/userguide/RESTAuthentication.html
// S3-only (node-agent never sees V2), so failures are S3Errors straight away; SigV4 lives in protocol/sigv4.ts.

import { base64, fromBase64, hex, timingSafeEqualHex } from "../protocol/crypto.ts";
import { MAX_CLOCK_SKEW_MS, MAX_PRESIGN_EXPIRES_S, parseAmzDate, UNSIGNED_PAYLOAD, decodeQuery, type SignedRequestParts, type VerifiedSignature } from "../protocol/sigv4.ts";
import { S3Error } from "./errors.ts";

export const SIGV2_ALGORITHM = "AWS";

/**
 * The query parameters V2 signs (the canonical resource's sub-resources): AWS's list ("acl, lifecycle, location,
 * logging, notification, partNumber, policy, requestPayment, uploadId, uploads, versionId, versioning, versions,
 * website", torrent, `delete` and the response-* overrides), those botocore's signer added as S3 grew (cors,
 * tagging, restore, replication, select, object-lock, ...), and those servers sign that name an operation
 * (encryption, retention, legal-hold, ownershipControls, publicAccessBlock, policyStatus): a V2 signature then
 * fixes the operation as a V4 one does. Left out are the parameters that only choose between read-only answers of
 * the same resource (list-type, attributes) or shape a listing (prefix, marker, ...), which no V2 client signs.
 */
const SIGNED_SUBRESOURCES = new Set([
  "accelerate", "acl", "analytics", "cors", "delete", "encryption", "intelligent-tiering", "inventory", "legal-hold",
  "lifecycle", "location", "logging", "metrics", "notification", "object-lock", "ownershipControls", "partNumber",
  "policy", "policyStatus", "publicAccessBlock", "replication", "requestPayment", "restore", "retention", "select",
  "select-type", "tagging", "torrent", "uploadId", "uploads", "versionId", "versioning", "versions", "website",
  "response-cache-control", "response-content-disposition", "response-content-encoding", "response-content-language",
  "response-content-type", "response-expires",
]);

/** A request V2 authenticated. Shaped like SigV4's VerifiedSignature where the S3 layer reads it. */
export interface VerifiedSignatureV2 {
  version: 2;
  accessKeyId: string;
  presigned: boolean;
  /** V2 does not sign the body: a signed x-amz-content-sha256 digest when the client sent one, else UNSIGNED-PAYLOAD. */
  payloadHash: string;
  /** V2 signs every x-amz-* header of the request, with Content-MD5, Content-Type and Date. */
  signedHeaders: readonly string[];
}

/** Either signature an S3 request can carry. */
export type S3Signature = VerifiedSignature | VerifiedSignatureV2;

export function isSigV2(signature: S3Signature | null): signature is VerifiedSignatureV2 {
  return signature !== null && "version" in signature && signature.version === 2;
}

export interface SigV2Options {
  now: Date;
  /** The bucket the Host header names (virtual-hosted style): the canonical resource starts with "/bucket". */
  virtualHostedBucket?: string;
}

/** Does this request carry V2 auth: `Authorization: AWS ...`, or the V2 presigned query parameters? */
export function hasSigV2(parts: SignedRequestParts): boolean {
  const header = parts.headers.get("authorization");
  if (header !== null) return header.startsWith(`${SIGV2_ALGORITHM} `);
  const query = new URLSearchParams(parts.rawQuery);
  return !query.has("X-Amz-Algorithm") && (query.has("AWSAccessKeyId") || query.has("Signature"));
}

interface ParsedSigV2 {
  accessKeyId: string;
  signature: string;
  presigned: boolean;
  /** The StringToSign's third line: the Date header, "" when x-amz-date is sent, or Expires when presigned. */
  dateLine: string;
}

export async function verifySigV2(
  parts: SignedRequestParts,
  lookupSecret: (accessKeyId: string) => Promise<string | undefined>,
  options: SigV2Options,
): Promise<VerifiedSignatureV2> {
  const auth = parseSigV2(parts);
  if (auth.presigned) checkExpires(auth.dateLine, options.now);
  else checkRequestTime(parts.headers, options.now);

  const secret = await lookupSecret(auth.accessKeyId);
  if (secret === undefined) throw new S3Error("InvalidAccessKeyId", undefined, { AWSAccessKeyId: auth.accessKeyId });
  const toSign = stringToSignV2(parts, auth.dateLine, options.virtualHostedBucket);
  if (!(await sigV2Matches(secret, toSign, auth.signature))) throw signatureMismatch(auth.accessKeyId, toSign, auth.signature);

  const amzHeaders: string[] = [];
  parts.headers.forEach((_, name) => {
    if (name.startsWith("x-amz-")) amzHeaders.push(name);
  });
  return {
    version: 2,
    accessKeyId: auth.accessKeyId,
    presigned: auth.presigned,
    payloadHash: signedPayloadHash(parts.headers),
    signedHeaders: [...amzHeaders, "content-md5", "content-type", "date"],
  };
}

function parseSigV2(parts: SignedRequestParts): ParsedSigV2 {
  const header = parts.headers.get("authorization");
  const query = new URLSearchParams(parts.rawQuery);
  if (header !== null) {
    if (query.has("X-Amz-Algorithm") || query.has("Signature") || query.has("AWSAccessKeyId")) throw onlyOneMechanism();
    // Authorization: AWS AKIAIOSFODNN7EXAMPLE:qgk2+6Sv9/oM7G3qLEjTH1a1l1g=
    const credentials = header.slice(SIGV2_ALGORITHM.length + 1);
    const colon = credentials.lastIndexOf(":");
    if (colon <= 0 || colon === credentials.length - 1) {
      throw new S3Error("InvalidArgument", "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature", { ArgumentName: "Authorization", ArgumentValue: header });
    }
    // x-amz-date takes the Date header's place, which is then signed as "" (the time-stamp requirement).
    const dateLine = parts.headers.has("x-amz-date") ? "" : (parts.headers.get("date") ?? "");
    return { accessKeyId: credentials.slice(0, colon), signature: credentials.slice(colon + 1), presigned: false, dateLine };
  }
  if (query.has("X-Amz-Algorithm")) throw onlyOneMechanism();
  const accessKeyId = query.get("AWSAccessKeyId");
  const signature = query.get("Signature");
  const expires = query.get("Expires");
  if (!accessKeyId || !signature || !expires) {
    throw new S3Error("AccessDenied", "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters");
  }
  return { accessKeyId, signature, presigned: true, dateLine: expires };
}

function onlyOneMechanism(): S3Error {
  return new S3Error(
    "InvalidArgument",
    "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified",
    { ArgumentName: "Authorization" },
  );
}

/**
 * A presigned URL is good until Expires (seconds since the epoch), and, as the edge caps SigV4's X-Amz-Expires, for
 * at most seven days from now (plus the clock skew a V4 signing time may have): V2 carries no signing time, so
 * an Expires further out than that was never made by a signer keeping to the cap.
 */
function checkExpires(expires: string, now: Date): void {
  if (!/^\d{1,12}$/.test(expires)) throw new S3Error("AccessDenied", `Invalid date (should be seconds since epoch): ${expires}`);
  const expiresMs = Number(expires) * 1000;
  if (now.getTime() > expiresMs) {
    throw new S3Error("AccessDenied", "Request has expired", { Expires: new Date(expiresMs).toISOString(), ServerTime: now.toISOString() });
  }
  if (expiresMs - now.getTime() > MAX_PRESIGN_EXPIRES_S * 1000 + MAX_CLOCK_SKEW_MS) {
    throw new S3Error("AuthorizationQueryParametersError", `Expires must be no more than ${MAX_PRESIGN_EXPIRES_S} seconds (seven days) in the future`, {
      Expires: new Date(expiresMs).toISOString(),
      ServerTime: now.toISOString(),
    });
  }
}

/** Header auth needs a Date or x-amz-date within 15 minutes of the edge's clock (the time-stamp requirement). */
function checkRequestTime(headers: Headers, now: Date): void {
  const sent = headers.get("x-amz-date") ?? headers.get("date");
  const at = sent === null ? undefined : parseHttpDate(sent);
  if (at === undefined) throw new S3Error("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header");
  if (Math.abs(now.getTime() - at.getTime()) > MAX_CLOCK_SKEW_MS) {
    throw new S3Error("RequestTimeTooSkewed", undefined, {
      RequestTime: sent!,
      ServerTime: now.toISOString(),
      MaxAllowedSkewMilliseconds: String(MAX_CLOCK_SKEW_MS),
    });
  }
}

// The three HTTP date formats of RFC 2616 section 3.3.1 (with the numeric zones clients such as s3cmd send in
// RFC 1123 dates), and SigV4's basic ISO 8601 that some clients put in x-amz-date.
const RFC1123 = /^[A-Za-z]{3}, \d{1,2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} (GMT|UTC|UT|Z|[+-]\d{4})$/;
const RFC850 = /^[A-Za-z]{6,9}, \d{2}-[A-Za-z]{3}-\d{2} \d{2}:\d{2}:\d{2} GMT$/;
const ASCTIME = /^[A-Za-z]{3} [A-Za-z]{3} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/;

export function parseHttpDate(value: string): Date | undefined {
  const v = value.trim();
  if (ASCTIME.test(v)) return validDate(Date.parse(`${v} GMT`));
  if (RFC1123.test(v) || RFC850.test(v)) return validDate(Date.parse(v));
  return parseAmzDate(v);
}

function validDate(ms: number): Date | undefined {
  return Number.isNaN(ms) ? undefined : new Date(ms);
}

/** A signed x-amz-content-sha256 digest binds the body (payload.ts checks it); V2 itself never does. */
function signedPayloadHash(headers: Headers): string {
  const declared = headers.get("x-amz-content-sha256");
  if (declared === null || declared === UNSIGNED_PAYLOAD) return UNSIGNED_PAYLOAD;
  if (/^[0-9a-f]{64}$/i.test(declared)) return declared.toLowerCase();
  throw new S3Error("InvalidArgument", `x-amz-content-sha256 '${declared}' needs Signature Version 4.`, { ArgumentName: "x-amz-content-sha256", ArgumentValue: declared });
}

/**
 * StringToSign = HTTP-Verb \n Content-MD5 \n Content-Type \n (Date | "" | Expires) \n CanonicalizedAmzHeaders
 * CanonicalizedResource.
 */
export function stringToSignV2(parts: SignedRequestParts, dateLine: string, virtualHostedBucket?: string): string {
  const h = parts.headers;
  return [
    `${parts.method.toUpperCase()}\n`,
    `${h.get("content-md5") ?? ""}\n`,
    `${h.get("content-type") ?? ""}\n`,
    `${dateLine}\n`,
    canonicalAmzHeaders(h),
    canonicalResource(parts.rawPath, parts.rawQuery, virtualHostedBucket),
  ].join("");
}

/**
 * Every x-amz-* header, lowercase name, sorted, "name:value\n"; the value trimmed, with repeated headers joined by
 * "," (Headers joins them with ", ", which a single value may also contain: the two cannot be told apart here).
 */
function canonicalAmzHeaders(headers: Headers): string {
  const amz: [string, string][] = [];
  headers.forEach((value, name) => {
    if (name.startsWith("x-amz-")) amz.push([name, value.trim()]);
  });
  // By name: "x-amz-meta-a" sorts before "x-amz-meta-a-b", which sorting whole "name:value" lines would invert.
  amz.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return amz.map(([name, value]) => `${name}:${value}\n`).join("");
}

/**
 * "/bucket" when the Host names it, then the path exactly as sent (still percent-encoded, any case), then the
 * signed sub-resources sorted by name, each with its value as routing reads it (decoded; the response-* values are
 * signed unencoded, as AWS says) when it has one. A request for a bucket itself is "/bucket/" however it is
 * addressed: virtual-hosted "/" gives that, and botocore and s3cmd sign path-style "/bucket" so too.
 */
export function canonicalResource(rawPath: string, rawQuery: string, virtualHostedBucket?: string): string {
  const path = rawPath === "" ? "/" : rawPath;
  const bucketOnly = virtualHostedBucket === undefined && /^\/[^/]+$/.test(path);
  const resource = virtualHostedBucket === undefined ? (bucketOnly ? `${path}/` : path) : `/${virtualHostedBucket}${path}`;
  const pairs = (decodeQuery(rawQuery) ?? []).filter(([name]) => SIGNED_SUBRESOURCES.has(name));
  if (pairs.length === 0) return resource;
  pairs.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `${resource}?${pairs.map(([name, value]) => (value === "" ? name : `${name}=${value}`)).join("&")}`;
}

/** Base64 HMAC-SHA1 of `stringToSign` under the secret: a V2 signature (and a V2 POST policy's). */
export async function signV2(secret: string, stringToSign: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-1" }, false, ["sign"]);
  return base64(new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(stringToSign))));
}

/** Compares in constant time, as raw digests: a provided signature that is not base64 simply does not match. */
export async function sigV2Matches(secret: string, stringToSign: string, provided: string): Promise<boolean> {
  let providedDigest: string;
  try {
    providedDigest = hex(fromBase64(provided));
  } catch {
    return false;
  }
  return timingSafeEqualHex(hex(fromBase64(await signV2(secret, stringToSign))), providedDigest);
}

/** S3's SignatureDoesNotMatch for V2: the StringToSign (and its bytes) it computed, so a client can see how it differs. */
export function signatureMismatch(accessKeyId: string, stringToSign: string, provided: string): S3Error {
  return new S3Error("SignatureDoesNotMatch", undefined, {
    AWSAccessKeyId: accessKeyId,
    StringToSign: stringToSign,
    SignatureProvided: provided,
    StringToSignBytes: [...new TextEncoder().encode(stringToSign)].map((b) => b.toString(16).padStart(2, "0")).join(" "),
  });
}

/**
 * S3 serves SSE-KMS only to SigV4: "Requests specifying Server Side Encryption with AWS KMS managed keys require AWS
 * Signature Version 4." (400 InvalidArgument, ArgumentName Authorization), for writes that would encrypt under a KMS
 * key and reads of objects encrypted under one (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html).
 */
export function refuseKmsUnderSigV2(signature: S3Signature | null): void {
  if (isSigV2(signature)) throw kmsNeedsSigV4();
}

export function kmsNeedsSigV4(): S3Error {
  return new S3Error("InvalidArgument", "Requests specifying Server Side Encryption with AWS KMS managed keys require AWS Signature Version 4.", {
    ArgumentName: "Authorization",
    ArgumentValue: "null",
  });
}
