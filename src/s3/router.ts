// (method, host, path, query) -> one typed S3 operation. Everything after this works on the S3Op value.
// Path-style: /bucket/key. Virtual-hosted-style: bucket.<base domain>/key
// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/VirtualHosting.html).

import { decodeQuery } from "../protocol/sigv4.ts";
import { S3Error } from "./errors.ts";

export type S3Op =
  | { op: "ListBuckets" }
  | { op: "CreateBucket"; bucket: string }
  | { op: "HeadBucket"; bucket: string }
  | { op: "DeleteBucket"; bucket: string }
  | { op: "GetBucketLocation"; bucket: string }
  | { op: "ListObjectsV2"; bucket: string }
  | { op: "ListObjects"; bucket: string }
  | { op: "DeleteObjects"; bucket: string }
  | { op: "PutObject"; bucket: string; key: string }
  | { op: "GetObject"; bucket: string; key: string }
  | { op: "HeadObject"; bucket: string; key: string }
  | { op: "DeleteObject"; bucket: string; key: string }
  | { op: "CreateMultipartUpload"; bucket: string; key: string }
  | { op: "UploadPart"; bucket: string; key: string; uploadId: string; partNumber: number }
  | { op: "CompleteMultipartUpload"; bucket: string; key: string; uploadId: string }
  | { op: "AbortMultipartUpload"; bucket: string; key: string; uploadId: string }
  | { op: "ListParts"; bucket: string; key: string; uploadId: string }
  | { op: "CopyObject"; bucket: string; key: string }
  | { op: "UploadPartCopy"; bucket: string; key: string; uploadId: string; partNumber: number }
  | { op: "ListMultipartUploads"; bucket: string }
  | { op: "GetObjectTagging"; bucket: string; key: string }
  | { op: "PutObjectTagging"; bucket: string; key: string }
  | { op: "DeleteObjectTagging"; bucket: string; key: string }
  | { op: "GetObjectAttributes"; bucket: string; key: string }
  | { op: "GetBucketTagging"; bucket: string }
  | { op: "PutBucketTagging"; bucket: string }
  | { op: "DeleteBucketTagging"; bucket: string }
  | { op: "GetBucketVersioning"; bucket: string }
  | { op: "PutBucketVersioning"; bucket: string }
  | { op: "ListObjectVersions"; bucket: string }
  | { op: "GetBucketAcl"; bucket: string }
  | { op: "PutBucketAcl"; bucket: string }
  | { op: "GetObjectAcl"; bucket: string; key: string }
  | { op: "PutObjectAcl"; bucket: string; key: string }
  | { op: "GetBucketEncryption"; bucket: string }
  | { op: "PutBucketEncryption"; bucket: string }
  | { op: "DeleteBucketEncryption"; bucket: string }
  | { op: "GetBucketCors"; bucket: string }
  | { op: "PutBucketCors"; bucket: string }
  | { op: "DeleteBucketCors"; bucket: string }
  | { op: "GetBucketLifecycle"; bucket: string }
  | { op: "PutBucketLifecycle"; bucket: string }
  | { op: "DeleteBucketLifecycle"; bucket: string }
  | { op: "GetBucketPolicy"; bucket: string }
  | { op: "PutBucketPolicy"; bucket: string }
  | { op: "DeleteBucketPolicy"; bucket: string }
  | { op: "GetBucketPolicyStatus"; bucket: string }
  | { op: "PostObject"; bucket: string }
  | { op: "GetObjectLockConfiguration"; bucket: string }
  | { op: "PutObjectLockConfiguration"; bucket: string }
  | { op: "GetObjectRetention"; bucket: string; key: string }
  | { op: "PutObjectRetention"; bucket: string; key: string }
  | { op: "GetObjectLegalHold"; bucket: string; key: string }
  | { op: "PutObjectLegalHold"; bucket: string; key: string }
  | { op: "GetBucketOwnershipControls"; bucket: string }
  | { op: "PutBucketOwnershipControls"; bucket: string }
  | { op: "DeleteBucketOwnershipControls"; bucket: string }
  | { op: "GetPublicAccessBlock"; bucket: string }
  | { op: "PutPublicAccessBlock"; bucket: string }
  | { op: "DeletePublicAccessBlock"; bucket: string };

export type S3OpName = S3Op["op"];

/** Subresources S3 defines that this edge does not implement yet: answered NotImplemented, never misrouted. */
const UNSUPPORTED_SUBRESOURCES = [
  "analytics", "accelerate", "intelligent-tiering", "inventory", "logging",
  "metrics", "notification",
  "replication", "requestPayment", "website",
  "torrent", "restore", "select",
];

export interface RouteInput {
  method: string;
  host: string;
  rawPath: string;
  query: URLSearchParams;
  headers: Headers;
}

/**
 * Everything routing reads is covered by the signature of a signed request: method, host, path, the query
 * (decoded once, as signed: parseS3Query) and x-amz-copy-source (auth.ts refuses unsigned x-amz-* headers).
 * The one exception, a multipart/form-data Content-Type making a POST a browser form upload, gives nothing to
 * the caller: a form upload is authorized by its signed policy alone.
 */
export function routeS3Request(input: RouteInput, baseDomains: readonly string[]): S3Op {
  const { bucket, key } = locate(input.host, input.rawPath, baseDomains);
  const q = input.query;
  const method = input.method.toUpperCase();

  if (bucket === undefined) {
    if (method === "GET") return { op: "ListBuckets" };
    throw new S3Error("MethodNotAllowed");
  }
  if (key === undefined) {
    if (method === "POST" && q.has("delete")) return { op: "DeleteObjects", bucket };
    if (method === "POST" && /^multipart\/form-data/i.test(input.headers.get("content-type") ?? "")) return { op: "PostObject", bucket };
    if (method === "GET" && q.has("location")) return { op: "GetBucketLocation", bucket };
    if (method === "GET" && q.has("uploads")) return { op: "ListMultipartUploads", bucket };
    if (method === "GET" && q.has("versions")) return { op: "ListObjectVersions", bucket };
    if (q.has("acl")) {
      if (method === "GET") return { op: "GetBucketAcl", bucket };
      if (method === "PUT") return { op: "PutBucketAcl", bucket };
      throw new S3Error("MethodNotAllowed");
    }
    if (q.has("lifecycle")) {
      if (method === "GET") return { op: "GetBucketLifecycle", bucket };
      if (method === "PUT") return { op: "PutBucketLifecycle", bucket };
      if (method === "DELETE") return { op: "DeleteBucketLifecycle", bucket };
      throw new S3Error("MethodNotAllowed");
    }
    if (q.has("encryption")) {
      if (method === "GET") return { op: "GetBucketEncryption", bucket };
      if (method === "PUT") return { op: "PutBucketEncryption", bucket };
      if (method === "DELETE") return { op: "DeleteBucketEncryption", bucket };
      throw new S3Error("MethodNotAllowed");
    }
    if (q.has("cors")) {
      if (method === "GET") return { op: "GetBucketCors", bucket };
      if (method === "PUT") return { op: "PutBucketCors", bucket };
      if (method === "DELETE") return { op: "DeleteBucketCors", bucket };
      throw new S3Error("MethodNotAllowed");
    }
    if (q.has("versioning")) {
      if (method === "GET") return { op: "GetBucketVersioning", bucket };
      if (method === "PUT") return { op: "PutBucketVersioning", bucket };
      throw new S3Error("MethodNotAllowed");
    }
    if (q.has("policy")) {
      if (method === "GET") return { op: "GetBucketPolicy", bucket };
      if (method === "PUT") return { op: "PutBucketPolicy", bucket };
      if (method === "DELETE") return { op: "DeleteBucketPolicy", bucket };
      throw new S3Error("MethodNotAllowed");
    }
    if (q.has("ownershipControls")) {
      if (method === "GET") return { op: "GetBucketOwnershipControls", bucket };
      if (method === "PUT") return { op: "PutBucketOwnershipControls", bucket };
      if (method === "DELETE") return { op: "DeleteBucketOwnershipControls", bucket };
      throw new S3Error("MethodNotAllowed");
    }
    if (q.has("publicAccessBlock")) {
      if (method === "GET") return { op: "GetPublicAccessBlock", bucket };
      if (method === "PUT") return { op: "PutPublicAccessBlock", bucket };
      if (method === "DELETE") return { op: "DeletePublicAccessBlock", bucket };
      throw new S3Error("MethodNotAllowed");
    }
    if (method === "GET" && q.has("policyStatus")) return { op: "GetBucketPolicyStatus", bucket };
    if (q.has("object-lock")) {
      if (method === "GET") return { op: "GetObjectLockConfiguration", bucket };
      if (method === "PUT") return { op: "PutObjectLockConfiguration", bucket };
      throw new S3Error("MethodNotAllowed");
    }
    if (q.has("tagging")) {
      if (method === "GET") return { op: "GetBucketTagging", bucket };
      if (method === "PUT") return { op: "PutBucketTagging", bucket };
      if (method === "DELETE") return { op: "DeleteBucketTagging", bucket };
      throw new S3Error("MethodNotAllowed");
    }
    rejectUnsupported(q, bucket);
    switch (method) {
      case "PUT":
        return { op: "CreateBucket", bucket };
      case "HEAD":
        return { op: "HeadBucket", bucket };
      case "DELETE":
        return { op: "DeleteBucket", bucket };
      case "GET":
        return q.get("list-type") === "2" ? { op: "ListObjectsV2", bucket } : { op: "ListObjects", bucket };
      default:
        throw new S3Error("MethodNotAllowed");
    }
  }

  const uploadId = q.get("uploadId");
  if (method === "POST" && q.has("uploads")) return { op: "CreateMultipartUpload", bucket, key };
  if (uploadId !== null) {
    switch (method) {
      case "PUT": {
        const partNumber = parsePartNumber(q.get("partNumber"));
        if (input.headers.has("x-amz-copy-source")) return { op: "UploadPartCopy", bucket, key, uploadId, partNumber };
        return { op: "UploadPart", bucket, key, uploadId, partNumber };
      }
      case "POST":
        return { op: "CompleteMultipartUpload", bucket, key, uploadId };
      case "DELETE":
        return { op: "AbortMultipartUpload", bucket, key, uploadId };
      case "GET":
        return { op: "ListParts", bucket, key, uploadId };
      default:
        throw new S3Error("MethodNotAllowed");
    }
  }
  if (q.has("tagging")) {
    if (method === "GET") return { op: "GetObjectTagging", bucket, key };
    if (method === "PUT") return { op: "PutObjectTagging", bucket, key };
    if (method === "DELETE") return { op: "DeleteObjectTagging", bucket, key };
    throw new S3Error("MethodNotAllowed");
  }
  if (method === "GET" && q.has("attributes")) return { op: "GetObjectAttributes", bucket, key };
  if (q.has("retention")) {
    if (method === "GET") return { op: "GetObjectRetention", bucket, key };
    if (method === "PUT") return { op: "PutObjectRetention", bucket, key };
    throw new S3Error("MethodNotAllowed");
  }
  if (q.has("legal-hold")) {
    if (method === "GET") return { op: "GetObjectLegalHold", bucket, key };
    if (method === "PUT") return { op: "PutObjectLegalHold", bucket, key };
    throw new S3Error("MethodNotAllowed");
  }
  if (q.has("acl")) {
    if (method === "GET") return { op: "GetObjectAcl", bucket, key };
    if (method === "PUT") return { op: "PutObjectAcl", bucket, key };
    throw new S3Error("MethodNotAllowed");
  }
  rejectUnsupported(q, `${bucket}/${key}`);
  switch (method) {
    case "PUT":
      if (input.headers.has("x-amz-copy-source")) return { op: "CopyObject", bucket, key };
      return { op: "PutObject", bucket, key };
    case "GET":
      return { op: "GetObject", bucket, key };
    case "HEAD":
      return { op: "HeadObject", bucket, key };
    case "DELETE":
      return { op: "DeleteObject", bucket, key };
    default:
      throw new S3Error("MethodNotAllowed");
  }
}

function rejectUnsupported(q: URLSearchParams, resource: string): void {
  for (const name of UNSUPPORTED_SUBRESOURCES) {
    if (q.has(name)) throw new S3Error("NotImplemented", `The ${name} subresource is not implemented.`, { Resource: resource });
  }
}

/** A partNumber query parameter (UploadPart, and GetObject/HeadObject of one part): 1 to 10000. */
export function parsePartNumber(value: string | null): number {
  if (value === null || !/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 10_000) {
    throw new S3Error("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive", {
      ArgumentName: "partNumber",
      ArgumentValue: value ?? "",
    });
  }
  return Number(value);
}

/**
 * The query as routing and the signature both read it (decodeQuery: one decoding shared by both), or S3's
 * InvalidURI when it is not valid percent-encoded UTF-8.
 */
export function parseS3Query(rawQuery: string): URLSearchParams {
  const pairs = decodeQuery(rawQuery);
  if (pairs === undefined) throw new S3Error("InvalidURI", "Couldn't parse the specified URI: the query is not valid percent-encoded UTF-8.");
  return new URLSearchParams(pairs);
}

/**
 * The bucket a virtual-hosted-style host names (`<bucket>.<base domain>`), or undefined for a path-style host. The
 * longest matching base domain wins, so with `localhost,s3.localhost` the host `b.s3.localhost` is bucket `b`; a host
 * that is itself a base domain is path-style.
 */
export function virtualHostedBucket(host: string, baseDomains: readonly string[]): string | undefined {
  const hostname = host.replace(/:\d+$/, "").toLowerCase();
  const domains = baseDomains.map((d) => d.toLowerCase());
  if (domains.includes(hostname)) return undefined;
  const base = domains.filter((d) => hostname.endsWith(`.${d}`)).sort((a, b) => b.length - a.length)[0];
  return base === undefined ? undefined : hostname.slice(0, hostname.length - base.length - 1);
}

/** Splits host + raw path into bucket and key (keys are decoded exactly once; "//" and leading slashes survive). */
export function locate(host: string, rawPath: string, baseDomains: readonly string[]): { bucket?: string; key?: string } {
  const path = rawPath.startsWith("/") ? rawPath.slice(1) : rawPath;
  const bucket = virtualHostedBucket(host, baseDomains);
  if (bucket !== undefined) return { bucket, key: path === "" ? undefined : decodeKey(path) };
  if (path === "") return {};
  const slash = path.indexOf("/");
  if (slash < 0) return { bucket: decodeKey(path) };
  const key = path.slice(slash + 1);
  return { bucket: decodeKey(path.slice(0, slash)), key: key === "" ? undefined : decodeKey(key) };
}

/** A path segment decoded once; S3 answers 400 InvalidURI for percent-encoding that is not valid UTF-8. */
function decodeKey(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new S3Error("InvalidURI", "Couldn't parse the specified URI: the path is not valid percent-encoded UTF-8.");
  }
}
