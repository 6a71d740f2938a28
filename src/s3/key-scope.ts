// Scoped access keys, as R2's API tokens with "Object Read" or "Object Read & Write" permission limited to some
// buckets (https://developers.cloudflare.com/r2/api/tokens/): a scoped key reads (and, read-write, writes) objects
// in the buckets or bucket/prefix pairs it names, and nothing else. As with R2's object tokens it never lists
// buckets, creates or deletes them or changes (or reads) their configuration, and never uses the control API
// (src/api/account-auth.ts). Beyond R2, which has no ACLs or object lock, it never changes access control either: no
// ACLs that open objects up, no grants, no retention or legal holds, no governance bypass.
//
// The scope is a ceiling over whatever the account may do: the bucket ownership, ACL and policy checks still apply
// inside it. Everything is decided from the typed operation, the signed query and the signed headers, before the
// operation runs; the keys of a DeleteObjects body and of a browser form upload are checked where they are read.

import { z } from "zod";
import type { Principal } from "./context.ts";
import { S3Error } from "./errors.ts";
import { parseCopySource } from "./object-headers.ts";
import type { S3Op } from "./router.ts";

export const KEY_PERMISSIONS = ["read-only", "read-write"] as const;
export type KeyPermission = (typeof KEY_PERMISSIONS)[number];

/** Bucket naming rules (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html), the shape only. */
const bucketName = z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "must be an S3 bucket name");

export const keyScopeSchema = z
  .object({
    permission: z.enum(KEY_PERMISSIONS),
    /** Buckets, each whole (no prefix, or "") or only its keys beginning with `prefix`. */
    buckets: z
      .array(z.object({ bucket: bucketName, prefix: z.string().max(1024).default("") }).strict())
      .min(1)
      .max(100),
  })
  .strict();

export type KeyScope = z.infer<typeof keyScopeSchema>;

/** A stored scope (the access_keys.scope column), or null for an unrestricted key. */
export function parseStoredScope(json: string | null): KeyScope | null {
  return json === null ? null : keyScopeSchema.parse(JSON.parse(json));
}

/** What one request needs of a scoped key. */
type Need =
  | { kind: "object"; bucket: string; key: string; write: boolean }
  | { kind: "list"; bucket: string; prefix: string }
  /** DeleteObjects: some write access to the bucket here; each key is checked as the body is read. */
  | { kind: "objects"; bucket: string }
  /** HeadBucket and GetBucketLocation, which clients send before working on objects: any access to the bucket. */
  | { kind: "bucket"; bucket: string }
  | { kind: "never" };

/**
 * Refuses (403 AccessDenied) a request signed with a scoped key that reaches outside its scope. Unrestricted keys and
 * anonymous requests pass: their access is the operations' and bucket-access.ts's to decide.
 */
export function checkKeyScope(principal: Principal, op: S3Op, query: URLSearchParams, headers: Headers): void {
  const scope = principal.scope;
  if (!scope) return;
  for (const need of needsOf(op, query, headers)) {
    if (!allows(scope, need)) throw scopeDenied(principal.accessKeyId, op.op, need);
  }
}

/** Whether a scoped key may write `key` in `bucket` (DeleteObjects' keys, a browser form's key); true without a scope. */
export function keyScopeAllowsWrite(scope: KeyScope | null | undefined, bucket: string, key: string): boolean {
  return !scope || allows(scope, { kind: "object", bucket, key, write: true });
}

/** The refusal of one key a scoped key may not write (DeleteObjects reports it per key, as S3 does). */
export function keyScopeDeniesWrite(accessKeyId: string | null, bucket: string, key: string): S3Error {
  return scopeDenied(accessKeyId, "write", { kind: "object", bucket, key, write: true });
}

/** A browser form upload signed with a scoped key: its key in scope, and no field that opens access up. */
export function checkFormUploadScope(scope: KeyScope | null | undefined, accessKeyId: string, bucket: string, key: string, fields: Map<string, string>): void {
  if (!scope) return;
  if (!keyScopeAllowsWrite(scope, bucket, key)) throw keyScopeDeniesWrite(accessKeyId, bucket, key);
  const formHeaders = new Headers();
  for (const [name, value] of fields) formHeaders.set(name === "acl" ? "x-amz-acl" : name, value);
  if (opensAccess(formHeaders)) throw new S3Error("AccessDenied", `Access key ${accessKeyId} is scoped: it cannot set ACLs, grants or object lock.`);
}

function needsOf(op: S3Op, query: URLSearchParams, headers: Headers): Need[] {
  if (op.op === "ListBuckets") return [{ kind: "never" }];
  const bucket = op.bucket;
  const object = (write: boolean): Need => ({ kind: "object", bucket, key: "key" in op ? op.key : "", write });
  const list = (): Need => ({ kind: "list", bucket, prefix: query.get("prefix") ?? "" });
  const writeWithoutAccessChanges = (): Need[] => (opensAccess(headers) ? [{ kind: "never" }] : [object(true)]);
  switch (op.op) {
    case "GetObject":
    case "HeadObject":
    case "GetObjectTagging":
    case "GetObjectAttributes":
    case "GetObjectAcl":
    case "ListParts":
      return [object(false)];
    case "PutObject":
    case "CreateMultipartUpload":
      return writeWithoutAccessChanges();
    case "UploadPart":
    case "CompleteMultipartUpload":
    case "AbortMultipartUpload":
    case "PutObjectTagging":
    case "DeleteObjectTagging":
      return [object(true)];
    case "DeleteObject":
      return headers.has("x-amz-bypass-governance-retention") ? [{ kind: "never" }] : [object(true)];
    case "CopyObject":
    case "UploadPartCopy": {
      const source = parseCopySource(headers.get("x-amz-copy-source") ?? "");
      const sourceNeed: Need = { kind: "object", bucket: source.bucket, key: source.key, write: false };
      return [...(op.op === "CopyObject" ? writeWithoutAccessChanges() : [object(true)]), sourceNeed];
    }
    case "ListObjects":
    case "ListObjectsV2":
    case "ListObjectVersions":
    case "ListMultipartUploads":
      return [list()];
    case "DeleteObjects":
      return headers.has("x-amz-bypass-governance-retention") ? [{ kind: "never" }] : [{ kind: "objects", bucket }];
    case "HeadBucket":
    case "GetBucketLocation":
      return [{ kind: "bucket", bucket }];
    // A browser form upload carries no signed request: its signer's scope is checked with its key (objects.ts).
    case "PostObject":
      return [];
    // Bucket management and configuration, and ACL changes: never with a scoped key (R2's object tokens neither
    // list buckets nor "edit bucket configurations"). So is any operation this list does not name yet.
    default:
      return [{ kind: "never" }];
  }
}

/** Headers of a write that open access up or bind the object: never from a scoped key. */
function opensAccess(headers: Headers): boolean {
  const acl = headers.get("x-amz-acl");
  if (acl !== null && !["private", "bucket-owner-read", "bucket-owner-full-control"].includes(acl.trim())) return true;
  let opens = false;
  headers.forEach((_, name) => {
    if (name.startsWith("x-amz-grant-") || name.startsWith("x-amz-object-lock-")) opens = true;
  });
  return opens;
}

function allows(scope: KeyScope, need: Need): boolean {
  const entries = (bucket: string) => scope.buckets.filter((b) => b.bucket === bucket);
  switch (need.kind) {
    case "never":
      return false;
    case "bucket":
      return entries(need.bucket).length > 0;
    case "objects":
      return scope.permission === "read-write" && entries(need.bucket).length > 0;
    case "list":
      return entries(need.bucket).some((b) => need.prefix.startsWith(b.prefix));
    case "object":
      if (need.write && scope.permission !== "read-write") return false;
      return entries(need.bucket).some((b) => need.key.startsWith(b.prefix));
  }
}

function scopeDenied(accessKeyId: string | null, action: string, need: Need): S3Error {
  const what =
    need.kind === "object"
      ? `${need.write ? "writing" : "reading"} ${need.bucket}/${need.key}`
      : need.kind === "list"
        ? `listing ${need.bucket} with prefix "${need.prefix}"`
        : need.kind === "never"
          ? action
          : `${action} on ${need.bucket}`;
  return new S3Error("AccessDenied", `Access key ${accessKeyId} is scoped: its scope does not allow ${what}.`);
}
