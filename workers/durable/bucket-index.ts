// BucketIndex: one Durable Object per bucket, the single writer of that bucket's object index.
// Its SQLite storage makes listing strongly consistent and every write atomic. Blobs live on nodes;
// this object only records where. Callers delete blobs that a write or delete made unreferenced.
//
// Tables: `versions` holds every version of every key (one "null" version per key in an unversioned bucket,
// delete markers included), `objects` the current, non-deleted version of each key, which is what plain
// listings and reads see.

import { DurableObject } from "cloudflare:workers";
import type {
  CompleteUploadResult,
  DeleteOutcome,
  ListVersionsQuery,
  ListVersionsResult,
  ObjectVersion,
  BlobReplica,
  RepairWork,
  VersioningState,
  VersionSummary,
  ListQuery,
  ListResult,
  ListUploadsQuery,
  ListUploadsResult,
  MultipartUpload,
  ObjectRecord,
  ObjectSummary,
  PutObjectResult,
  UploadedPart,
  WriteCondition,
} from "../../src/services/object-model.ts";
import { blobSizeOf, checkWriteCondition, isDeleteMarker, MIN_PART_SIZE, NULL_VERSION } from "../../src/services/object-model.ts";
import { randomHex } from "../../src/protocol/crypto.ts";
import { isAbandoned, isExpired, LIFECYCLE_CONFIG, ruleMatches, type LifecycleRule } from "../../src/services/lifecycle.ts";
import type { Env } from "../../src/env.ts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS objects (
  key TEXT PRIMARY KEY,
  size INTEGER NOT NULL,
  etag TEXT NOT NULL,
  last_modified INTEGER NOT NULL,
  storage_class TEXT NOT NULL,
  record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS versions (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  key TEXT NOT NULL,
  version_id TEXT NOT NULL,
  record TEXT NOT NULL,
  UNIQUE (key, version_id)
);
CREATE INDEX IF NOT EXISTS versions_by_key ON versions (key, seq);
CREATE TABLE IF NOT EXISTS replicas (
  node_id TEXT NOT NULL,
  blob_id TEXT NOT NULL,
  key TEXT NOT NULL,
  version_id TEXT NOT NULL,
  segment INTEGER NOT NULL,
  PRIMARY KEY (node_id, blob_id, key, version_id, segment)
);
CREATE INDEX IF NOT EXISTS replicas_by_version ON replicas (key, version_id);
CREATE INDEX IF NOT EXISTS replicas_by_blob ON replicas (blob_id);
CREATE TABLE IF NOT EXISTS uploads (
  upload_id TEXT PRIMARY KEY,
  key TEXT NOT NULL,
  initiated INTEGER NOT NULL,
  upload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS bucket_config (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS uploads_by_key ON uploads (key, upload_id);
CREATE TABLE IF NOT EXISTS parts (
  upload_id TEXT NOT NULL,
  part_number INTEGER NOT NULL,
  part TEXT NOT NULL,
  PRIMARY KEY (upload_id, part_number)
);
`;

/** How many rows one listing query reads at a time. */
const LIST_BATCH = 1000;
const VERSIONING = "versioning";
const SCHEMA_VERSION = "schema_version";
const DAY_MS = 24 * 3600 * 1000;

export class BucketIndex extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.migrate();
  }

  /** Creates the tables and brings an index written by an older version of this class up to date. */
  private migrate(): void {
    this.sql.exec(SCHEMA);
    if (this.getConfig(SCHEMA_VERSION) === null) {
      // Objects written before the versions table existed become their key's "null" version.
      this.sql.exec("INSERT OR IGNORE INTO versions (key, version_id, record) SELECT key, 'null', record FROM objects");
      this.setConfig(SCHEMA_VERSION, 2);
    }
    if (this.getConfig(SCHEMA_VERSION) === 2) {
      // Index where every replica of every version lives (repair, drain and orphan checks read it).
      for (const row of this.sql.exec<{ record: string }>("SELECT record FROM versions").toArray()) {
        this.indexReplicas(JSON.parse(row.record) as ObjectVersion);
      }
      this.setConfig(SCHEMA_VERSION, 3);
    }
  }

  versioning(): VersioningState {
    return (this.getConfig(VERSIONING) as VersioningState | null) ?? "Unversioned";
  }

  /** Enabled or Suspended; a versioned bucket never goes back to Unversioned (S3 has no such state change). */
  setVersioning(state: "Enabled" | "Suspended"): void {
    this.setConfig(VERSIONING, state);
  }

  /**
   * Records a new current version of `record.key` unless `condition` fails against the current one. With
   * versioning enabled older versions stay; otherwise the "null" version is replaced and returned for freeing.
   */
  putObject(record: ObjectRecord, condition?: WriteCondition): PutObjectResult {
    const failure = checkWriteCondition(this.getObject(record.key), condition);
    if (failure) return { ok: false, code: failure };
    const { stored, replaced } = this.addVersion(record);
    return { ok: true, record: stored as ObjectRecord, replaced };
  }

  /** Replaces the tags of the current version (or of `versionId`); false when there is no such object. */
  setObjectTags(key: string, tags: Record<string, string>, versionId?: string): boolean {
    const target = this.lookup(key, versionId);
    if (!target || isDeleteMarker(target)) return false;
    const updated = { ...target, tags };
    this.sql.exec("UPDATE versions SET record = ? WHERE key = ? AND version_id = ?", JSON.stringify(updated), key, target.versionId ?? NULL_VERSION);
    if (this.getObject(key)?.versionId === updated.versionId) this.writeCurrent(updated);
    return true;
  }

  /** The current version of a key: null when absent or deleted. */
  getObject(key: string): ObjectRecord | null {
    const row = this.sql.exec<{ record: string }>("SELECT record FROM objects WHERE key = ?", key).toArray()[0];
    return row ? (JSON.parse(row.record) as ObjectRecord) : null;
  }

  /** One version of a key, which may be a delete marker. */
  getVersion(key: string, versionId: string): ObjectVersion | null {
    const row = this.sql.exec<{ record: string }>("SELECT record FROM versions WHERE key = ? AND version_id = ?", key, versionId).toArray()[0];
    return row ? (JSON.parse(row.record) as ObjectVersion) : null;
  }

  /** The current version, or version `versionId` when given. */
  private lookup(key: string, versionId: string | undefined): ObjectVersion | null {
    return versionId === undefined ? this.getObject(key) : this.getVersion(key, versionId);
  }

  /**
   * DeleteObject. Without a version id: unversioned buckets drop the object; versioned ones add a delete
   * marker. With one: that version is removed for good and the next newest becomes current.
   */
  deleteObject(key: string, versionId: string | undefined, now: number): DeleteOutcome {
    if (versionId !== undefined) return this.deleteVersion(key, versionId);
    const state = this.versioning();
    if (state === "Unversioned") {
      const current = this.getObject(key);
      if (!current) return { freed: null, deleteMarker: false };
      this.deleteVersionRow(key, NULL_VERSION);
      this.sql.exec("DELETE FROM objects WHERE key = ?", key);
      return { freed: current, deleteMarker: false };
    }
    const marker = { key, versionId: "", lastModified: now, deleteMarker: true as const };
    const { stored, replaced } = this.addVersion(marker);
    return { freed: replaced, versionId: stored.versionId, deleteMarker: true };
  }

  private deleteVersion(key: string, versionId: string): DeleteOutcome {
    const target = this.getVersion(key, versionId);
    if (!target) return { freed: null, versionId, deleteMarker: false };
    this.ctx.storage.transactionSync(() => {
      this.deleteVersionRow(key, versionId);
      this.refreshCurrent(key);
    });
    return isDeleteMarker(target) ? { freed: null, versionId, deleteMarker: true } : { freed: target, versionId, deleteMarker: false };
  }

  /** Adds a version (object or marker) as the newest of its key, with the id the bucket's versioning state gives. */
  private addVersion(version: ObjectVersion): { stored: ObjectVersion; replaced: ObjectRecord | null } {
    const versionId = this.versioning() === "Enabled" ? randomHex(16) : NULL_VERSION;
    const stored = { ...version, versionId };
    let replaced: ObjectRecord | null = null;
    this.ctx.storage.transactionSync(() => {
      if (versionId === NULL_VERSION) {
        const old = this.getVersion(version.key, NULL_VERSION);
        if (old && !isDeleteMarker(old)) replaced = old;
        this.deleteVersionRow(version.key, NULL_VERSION);
      }
      this.insertVersionRow(stored);
      this.refreshCurrent(version.key);
    });
    return { stored, replaced };
  }

  /** Points `objects` at the newest version of `key`, or removes the key when that is a marker or nothing. */
  private refreshCurrent(key: string): void {
    const newest = this.sql.exec<{ record: string }>("SELECT record FROM versions WHERE key = ? ORDER BY seq DESC LIMIT 1", key).toArray()[0];
    const version = newest ? (JSON.parse(newest.record) as ObjectVersion) : null;
    if (version && !isDeleteMarker(version)) this.writeCurrent(version);
    else this.sql.exec("DELETE FROM objects WHERE key = ?", key);
  }

  /** ListObjectVersions: keys in binary order, newest version first within a key, rolled up by delimiter. */
  listVersions(query: ListVersionsQuery): ListVersionsResult {
    const versions: VersionSummary[] = [];
    const commonPrefixes: string[] = [];
    // Resume strictly after (keyMarker, versionIdMarker): older versions of that key, then later keys.
    let cursorKey = query.keyMarker;
    let cursorSeq = -1;
    if (query.keyMarker && query.versionIdMarker) {
      const row = this.sql.exec<{ seq: number }>("SELECT seq FROM versions WHERE key = ? AND version_id = ?", query.keyMarker, query.versionIdMarker).toArray()[0];
      cursorSeq = row?.seq ?? -1;
    }
    if (cursorKey < query.prefix) {
      cursorKey = query.prefix;
      cursorSeq = Number.MAX_SAFE_INTEGER;
    }
    let last: { key: string; versionId?: string } | undefined;
    while (true) {
      const rows = this.sql
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

  /** True when no version (delete markers included) and no multipart upload remains (DeleteBucket's precondition). */
  /**
   * Erases the whole index (its account was deleted): every record, and with them every wrapped data key. The
   * blobs on nodes become orphans for the orphan sweep, and noise already: nothing left can decrypt them.
   */
  async erase(): Promise<void> {
    await this.ctx.storage.deleteAll();
    // An empty index again, for a request that still finds the deleted bucket in a stale cache.
    this.migrate();
  }

  isEmpty(): boolean {
    const objects = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM (SELECT 1 FROM versions LIMIT 1)").one().n;
    const uploads = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM (SELECT 1 FROM uploads LIMIT 1)").one().n;
    return objects === 0 && uploads === 0;
  }

  /**
   * Lists keys in UTF-8 binary order (SQLite's BINARY collation compares UTF-8 bytes), rolling keys that
   * contain the delimiter after the prefix into common prefixes, as ListObjectsV2 defines.
   */
  listObjects(query: ListQuery): ListResult {
    const { prefix, delimiter, maxKeys } = query;
    const contents: ObjectSummary[] = [];
    const commonPrefixes: string[] = [];
    let lower = initialLowerBound(prefix, query.cursor);
    let last: ListResult["next"];

    while (true) {
      if (lower === null) return { contents, commonPrefixes, isTruncated: false };
      const rows = this.sql
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

  createUpload(upload: MultipartUpload): void {
    this.sql.exec(
      "INSERT INTO uploads (upload_id, key, initiated, upload) VALUES (?, ?, ?, ?)",
      upload.uploadId,
      upload.key,
      upload.initiated,
      JSON.stringify(upload),
    );
  }

  getUpload(uploadId: string): MultipartUpload | null {
    const row = this.sql.exec<{ upload: string }>("SELECT upload FROM uploads WHERE upload_id = ?", uploadId).toArray()[0];
    return row ? (JSON.parse(row.upload) as MultipartUpload) : null;
  }

  /**
   * Records an uploaded part. Returns `{ ok: false }` when the upload is gone (the caller frees the new blob),
   * otherwise the part it replaced, whose blob the caller frees.
   */
  putPart(uploadId: string, part: UploadedPart): { ok: true; replaced: UploadedPart | null } | { ok: false } {
    if (!this.getUpload(uploadId)) return { ok: false };
    const previous = this.sql
      .exec<{ part: string }>("SELECT part FROM parts WHERE upload_id = ? AND part_number = ?", uploadId, part.partNumber)
      .toArray()[0];
    this.sql.exec(
      "INSERT OR REPLACE INTO parts (upload_id, part_number, part) VALUES (?, ?, ?)",
      uploadId,
      part.partNumber,
      JSON.stringify(part),
    );
    return { ok: true, replaced: previous ? (JSON.parse(previous.part) as UploadedPart) : null };
  }

  listParts(uploadId: string): UploadedPart[] {
    return this.sql
      .exec<{ part: string }>("SELECT part FROM parts WHERE upload_id = ? ORDER BY part_number", uploadId)
      .toArray()
      .map((r) => JSON.parse(r.part) as UploadedPart);
  }

  /**
   * Completes a multipart upload atomically: checks the client's part list against the uploaded parts
   * (ascending order, matching ETags, 5 MiB minimum for all but the last), writes the object's manifest,
   * and removes the upload. No data is copied: the object's segments are the parts' blobs.
   */
  completeUpload(
    uploadId: string,
    requested: { partNumber: number; etag: string }[],
    etag: string,
    now: number,
    condition?: WriteCondition,
    checksum?: ObjectRecord["checksum"],
  ): CompleteUploadResult {
    const upload = this.getUpload(uploadId);
    if (!upload) return { ok: false, code: "NoSuchUpload" };
    const failure = checkWriteCondition(this.getObject(upload.key), condition);
    if (failure) return { ok: false, code: failure };
    const uploaded = new Map(this.listParts(uploadId).map((p) => [p.partNumber, p]));
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
      segments: chosen.map(({ size, md5, replicas, encryption }) => ({ size, md5, replicas, encryption })),
      tags: upload.tags,
      checksum,
      encryption: upload.encryption,
    };
    let added!: { stored: ObjectVersion; replaced: ObjectRecord | null };
    this.ctx.storage.transactionSync(() => {
      added = this.addVersion(record);
      this.sql.exec("DELETE FROM parts WHERE upload_id = ?", uploadId);
      this.sql.exec("DELETE FROM uploads WHERE upload_id = ?", uploadId);
    });
    return { ok: true, record: added.stored as ObjectRecord, replaced: added.replaced, discarded };
  }

  /** Drops an upload and returns its parts so their blobs can be freed; null when it does not exist. */
  abortUpload(uploadId: string): UploadedPart[] | null {
    if (!this.getUpload(uploadId)) return null;
    const parts = this.listParts(uploadId);
    this.ctx.storage.transactionSync(() => {
      this.sql.exec("DELETE FROM parts WHERE upload_id = ?", uploadId);
      this.sql.exec("DELETE FROM uploads WHERE upload_id = ?", uploadId);
    });
    return parts;
  }

  /**
   * Multipart uploads in progress, ordered by key then upload id, with keys rolled up by delimiter
   * (ListMultipartUploads).
   */
  listUploads(query: ListUploadsQuery): ListUploadsResult {
    const rows = this.sql
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
  abortUploadsStartedBefore(cutoff: number): { uploadId: string; parts: UploadedPart[] }[] {
    const stale = this.sql.exec<{ upload_id: string }>("SELECT upload_id FROM uploads WHERE initiated < ?", cutoff).toArray();
    return stale.map(({ upload_id }) => ({ uploadId: upload_id, parts: this.abortUpload(upload_id) ?? [] }));
  }

  /**
   * Applies the bucket's lifecycle rules once: expires current objects (a delete marker in versioned buckets)
   * and aborts abandoned multipart uploads, examining at most `budget` rows per rule so a run stays short.
   * Returns what the caller must free on the nodes.
   */
  applyLifecycle(now: number, budget = 1000): { expired: string[]; freed: ObjectRecord[]; aborted: { uploadId: string; parts: UploadedPart[] }[] } {
    const rules = ((this.getConfig(LIFECYCLE_CONFIG) as LifecycleRule[] | null) ?? []).filter((r) => r.enabled);
    const expired: string[] = [];
    const freed: ObjectRecord[] = [];
    const aborted: { uploadId: string; parts: UploadedPart[] }[] = [];
    for (const rule of rules) {
      if (rule.expirationDays !== undefined || rule.expirationDate !== undefined) {
        // A cheap SQL bound; isExpired decides exactly (S3 rounds ages to midnight UTC).
        const modifiedBefore = rule.expirationDate !== undefined ? (now >= rule.expirationDate ? Number.MAX_SAFE_INTEGER : -1) : now - (rule.expirationDays! - 1) * DAY_MS;
        const rows = this.sql
          .exec<{ record: string }>("SELECT record FROM objects WHERE key >= ? AND last_modified < ? ORDER BY key LIMIT ?", rule.prefix, modifiedBefore, budget)
          .toArray();
        for (const row of rows) {
          const record = JSON.parse(row.record) as ObjectRecord;
          if (!record.key.startsWith(rule.prefix)) break;
          if (!ruleMatches(rule, record.key, record.tags) || !isExpired(rule, record.lastModified, now)) continue;
          const outcome = this.deleteObject(record.key, undefined, now);
          expired.push(record.key);
          if (outcome.freed) freed.push(outcome.freed);
        }
      }
      if (rule.abortIncompleteMultipartUploadDays !== undefined) {
        const rows = this.sql
          .exec<{ upload: string }>("SELECT upload FROM uploads WHERE key >= ? ORDER BY key LIMIT ?", rule.prefix, budget)
          .toArray();
        for (const row of rows) {
          const upload = JSON.parse(row.upload) as MultipartUpload;
          if (!upload.key.startsWith(rule.prefix)) break;
          if (isAbandoned(rule, upload.initiated, now)) aborted.push({ uploadId: upload.uploadId, parts: this.abortUpload(upload.uploadId) ?? [] });
        }
      }
    }
    return { expired, freed, aborted };
  }

  /** Bucket-level configuration (tagging, CORS, ...): JSON documents by name, owned by this single writer. */
  getConfig(name: string): unknown {
    const row = this.sql.exec<{ value: string }>("SELECT value FROM bucket_config WHERE name = ?", name).toArray()[0];
    return row ? (JSON.parse(row.value) as unknown) : null;
  }

  setConfig(name: string, value: unknown): void {
    this.sql.exec("INSERT OR REPLACE INTO bucket_config (name, value) VALUES (?, ?)", name, JSON.stringify(value));
  }

  deleteConfig(name: string): void {
    this.sql.exec("DELETE FROM bucket_config WHERE name = ?", name);
  }

  private insertVersionRow(version: ObjectVersion): void {
    this.sql.exec("INSERT INTO versions (key, version_id, record) VALUES (?, ?, ?)", version.key, version.versionId, JSON.stringify(version));
    this.indexReplicas(version);
  }

  private deleteVersionRow(key: string, versionId: string): void {
    this.sql.exec("DELETE FROM versions WHERE key = ? AND version_id = ?", key, versionId);
    this.sql.exec("DELETE FROM replicas WHERE key = ? AND version_id = ?", key, versionId);
  }

  private indexReplicas(version: ObjectVersion): void {
    if (isDeleteMarker(version)) return;
    version.segments.forEach((_, index) => this.indexReplicasOfSegment(version, index));
  }

  /**
   * Segments that need repair: with a replica on one of `badNodes`, with one of the `faulty` replicas, or with
   * fewer than `replicationFactor` replicas. Each comes with its current replicas and the ones to drop.
   */
  findRepairWork(badNodes: string[], faulty: { nodeId: string; blobId: string }[], replicationFactor: number, limit: number): RepairWork[] {
    const found = new Map<string, RepairWork>();
    const add = (key: string, versionId: string, segment: number) => {
      const id = `${versionId}\u0000${segment}\u0000${key}`;
      if (found.has(id) || found.size >= limit) return;
      const version = this.getVersion(key, versionId);
      if (!version || isDeleteMarker(version)) return;
      const seg = version.segments[segment];
      if (!seg) return;
      const drop = seg.replicas.filter((r) => badNodes.includes(r.nodeId) || faulty.some((f) => f.nodeId === r.nodeId && f.blobId === r.blobId));
      if (drop.length === 0 && seg.replicas.length >= replicationFactor) return;
      found.set(id, { key, versionId, segment, blobSize: blobSizeOf(seg), replicas: seg.replicas, drop });
    };
    for (const nodeId of badNodes) {
      for (const row of this.sql.exec<{ key: string; version_id: string; segment: number }>("SELECT key, version_id, segment FROM replicas WHERE node_id = ? LIMIT ?", nodeId, limit).toArray()) {
        add(row.key, row.version_id, row.segment);
      }
    }
    for (const f of faulty) {
      for (const row of this.sql
        .exec<{ key: string; version_id: string; segment: number }>("SELECT key, version_id, segment FROM replicas WHERE node_id = ? AND blob_id = ?", f.nodeId, f.blobId)
        .toArray()) {
        add(row.key, row.version_id, row.segment);
      }
    }
    // Segments written with fewer replicas than the bucket wants (a replica failed during the write).
    for (const row of this.sql
      .exec<{ key: string; version_id: string; segment: number }>(
        "SELECT key, version_id, segment FROM replicas GROUP BY key, version_id, segment HAVING COUNT(*) < ? LIMIT ?",
        replicationFactor,
        limit,
      )
      .toArray()) {
      add(row.key, row.version_id, row.segment);
    }
    return [...found.values()];
  }

  /**
   * Swaps replicas of one segment after repair: drops `remove` (node ids) and adds `add`. False when the
   * version is gone or no longer has that segment (deleted or overwritten while the copy ran).
   */
  replaceReplicas(key: string, versionId: string, segment: number, blobId: string, remove: string[], add: BlobReplica[]): boolean {
    const version = this.getVersion(key, versionId);
    if (!version || isDeleteMarker(version)) return false;
    const seg = version.segments[segment];
    if (!seg || !seg.replicas.some((r) => r.blobId === blobId)) return false;
    const replicas = [...seg.replicas.filter((r) => !remove.includes(r.nodeId) && !add.some((a) => a.nodeId === r.nodeId)), ...add];
    const updated: ObjectRecord = { ...version, segments: version.segments.map((s, i) => (i === segment ? { ...s, replicas } : s)) };
    this.ctx.storage.transactionSync(() => {
      this.sql.exec("UPDATE versions SET record = ? WHERE key = ? AND version_id = ?", JSON.stringify(updated), key, versionId);
      this.sql.exec("DELETE FROM replicas WHERE key = ? AND version_id = ? AND segment = ?", key, versionId, segment);
      this.indexReplicasOfSegment(updated, segment);
      if (this.getObject(key)?.versionId === versionId) this.writeCurrent(updated);
    });
    return true;
  }

  private indexReplicasOfSegment(version: ObjectRecord, segment: number): void {
    for (const r of version.segments[segment]!.replicas) {
      this.sql.exec(
        "INSERT OR IGNORE INTO replicas (node_id, blob_id, key, version_id, segment) VALUES (?, ?, ?, ?, ?)",
        r.nodeId,
        r.blobId,
        version.key,
        version.versionId ?? NULL_VERSION,
        segment,
      );
    }
  }

  /** How many replicas live on `nodeId` (a draining node is safe to remove at zero). */
  countReplicasOn(nodeId: string): number {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM replicas WHERE node_id = ?", nodeId).one().n;
  }

  /** Replicas per segment of every version, for checking that repair restored the replication factor. */
  replicationSummary(): { segments: number; byCount: Record<string, number> } {
    const rows = this.sql
      .exec<{ n: number; c: number }>("SELECT n, COUNT(*) AS c FROM (SELECT COUNT(*) AS n FROM replicas GROUP BY key, version_id, segment) GROUP BY n")
      .toArray();
    return { segments: rows.reduce((sum, r) => sum + r.c, 0), byCount: Object.fromEntries(rows.map((r) => [String(r.n), r.c])) };
  }

  /**
   * Does any version or in-progress upload part reference this blob on this node (orphan check)? Replicas of
   * one segment share a blob id, so the node matters: a copy left on a node repair moved away from is an orphan.
   */
  references(blobId: string, nodeId: string): boolean {
    if (this.sql.exec("SELECT 1 FROM replicas WHERE blob_id = ? AND node_id = ? LIMIT 1", blobId, nodeId).toArray().length > 0) return true;
    return this.sql
      .exec<{ part: string }>("SELECT part FROM parts WHERE part LIKE ?", `%${blobId}%`)
      .toArray()
      .some((row) => (JSON.parse(row.part) as UploadedPart).replicas.some((r) => r.blobId === blobId && r.nodeId === nodeId));
  }

  private writeCurrent(record: ObjectRecord): void {
    this.sql.exec(
      "INSERT OR REPLACE INTO objects (key, size, etag, last_modified, storage_class, record) VALUES (?, ?, ?, ?, ?, ?)",
      record.key,
      record.size,
      record.etag,
      record.lastModified,
      record.storageClass,
      JSON.stringify(record),
    );
  }
}

function normalizeEtag(etag: string): string {
  return etag.trim().replace(/^"|"$/g, "").toLowerCase();
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
