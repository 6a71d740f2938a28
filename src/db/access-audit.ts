// The access-control audit log: every change of who may do what, with what was in force before and after, readable
// by the account it concerns (GET /api/v1/access-audit). An S3 operation that changes access control records it
// with the one helper, which takes who, when and the request id from the request itself:
//
//   await recordS3Change(ctx, {
//     accountId: bucket.accountId,                     // whose access control changed: it reads the entry
//     action: "PutBucketPolicy",                       // the S3 action's name
//     target: s3Arn(bucket.name),                      // arn:aws:s3:::bucket or arn:aws:s3:::bucket/key
//     before: oldPolicy, after: newPolicy,             // JSON values; null or undefined where nothing was in force
//   });
//
// The control API (keys, KMS) records with recordAccessChange / accessChangeInsert, naming the actor itself.
//
// Record after the change succeeded. A change kept outside D1 (a bucket's configuration lives in its Durable Object)
// cannot share a transaction with this row: if the write here fails, the request fails and the client's retry of
// the (idempotent) change records it then. Changes kept in D1 batch `accessChangeInsert` with their own statement.

import { and, asc, eq, gt } from "drizzle-orm";
import type { Db } from "./client.ts";
import { accessAudit, type AccessAuditRow } from "./schema.ts";

export interface AccessChange {
  /** The account whose access control changed (the bucket's or the key's owner); only it reads the entry. */
  accountId: string;
  /** Who made the change: an account and the access key it signed with; null for the edge admin (ADMIN_TOKEN). */
  actor: { accountId: string; accessKeyId: string } | null;
  /** What was done, named as the API names it: CreateAccessKey, RevokeAccessKey, PutBucketAcl, ... */
  action: string;
  /** What it was done to: an ARN for S3 and KMS resources, `access-key/<id>` for access keys. */
  target: string;
  /** What was in force before and after, as JSON values (never secrets); null where nothing was. */
  before: unknown;
  after: unknown;
  /** When, in ms since the epoch (the request's clock). */
  at: number;
  requestId?: string;
}

/** The entry as the account reads it. */
export interface AccessAuditEntry {
  id: string;
  at: string;
  actor: { accountId: string; accessKeyId: string } | null;
  action: string;
  target: string;
  before: unknown;
  after: unknown;
  requestId: string | null;
}

/** Records one access-control change. */
export async function recordAccessChange(db: Db, change: AccessChange): Promise<void> {
  await accessChangeInsert(db, change);
}

/** The insert of `change`, for a `db.batch` that makes the change itself in the same transaction. */
export function accessChangeInsert(db: Db, change: AccessChange) {
  return db.insert(accessAudit).values({
    accountId: change.accountId,
    actorAccountId: change.actor?.accountId ?? null,
    actorAccessKeyId: change.actor?.accessKeyId ?? null,
    action: change.action,
    target: change.target,
    before: change.before === null || change.before === undefined ? null : JSON.stringify(change.before),
    after: change.after === null || change.after === undefined ? null : JSON.stringify(change.after),
    at: change.at,
    requestId: change.requestId ?? null,
  });
}

/** What an S3 request brings to its audit entry: its database, who signed it, its clock and id (an S3Context is one). */
export interface S3ChangeRequest {
  db: Db;
  principal: { accountId: string | null; accessKeyId: string | null };
  now: Date;
  requestId: string;
}

/** One access-control change made by an S3 request: whose, what, to what, and what was in force before and after. */
export type S3Change = Pick<AccessChange, "accountId" | "action" | "target" | "before" | "after">;

/** Records an access-control change made by an S3 request, signed by its principal, at the request's time. */
export function recordS3Change(request: S3ChangeRequest, change: S3Change): Promise<void> {
  return recordAccessChange(request.db, {
    ...change,
    actor: s3Actor(request.principal),
    before: change.before ?? null,
    after: change.after ?? null,
    at: request.now.getTime(),
    requestId: request.requestId,
  });
}

/** The actor of an S3 request (null for anonymous callers, who change nothing). */
export function s3Actor(principal: { accountId: string | null; accessKeyId: string | null }): AccessChange["actor"] {
  return principal.accountId !== null && principal.accessKeyId !== null ? { accountId: principal.accountId, accessKeyId: principal.accessKeyId } : null;
}

/** `arn:aws:s3:::bucket`, or `arn:aws:s3:::bucket/key` for an object. */
export function s3Arn(bucket: string, key?: string): string {
  return key === undefined ? `arn:aws:s3:::${bucket}` : `arn:aws:s3:::${bucket}/${key}`;
}

/** One page of an account's entries, oldest first, after the entry with id `after`. */
export async function listAccessChanges(db: Db, accountId: string, page: { after?: number; limit: number }): Promise<AccessAuditEntry[]> {
  const rows = await db
    .select()
    .from(accessAudit)
    .where(page.after === undefined ? eq(accessAudit.accountId, accountId) : and(eq(accessAudit.accountId, accountId), gt(accessAudit.id, page.after)))
    .orderBy(asc(accessAudit.id))
    .limit(page.limit)
    .all();
  return rows.map(entryView);
}

function entryView(row: AccessAuditRow): AccessAuditEntry {
  return {
    id: String(row.id),
    at: new Date(row.at).toISOString(),
    actor: row.actorAccountId !== null && row.actorAccessKeyId !== null ? { accountId: row.actorAccountId, accessKeyId: row.actorAccessKeyId } : null,
    action: row.action,
    target: row.target,
    before: row.before === null ? null : JSON.parse(row.before),
    after: row.after === null ? null : JSON.parse(row.after),
    requestId: row.requestId,
  };
}
