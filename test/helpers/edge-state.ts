// Reads the local edge's persisted state (wrangler's D1 and Durable Object SQLite files) from outside, the way an
// auditor would: to show what the edge still holds after a crypto-erase. Read-only; never used by the edge.

import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { parseMasterKeyRing, unwrapBucketKey } from "../../src/services/crypto/keys.ts";
import { ciphertextLength, decryptBlob, encodeHeader } from "../../src/services/crypto/stream-format.ts";
import type { ObjectSegment, ObjectVersion, SegmentEncryption } from "../../src/services/object-model.ts";
import { fromBase64 } from "../../src/protocol/crypto.ts";
import { chunkBytes, chunkLocation, chunksOf, SHARD_BYTES } from "../../src/protocol/piece-layout.ts";
import { maskOf } from "../../src/services/replica-mask.ts";
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
  return (await segmentOf(persistDir, blobId))?.encryption;
}

/** The segment (of any object version in any bucket index) that a blob on a node, or its data key, belongs to. */
export async function segmentOf(persistDir: string, blobId: string): Promise<ObjectSegment | undefined> {
  for (const file of await sqliteFiles(join(persistDir, "v3", "do"))) {
    const found = withDb(file, (db) => {
      if (!tables(db).includes("versions")) return undefined;
      for (const row of db.prepare("SELECT record FROM versions").all() as { record: string }[]) {
        const version = JSON.parse(row.record) as ObjectVersion;
        if (!("segments" in version)) continue;
        for (const s of version.segments) {
          if (s.encryption?.blobId === blobId || s.replicas.some((r) => r.blobId === blobId) || s.erasure?.pieceBlobIds.includes(blobId)) return s;
        }
      }
      return undefined;
    });
    if (found) return found;
  }
  return undefined;
}

/**
 * The blob of a segment as the edge would read it, from files saved off the nodes (blob id -> bytes): one copy of
 * a replicated segment (unmasked with the edge's KEY_ENCRYPTION_KEY when it is a unique replica), or the segment's
 * data pieces dealt back into chunk order (src/protocol/piece-layout.ts).
 */
export async function blobFromSaved(segment: ObjectSegment, saved: Map<string, Uint8Array>, keyEncryptionKey: string): Promise<Uint8Array> {
  if (!segment.erasure) {
    const replica = segment.replicas.find((r) => saved.has(r.blobId));
    if (!replica) throw new Error("no saved copy of the segment");
    const copy = saved.get(replica.blobId)!;
    const mask = await maskOf(keyEncryptionKey, replica);
    return mask ? mask.apply(copy, 0) : copy;
  }
  const { k, pieceBlobIds } = segment.erasure;
  const pieces = pieceBlobIds.slice(0, k).map((id) => saved.get(id));
  if (pieces.some((p) => !p)) throw new Error("not every data piece of the segment was saved");
  const chunks = chunksOf(segment.size);
  const header = encodeHeader(fromBase64(segment.encryption!.noncePrefix));
  const out = new Uint8Array(ciphertextLength(segment.size));
  out.set(header, 0);
  let at = header.length;
  for (let c = 0; c < chunks; c++) {
    const { piece, stripe } = chunkLocation(segment.erasure, c);
    const bytes = chunkBytes(c, segment.size);
    out.set(pieces[piece]!.subarray(stripe * SHARD_BYTES, stripe * SHARD_BYTES + bytes), at);
    at += bytes;
  }
  return out;
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

/** `placed_blobs` as D1 holds it: "nodeId/blobId" -> its recorded Merkle root (0x hex), or null when none is known. */
export async function placedBlobRoots(persistDir: string): Promise<Map<string, string | null>> {
  const out = new Map<string, string | null>();
  for (const file of await sqliteFiles(join(persistDir, "v3", "d1"))) {
    withDb(file, (db) => {
      if (!tables(db).includes("placed_blobs")) return;
      for (const row of db.prepare("SELECT node_id, blob_id, merkle_root FROM placed_blobs").all() as { node_id: string; blob_id: string; merkle_root: string | null }[]) {
        out.set(`${row.node_id}/${row.blob_id}`, row.merkle_root);
      }
    });
  }
  return out;
}

/** The sqlite files of the edge's D1 database and of its Durable Objects (for tests that lay down old state). */
export async function edgeSqliteFiles(persistDir: string): Promise<{ d1: string[]; durableObjects: string[] }> {
  return { d1: await sqliteFiles(join(persistDir, "v3", "d1")), durableObjects: await sqliteFiles(join(persistDir, "v3", "do")) };
}
