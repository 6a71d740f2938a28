// Queries over per-account KMS keys. Rows carry wrapped key material: callers outside src/services/kms.ts
// should not need this file, and nothing here logs a row.

import { and, asc, count, eq, inArray, lte, notInArray } from "drizzle-orm";
import type { Db } from "./client.ts";
import { kmsKeys, type KmsKeyRow, type KmsKeyState } from "./schema.ts";

/** Inserts a key; false when the alias is already taken in the account (the only unique constraint a new id can hit). */
export async function insertKmsKey(db: Db, row: typeof kmsKeys.$inferInsert): Promise<boolean> {
  const inserted = await db.insert(kmsKeys).values(row).onConflictDoNothing().returning({ id: kmsKeys.id });
  return inserted.length === 1;
}

export async function getKmsKey(db: Db, id: string): Promise<KmsKeyRow | undefined> {
  return db.query.kmsKeys.findFirst({ where: eq(kmsKeys.id, id) });
}

export async function getKmsKeyByAlias(db: Db, accountId: string, alias: string): Promise<KmsKeyRow | undefined> {
  return db.query.kmsKeys.findFirst({ where: and(eq(kmsKeys.accountId, accountId), eq(kmsKeys.alias, alias)) });
}

export async function listKmsKeys(db: Db, accountId: string): Promise<KmsKeyRow[]> {
  return db.select().from(kmsKeys).where(eq(kmsKeys.accountId, accountId)).orderBy(asc(kmsKeys.createdAt), asc(kmsKeys.id)).all();
}

/**
 * Moves a key to `to` only if it is still in one of `from` (so concurrent requests cannot, say, enable a key the
 * deletion chore is destroying). Returns the updated row, or undefined when the key was not in a `from` state.
 */
export async function transitionKmsKeyState(
  db: Db,
  id: string,
  from: readonly KmsKeyState[],
  to: KmsKeyState,
  deletionDate: number | null,
  now: number,
): Promise<KmsKeyRow | undefined> {
  const [row] = await db
    .update(kmsKeys)
    .set({ state: to, deletionDate, updatedAt: now })
    .where(and(eq(kmsKeys.id, id), inArray(kmsKeys.state, [...from])))
    .returning();
  return row;
}

/**
 * Sets (or with null removes) a key's alias while the key is in one of `inStates`. "taken" when another key of the
 * account has the alias; undefined when the key is not in such a state.
 */
export async function setKmsKeyAlias(
  db: Db,
  id: string,
  alias: string | null,
  inStates: readonly KmsKeyState[],
  now: number,
): Promise<KmsKeyRow | "taken" | undefined> {
  try {
    const [row] = await db
      .update(kmsKeys)
      .set({ alias, updatedAt: now })
      .where(and(eq(kmsKeys.id, id), inArray(kmsKeys.state, [...inStates])))
      .returning();
    return row;
  } catch (error) {
    if (isUniqueViolation(error)) return "taken";
    throw error;
  }
}

/** Keys whose material is not wrapped by `masterKeyId`, for master-key rotation. */
export async function listKmsKeysWrappedBy(db: Db, masterKeyIds: string[], limit: number) {
  if (masterKeyIds.length === 0) return [];
  return db
    .select({ id: kmsKeys.id, accountId: kmsKeys.accountId, materialWrapped: kmsKeys.materialWrapped })
    .from(kmsKeys)
    .where(inArray(kmsKeys.wrappedBy, masterKeyIds))
    .orderBy(asc(kmsKeys.id))
    .limit(limit)
    .all();
}

export async function countKmsKeysWrappedBy(db: Db, masterKeyIds: string[]): Promise<number> {
  if (masterKeyIds.length === 0) return 0;
  const [row] = await db.select({ n: count() }).from(kmsKeys).where(inArray(kmsKeys.wrappedBy, masterKeyIds));
  return row?.n ?? 0;
}

/** Stores a re-wrap of the same material, unless the row changed (or went) since `previous` was read. */
export async function replaceKmsKeyWrap(db: Db, id: string, previous: string, materialWrapped: string, wrappedBy: string): Promise<boolean> {
  const updated = await db
    .update(kmsKeys)
    .set({ materialWrapped, wrappedBy })
    .where(and(eq(kmsKeys.id, id), eq(kmsKeys.materialWrapped, previous)))
    .returning({ id: kmsKeys.id });
  return updated.length === 1;
}

/** Deletes every key of an account, material included; returns what was deleted (ids and aliases). */
export async function deleteAccountKmsKeys(db: Db, accountId: string) {
  return db.delete(kmsKeys).where(eq(kmsKeys.accountId, accountId)).returning({ id: kmsKeys.id, accountId: kmsKeys.accountId, alias: kmsKeys.alias });
}

/** Keys pending deletion whose deletion date is at or before `now` (ids and accounts only, never material). */
export async function listKmsKeysDueBy(db: Db, now: number) {
  return db
    .select({ id: kmsKeys.id, accountId: kmsKeys.accountId })
    .from(kmsKeys)
    .where(and(eq(kmsKeys.state, "PendingDeletion"), lte(kmsKeys.deletionDate, now)))
    .all();
}

/** Deletes keys pending deletion whose deletion date is at or before `now`, except `keep`; returns what was deleted. */
export async function deleteKmsKeysDueBy(db: Db, now: number, keep: readonly string[] = []) {
  return db
    .delete(kmsKeys)
    .where(and(eq(kmsKeys.state, "PendingDeletion"), lte(kmsKeys.deletionDate, now), keep.length ? notInArray(kmsKeys.id, [...keep]) : undefined))
    .returning({ id: kmsKeys.id, accountId: kmsKeys.accountId, alias: kmsKeys.alias });
}

function isUniqueViolation(error: unknown): boolean {
  // D1 reports SQLite's message; drizzle may wrap it, with the original as the cause.
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if (e.message.includes("UNIQUE constraint failed")) return true;
  }
  return false;
}

/** How many KMS keys each master key wraps, for rotation status. */
export async function countKmsKeysByMasterKey(db: Db): Promise<Record<string, number>> {
  const rows = await db.select({ keyId: kmsKeys.wrappedBy, n: count() }).from(kmsKeys).groupBy(kmsKeys.wrappedBy).all();
  return Object.fromEntries(rows.map((r) => [r.keyId, r.n]));
}
