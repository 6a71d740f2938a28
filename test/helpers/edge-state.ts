// Reads the local edge's persisted state (wrangler's D1 and Durable Object SQLite files) from outside, the way an
// auditor would: to show what the edge still holds after a crypto-erase. Read-only; never used by the edge.

import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { parseMasterKeyRing, unwrapBucketKey } from "../../src/services/crypto/keys.ts";
import { decryptBlob } from "../../src/services/crypto/stream-format.ts";
import type { ObjectVersion, SegmentEncryption } from "../../src/services/object-model.ts";
import { openSegmentKey } from "../../src/services/segment-cipher.ts";
import { filesUnder } from "./test-support.ts";

async function sqliteFiles(dir: string): Promise<string[]> {
  return (await filesUnder(dir)).filter((f) => f.endsWith(".sqlite"));
}

function withDb<T>(file: string, use: (db: DatabaseSync) => T): T {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    return use(db);
  } finally {
    db.close();
  }
}

function tables(db: DatabaseSync): string[] {
  return (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name);
}

/** Every row of every table of the edge's D1 database and Durable Objects, as JSON text. */
async function* everyRow(persistDir: string): AsyncGenerator<string> {
  for (const file of [...(await sqliteFiles(join(persistDir, "v3", "d1"))), ...(await sqliteFiles(join(persistDir, "v3", "do")))]) {
    const rows = withDb(file, (db) => tables(db).flatMap((t) => db.prepare(`SELECT * FROM "${t}"`).all().map((r) => JSON.stringify(r))));
    yield* rows;
  }
}

/** Whether any row the edge keeps mentions `needle` (a wrapped key, say). */
export async function stateMentions(persistDir: string, needle: string): Promise<boolean> {
  for await (const row of everyRow(persistDir)) if (row.includes(needle)) return true;
  return false;
}

/** The encryption record of the segment stored as `blobId`, from whichever bucket index holds it. */
export async function segmentKeyOf(persistDir: string, blobId: string): Promise<SegmentEncryption | undefined> {
  for (const file of await sqliteFiles(join(persistDir, "v3", "do"))) {
    const found = withDb(file, (db) => {
      if (!tables(db).includes("versions")) return undefined;
      for (const row of db.prepare("SELECT record FROM versions").all() as { record: string }[]) {
        const version = JSON.parse(row.record) as ObjectVersion;
        if ("segments" in version) for (const s of version.segments) if (s.encryption?.blobId === blobId) return s.encryption;
      }
      return undefined;
    });
    if (found) return found;
  }
  return undefined;
}

/** A bucket's wrapped bucket key as D1 holds it, by bucket name or id. */
export async function bucketWrappedKey(persistDir: string, bucket: { name: string } | { id: string }): Promise<string | undefined> {
  const [column, value] = "name" in bucket ? ["name", bucket.name] : ["id", bucket.id];
  for (const file of await sqliteFiles(join(persistDir, "v3", "d1"))) {
    const row = withDb(file, (db) =>
      tables(db).includes("buckets") ? (db.prepare(`SELECT wrapped_key FROM buckets WHERE ${column} = ?`).get(value) as { wrapped_key: string } | undefined) : undefined,
    );
    if (row) return row.wrapped_key;
  }
  return undefined;
}

/** The wrapped material of every KMS key of an account, as D1 holds it. */
export async function kmsMaterialOf(persistDir: string, accountId: string): Promise<string[]> {
  const out: string[] = [];
  for (const file of await sqliteFiles(join(persistDir, "v3", "d1"))) {
    withDb(file, (db) => {
      if (!tables(db).includes("kms_keys")) return;
      for (const row of db.prepare("SELECT material_wrapped FROM kms_keys WHERE account_id = ?").all(accountId) as { material_wrapped: string }[]) out.push(row.material_wrapped);
    });
  }
  return out;
}

/** Decrypts a blob copied off a node, with the master keys and what the edge's state holds (SSE-S3 objects). */
export async function decryptSavedBlob(persistDir: string, masterKeys: string, encryption: SegmentEncryption, blob: Uint8Array, plaintextLength: number): Promise<Uint8Array> {
  const bucketId = /^b([0-9a-f]{32})/.exec(encryption.blobId)![1]!;
  const wrapped = await bucketWrappedKey(persistDir, { id: bucketId });
  if (!wrapped) throw new Error(`no bucket key for bucket ${bucketId}`);
  const bucketKey = await unwrapBucketKey(await parseMasterKeyRing(masterKeys), wrapped, bucketId);
  const key = await openSegmentKey(bucketKey, encryption);
  return decryptBlob(key.dataKey, key.prefix, blob, plaintextLength);
}
