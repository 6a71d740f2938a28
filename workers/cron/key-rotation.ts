// Master-key rotation, as a chore: put a new key first in MASTER_KEYS and every tick re-wraps a batch of bucket
// keys and KMS keys still wrapped by an older master key. Data keys and blobs are never touched. When the report (or
// GET /api/v1/admin/encryption) shows nothing left under the old key, it can be removed from the secret.

import { openDb } from "../../src/db/client.ts";
import type { Env } from "../../src/env.ts";
import { rewrapBucketKeys } from "../../src/services/bucket-keys.ts";
import { parseMasterKeyRing } from "../../src/services/crypto/keys.ts";
import { rewrapKmsKeys } from "../../src/services/kms.ts";

/** Keys re-wrapped per tick: each is one AES-GCM open and seal and one D1 write. */
const BATCH = 500;

export async function runOnce(env: Env, _now: Date) {
  const db = openDb(env.DB);
  const ring = await parseMasterKeyRing(env.MASTER_KEYS);
  const bucketKeys = await rewrapBucketKeys(db, ring, BATCH);
  const kmsKeys = await rewrapKmsKeys(db, ring, BATCH);
  return { chore: "key-rotation", newestMasterKey: ring.newest.id, bucketKeys, kmsKeys };
}
