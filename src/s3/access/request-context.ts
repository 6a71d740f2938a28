// The condition keys of one S3 request, from what the edge itself knows about it.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html (aws:*)
// https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html#amazons3-policy-keys (s3:*)
// aws:SourceIp and aws:SecureTransport come from the connection, never from a header the client chose:
// Cloudflare's edge sets CF-Connecting-IP to the connecting address (replacing any copy the client sent), and the
// request URL carries the scheme the client connected with; the local front does the same (edge-front.ts).

import { isSigV2 } from "../sigv2.ts";
import type { TagSet } from "../tagging.ts";
import type { S3Context } from "../context.ts";
import { parseIpAddress } from "./ip-address.ts";
import { normalizeConditionKey } from "./conditions.ts";

/** What the authorization of one request knows beyond the S3Context. */
export interface RequestFacts {
  /** The account acting; null when anonymous. */
  accountId: string | null;
  /** The account that owns the bucket (s3:ResourceAccount). */
  bucketOwner: string;
  /** Where the request's S3 headers come from: the request's, or a browser form's fields. */
  headers: Headers;
  /** s3:authType: REST-HEADER, REST-QUERY-STRING (presigned) or POST (browser form); absent when anonymous. */
  authType?: "REST-HEADER" | "REST-QUERY-STRING" | "POST";
  /** s3:signatureversion: AWS4-HMAC-SHA256 or AWS (V2). */
  signatureVersion?: "AWS4-HMAC-SHA256" | "AWS";
  /** The version the request names (s3:VersionId). */
  versionId?: string;
  /** Tags the request sets on an object (s3:RequestObjectTag/<key>, s3:RequestObjectTagKeys). */
  requestTags?: TagSet;
  /** Tags of the object the request acts on, as stored (s3:ExistingObjectTag/<key>). */
  existingTags?: TagSet;
  /** The list operation's parameters (s3:prefix, s3:delimiter, s3:max-keys), only for ListBucket* actions. */
  listQuery?: URLSearchParams;
}

/** Request headers S3 exposes as `s3:<header name>` condition keys. */
const HEADER_KEYS = [
  "x-amz-acl",
  "x-amz-content-sha256",
  "x-amz-copy-source",
  "x-amz-grant-full-control",
  "x-amz-grant-read",
  "x-amz-grant-read-acp",
  "x-amz-grant-write",
  "x-amz-grant-write-acp",
  "x-amz-metadata-directive",
  "x-amz-server-side-encryption",
  "x-amz-server-side-encryption-aws-kms-key-id",
  "x-amz-server-side-encryption-customer-algorithm",
  "x-amz-storage-class",
  "x-amz-website-redirect-location",
];

/** The S3 request's condition keys and their values; a key the request does not have is absent. */
export function conditionContext(ctx: S3Context, facts: RequestFacts): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  const set = (key: string, value: string | null | undefined) => {
    if (value !== null && value !== undefined) keys.set(normalizeConditionKey(key), [value]);
  };
  const request = ctx.request;
  set("aws:SecureTransport", String(new URL(request.url).protocol === "https:"));
  const ip = request.headers.get("cf-connecting-ip");
  if (ip !== null && parseIpAddress(ip) !== undefined) set("aws:SourceIp", ip.trim());
  set("aws:CurrentTime", ctx.now.toISOString());
  set("aws:EpochTime", String(Math.floor(ctx.now.getTime() / 1000)));
  set("aws:UserAgent", request.headers.get("user-agent"));
  set("aws:Referer", request.headers.get("referer"));
  const tls = (request as { cf?: { tlsVersion?: string } }).cf?.tlsVersion;
  if (tls) set("s3:TlsVersion", tls.replace(/^TLSv/, ""));
  // Every caller here is an account acting as its own root (there are no IAM users or roles): the account id is
  // its principal, its user id and its user name.
  if (facts.accountId !== null) {
    set("aws:PrincipalAccount", facts.accountId);
    set("aws:PrincipalArn", `arn:aws:iam::${facts.accountId}:root`);
    set("aws:PrincipalType", "Account");
    set("aws:userid", facts.accountId);
    set("aws:username", facts.accountId);
  } else {
    set("aws:PrincipalType", "Anonymous");
  }
  set("s3:ResourceAccount", facts.bucketOwner);
  set("s3:authType", facts.authType);
  set("s3:signatureversion", facts.signatureVersion);
  set("s3:VersionId", facts.versionId);
  for (const header of HEADER_KEYS) set(`s3:${header}`, facts.headers.get(header));
  // Object Lock keys of a write that sets a lock in its headers (PutObject, CopyObject, CreateMultipartUpload, a
  // form's fields); a retention sent in a PutObjectRetention body is not among them.
  set("s3:object-lock-mode", facts.headers.get("x-amz-object-lock-mode"));
  set("s3:object-lock-legal-hold", facts.headers.get("x-amz-object-lock-legal-hold"));
  const retainUntil = facts.headers.get("x-amz-object-lock-retain-until-date");
  set("s3:object-lock-retain-until-date", retainUntil);
  const until = retainUntil === null ? NaN : Date.parse(retainUntil);
  if (Number.isFinite(until)) set("s3:object-lock-remaining-retention-days", String(Math.max(0, Math.ceil((until - ctx.now.getTime()) / 86_400_000))));
  if (facts.listQuery) {
    for (const name of ["prefix", "delimiter", "max-keys"]) set(`s3:${name}`, facts.listQuery.get(name));
  }
  if (facts.requestTags) {
    for (const [key, value] of Object.entries(facts.requestTags)) set(`s3:RequestObjectTag/${key}`, value);
    keys.set(normalizeConditionKey("s3:RequestObjectTagKeys"), Object.keys(facts.requestTags));
  }
  if (facts.existingTags) {
    for (const [key, value] of Object.entries(facts.existingTags)) set(`s3:ExistingObjectTag/${key}`, value);
  }
  return keys;
}

/** How a signed request was authenticated, as s3:authType and s3:signatureversion name it. */
export function signatureFacts(ctx: S3Context): Pick<RequestFacts, "authType" | "signatureVersion"> {
  const signature = ctx.principal.signature;
  if (signature === null) return {};
  return {
    authType: signature.presigned ? "REST-QUERY-STRING" : "REST-HEADER",
    signatureVersion: isSigV2(signature) ? "AWS" : "AWS4-HMAC-SHA256",
  };
}
