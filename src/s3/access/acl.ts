// Access control lists, as S3 defines them (https://docs.aws.amazon.com/AmazonS3/latest/userguide/acl-overview.html):
// canned ACLs, x-amz-grant-* headers and AccessControlPolicy documents parsed into one stored shape, written back as
// S3 writes it, and asked whether they grant a caller a permission.
//
// A grantee's canonical user id here is the account id (acc_…), the same value ListBuckets and every Owner/ID
// have always reported and x-amz-expected-bucket-owner compares against; the display name is the same id.

import { S3Error } from "../errors.ts";
import { childText, parseXml, XSI_XMLNS, type XmlElement, type XmlNode } from "../xml.ts";

export const ACL_PERMISSIONS = ["READ", "WRITE", "READ_ACP", "WRITE_ACP", "FULL_CONTROL"] as const;
export type AclPermission = (typeof ACL_PERMISSIONS)[number];

export const ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers";
export const AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
export const LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery";
const GROUPS = [ALL_USERS, AUTHENTICATED_USERS, LOG_DELIVERY];

export type Grantee = { type: "CanonicalUser"; id: string } | { type: "Group"; uri: string };
export interface Grant {
  grantee: Grantee;
  permission: AclPermission;
}

/** An ACL as stored: its grants, and the canned ACL it was set from, if any (the audit log names it). */
export interface StoredAcl {
  canned?: CannedAcl;
  grants: Grant[];
}

/** Canned ACLs (https://docs.aws.amazon.com/AmazonS3/latest/userguide/acl-overview.html#canned-acl). */
export const CANNED_ACLS = [
  "private",
  "public-read",
  "public-read-write",
  "authenticated-read",
  "bucket-owner-read",
  "bucket-owner-full-control",
  "log-delivery-write",
] as const;
export type CannedAcl = (typeof CANNED_ACLS)[number];

const owner = (id: string, permission: AclPermission): Grant => ({ grantee: { type: "CanonicalUser", id }, permission });
const group = (uri: string, permission: AclPermission): Grant => ({ grantee: { type: "Group", uri }, permission });

/**
 * The grants a canned ACL stands for. `resourceOwner` owns the bucket or object; `bucketOwner` is the bucket's
 * owner, named by bucket-owner-read/-full-control on objects ("ignored if specified when creating a bucket").
 */
export function cannedGrants(canned: CannedAcl, resourceOwner: string, bucketOwner: string, target: "bucket" | "object"): Grant[] {
  const grants = [owner(resourceOwner, "FULL_CONTROL")];
  switch (canned) {
    case "private":
      break;
    case "public-read":
      grants.push(group(ALL_USERS, "READ"));
      break;
    case "public-read-write":
      grants.push(group(ALL_USERS, "READ"), group(ALL_USERS, "WRITE"));
      break;
    case "authenticated-read":
      grants.push(group(AUTHENTICATED_USERS, "READ"));
      break;
    case "bucket-owner-read":
      if (target === "object" && bucketOwner !== resourceOwner) grants.push(owner(bucketOwner, "READ"));
      break;
    case "bucket-owner-full-control":
      if (target === "object" && bucketOwner !== resourceOwner) grants.push(owner(bucketOwner, "FULL_CONTROL"));
      break;
    case "log-delivery-write":
      grants.push(group(LOG_DELIVERY, "WRITE"), group(LOG_DELIVERY, "READ_ACP"));
      break;
  }
  return grants;
}

export function parseCannedAcl(value: string): CannedAcl {
  const canned = value.trim();
  // aws-exec-read grants READ to Amazon EC2's own account, which does not exist here.
  if (canned === "aws-exec-read") throw new S3Error("NotImplemented", "The canned ACL aws-exec-read is not supported: there is no EC2 account here.");
  if (!(CANNED_ACLS as readonly string[]).includes(canned)) throw new S3Error("InvalidArgument", undefined, { ArgumentName: "x-amz-acl", ArgumentValue: value });
  return canned as CannedAcl;
}

const GRANT_HEADERS: [string, AclPermission][] = [
  ["x-amz-grant-read", "READ"],
  ["x-amz-grant-write", "WRITE"],
  ["x-amz-grant-read-acp", "READ_ACP"],
  ["x-amz-grant-write-acp", "WRITE_ACP"],
  ["x-amz-grant-full-control", "FULL_CONTROL"],
];

/** Whether the request sets an ACL at all (x-amz-acl or any x-amz-grant-*). */
export function requestSetsAcl(headers: Headers): boolean {
  return headers.has("x-amz-acl") || GRANT_HEADERS.some(([name]) => headers.has(name));
}

/**
 * The ACL a request's headers set, or null when they set none. x-amz-acl and x-amz-grant-* together are refused,
 * as S3 does ("Specifying both Canned ACLs and Header Grants is not allowed"). Grant headers list grantees as
 * `id="…"`, `uri="…"` or `emailAddress="…"`, comma-separated (API_PutBucketAcl.html, x-amz-grant-read). The
 * resource owner gets no implicit grant from explicit grants, as in S3.
 */
export function aclFromHeaders(headers: Headers, resourceOwner: string, bucketOwner: string, target: "bucket" | "object"): StoredAcl | null {
  const canned = headers.get("x-amz-acl");
  const grants: Grant[] = [];
  for (const [name, permission] of GRANT_HEADERS) {
    const value = headers.get(name);
    if (value === null) continue;
    for (const grantee of parseGranteeList(value, name)) grants.push({ grantee, permission });
  }
  const hasGrantHeaders = GRANT_HEADERS.some(([name]) => headers.has(name));
  if (canned !== null && hasGrantHeaders) throw new S3Error("InvalidRequest", "Specifying both Canned ACLs and Header Grants is not allowed");
  if (canned !== null) {
    const parsed = parseCannedAcl(canned);
    return { canned: parsed, grants: cannedGrants(parsed, resourceOwner, bucketOwner, target) };
  }
  return hasGrantHeaders ? { grants } : null;
}

function parseGranteeList(value: string, header: string): Grantee[] {
  const grantees: Grantee[] = [];
  const pattern = /\s*(id|uri|emailAddress)\s*=\s*"([^"]*)"\s*(,|$)/iy;
  let at = 0;
  while (at < value.length) {
    pattern.lastIndex = at;
    const match = pattern.exec(value);
    if (!match) throw new S3Error("InvalidArgument", undefined, { ArgumentName: header, ArgumentValue: value });
    const [, kind, id] = match;
    grantees.push(granteeOf(kind!.toLowerCase(), id!.trim(), header));
    at = pattern.lastIndex;
    if (match[3] === "" && at < value.length) throw new S3Error("InvalidArgument", undefined, { ArgumentName: header, ArgumentValue: value });
  }
  if (grantees.length === 0) throw new S3Error("InvalidArgument", undefined, { ArgumentName: header, ArgumentValue: value });
  return grantees;
}

function granteeOf(kind: string, value: string, where: string): Grantee {
  // Grants by email address resolve to an account through AWS's directory; there is none here, and S3 itself
  // answers this error in every Region created after 2014 (acl-overview.html, "Email address").
  if (kind === "emailaddress") throw new S3Error("UnresolvableGrantByEmailAddress", undefined, { EmailAddress: value });
  if (kind === "uri") {
    if (!GROUPS.includes(value)) throw new S3Error("InvalidArgument", "Invalid group uri", { ArgumentName: where, ArgumentValue: value });
    return { type: "Group", uri: value };
  }
  if (value === "") throw new S3Error("InvalidArgument", "Invalid id", { ArgumentName: where, ArgumentValue: value });
  return { type: "CanonicalUser", id: value };
}

/**
 * An AccessControlPolicy body (PutBucketAcl, PutObjectAcl). The Owner, when given, must be the resource's owner:
 * an ACL cannot change ownership. Grantee kinds are read from their children (ID, URI, EmailAddress), which
 * say the same as xsi:type.
 */
export function parseAccessControlPolicy(body: string, resourceOwner: string): StoredAcl {
  const doc = parseXml(body);
  if (!doc) throw new S3Error("MalformedXML");
  if (doc.name !== "AccessControlPolicy") throw new S3Error("MalformedACLError");
  const ownerEl = doc.children.find((c) => c.name === "Owner");
  const ownerId = ownerEl ? childText(ownerEl, "ID") : undefined;
  if (ownerId !== undefined && ownerId.trim() !== resourceOwner) throw new S3Error("AccessDenied", "The Owner in the AccessControlPolicy is not the owner of the resource.");
  const list = doc.children.find((c) => c.name === "AccessControlList");
  if (!list) throw new S3Error("MalformedACLError");
  const grants: Grant[] = [];
  for (const grantEl of list.children) {
    if (grantEl.name !== "Grant") throw new S3Error("MalformedACLError");
    const granteeEl = grantEl.children.find((c) => c.name === "Grantee");
    const permission = childText(grantEl, "Permission")?.trim();
    if (!granteeEl || !permission || !(ACL_PERMISSIONS as readonly string[]).includes(permission)) throw new S3Error("MalformedACLError");
    grants.push({ grantee: parseGrantee(granteeEl), permission: permission as AclPermission });
  }
  return { grants };
}

function parseGrantee(el: XmlElement): Grantee {
  const id = childText(el, "ID");
  const uri = childText(el, "URI");
  const email = childText(el, "EmailAddress");
  if ([id, uri, email].filter((v) => v !== undefined).length !== 1) throw new S3Error("MalformedACLError");
  if (email !== undefined) return granteeOf("emailaddress", email.trim(), "Grantee");
  if (uri !== undefined) return granteeOf("uri", uri.trim(), "Grantee");
  return granteeOf("id", id!.trim(), "Grantee");
}

/** The canonical user ids an ACL names, which must be accounts that exist. */
export function accountsGranted(acl: StoredAcl): string[] {
  return [...new Set(acl.grants.flatMap((g) => (g.grantee.type === "CanonicalUser" ? [g.grantee.id] : [])))];
}

/**
 * The AccessControlPolicy document (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketAcl.html): each
 * Grantee declares the xsi namespace and says its kind in `xsi:type`, as S3 writes it.
 */
export function accessControlPolicyXml(resourceOwner: string, acl: StoredAcl): XmlNode {
  return {
    Owner: { ID: resourceOwner, DisplayName: resourceOwner },
    AccessControlList: { Grant: acl.grants.map((g) => ({ Grantee: granteeXml(g.grantee), Permission: g.permission })) },
  };
}

function granteeXml(grantee: Grantee): XmlNode {
  if (grantee.type === "Group") return { "@xmlns:xsi": XSI_XMLNS, "@xsi:type": "Group", URI: grantee.uri };
  return { "@xmlns:xsi": XSI_XMLNS, "@xsi:type": "CanonicalUser", ID: grantee.id, DisplayName: grantee.id };
}

/** A grant to everyone or to every signed-in caller: what Block Public Access calls public. */
export function isPublicGrant(grant: Grant): boolean {
  return grant.grantee.type === "Group" && (grant.grantee.uri === ALL_USERS || grant.grantee.uri === AUTHENTICATED_USERS);
}

export function isPublicAcl(acl: StoredAcl): boolean {
  return acl.grants.some(isPublicGrant);
}

/**
 * Whether the ACL gives `accountId` (null: anonymous) `permission`, FULL_CONTROL including every permission.
 * `ignorePublic` drops grants to AllUsers and AuthenticatedUsers (Block Public Access, IgnorePublicAcls).
 */
export function aclAllows(acl: StoredAcl, accountId: string | null, permission: AclPermission, ignorePublic: boolean): boolean {
  return acl.grants.some((grant) => {
    if (grant.permission !== permission && grant.permission !== "FULL_CONTROL") return false;
    if (ignorePublic && isPublicGrant(grant)) return false;
    const g = grant.grantee;
    if (g.type === "CanonicalUser") return accountId !== null && g.id === accountId;
    if (g.uri === ALL_USERS) return true;
    if (g.uri === AUTHENTICATED_USERS) return accountId !== null;
    return false;
  });
}

/** What the access audit log records of an ACL: the canned name when it was canned, else the grants. */
export function describeAcl(acl: StoredAcl): { cannedAcl: CannedAcl } | { grants: Grant[] } {
  return acl.canned ? { cannedAcl: acl.canned } : { grants: acl.grants };
}
