// Versions of keys: writes, deletes (delete markers in versioned buckets) and the `objects` table of current
// versions that reads and plain listings see. Every write here keeps the replica index in step.
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/Versioning.html

import { randomHex } from "../../../src/protocol/crypto.ts";
import {
  checkWriteCondition,
  isDeleteMarker,
  NULL_VERSION,
  type DeleteOutcome,
  type ObjectAcl,
  type ObjectRecord,
  type ObjectVersion,
  type PutObjectResult,
  type WriteCondition,
} from "../../../src/services/object-model.ts";
import { lockAtWrite, mayDeleteVersion } from "../../../src/s3/object-lock.ts";
import { getConfig, versioningOf } from "./configuration.ts";
import { forgetReplicas, indexReplicas } from "./replicas.ts";
import type { IndexStore } from "./store.ts";

/** The current version of a key: null when absent or deleted. */
export function getObject(store: IndexStore, key: string): ObjectRecord | null {
  const row = store.sql.exec<{ record: string }>("SELECT record FROM objects WHERE key = ?", key).toArray()[0];
  return row ? (JSON.parse(row.record) as ObjectRecord) : null;
}

/** One version of a key, which may be a delete marker. */
export function getVersion(store: IndexStore, key: string, versionId: string): ObjectVersion | null {
  const row = store.sql.exec<{ record: string }>("SELECT record FROM versions WHERE key = ? AND version_id = ?", key, versionId).toArray()[0];
  return row ? (JSON.parse(row.record) as ObjectVersion) : null;
}

/** The current version, or version `versionId` when given. */
function lookup(store: IndexStore, key: string, versionId: string | undefined): ObjectVersion | null {
  return versionId === undefined ? getObject(store, key) : getVersion(store, key, versionId);
}

/** True when at least one version (delete markers included) is recorded. */
export function hasVersions(store: IndexStore): boolean {
  return store.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM (SELECT 1 FROM versions LIMIT 1)").one().n !== 0;
}

/**
 * Records a new current version of `record.key` unless `condition` fails against the current one. With
 * versioning enabled older versions stay; otherwise the "null" version is replaced and returned for freeing.
 */
export function putObject(store: IndexStore, record: ObjectRecord, condition?: WriteCondition): PutObjectResult {
  const failure = checkWriteCondition(getObject(store, record.key), condition);
  if (failure) return { ok: false, code: failure };
  const { stored, replaced } = addVersion(store, record);
  return { ok: true, record: stored as ObjectRecord, replaced };
}

/** Replaces the tags of the current version (or of `versionId`); false when there is no such object. */
export function setObjectTags(store: IndexStore, key: string, tags: Record<string, string>, versionId?: string): boolean {
  const target = lookup(store, key, versionId);
  if (!target || isDeleteMarker(target)) return false;
  const updated = { ...target, tags };
  store.sql.exec("UPDATE versions SET record = ? WHERE key = ? AND version_id = ?", JSON.stringify(updated), key, target.versionId ?? NULL_VERSION);
  if (getObject(store, key)?.versionId === updated.versionId) writeCurrent(store, updated);
  return true;
}

/** PutObjectAcl: the version's ACL (and owner), like its tags a change of the record in place. */
export function setObjectAcl(store: IndexStore, key: string, acl: ObjectAcl, versionId?: string): boolean {
  const target = lookup(store, key, versionId);
  if (!target || isDeleteMarker(target)) return false;
  const updated = { ...target, acl };
  store.sql.exec("UPDATE versions SET record = ? WHERE key = ? AND version_id = ?", JSON.stringify(updated), key, target.versionId ?? NULL_VERSION);
  if (getObject(store, key)?.versionId === updated.versionId) writeCurrent(store, updated);
  return true;
}

/**
 * DeleteObject. Without a version id: unversioned buckets drop the object; versioned ones add a delete
 * marker. With one: that version is removed for good and the next newest becomes current, unless Object Lock
 * protects it (`locked`: nothing happens). Only a request may bypass a GOVERNANCE retention; chores never do.
 */
export function deleteObject(store: IndexStore, key: string, versionId: string | undefined, now: number, bypassGovernance = false): DeleteOutcome {
  if (versionId !== undefined) return deleteVersion(store, key, versionId, now, bypassGovernance);
  const state = versioningOf(store);
  if (state === "Unversioned") {
    const current = getObject(store, key);
    if (!current) return { freed: null, deleteMarker: false };
    deleteVersionRow(store, key, NULL_VERSION);
    store.sql.exec("DELETE FROM objects WHERE key = ?", key);
    return { freed: current, deleteMarker: false };
  }
  const marker = { key, versionId: "", lastModified: now, deleteMarker: true as const };
  const { stored, replaced } = addVersion(store, marker);
  return { freed: replaced, versionId: stored.versionId, deleteMarker: true };
}

function deleteVersion(store: IndexStore, key: string, versionId: string, now: number, bypassGovernance: boolean): DeleteOutcome {
  const target = getVersion(store, key, versionId);
  if (!target) return { freed: null, versionId, deleteMarker: false };
  if (!isDeleteMarker(target) && !mayDeleteVersion(target.lock, now, bypassGovernance)) return { freed: null, versionId, deleteMarker: false, locked: true };
  store.transactionSync(() => {
    deleteVersionRow(store, key, versionId);
    refreshCurrent(store, key);
  });
  return isDeleteMarker(target) ? { freed: null, versionId, deleteMarker: true } : { freed: target, versionId, deleteMarker: false };
}

/**
 * Adds a version (object or marker) as the newest of its key, with the id the bucket's versioning state gives. In a
 * bucket with Object Lock an object version gets the lock it asked for or the bucket's default retention, decided
 * here at commit so that a configuration changed mid-upload cannot be missed.
 */
export function addVersion(store: IndexStore, version: ObjectVersion): { stored: ObjectVersion; replaced: ObjectRecord | null } {
  const versionId = versioningOf(store) === "Enabled" ? randomHex(16) : NULL_VERSION;
  let stored: ObjectVersion = { ...version, versionId };
  if (!isDeleteMarker(stored)) {
    const { lock: requested, ...rest } = stored;
    const lock = lockAtWrite(requested, getConfig(store, "objectLock"), stored.lastModified);
    stored = lock ? { ...rest, lock } : rest;
  }
  let replaced: ObjectRecord | null = null;
  store.transactionSync(() => {
    if (versionId === NULL_VERSION) {
      const old = getVersion(store, version.key, NULL_VERSION);
      if (old && !isDeleteMarker(old)) replaced = old;
      deleteVersionRow(store, version.key, NULL_VERSION);
    }
    insertVersionRow(store, stored);
    refreshCurrent(store, version.key);
  });
  return { stored, replaced };
}

/** Points `objects` at the newest version of `key`, or removes the key when that is a marker or nothing. */
function refreshCurrent(store: IndexStore, key: string): void {
  const newest = store.sql.exec<{ record: string }>("SELECT record FROM versions WHERE key = ? ORDER BY seq DESC LIMIT 1", key).toArray()[0];
  const version = newest ? (JSON.parse(newest.record) as ObjectVersion) : null;
  if (version && !isDeleteMarker(version)) writeCurrent(store, version);
  else store.sql.exec("DELETE FROM objects WHERE key = ?", key);
}

function insertVersionRow(store: IndexStore, version: ObjectVersion): void {
  const lock = isDeleteMarker(version) ? undefined : version.lock;
  store.sql.exec(
    "INSERT INTO versions (key, version_id, record, retain_until, legal_hold) VALUES (?, ?, ?, ?, ?)",
    version.key,
    version.versionId,
    JSON.stringify(version),
    lock?.retainUntil ?? null,
    lock?.legalHold ? 1 : 0,
  );
  indexReplicas(store, version);
}

function deleteVersionRow(store: IndexStore, key: string, versionId: string): void {
  store.sql.exec("DELETE FROM versions WHERE key = ? AND version_id = ?", key, versionId);
  forgetReplicas(store, key, versionId);
}

/** Makes `record` the row plain reads and listings see for its key. */
export function writeCurrent(store: IndexStore, record: ObjectRecord): void {
  store.sql.exec(
    "INSERT OR REPLACE INTO objects (key, size, etag, last_modified, storage_class, record) VALUES (?, ?, ?, ?, ?, ?)",
    record.key,
    record.size,
    record.etag,
    record.lastModified,
    record.storageClass,
    JSON.stringify(record),
  );
}
