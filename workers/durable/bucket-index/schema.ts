// The bucket index's tables, and the upgrade of an index written by an older release. Every index ever written
// must still open: a release may add tables and backfill them, never change what an old row means.
//
// `versions` holds every version of every key (one "null" version per key in an unversioned bucket, delete
// markers included), `objects` the current, non-deleted version of each key, which is what plain listings and
// reads see. `replicas` says where each segment's blobs live, `uploads` and `parts` hold multipart uploads in
// progress, `completed_uploads` what recently completed ones answered (a retried Complete gets it again),
// `erasure_segments` how many pieces each erasure-coded segment has (k+m: repair finds the segments with fewer
// stored), and `bucket_config` the bucket's configuration documents (configuration.ts) and the schema version.
// Each version's Object Lock (record.lock) is mirrored in `versions.retain_until` and `versions.legal_hold`
// (schema 4), so "is anything here still protected?" is one indexed query (lock.ts).

import type { ObjectVersion } from "../../../src/services/object-model.ts";
import { indexReplicas } from "./replicas.ts";
import type { IndexStore } from "./store.ts";

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
CREATE TABLE IF NOT EXISTS erasure_segments (
  key TEXT NOT NULL,
  version_id TEXT NOT NULL,
  segment INTEGER NOT NULL,
  pieces INTEGER NOT NULL,
  PRIMARY KEY (key, version_id, segment)
);
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
CREATE TABLE IF NOT EXISTS completed_uploads (
  upload_id TEXT PRIMARY KEY,
  completed INTEGER NOT NULL,
  completion TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS parts (
  upload_id TEXT NOT NULL,
  part_number INTEGER NOT NULL,
  part TEXT NOT NULL,
  PRIMARY KEY (upload_id, part_number)
);
`;

/**
 * The schema version lives in `bucket_config` as the JSON number under this name. Indexes from before it
 * existed have none: they are version 1 (objects, uploads and parts only).
 */
const SCHEMA_VERSION = "schema_version";

/** Creates the tables and brings an index written by an older release up to date. */
export function migrateIndex(store: IndexStore): void {
  store.sql.exec(SCHEMA);
  if (schemaVersion(store) === null) {
    // Objects written before the versions table existed become their key's "null" version.
    store.sql.exec("INSERT OR IGNORE INTO versions (key, version_id, record) SELECT key, 'null', record FROM objects");
    setSchemaVersion(store, 2);
  }
  if (schemaVersion(store) === 2) {
    // Index where every replica of every version lives (repair, drain and orphan checks read it).
    for (const row of store.sql.exec<{ record: string }>("SELECT record FROM versions").toArray()) {
      indexReplicas(store, JSON.parse(row.record) as ObjectVersion);
    }
    setSchemaVersion(store, 3);
  }
  if (schemaVersion(store) === 3) {
    // Object Lock: no version written before it has a retention or a legal hold, so the defaults are the truth.
    store.transactionSync(() => {
      store.sql.exec("ALTER TABLE versions ADD COLUMN retain_until INTEGER");
      store.sql.exec("ALTER TABLE versions ADD COLUMN legal_hold INTEGER NOT NULL DEFAULT 0");
      store.sql.exec("CREATE INDEX IF NOT EXISTS versions_by_retention ON versions (retain_until) WHERE retain_until IS NOT NULL");
      store.sql.exec("CREATE INDEX IF NOT EXISTS versions_on_hold ON versions (legal_hold) WHERE legal_hold = 1");
      setSchemaVersion(store, 4);
    });
  }
}

function schemaVersion(store: IndexStore): number | null {
  const row = store.sql.exec<{ value: string }>("SELECT value FROM bucket_config WHERE name = ?", SCHEMA_VERSION).toArray()[0];
  return row ? (JSON.parse(row.value) as number) : null;
}

function setSchemaVersion(store: IndexStore, version: number): void {
  store.sql.exec("INSERT OR REPLACE INTO bucket_config (name, value) VALUES (?, ?)", SCHEMA_VERSION, JSON.stringify(version));
}
