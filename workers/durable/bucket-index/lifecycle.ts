// One pass of the bucket's lifecycle rules over its index, for the lifecycle chore. Which object has expired
// and which upload is abandoned is decided in src/services/lifecycle.ts; this file finds the candidates.

import { isAbandoned, isExpired, isNoncurrentExpired, ruleMatches, type LifecycleRule } from "../../../src/services/lifecycle.ts";
import { isDeleteMarker, type MultipartUpload, type ObjectRecord, type ObjectVersion, type UploadedPart } from "../../../src/services/object-model.ts";
import { getConfig } from "./configuration.ts";
import { abortUpload } from "./multipart.ts";
import type { IndexStore } from "./store.ts";
import { deleteObject } from "./versions.ts";

const DAY_MS = 24 * 3600 * 1000;

export interface LifecycleOutcome {
  /** Keys whose current version expired (deleted, or hidden behind a delete marker in a versioned bucket). */
  expired: string[];
  /** Records no longer referenced, whose blobs the caller frees. */
  freed: ObjectRecord[];
  aborted: { uploadId: string; parts: UploadedPart[] }[];
}

/**
 * Applies the bucket's lifecycle rules once: expires current objects (a delete marker in versioned buckets, which
 * is all a bucket with Object Lock ever gets: a locked version is never removed here) and aborts abandoned multipart uploads, examining at most `budget` rows per rule so a run stays short.
 * Returns what the caller must free on the nodes.
 */
export function applyLifecycle(store: IndexStore, now: number, budget: number): LifecycleOutcome {
  const rules = (getConfig(store, "lifecycle") ?? []).filter((r) => r.enabled);
  const expired: string[] = [];
  const freed: ObjectRecord[] = [];
  const aborted: { uploadId: string; parts: UploadedPart[] }[] = [];
  for (const rule of rules) {
    if (rule.expirationDays !== undefined || rule.expirationDate !== undefined) {
      // A cheap SQL bound; isExpired decides exactly (S3 rounds ages to midnight UTC).
      const modifiedBefore = rule.expirationDate !== undefined ? (now >= rule.expirationDate ? Number.MAX_SAFE_INTEGER : -1) : now - (rule.expirationDays! - 1) * DAY_MS;
      const rows = store.sql
        .exec<{ record: string }>("SELECT record FROM objects WHERE key >= ? AND last_modified < ? ORDER BY key LIMIT ?", rule.prefix, modifiedBefore, budget)
        .toArray();
      for (const row of rows) {
        const record = JSON.parse(row.record) as ObjectRecord;
        if (!record.key.startsWith(rule.prefix)) break;
        if (!ruleMatches(rule, record.key, record.tags, record.size) || !isExpired(rule, record.lastModified, now)) continue;
        const outcome = deleteObject(store, record.key, undefined, now);
        expired.push(record.key);
        if (outcome.freed) freed.push(outcome.freed);
      }
    }
    if (rule.noncurrentDays !== undefined || rule.expiredObjectDeleteMarker) {
      const outcome = expireVersions(store, rule, now, budget);
      expired.push(...outcome.expired);
      freed.push(...outcome.freed);
    }
    if (rule.abortIncompleteMultipartUploadDays !== undefined) {
      const rows = store.sql.exec<{ upload: string }>("SELECT upload FROM uploads WHERE key >= ? ORDER BY key LIMIT ?", rule.prefix, budget).toArray();
      for (const row of rows) {
        const upload = JSON.parse(row.upload) as MultipartUpload;
        if (!upload.key.startsWith(rule.prefix)) break;
        if (isAbandoned(rule, upload.initiated, now)) aborted.push({ uploadId: upload.uploadId, parts: abortUpload(store, upload.uploadId) ?? [] });
      }
    }
  }
  return { expired, freed, aborted };
}

/**
 * The version passes of one rule over the keys under its prefix (at most `budget` version rows): noncurrent versions
 * the rule expires are deleted for good (NoncurrentVersionExpiration), and a delete marker left with no version
 * behind it is removed (ExpiredObjectDeleteMarker). A version stopped being current when the next newer one was
 * written. https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-configuration-examples.html
 */
function expireVersions(store: IndexStore, rule: LifecycleRule, now: number, budget: number): { expired: string[]; freed: ObjectRecord[] } {
  const rows = store.sql
    .exec<{ key: string; record: string }>("SELECT key, record FROM versions WHERE key >= ? ORDER BY key, seq DESC LIMIT ?", rule.prefix, budget)
    .toArray();
  const byKey = new Map<string, ObjectVersion[]>();
  for (const row of rows) {
    if (!row.key.startsWith(rule.prefix)) break;
    const versions = byKey.get(row.key) ?? [];
    versions.push(JSON.parse(row.record) as ObjectVersion);
    byKey.set(row.key, versions);
  }
  const expired: string[] = [];
  const freed: ObjectRecord[] = [];
  for (const [key, versions] of byKey) {
    // Newest first. The budget may cut the last key's older versions off: they wait for the next run.
    let rank = 0;
    for (let i = 1; i < versions.length; i++) {
      const version = versions[i]!;
      // A delete marker has no tags or size: only a prefix filter selects it.
      const matches = isDeleteMarker(version) ? Object.keys(rule.tags).length === 0 : ruleMatches(rule, key, version.tags, version.size);
      if (matches && isNoncurrentExpired(rule, versions[i - 1]!.lastModified, rank, now)) {
        // Never with the governance bypass: a version Object Lock protects stays (and keeps its rank) until it
        // expires, as S3's lifecycle leaves locked versions alone.
        const outcome = deleteObject(store, key, version.versionId, now);
        if (outcome.locked) {
          rank++;
          continue;
        }
        if (outcome.freed) freed.push(outcome.freed);
        expired.push(key);
      } else {
        rank++;
      }
    }
    const remaining = store.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM versions WHERE key = ?", key).one().n;
    const newest = versions[0]!;
    if (rule.expiredObjectDeleteMarker && remaining === 1 && isDeleteMarker(newest)) {
      deleteObject(store, key, newest.versionId, now);
      expired.push(key);
    }
  }
  return { expired, freed };
}
