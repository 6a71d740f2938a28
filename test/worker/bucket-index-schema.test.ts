// The bucket index opens what earlier releases wrote: each test lays down an index exactly as one release left it
// (its tables and JSON rows, written with raw SQL), evicts the Durable Object, and reads it back through the RPC
// surface a fresh instance serves. Also: every bucket configuration document round-trips with its type.
import { env, evictDurableObject, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { Env } from "../../src/env.ts";
import type { ObjectRecord } from "../../src/services/object-model.ts";
import { bucketIndexFor } from "../../src/services/bucket-indexes.ts";
import type { BucketConfig } from "../../workers/durable/bucket-index/bucket-index.ts";

const e = env as unknown as Env;

/** The first release's tables (6c5a45c): current objects and multipart uploads, no versions, no schema version. */
const SCHEMA_1 = `
CREATE TABLE objects (key TEXT PRIMARY KEY, size INTEGER NOT NULL, etag TEXT NOT NULL, last_modified INTEGER NOT NULL, storage_class TEXT NOT NULL, record TEXT NOT NULL);
CREATE TABLE uploads (upload_id TEXT PRIMARY KEY, key TEXT NOT NULL, initiated INTEGER NOT NULL, upload TEXT NOT NULL);
CREATE TABLE parts (upload_id TEXT NOT NULL, part_number INTEGER NOT NULL, part TEXT NOT NULL, PRIMARY KEY (upload_id, part_number));
`;
/** Schema 2 (8d8c2b6): versions and bucket configuration, no replica index. */
const SCHEMA_2 = `${SCHEMA_1}
CREATE TABLE versions (seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, version_id TEXT NOT NULL, record TEXT NOT NULL, UNIQUE (key, version_id));
CREATE INDEX versions_by_key ON versions (key, seq);
CREATE TABLE bucket_config (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE INDEX uploads_by_key ON uploads (key, upload_id);
`;
/** Schema 3 (00915c7 until the index became a folder): the replica index. */
const SCHEMA_3 = `${SCHEMA_2}
CREATE TABLE replicas (node_id TEXT NOT NULL, blob_id TEXT NOT NULL, key TEXT NOT NULL, version_id TEXT NOT NULL, segment INTEGER NOT NULL, PRIMARY KEY (node_id, blob_id, key, version_id, segment));
CREATE INDEX replicas_by_version ON replicas (key, version_id);
CREATE INDEX replicas_by_blob ON replicas (blob_id);
`;

const T0 = Date.UTC(2026, 0, 1);

/** A one-segment object with replicas on `nodes`, as every release has written it (no versionId before schema 2). */
function record(key: string, blobId: string, nodes: string[], extra: Partial<ObjectRecord> = {}): ObjectRecord {
  const replicas = nodes.map((nodeId) => ({ nodeId, blobId, sha256: "ab".repeat(32) }));
  return { key, size: 5, etag: "5d41402abc4b2a76b9719d911017c592", lastModified: T0, headers: { contentType: "text/plain" }, userMetadata: { owner: "me" }, storageClass: "STANDARD", segments: [{ size: 5, md5: "5d41402abc4b2a76b9719d911017c592", replicas }], ...extra };
}

/**
 * A fresh index holding exactly what `write` lays down, then evicted so the next call constructs the class
 * again over that storage (the way an index written by an older release first meets new code).
 */
async function indexWrittenBy(name: string, write: (sql: SqlStorage) => void) {
  const stub = e.BUCKET_INDEX.get(e.BUCKET_INDEX.idFromName(name));
  await runInDurableObject(stub, (_instance, state) => {
    const sql = state.storage.sql;
    const tables = sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'").toArray();
    for (const t of tables) sql.exec(`DROP TABLE "${t.name}"`);
    write(sql);
  });
  await evictDurableObject(stub);
  return bucketIndexFor(e, name);
}

function insertObject(sql: SqlStorage, r: ObjectRecord): void {
  sql.exec("INSERT INTO objects (key, size, etag, last_modified, storage_class, record) VALUES (?, ?, ?, ?, ?, ?)", r.key, r.size, r.etag, r.lastModified, r.storageClass, JSON.stringify(r));
}

describe("BucketIndex schema upgrades", () => {
  it("opens an index from the first release: its objects become null versions with their replicas indexed", async () => {
    const old = record("photos/cat.jpg", "blob-cat", ["n1", "n2"]);
    const index = await indexWrittenBy("schema-1-fixture", (sql) => {
      sql.exec(SCHEMA_1);
      insertObject(sql, old);
      insertObject(sql, record("readme.txt", "blob-readme", ["n2", "n3"]));
      sql.exec("INSERT INTO uploads (upload_id, key, initiated, upload) VALUES (?, ?, ?, ?)", "up-1", "big.bin", T0, JSON.stringify({ uploadId: "up-1", key: "big.bin", initiated: T0, headers: {}, userMetadata: {} }));
      sql.exec("INSERT INTO parts (upload_id, part_number, part) VALUES (?, ?, ?)", "up-1", 1, JSON.stringify({ partNumber: 1, size: 5, md5: "aa", replicas: [{ nodeId: "n3", blobId: "blob-part", sha256: "cd".repeat(32) }], lastModified: T0 }));
    });

    expect(await index.getObject("photos/cat.jpg")).toEqual(old);
    expect(await index.getVersion("photos/cat.jpg", "null")).toEqual(old);
    expect(await index.versioning()).toBe("Unversioned");
    const listed = await index.listObjects({ prefix: "", delimiter: "/", maxKeys: 1000 });
    expect(listed.commonPrefixes).toEqual(["photos/"]);
    expect(listed.contents.map((c) => c.key)).toEqual(["readme.txt"]);
    const versions = await index.listVersions({ prefix: "", delimiter: "", maxKeys: 1000, keyMarker: "", versionIdMarker: "" });
    expect(versions.versions.map((v) => [v.key, v.versionId, v.isLatest])).toEqual([
      ["photos/cat.jpg", "null", true],
      ["readme.txt", "null", true],
    ]);
    // The replica index was built from the old records: drain and the orphan sweep see every copy.
    expect(await index.countReplicasOn("n2")).toBe(2);
    expect(await index.references("blob-cat", "n1")).toBe(true);
    expect(await index.references("blob-part", "n3")).toBe(true);
    expect(await index.findRepairWork(["n1"], [], 2, 10)).toEqual([
      { key: "photos/cat.jpg", versionId: "null", segment: 0, blobSize: 5, replicas: old.segments[0]!.replicas, drop: [old.segments[0]!.replicas[0]] },
    ]);
    expect((await index.listParts("up-1")).map((p) => p.partNumber)).toEqual([1]);

    // Writing over an old object replaces its null version and hands it back so its blobs are freed.
    const put = await index.putObject(record("photos/cat.jpg", "blob-cat-2", ["n1", "n2"]));
    expect(put.ok && put.replaced).toEqual(old);
    expect(await index.countReplicasOn("n1")).toBe(1);
    expect(await index.references("blob-cat", "n1")).toBe(false);
  });

  it("opens a schema-2 index: versions and delete markers read as written, and their replicas are indexed", async () => {
    const v1 = { ...record("doc", "blob-doc-1", ["n1", "n2"]), versionId: "v1" };
    const v2 = { ...record("doc", "blob-doc-2", ["n2", "n3"], { lastModified: T0 + 1000 }), versionId: "v2" };
    const marker = { key: "gone", versionId: "m1", lastModified: T0 + 2000, deleteMarker: true };
    const gone = { ...record("gone", "blob-gone", ["n1"]), versionId: "g1" };
    const index = await indexWrittenBy("schema-2-fixture", (sql) => {
      sql.exec(SCHEMA_2);
      for (const v of [v1, v2, gone, marker]) sql.exec("INSERT INTO versions (key, version_id, record) VALUES (?, ?, ?)", v.key, v.versionId, JSON.stringify(v));
      insertObject(sql, v2);
      sql.exec("INSERT INTO bucket_config (name, value) VALUES ('schema_version', '2'), ('versioning', '\"Enabled\"')");
    });

    expect(await index.versioning()).toBe("Enabled");
    expect(await index.getObject("doc")).toEqual(v2);
    expect(await index.getObject("gone")).toBeNull();
    expect(await index.getVersion("doc", "v1")).toEqual(v1);
    expect(await index.getVersion("gone", "m1")).toEqual(marker);
    const versions = await index.listVersions({ prefix: "", delimiter: "", maxKeys: 1000, keyMarker: "", versionIdMarker: "" });
    expect(versions.versions.map((v) => [v.key, v.versionId, v.isLatest, v.deleteMarker])).toEqual([
      ["doc", "v2", true, false],
      ["doc", "v1", false, false],
      ["gone", "m1", true, true],
      ["gone", "g1", false, false],
    ]);
    expect(await index.replicationSummary()).toEqual({ segments: 3, byCount: { "1": 1, "2": 2 } });
    expect(await index.countReplicasOn("n1")).toBe(2);

    // Removing the delete marker brings the older version back.
    expect(await index.deleteObject("gone", "m1", Date.now())).toEqual({ freed: null, versionId: "m1", deleteMarker: true });
    expect(await index.getObject("gone")).toEqual(gone);
  });

  it("opens an index the previous release wrote (schema 3), configuration documents included", async () => {
    const current = { ...record("a/b", "blob-ab", ["n1", "n2"]), versionId: "null" };
    // Everything schema 3 could store (bucket policies, Object Lock, ownership controls and Block Public Access came later).
    const config: Omit<BucketConfig, "policy" | "objectLock" | "ownershipControls" | "publicAccessBlock"> = {
      versioning: "Suspended",
      acl: "public-read",
      tagging: { team: "storage" },
      cors: [{ id: "web", allowedOrigins: ["https://example.com"], allowedMethods: ["GET"], allowedHeaders: ["*"], exposeHeaders: ["ETag"], maxAgeSeconds: 60 }],
      lifecycle: [{ id: "logs", enabled: true, prefix: "logs/", tags: {}, expirationDays: 7 }],
      encryption: { algorithm: "aws:kms", kmsKeyId: "key-1", bucketKeyEnabled: true },
    };
    const index = await indexWrittenBy("schema-3-fixture", (sql) => {
      sql.exec(SCHEMA_3);
      sql.exec("INSERT INTO versions (key, version_id, record) VALUES (?, ?, ?)", current.key, "null", JSON.stringify(current));
      insertObject(sql, current);
      for (const r of current.segments[0]!.replicas) sql.exec("INSERT INTO replicas (node_id, blob_id, key, version_id, segment) VALUES (?, ?, ?, 'null', 0)", r.nodeId, r.blobId, current.key);
      sql.exec("INSERT INTO bucket_config (name, value) VALUES ('schema_version', '3')");
      for (const [name, value] of Object.entries(config)) sql.exec("INSERT INTO bucket_config (name, value) VALUES (?, ?)", name, JSON.stringify(value));
    });

    expect(await index.getObject("a/b")).toEqual(current);
    expect(await index.versioning()).toBe("Suspended");
    for (const name of Object.keys(config) as (keyof typeof config)[]) expect(await index.getConfig(name)).toEqual(config[name]);
    // The replica index is read as it was, not rebuilt twice.
    expect(await index.replicationSummary()).toEqual({ segments: 1, byCount: { "2": 1 } });
    expect(await index.isEmpty()).toBe(false);
  });

  it("gives a schema 3 index Object Lock columns: its old versions are unprotected, and a retention set later protects one", async () => {
    const v1 = { ...record("doc", "blob-doc-1", ["n1"]), versionId: "v1" };
    const index = await indexWrittenBy("schema-3-lock-fixture", (sql) => {
      sql.exec(SCHEMA_3);
      sql.exec("INSERT INTO versions (key, version_id, record) VALUES (?, ?, ?)", v1.key, v1.versionId, JSON.stringify(v1));
      insertObject(sql, v1);
      sql.exec("INSERT INTO bucket_config (name, value) VALUES ('schema_version', '3'), ('versioning', '\"Enabled\"')");
    });
    const now = Date.now();
    expect(await index.protectedVersions(now)).toEqual({ count: 0 });
    expect(await index.putObjectLockConfiguration({ enabled: true })).toEqual({ ok: true, before: null });
    expect(await index.setRetention("doc", "v1", { mode: "COMPLIANCE", retainUntil: now + 60_000 }, now, false)).toEqual({
      ok: true,
      versionId: "v1",
      before: {},
      after: { mode: "COMPLIANCE", retainUntil: now + 60_000 },
    });
    expect((await index.protectedVersions(now)).count).toBe(1);
    expect(await index.deleteObject("doc", "v1", now, true)).toMatchObject({ freed: null, locked: true });
    expect(await index.getVersion("doc", "v1")).toEqual({ ...v1, lock: { mode: "COMPLIANCE", retainUntil: now + 60_000 } });
  });

  it("stores each configuration document under its name and returns it with its type", async () => {
    const index = bucketIndexFor(e, "config-round-trip");
    expect(await index.getConfig("cors")).toBeNull();
    await index.setConfig("cors", [{ allowedOrigins: ["*"], allowedMethods: ["PUT", "GET"], allowedHeaders: [], exposeHeaders: [] }]);
    await index.setConfig("acl", "public-read");
    await index.setConfig("lifecycle", [{ enabled: false, prefix: "", tags: { k: "v" }, abortIncompleteMultipartUploadDays: 3 }]);
    const cors = await index.getConfig("cors");
    // Typed without a cast: a CORS rule's fields, the ACL's literal, a lifecycle rule's fields.
    expect(cors?.[0]?.allowedMethods).toEqual(["PUT", "GET"]);
    expect(await index.getConfig("acl")).toBe("public-read");
    expect((await index.getConfig("lifecycle"))?.[0]?.abortIncompleteMultipartUploadDays).toBe(3);
    await index.deleteConfig("cors");
    expect(await index.getConfig("cors")).toBeNull();
    expect(await index.getConfig("acl")).toBe("public-read");
  });
});
