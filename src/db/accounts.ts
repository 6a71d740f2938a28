// Queries over customer accounts, their access keys and their buckets.

import { and, asc, eq, gt } from "drizzle-orm";
import type { Db } from "./client.ts";
import { accessKeys, accounts, buckets } from "./schema.ts";

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

export async function insertAccessKey(db: Db, accessKeyId: string, accountId: string, secretEnc: string, now: number) {
  await db.insert(accessKeys).values({ accessKeyId, accountId, secretEnc, createdAt: now });
}

export async function listAccessKeys(db: Db, accountId: string) {
  return db
    .select({ accessKeyId: accessKeys.accessKeyId, status: accessKeys.status, createdAt: accessKeys.createdAt })
    .from(accessKeys)
    .where(eq(accessKeys.accountId, accountId))
    .all();
}

/** An active key of an active account, or undefined. */
export async function findActiveAccessKey(db: Db, accessKeyId: string) {
  const row = await db
    .select({ key: accessKeys, accountStatus: accounts.status })
    .from(accessKeys)
    .innerJoin(accounts, eq(accounts.id, accessKeys.accountId))
    .where(and(eq(accessKeys.accessKeyId, accessKeyId), eq(accessKeys.status, "active")))
    .get();
  return row && row.accountStatus === "active" ? row.key : undefined;
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
