// Queries over customer accounts, their access keys and their buckets.

import { and, asc, count, eq, gt, isNull, ne, or } from "drizzle-orm";
import type { Db } from "./client.ts";
import { accessKeys, accounts, buckets, type AccessKeyRow } from "./schema.ts";

export async function createAccount(db: Db, id: string, name: string, now: number) {
  await db.insert(accounts).values({ id, name, createdAt: now });
  return (await getAccount(db, id))!;
}

export async function getAccount(db: Db, id: string) {
  return db.query.accounts.findFirst({ where: eq(accounts.id, id) });
}

export async function listAccounts(db: Db) {
  return db.select().from(accounts).orderBy(asc(accounts.createdAt)).all();
}

/** What an access key is besides its secret; every field but the secret is the account's to see. */
export interface AccessKeyFields {
  /** JSON of the key's scope (src/s3/key-scope.ts), or null for an unrestricted key. */
  scope?: string | null;
  name?: string | null;
  expiresAt?: number | null;
  /** The key that signed the request minting this one; null when the edge admin minted it. */
  createdBy?: string | null;
}

/** The statement inserting a key (batched with its audit entry: src/api/access-keys.ts mintAccessKey). */
export function accessKeyInsert(db: Db, accessKeyId: string, accountId: string, secretEnc: string, now: number, fields: AccessKeyFields = {}) {
  return db.insert(accessKeys).values({
    accessKeyId,
    accountId,
    secretEnc,
    createdAt: now,
    scope: fields.scope ?? null,
    name: fields.name ?? null,
    expiresAt: fields.expiresAt ?? null,
    createdBy: fields.createdBy ?? null,
  });
}

const accessKeyView = {
  accessKeyId: accessKeys.accessKeyId,
  accountId: accessKeys.accountId,
  status: accessKeys.status,
  createdAt: accessKeys.createdAt,
  scope: accessKeys.scope,
  name: accessKeys.name,
  expiresAt: accessKeys.expiresAt,
  revokedAt: accessKeys.revokedAt,
  createdBy: accessKeys.createdBy,
};

/** An access key without its secret. */
export type AccessKeyView = Omit<AccessKeyRow, "secretEnc">;

export async function listAccessKeys(db: Db, accountId: string): Promise<AccessKeyView[]> {
  return db.select(accessKeyView).from(accessKeys).where(eq(accessKeys.accountId, accountId)).orderBy(asc(accessKeys.createdAt), asc(accessKeys.accessKeyId)).all();
}

/** One key of the account, without its secret; another account's key is undefined like a missing one. */
export async function getAccountAccessKey(db: Db, accountId: string, accessKeyId: string): Promise<AccessKeyView | undefined> {
  return db.select(accessKeyView).from(accessKeys).where(and(eq(accessKeys.accountId, accountId), eq(accessKeys.accessKeyId, accessKeyId))).get();
}

/** How many active unrestricted keys the account has (that have not expired at `now`). */
export async function countUnrestrictedKeys(db: Db, accountId: string, now: number): Promise<number> {
  const row = await db
    .select({ n: count() })
    .from(accessKeys)
    .where(and(eq(accessKeys.accountId, accountId), eq(accessKeys.status, "active"), isNull(accessKeys.scope), or(isNull(accessKeys.expiresAt), gt(accessKeys.expiresAt, now))))
    .get();
  return row?.n ?? 0;
}

/** The statement revoking an active key of the account (final: nothing re-activates it). */
export function accessKeyRevocation(db: Db, accountId: string, accessKeyId: string, now: number) {
  return db
    .update(accessKeys)
    .set({ status: "revoked", revokedAt: now })
    .where(and(eq(accessKeys.accountId, accountId), eq(accessKeys.accessKeyId, accessKeyId), ne(accessKeys.status, "revoked")));
}

/** An active key of an active account, or undefined. Its expiry is the caller's to check against its clock. */
export async function findActiveAccessKey(db: Db, accessKeyId: string) {
  const row = await db
    .select({ key: accessKeys, accountStatus: accounts.status })
    .from(accessKeys)
    .innerJoin(accounts, eq(accounts.id, accessKeys.accountId))
    .where(and(eq(accessKeys.accessKeyId, accessKeyId), eq(accessKeys.status, "active")))
    .get();
  return row && row.accountStatus === "active" ? row.key : undefined;
}

/** Whether the key is still active and its account too: one indexed read, for the per-request revocation check. */
export async function isAccessKeyActive(db: Db, accessKeyId: string): Promise<boolean> {
  const row = await db
    .select({ one: accessKeys.accessKeyId })
    .from(accessKeys)
    .innerJoin(accounts, eq(accounts.id, accessKeys.accountId))
    .where(and(eq(accessKeys.accessKeyId, accessKeyId), eq(accessKeys.status, "active"), eq(accounts.status, "active")))
    .get();
  return row !== undefined;
}

export async function getBucket(db: Db, name: string) {
  return db.query.buckets.findFirst({ where: eq(buckets.name, name) });
}

export async function listBuckets(db: Db, accountId: string) {
  return db.select().from(buckets).where(eq(buckets.accountId, accountId)).orderBy(asc(buckets.name)).all();
}

/** Inserts the bucket; false when the name is taken (bucket names are global). */
export async function insertBucket(db: Db, row: typeof buckets.$inferInsert): Promise<boolean> {
  const inserted = await db.insert(buckets).values(row).onConflictDoNothing().returning({ name: buckets.name });
  return inserted.length === 1;
}

export async function deleteBucketRow(db: Db, name: string) {
  await db.delete(buckets).where(eq(buckets.name, name));
}

/** Every bucket, for chores that visit each bucket's index. */
export async function listAllBuckets(db: Db) {
  return db.select({ name: buckets.name, id: buckets.id, replicationFactor: buckets.replicationFactor }).from(buckets).orderBy(asc(buckets.name)).all();
}

/** The first bucket by name after `name` (the very first when `name` is ""), for chores that walk buckets one by one. */
export async function bucketAfter(db: Db, name: string) {
  return (await db.select({ name: buckets.name, id: buckets.id }).from(buckets).where(gt(buckets.name, name)).orderBy(asc(buckets.name)).limit(1).get()) ?? null;
}

/**
 * Deletes an account, its access keys and its bucket rows in one batch. The bucket rows hold the wrapped bucket
 * keys, so this is the moment every SSE-S3 object of the account becomes unreadable (crypto-erase).
 */
export async function deleteAccountRows(db: Db, accountId: string): Promise<{ buckets: { name: string; id: string }[]; accessKeys: number }> {
  const owned = await db.select({ name: buckets.name, id: buckets.id }).from(buckets).where(eq(buckets.accountId, accountId)).all();
  const [, keys] = await db.batch([
    db.delete(buckets).where(eq(buckets.accountId, accountId)),
    db.delete(accessKeys).where(eq(accessKeys.accountId, accountId)).returning({ id: accessKeys.accessKeyId }),
    db.delete(accounts).where(eq(accounts.id, accountId)),
  ]);
  return { buckets: owned, accessKeys: keys.length };
}
