// Multipart uploads in progress: their parts, completion into one object version, abort, and listing.
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html

import {
  checkWriteCondition,
  MIN_PART_SIZE,
  type CompletedUpload,
  type CompleteUploadResult,
  type ListUploadsQuery,
  type ListUploadsResult,
  type MultipartUpload,
  type ObjectRecord,
  type ObjectVersion,
  type UploadedPart,
  type WriteCondition,
} from "../../../src/services/object-model.ts";
import type { IndexStore } from "./store.ts";
import { addVersion, getObject } from "./versions.ts";

export function createUpload(store: IndexStore, upload: MultipartUpload): void {
  store.sql.exec("INSERT INTO uploads (upload_id, key, initiated, upload) VALUES (?, ?, ?, ?)", upload.uploadId, upload.key, upload.initiated, JSON.stringify(upload));
}

export function getUpload(store: IndexStore, uploadId: string): MultipartUpload | null {
  const row = store.sql.exec<{ upload: string }>("SELECT upload FROM uploads WHERE upload_id = ?", uploadId).toArray()[0];
  return row ? (JSON.parse(row.upload) as MultipartUpload) : null;
}

/** True when at least one multipart upload is in progress. */
export function hasUploads(store: IndexStore): boolean {
  return store.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM (SELECT 1 FROM uploads LIMIT 1)").one().n !== 0;
}

/**
 * Records an uploaded part. Returns `{ ok: false }` when the upload is gone (the caller frees the new blob),
 * otherwise the part it replaced, whose blob the caller frees.
 */
export function putPart(store: IndexStore, uploadId: string, part: UploadedPart): { ok: true; replaced: UploadedPart | null } | { ok: false } {
  if (!getUpload(store, uploadId)) return { ok: false };
  const previous = store.sql
    .exec<{ part: string }>("SELECT part FROM parts WHERE upload_id = ? AND part_number = ?", uploadId, part.partNumber)
    .toArray()[0];
  store.sql.exec("INSERT OR REPLACE INTO parts (upload_id, part_number, part) VALUES (?, ?, ?)", uploadId, part.partNumber, JSON.stringify(part));
  return { ok: true, replaced: previous ? (JSON.parse(previous.part) as UploadedPart) : null };
}

export function listParts(store: IndexStore, uploadId: string): UploadedPart[] {
  return store.sql
    .exec<{ part: string }>("SELECT part FROM parts WHERE upload_id = ? ORDER BY part_number", uploadId)
    .toArray()
    .map((r) => JSON.parse(r.part) as UploadedPart);
}

/**
 * How long the answer to a completed upload is kept. S3 asks clients to retry a CompleteMultipartUpload whose
 * answer they did not get (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html:
 * "applications should be prepared to retry any failed requests"), and a retry with the same parts then succeeds
 * with the same result. Client retries come within minutes; a day leaves room for a resumed transfer.
 */
export const COMPLETED_UPLOAD_RETENTION_MS = 24 * 3600_000;

/**
 * Completes a multipart upload atomically: checks the client's part list against the uploaded parts
 * (ascending order, matching ETags, 5 MiB minimum for all but the last), writes the object's manifest,
 * and removes the upload. No data is copied: the object's segments are the parts' blobs. An upload of `key`
 * that completed already with the same part list answers that completion again (`replayed`).
 */
export function completeUpload(
  store: IndexStore,
  uploadId: string,
  key: string,
  requested: { partNumber: number; etag: string }[],
  etag: string,
  now: number,
  condition?: WriteCondition,
  checksum?: ObjectRecord["checksum"],
): CompleteUploadResult {
  const upload = getUpload(store, uploadId);
  if (!upload || upload.key !== key) {
    const previous = upload ? null : getCompletedUpload(store, uploadId, now);
    if (previous && previous.key === key && samePartList(previous.parts, requested)) {
      return { ok: true, completion: previous, replayed: true, replaced: null, discarded: [] };
    }
    return { ok: false, code: "NoSuchUpload" };
  }
  const failure = checkWriteCondition(getObject(store, upload.key), condition);
  if (failure) return { ok: false, code: failure };
  const uploaded = new Map(listParts(store, uploadId).map((p) => [p.partNumber, p]));
  const chosen: UploadedPart[] = [];
  let previousNumber = 0;
  for (const want of requested) {
    if (want.partNumber <= previousNumber) return { ok: false, code: "InvalidPartOrder" };
    previousNumber = want.partNumber;
    const part = uploaded.get(want.partNumber);
    if (!part || normalizeEtag(want.etag) !== part.md5) return { ok: false, code: "InvalidPart" };
    chosen.push(part);
  }
  for (let i = 0; i < chosen.length - 1; i++) {
    if (chosen[i]!.size < MIN_PART_SIZE) {
      return { ok: false, code: "EntityTooSmall", message: `Part ${chosen[i]!.partNumber} is smaller than the minimum allowed size.` };
    }
  }
  const chosenNumbers = new Set(chosen.map((p) => p.partNumber));
  const discarded = [...uploaded.values()].filter((p) => !chosenNumbers.has(p.partNumber));
  const record: ObjectRecord = {
    key: upload.key,
    size: chosen.reduce((sum, p) => sum + p.size, 0),
    etag,
    lastModified: now,
    headers: upload.headers,
    userMetadata: upload.userMetadata,
    storageClass: "STANDARD",
    // A part is a segment plus what only the upload needs: everything else it records (replicas, encryption, the
    // erasure layout, inline bytes, its checksum, and whatever a later release adds) carries over.
    segments: chosen.map(({ partNumber: _n, lastModified: _t, ...segment }) => segment),
    tags: upload.tags,
    checksum,
    encryption: upload.encryption,
    // What the upload asked for; addVersion adds the bucket's default retention at completion, as S3 does.
    ...(upload.lock ? { lock: upload.lock } : {}),
    ...(upload.acl ? { acl: upload.acl } : {}),
  };
  let added!: { stored: ObjectVersion; replaced: ObjectRecord | null };
  let completion!: CompletedUpload;
  store.transactionSync(() => {
    added = addVersion(store, record);
    deleteUploadRows(store, uploadId);
    completion = {
      uploadId,
      key: upload.key,
      parts: requested.map((p) => ({ partNumber: p.partNumber, etag: normalizeEtag(p.etag) })),
      etag,
      versionId: added.stored.versionId,
      checksum,
      encryption: upload.encryption,
      completed: now,
    };
    store.sql.exec("DELETE FROM completed_uploads WHERE completed < ?", now - COMPLETED_UPLOAD_RETENTION_MS);
    store.sql.exec("INSERT OR REPLACE INTO completed_uploads (upload_id, completed, completion) VALUES (?, ?, ?)", uploadId, now, JSON.stringify(completion));
  });
  return { ok: true, completion, replayed: false, replaced: added.replaced, discarded };
}

/** The answer an upload completed with, while it is kept (COMPLETED_UPLOAD_RETENTION_MS). */
function getCompletedUpload(store: IndexStore, uploadId: string, now: number): CompletedUpload | null {
  const row = store.sql
    .exec<{ completion: string }>("SELECT completion FROM completed_uploads WHERE upload_id = ? AND completed >= ?", uploadId, now - COMPLETED_UPLOAD_RETENTION_MS)
    .toArray()[0];
  return row ? (JSON.parse(row.completion) as CompletedUpload) : null;
}

function samePartList(a: { partNumber: number; etag: string }[], b: { partNumber: number; etag: string }[]): boolean {
  return a.length === b.length && a.every((p, i) => p.partNumber === b[i]!.partNumber && p.etag === normalizeEtag(b[i]!.etag));
}

/** Drops an upload and returns its parts so their blobs can be freed; null when it does not exist. */
export function abortUpload(store: IndexStore, uploadId: string): UploadedPart[] | null {
  if (!getUpload(store, uploadId)) return null;
  const parts = listParts(store, uploadId);
  store.transactionSync(() => deleteUploadRows(store, uploadId));
  return parts;
}

function deleteUploadRows(store: IndexStore, uploadId: string): void {
  store.sql.exec("DELETE FROM parts WHERE upload_id = ?", uploadId);
  store.sql.exec("DELETE FROM uploads WHERE upload_id = ?", uploadId);
}

/**
 * Multipart uploads in progress, ordered by key then upload id, with keys rolled up by delimiter
 * (ListMultipartUploads).
 */
export function listUploads(store: IndexStore, query: ListUploadsQuery): ListUploadsResult {
  const rows = store.sql
    .exec<{ upload: string; key: string; upload_id: string }>(
      `SELECT upload, key, upload_id FROM uploads
       WHERE key >= ? AND (key > ? OR (key = ? AND upload_id > ?))
       ORDER BY key, upload_id`,
      query.prefix,
      query.keyMarker,
      query.keyMarker,
      query.uploadIdMarker,
    )
    .toArray();
  const uploads: MultipartUpload[] = [];
  const commonPrefixes: string[] = [];
  for (const row of rows) {
    if (!row.key.startsWith(query.prefix)) break;
    const cut = query.delimiter ? row.key.indexOf(query.delimiter, query.prefix.length) : -1;
    const common = cut >= 0 ? row.key.slice(0, cut + query.delimiter.length) : undefined;
    if (common !== undefined && commonPrefixes[commonPrefixes.length - 1] === common) continue;
    if (uploads.length + commonPrefixes.length >= query.maxUploads) {
      const last = uploads[uploads.length - 1];
      const lastPrefix = commonPrefixes[commonPrefixes.length - 1];
      const lastIsPrefix = lastPrefix !== undefined && (!last || lastPrefix > last.key);
      return {
        uploads,
        commonPrefixes,
        isTruncated: true,
        nextKeyMarker: lastIsPrefix ? lastPrefix : last?.key,
        nextUploadIdMarker: lastIsPrefix ? undefined : last?.uploadId,
      };
    }
    if (common !== undefined) commonPrefixes.push(common);
    else uploads.push(JSON.parse(row.upload) as MultipartUpload);
  }
  return { uploads, commonPrefixes, isTruncated: false };
}

/** Aborts every upload started before `cutoff` (abandoned uploads); returns their parts so blobs can be freed. */
export function abortUploadsStartedBefore(store: IndexStore, cutoff: number): { uploadId: string; parts: UploadedPart[] }[] {
  const stale = store.sql.exec<{ upload_id: string }>("SELECT upload_id FROM uploads WHERE initiated < ?", cutoff).toArray();
  return stale.map(({ upload_id }) => ({ uploadId: upload_id, parts: abortUpload(store, upload_id) ?? [] }));
}

function normalizeEtag(etag: string): string {
  return etag.trim().replace(/^"|"$/g, "").toLowerCase();
}
