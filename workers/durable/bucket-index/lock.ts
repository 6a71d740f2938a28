// Object Lock in the bucket index: turning it on, a version's retention and legal hold, and what is still
// protected (what account deletion, KMS key deletion and the chores must leave alone). The rules themselves are in
// src/s3/object-lock.ts; this single writer applies them at commit, so no two requests can race past them.
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html

import { mayChangeRetention, type BucketObjectLock, type Retention } from "../../../src/s3/object-lock.ts";
import { isDeleteMarker, NULL_VERSION, type ObjectLock, type ObjectRecord } from "../../../src/services/object-model.ts";
import { getConfig, setConfig, versioningOf } from "./configuration.ts";
import type { IndexStore } from "./store.ts";
import { getObject, getVersion, writeCurrent } from "./versions.ts";

/** Why a lock change was refused, as S3 names it. */
export type LockChangeFailure = "NoSuchKey" | "NoSuchVersion" | "MethodNotAllowed" | "AccessDenied" | "InvalidRequest";

/**
 * A version's lock change as this single writer applied it: the lock it replaced and the lock now in force (`{}`
 * for none), read and written in one synchronous turn, so no concurrent change can slip between the check, the
 * write and what the caller reports (the access audit log's before and after).
 */
export type LockChangeResult = { ok: true; versionId: string; before: ObjectLock; after: ObjectLock } | { ok: false; code: LockChangeFailure };

/** A bucket's Object Lock configuration change as applied, with the configuration it replaced (null: none). */
export type LockConfigurationChange = { ok: true; before: BucketObjectLock | null } | { ok: false; code: "InvalidBucketState" };

/**
 * PutObjectLockConfiguration: Object Lock needs versioning Enabled (S3 answers InvalidBucketState otherwise), and
 * once on it stays on; only the default retention changes.
 */
export function putObjectLockConfiguration(store: IndexStore, config: BucketObjectLock): LockConfigurationChange {
  if (versioningOf(store) !== "Enabled") return { ok: false, code: "InvalidBucketState" };
  const before = getConfig(store, "objectLock");
  setConfig(store, "objectLock", config);
  return { ok: true, before };
}

/** A bucket with Object Lock never leaves versioning Enabled (S3: InvalidBucketState). False when refused. */
export function setVersioning(store: IndexStore, state: "Enabled" | "Suspended"): boolean {
  if (state !== "Enabled" && getConfig(store, "objectLock")) return false;
  setConfig(store, "versioning", state);
  return true;
}

/** PutObjectRetention on the current version or `versionId`; `retention` null removes it. */
export function setRetention(store: IndexStore, key: string, versionId: string | undefined, retention: Retention | null, now: number, bypassGovernance: boolean): LockChangeResult {
  return updateLock(store, key, versionId, (lock) => {
    if (!mayChangeRetention(lock, retention, now, bypassGovernance)) return "AccessDenied";
    const { mode: _m, retainUntil: _r, ...rest } = lock ?? {};
    return retention ? { ...rest, mode: retention.mode, retainUntil: retention.retainUntil } : rest;
  });
}

/** PutObjectLegalHold: anyone allowed to call it may place or lift a hold; retention is untouched. */
export function setLegalHold(store: IndexStore, key: string, versionId: string | undefined, on: boolean): LockChangeResult {
  return updateLock(store, key, versionId, (lock) => ({ ...lock, legalHold: on }));
}

function updateLock(store: IndexStore, key: string, versionId: string | undefined, change: (lock: ObjectLock | undefined) => ObjectLock | "AccessDenied"): LockChangeResult {
  if (!getConfig(store, "objectLock")) return { ok: false, code: "InvalidRequest" };
  const target = versionId === undefined ? getObject(store, key) : getVersion(store, key, versionId);
  if (!target) return { ok: false, code: versionId === undefined ? "NoSuchKey" : "NoSuchVersion" };
  if (isDeleteMarker(target)) return { ok: false, code: "MethodNotAllowed" };
  const next = change(target.lock);
  if (next === "AccessDenied") return { ok: false, code: "AccessDenied" };
  const { lock: _old, ...rest } = target;
  const updated: ObjectRecord = Object.keys(next).length ? { ...rest, lock: next } : rest;
  const id = target.versionId ?? NULL_VERSION;
  store.transactionSync(() => {
    store.sql.exec(
      "UPDATE versions SET record = ?, retain_until = ?, legal_hold = ? WHERE key = ? AND version_id = ?",
      JSON.stringify(updated),
      next.retainUntil ?? null,
      next.legalHold ? 1 : 0,
      key,
      id,
    );
    if (getObject(store, key)?.versionId === target.versionId) writeCurrent(store, updated);
  });
  return { ok: true, versionId: id, before: target.lock ?? {}, after: next };
}

/** Versions still protected at `now` (a legal hold, or a retention not yet over): how many, and one to name. */
export interface ProtectedVersions {
  count: number;
  example?: { key: string; versionId: string; retainUntil: number | null; legalHold: boolean };
}

/**
 * What Object Lock still protects here at `now`; with `kmsKeyId`, only versions encrypted under that KMS key
 * (SSE-KMS), whose data the key's destruction would erase.
 */
export function protectedVersions(store: IndexStore, now: number, kmsKeyId?: string): ProtectedVersions {
  const where = "(legal_hold = 1 OR retain_until > ?)" + (kmsKeyId === undefined ? "" : " AND json_extract(record, '$.encryption.kmsKeyId') = ?");
  const args = kmsKeyId === undefined ? [now] : [now, kmsKeyId];
  const count = store.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM versions WHERE ${where}`, ...args).one().n;
  if (count === 0) return { count };
  const row = store.sql
    .exec<{ key: string; version_id: string; retain_until: number | null; legal_hold: number }>(
      `SELECT key, version_id, retain_until, legal_hold FROM versions WHERE ${where} ORDER BY retain_until DESC LIMIT 1`,
      ...args,
    )
    .one();
  return { count, example: { key: row.key, versionId: row.version_id, retainUntil: row.retain_until, legalHold: row.legal_hold === 1 } };
}
