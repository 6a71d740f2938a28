// One pass of the bucket's lifecycle rules over its index, for the lifecycle chore. Which object has expired
// and which upload is abandoned is decided in src/services/lifecycle.ts; this file finds the candidates.

import { isAbandoned, isExpired, ruleMatches } from "../../../src/services/lifecycle.ts";
import type { MultipartUpload, ObjectRecord, UploadedPart } from "../../../src/services/object-model.ts";
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
 * Applies the bucket's lifecycle rules once: expires current objects (a delete marker in versioned buckets)
 * and aborts abandoned multipart uploads, examining at most `budget` rows per rule so a run stays short.
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
        if (!ruleMatches(rule, record.key, record.tags) || !isExpired(rule, record.lastModified, now)) continue;
        const outcome = deleteObject(store, record.key, undefined, now);
        expired.push(record.key);
        if (outcome.freed) freed.push(outcome.freed);
      }
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
