// ListObjectsV2/ListObjects over current versions and ListObjectVersions over all of them. Keys come in UTF-8
// binary order (SQLite's BINARY collation compares UTF-8 bytes); keys that contain the delimiter after the
// prefix roll up into common prefixes, each skipped past with a fresh query.
// https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html

import {
  isDeleteMarker,
  type ListQuery,
  type ListResult,
  type ListVersionsQuery,
  type ListVersionsResult,
  type ObjectSummary,
  type ObjectVersion,
  type VersionSummary,
} from "../../../src/services/object-model.ts";
import type { IndexStore } from "./store.ts";

/** How many rows one listing query reads at a time. */
const LIST_BATCH = 1000;

/** ListObjectsV2 over the current, non-deleted version of each key. */
export function listObjects(store: IndexStore, query: ListQuery): ListResult {
  const { prefix, delimiter, maxKeys } = query;
  const contents: ObjectSummary[] = [];
  const commonPrefixes: string[] = [];
  let lower = initialLowerBound(prefix, query.cursor);
  let last: ListResult["next"];

  while (true) {
    if (lower === null) return { contents, commonPrefixes, isTruncated: false };
    const rows = store.sql
      .exec<{ key: string; size: number; etag: string; last_modified: number; storage_class: string }>(
        `SELECT key, size, etag, last_modified, storage_class FROM objects WHERE key ${lower.inclusive ? ">=" : ">"} ? ORDER BY key LIMIT ?`,
        lower.value,
        LIST_BATCH,
      )
      .toArray();
    let jumped = false;
    for (const row of rows) {
      if (!row.key.startsWith(prefix)) return { contents, commonPrefixes, isTruncated: false };
      if (contents.length + commonPrefixes.length >= maxKeys) return { contents, commonPrefixes, isTruncated: true, next: last };
      const cut = delimiter ? row.key.indexOf(delimiter, prefix.length) : -1;
      if (cut >= 0) {
        const common = row.key.slice(0, cut + delimiter.length);
        commonPrefixes.push(common);
        last = { value: common, skipPrefix: true };
        // Jump past every key under this common prefix with a fresh query.
        const after = successor(common);
        lower = after === null ? null : { value: after, inclusive: true };
        jumped = true;
        break;
      }
      contents.push({
        key: row.key,
        size: row.size,
        etag: row.etag,
        lastModified: row.last_modified,
        storageClass: row.storage_class,
      });
      last = { value: row.key, skipPrefix: false };
    }
    if (jumped) continue;
    if (rows.length < LIST_BATCH) return { contents, commonPrefixes, isTruncated: false };
    lower = { value: rows[rows.length - 1]!.key, inclusive: false };
  }
}

/** ListObjectVersions: keys in binary order, newest version first within a key, rolled up by delimiter. */
export function listVersions(store: IndexStore, query: ListVersionsQuery): ListVersionsResult {
  const versions: VersionSummary[] = [];
  const commonPrefixes: string[] = [];
  // Resume strictly after (keyMarker, versionIdMarker): older versions of that key, then later keys.
  let cursorKey = query.keyMarker;
  let cursorSeq = -1;
  if (query.keyMarker && query.versionIdMarker) {
    const row = store.sql.exec<{ seq: number }>("SELECT seq FROM versions WHERE key = ? AND version_id = ?", query.keyMarker, query.versionIdMarker).toArray()[0];
    cursorSeq = row?.seq ?? -1;
  }
  if (cursorKey < query.prefix) {
    cursorKey = query.prefix;
    cursorSeq = Number.MAX_SAFE_INTEGER;
  }
  let last: { key: string; versionId?: string } | undefined;
  while (true) {
    const rows = store.sql
      .exec<{ seq: number; key: string; version_id: string; record: string; latest: number }>(
        `SELECT seq, key, version_id, record, seq = (SELECT MAX(seq) FROM versions w WHERE w.key = v.key) AS latest
         FROM versions v WHERE key > ? OR (key = ? AND seq < ?) ORDER BY key, seq DESC LIMIT ?`,
        cursorKey,
        cursorKey,
        cursorSeq,
        LIST_BATCH,
      )
      .toArray();
    let jumped = false;
    for (const row of rows) {
      if (!row.key.startsWith(query.prefix)) return { versions, commonPrefixes, isTruncated: false };
      if (versions.length + commonPrefixes.length >= query.maxKeys) {
        return { versions, commonPrefixes, isTruncated: true, nextKeyMarker: last?.key, nextVersionIdMarker: last?.versionId };
      }
      const cut = query.delimiter ? row.key.indexOf(query.delimiter, query.prefix.length) : -1;
      if (cut >= 0) {
        const common = row.key.slice(0, cut + query.delimiter.length);
        commonPrefixes.push(common);
        last = { key: common };
        const after = successor(common);
        if (after === null) return { versions, commonPrefixes, isTruncated: false };
        cursorKey = after;
        cursorSeq = Number.MAX_SAFE_INTEGER;
        jumped = true;
        break;
      }
      const v = JSON.parse(row.record) as ObjectVersion;
      versions.push({
        key: row.key,
        versionId: row.version_id,
        isLatest: row.latest === 1,
        lastModified: v.lastModified,
        deleteMarker: isDeleteMarker(v),
        size: isDeleteMarker(v) ? 0 : v.size,
        etag: isDeleteMarker(v) ? "" : v.etag,
      });
      last = { key: row.key, versionId: row.version_id };
      cursorKey = row.key;
      cursorSeq = row.seq;
    }
    if (!jumped && rows.length < LIST_BATCH) return { versions, commonPrefixes, isTruncated: false };
  }
}

function initialLowerBound(prefix: string, cursor: ListQuery["cursor"]): { value: string; inclusive: boolean } | null {
  if (!cursor) return { value: prefix, inclusive: true };
  if (cursor.skipPrefix) {
    const after = successor(cursor.value);
    if (after === null) return null;
    return after < prefix ? { value: prefix, inclusive: true } : { value: after, inclusive: true };
  }
  return cursor.value < prefix ? { value: prefix, inclusive: true } : { value: cursor.value, inclusive: false };
}

/**
 * The smallest string greater than every string that starts with `s` (in code-point order, which is UTF-8
 * byte order), or null when no such string exists.
 */
export function successor(s: string): string | null {
  const chars = Array.from(s);
  while (chars.length > 0) {
    const last = chars.pop()!.codePointAt(0)!;
    if (last < 0x10ffff) {
      const next = last + 1 === 0xd800 ? 0xe000 : last + 1;
      return chars.join("") + String.fromCodePoint(next);
    }
  }
  return null;
}
