// A small per-account KMS for SSE-KMS (`x-amz-server-side-encryption: aws:kms`). Each key is 32 random bytes,
// stored only wrapped under the master key ring and bound to its account and key id; the S3 layer gets it as a
// non-extractable AES-256-GCM CryptoKey through resolveKmsKey, and no API ever returns or logs the material.
// Key states and their rules follow AWS KMS: https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html

import { EdgeError } from "../protocol/errors.ts";
import type { Db } from "../db/client.ts";
import {
  countKmsKeysWrappedBy,
  deleteAccountKmsKeys,
  deleteKmsKeysDueBy,
  getKmsKey,
  getKmsKeyByAlias,
  insertKmsKey,
  listKmsKeys as listKmsKeyRows,
  listKmsKeysWrappedBy,
  replaceKmsKeyWrap,
  setKmsKeyAlias,
  transitionKmsKeyState,
} from "../db/kms.ts";
import type { KmsKeyRow, KmsKeyState } from "../db/schema.ts";
import { importDataKey, KEY_BYTES, rewrapUnderMaster, unwrapUnderMaster, wrappingKeyId, wrapUnderMaster, type MasterKeyRing } from "./crypto/keys.ts";
import { TtlCache } from "./ttl-cache.ts";

/** The purpose bound into every KMS key's wrap (additional data `[purpose, masterKeyId, accountId, keyId]`). */
export const KMS_KEY_PURPOSE = "icn-edge/kms-key/v1";

/** AWS alias syntax: `alias/` + 1-250 of [A-Za-z0-9/_-]; `alias/aws/` is reserved for AWS managed keys. */
export const KMS_ALIAS_PATTERN = /^alias\/[A-Za-z0-9/_-]{1,250}$/;
export const RESERVED_ALIAS_PREFIX = "alias/aws/";
const KEY_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// arn:aws:kms:<region>:<account>:key/<uuid> or ...:alias/<name>
const ARN_PATTERN = /^arn:aws:kms:([a-z0-9-]+):([A-Za-z0-9_-]+):(key\/.+|alias\/.+)$/;

/** AWS KMS accepts a deletion waiting period of 7 to 30 days (ScheduleKeyDeletion, PendingWindowInDays). */
export const MIN_PENDING_WINDOW_DAYS = 7;
export const MAX_PENDING_WINDOW_DAYS = 30;
const DAY_MS = 86_400_000;

/** A key as its owner sees it: metadata only, never material. */
export interface KmsKey {
  keyId: string;
  arn: string;
  accountId: string;
  alias?: string;
  aliasArn?: string;
  description: string;
  state: KmsKeyState;
  /** When the deletion chore destroys the key (ms since the epoch); only while PendingDeletion. */
  deletionDate?: number;
  createdAt: number;
}

/** An Enabled key ready for the S3 layer to encrypt and decrypt with. */
export interface UsableKmsKey {
  keyId: string;
  arn: string;
  accountId: string;
  /** AES-256-GCM, non-extractable: the unwrapped material. */
  key: CryptoKey;
}

export type KmsKeyLookupFailure = "NotFound" | "Disabled" | "PendingDeletion" | "OtherAccount" | "InvalidKeyId";
export type KmsKeyLookup = { ok: true; key: UsableKmsKey } | { ok: false; reason: KmsKeyLookupFailure };

/** What a key reference names, once its syntax is known to be valid. */
export type KmsKeyRef =
  | { kind: "keyId"; keyId: string }
  | { kind: "alias"; alias: string }
  | { kind: "keyArn"; region: string; accountId: string; keyId: string }
  | { kind: "aliasArn"; region: string; accountId: string; alias: string };

export type KmsErrorCode = "NotFound" | "InvalidState" | "AliasTaken";

/** A key-management request the key's state or the account's aliases do not allow. */
export class KmsError extends EdgeError<KmsErrorCode, undefined> {
  override name = "KmsError";
  constructor(code: KmsErrorCode, message: string) {
    super(code, message, undefined);
  }
}

/** Parses a key id (UUID), an alias, a key ARN or an alias ARN; undefined when it is none of them. */
export function parseKmsKeyRef(ref: string): KmsKeyRef | undefined {
  if (KEY_ID_PATTERN.test(ref)) return { kind: "keyId", keyId: ref.toLowerCase() };
  if (KMS_ALIAS_PATTERN.test(ref)) return { kind: "alias", alias: ref };
  const arn = ARN_PATTERN.exec(ref);
  if (!arn) return undefined;
  const [, region, accountId, resource] = arn as unknown as [string, string, string, string];
  if (resource.startsWith("key/")) {
    const keyId = resource.slice(4);
    return KEY_ID_PATTERN.test(keyId) ? { kind: "keyArn", region, accountId, keyId: keyId.toLowerCase() } : undefined;
  }
  return KMS_ALIAS_PATTERN.test(resource) ? { kind: "aliasArn", region, accountId, alias: resource } : undefined;
}

export function kmsKeyArn(region: string, accountId: string, keyId: string): string {
  return `arn:aws:kms:${region}:${accountId}:key/${keyId}`;
}

export function kmsAliasArn(region: string, accountId: string, alias: string): string {
  return `arn:aws:kms:${region}:${accountId}:${alias}`;
}

// ---- The per-isolate cache of resolved keys.
//
// Staleness bound: a key disabled, scheduled for deletion, re-aliased or destroyed by ANOTHER isolate (another
// request's Worker, the cron chore) keeps resolving here as it was for at most KEY_CACHE_TTL_MS; changes made
// through this module in THIS isolate invalidate at once. That is the same trade as access keys (src/s3/auth.ts),
// and like AWS KMS, whose key-state changes are eventually consistent. Keys that do not resolve are never cached.

const KEY_CACHE_TTL_MS = 15_000;

interface CachedKmsKey {
  accountId: string;
  alias: string | null;
  state: KmsKeyState;
  /** Unwrapped only for Enabled keys: nothing else may use the material. */
  key?: CryptoKey;
}

const keysById = new TtlCache<string, CachedKmsKey>(KEY_CACHE_TTL_MS);
const keyIdsByAlias = new TtlCache<string, string>(KEY_CACHE_TTL_MS);
const aliasSlot = (accountId: string, alias: string) => `${accountId}\n${alias}`;

function forgetKey(key: { id: string; accountId: string; alias: string | null }, ...otherAliases: (string | null)[]): void {
  keysById.delete(key.id);
  for (const alias of [key.alias, ...otherAliases]) if (alias) keyIdsByAlias.delete(aliasSlot(key.accountId, alias));
}

async function cachedFromRow(ring: MasterKeyRing, row: KmsKeyRow): Promise<CachedKmsKey> {
  const cached: CachedKmsKey = { accountId: row.accountId, alias: row.alias, state: row.state };
  if (row.state === "Enabled") cached.key = await unwrapMaterial(ring, row);
  return cached;
}

async function unwrapMaterial(ring: MasterKeyRing, row: Pick<KmsKeyRow, "id" | "accountId" | "materialWrapped">): Promise<CryptoKey> {
  const raw = await unwrapUnderMaster(ring, row.materialWrapped, KMS_KEY_PURPOSE, [row.accountId, row.id]);
  try {
    return await importDataKey(raw);
  } finally {
    raw.fill(0);
  }
}

async function cachedById(db: Db, ring: MasterKeyRing, keyId: string, now: number): Promise<CachedKmsKey | undefined> {
  return keysById.get(keyId, now, async () => {
    const row = await getKmsKey(db, keyId);
    return row ? cachedFromRow(ring, row) : undefined;
  });
}

async function cachedByAlias(db: Db, ring: MasterKeyRing, accountId: string, alias: string, now: number): Promise<{ keyId: string; entry: CachedKmsKey } | undefined> {
  const slot = aliasSlot(accountId, alias);
  const keyId = await keyIdsByAlias.get(slot, now, async () => (await getKmsKeyByAlias(db, accountId, alias))?.id);
  if (keyId === undefined) return undefined;
  const entry = await cachedById(db, ring, keyId, now);
  if (entry && entry.accountId === accountId && entry.alias === alias) return { keyId, entry };
  // The two caches disagree (the alias moved): ask D1 once more, uncached.
  keyIdsByAlias.delete(slot);
  keysById.delete(keyId);
  const row = await getKmsKeyByAlias(db, accountId, alias);
  return row ? { keyId: row.id, entry: await cachedFromRow(ring, row) } : undefined;
}

/** Resolves a key id (UUID), an alias ("alias/x"), a key ARN or an alias ARN for `accountId`. */
export async function resolveKmsKey(db: Db, ring: MasterKeyRing, accountId: string, ref: string, region: string): Promise<KmsKeyLookup> {
  const parsed = parseKmsKeyRef(ref);
  if (!parsed) return { ok: false, reason: "InvalidKeyId" };
  if (parsed.kind === "keyArn" || parsed.kind === "aliasArn") {
    if (parsed.accountId !== accountId) return { ok: false, reason: "OtherAccount" };
    // Keys live in this edge's region only; an ARN naming another region names a key that does not exist.
    if (parsed.region !== region) return { ok: false, reason: "NotFound" };
  }
  // Only the cache's freshness depends on this clock; no decision does.
  const now = Date.now();
  let keyId: string;
  let entry: CachedKmsKey | undefined;
  if (parsed.kind === "keyId" || parsed.kind === "keyArn") {
    keyId = parsed.keyId;
    entry = await cachedById(db, ring, keyId, now);
    if (entry && entry.accountId !== accountId) {
      // A bare id of another account's key is refused as such; an ARN naming this account names no such key.
      return { ok: false, reason: parsed.kind === "keyId" ? "OtherAccount" : "NotFound" };
    }
  } else {
    const found = await cachedByAlias(db, ring, accountId, parsed.alias, now);
    keyId = found?.keyId ?? "";
    entry = found?.entry;
  }
  if (!entry) return { ok: false, reason: "NotFound" };
  if (entry.state === "Disabled") return { ok: false, reason: "Disabled" };
  if (entry.state === "PendingDeletion") return { ok: false, reason: "PendingDeletion" };
  return { ok: true, key: { keyId, arn: kmsKeyArn(region, accountId, keyId), accountId, key: entry.key! } };
}

// ---- Key management for the owning account (the control API).

/** The key as its owner sees it; the material stays behind. */
export function kmsKeyView(row: KmsKeyRow, region: string): KmsKey {
  const view: KmsKey = {
    keyId: row.id,
    arn: kmsKeyArn(region, row.accountId, row.id),
    accountId: row.accountId,
    description: row.description,
    state: row.state,
    createdAt: row.createdAt,
  };
  if (row.alias !== null) {
    view.alias = row.alias;
    view.aliasArn = kmsAliasArn(region, row.accountId, row.alias);
  }
  if (row.deletionDate !== null) view.deletionDate = row.deletionDate;
  return view;
}

/** Creates a key with fresh material wrapped under the newest master key. */
export async function createKmsKey(
  db: Db,
  ring: MasterKeyRing,
  accountId: string,
  options: { description?: string; alias?: string },
  region: string,
  now: number,
): Promise<KmsKey> {
  const keyId = crypto.randomUUID();
  const raw = crypto.getRandomValues(new Uint8Array(KEY_BYTES));
  let materialWrapped: string;
  try {
    materialWrapped = await wrapUnderMaster(ring, raw, KMS_KEY_PURPOSE, [accountId, keyId]);
  } finally {
    raw.fill(0);
  }
  const row: KmsKeyRow = {
    id: keyId,
    accountId,
    alias: options.alias ?? null,
    description: options.description ?? "",
    state: "Enabled",
    deletionDate: null,
    materialWrapped,
    wrappedBy: wrappingKeyId(materialWrapped),
    createdAt: now,
    updatedAt: now,
  };
  if (!(await insertKmsKey(db, row))) throw aliasTaken(options.alias ?? "");
  if (row.alias) keyIdsByAlias.delete(aliasSlot(accountId, row.alias));
  return kmsKeyView(row, region);
}

export async function listKmsKeys(db: Db, accountId: string, region: string): Promise<KmsKey[]> {
  return (await listKmsKeyRows(db, accountId)).map((row) => kmsKeyView(row, region));
}

/**
 * The account's own key named by `ref`. A key of another account, an ARN naming another account or region, and a
 * ref that is not a key reference at all are the same NotFound, so the API does not tell whether a key exists.
 */
export async function findOwnKmsKey(db: Db, accountId: string, ref: string, region: string): Promise<KmsKeyRow> {
  const parsed = parseKmsKeyRef(ref);
  let row: KmsKeyRow | undefined;
  if (parsed && !((parsed.kind === "keyArn" || parsed.kind === "aliasArn") && (parsed.accountId !== accountId || parsed.region !== region))) {
    row = parsed.kind === "keyId" || parsed.kind === "keyArn" ? await getKmsKey(db, parsed.keyId) : await getKmsKeyByAlias(db, accountId, parsed.alias);
  }
  if (!row || row.accountId !== accountId) throw new KmsError("NotFound", `KMS key '${ref}' does not exist.`);
  return row;
}

export async function describeKmsKey(db: Db, accountId: string, ref: string, region: string): Promise<KmsKey> {
  return kmsKeyView(await findOwnKmsKey(db, accountId, ref, region), region);
}

/** DisableKey: an Enabled or Disabled key becomes Disabled; a key pending deletion must be cancelled first. */
export function disableKmsKey(db: Db, accountId: string, ref: string, region: string, now: number): Promise<KmsKey> {
  return transition(db, accountId, ref, region, now, ["Enabled", "Disabled"], "Disabled", null);
}

/** EnableKey: a Disabled (or already Enabled) key becomes Enabled. */
export function enableKmsKey(db: Db, accountId: string, ref: string, region: string, now: number): Promise<KmsKey> {
  return transition(db, accountId, ref, region, now, ["Enabled", "Disabled"], "Enabled", null);
}

/** ScheduleKeyDeletion: the key is unusable at once and destroyed by the deletion chore after the window. */
export function scheduleKmsKeyDeletion(db: Db, accountId: string, ref: string, region: string, pendingWindowInDays: number, now: number): Promise<KmsKey> {
  if (!Number.isInteger(pendingWindowInDays) || pendingWindowInDays < MIN_PENDING_WINDOW_DAYS || pendingWindowInDays > MAX_PENDING_WINDOW_DAYS) {
    throw new RangeError(`pendingWindowInDays must be an integer from ${MIN_PENDING_WINDOW_DAYS} to ${MAX_PENDING_WINDOW_DAYS}`);
  }
  return transition(db, accountId, ref, region, now, ["Enabled", "Disabled"], "PendingDeletion", now + pendingWindowInDays * DAY_MS);
}

/** CancelKeyDeletion: the key comes back Disabled, as in AWS KMS; enabling it is a separate, deliberate step. */
export function cancelKmsKeyDeletion(db: Db, accountId: string, ref: string, region: string, now: number): Promise<KmsKey> {
  return transition(db, accountId, ref, region, now, ["PendingDeletion"], "Disabled", null);
}

async function transition(
  db: Db,
  accountId: string,
  ref: string,
  region: string,
  now: number,
  from: readonly KmsKeyState[],
  to: KmsKeyState,
  deletionDate: number | null,
): Promise<KmsKey> {
  const row = await findOwnKmsKey(db, accountId, ref, region);
  const updated = await transitionKmsKeyState(db, row.id, from, to, deletionDate, now);
  forgetKey(row);
  if (!updated) throw new KmsError("InvalidState", `${kmsKeyArn(region, row.accountId, row.id)} is ${describeState(row.state)}; it cannot become ${to}.`);
  return kmsKeyView(updated, region);
}

/** Gives the key `alias`, replacing any alias it had (CreateAlias/UpdateAlias). Not for keys pending deletion. */
export async function setKmsKeyAliasFor(db: Db, accountId: string, ref: string, alias: string, region: string, now: number): Promise<KmsKey> {
  const row = await findOwnKmsKey(db, accountId, ref, region);
  const updated = await setKmsKeyAlias(db, row.id, alias, ["Enabled", "Disabled"], now);
  forgetKey(row, alias);
  if (updated === "taken") throw aliasTaken(alias);
  if (!updated) throw new KmsError("InvalidState", `${kmsKeyArn(region, row.accountId, row.id)} is pending deletion; its alias cannot change.`);
  return kmsKeyView(updated, region);
}

/** Removes the key's alias (DeleteAlias); a key without one is left as it is. */
export async function removeKmsKeyAlias(db: Db, accountId: string, ref: string, region: string, now: number): Promise<KmsKey> {
  const row = await findOwnKmsKey(db, accountId, ref, region);
  const updated = await setKmsKeyAlias(db, row.id, null, ["Enabled", "Disabled", "PendingDeletion"], now);
  forgetKey(row);
  if (!updated || updated === "taken") throw new KmsError("NotFound", `KMS key '${ref}' does not exist.`);
  return kmsKeyView(updated, region);
}

function aliasTaken(alias: string): KmsError {
  return new KmsError("AliasTaken", `The alias ${alias} already names another key of this account.`);
}

function describeState(state: KmsKeyState): string {
  return state === "PendingDeletion" ? "pending deletion" : state.toLowerCase();
}

// ---- Chores and account lifecycle.

/**
 * Master-key rotation: re-wraps up to `limit` KMS keys wrapped by an older configured master key. Keys under a
 * master key that is no longer configured cannot be opened and are not attempted (the admin encryption status
 * lists them); one that fails to open (tampered) is reported and left as it is.
 */
export async function rewrapKmsKeys(db: Db, ring: MasterKeyRing, limit: number): Promise<{ rewrapped: number; remaining: number; failed: { keyId: string; error: string }[] }> {
  const newest = ring.newest.id;
  const older = [...ring.byId.keys()].filter((id) => id !== newest);
  let rewrapped = 0;
  const failed: { keyId: string; error: string }[] = [];
  for (const row of await listKmsKeysWrappedBy(db, older, limit)) {
    try {
      const wrapped = await rewrapUnderMaster(ring, row.materialWrapped, KMS_KEY_PURPOSE, [row.accountId, row.id]);
      if (await replaceKmsKeyWrap(db, row.id, row.materialWrapped, wrapped, newest)) rewrapped++;
    } catch (error) {
      failed.push({ keyId: row.id, error: String(error) });
    }
    // The material is unchanged, but the next resolve should prove the new wrap opens.
    keysById.delete(row.id);
  }
  return { rewrapped, remaining: await countKmsKeysWrappedBy(db, older), failed };
}

/**
 * Crypto-erase: destroys the material of every key of an account at once (account deletion). The rows go, so
 * everything encrypted under these keys is unreadable. D1 keeps point-in-time restores (Time Travel) for its
 * retention window; the material there is still wrapped under the master keys, so retiring the master key that
 * wrapped it (rotation, then removal from MASTER_KEYS) completes the erase for backups too.
 */
export async function destroyAccountKmsKeys(db: Db, accountId: string): Promise<number> {
  const destroyed = await deleteAccountKmsKeys(db, accountId);
  for (const key of destroyed) forgetKey(key);
  return destroyed.length;
}

/** The deletion chore: destroys material of keys whose deletion date has passed, except `keep`; returns how many. */
export async function deleteDueKmsKeys(db: Db, now: number, keep: readonly string[] = []): Promise<number> {
  const destroyed = await deleteKmsKeysDueBy(db, now, keep);
  for (const key of destroyed) forgetKey(key);
  return destroyed.length;
}
