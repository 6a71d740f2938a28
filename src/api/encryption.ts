// Admin view of edge encryption: the configured master keys and what each still wraps, so an operator of the
// edge knows when a rotation is finished and the old key can leave the MASTER_KEYS secret.

import { Hono } from "hono";
import { openDb } from "../db/client.ts";
import type { Env } from "../env.ts";
import { countKmsKeysByMasterKey } from "../db/kms.ts";
import { bucketKeysByMasterKey } from "../services/bucket-keys.ts";
import { parseMasterKeyRing } from "../services/crypto/keys.ts";

export const encryptionApi = new Hono<{ Bindings: Env }>();

encryptionApi.get("/encryption", async (c) => {
  const ring = await parseMasterKeyRing(c.env.MASTER_KEYS);
  const db = openDb(c.env.DB);
  const [bucketKeys, kmsKeys] = await Promise.all([bucketKeysByMasterKey(db), countKmsKeysByMasterKey(db)]);
  const wraps = (id: string) => ({ bucketKeys: bucketKeys[id] ?? 0, kmsKeys: kmsKeys[id] ?? 0 });
  const masterKeys = [...ring.byId.keys()].map((id) => ({ id, newest: id === ring.newest.id, ...wraps(id) }));
  // Keys wrapped by a master key that is no longer configured cannot be opened: they must show up here.
  const unknown = [...new Set([...Object.keys(bucketKeys), ...Object.keys(kmsKeys)])].filter((id) => !ring.byId.has(id)).map((id) => ({ id, ...wraps(id) }));
  const pending = masterKeys.filter((k) => !k.newest).reduce((sum, k) => sum + k.bucketKeys + k.kmsKeys, 0);
  return c.json({
    newestMasterKey: ring.newest.id,
    masterKeys,
    unconfiguredMasterKeys: unknown,
    rotation: { pending, complete: pending === 0, removable: masterKeys.filter((k) => !k.newest && k.bucketKeys + k.kmsKeys === 0).map((k) => k.id) },
  });
});
