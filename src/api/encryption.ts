// Admin view of edge encryption: the configured master keys and what each still wraps, so an operator of the
// edge knows when a rotation is finished and the old key can leave the MASTER_KEYS secret.

import { Hono } from "hono";
import { openDb } from "../db/client.ts";
import type { Env } from "../env.ts";
import { bucketKeysByMasterKey } from "../services/bucket-keys.ts";
import { parseMasterKeyRing } from "../services/crypto/keys.ts";

export const encryptionApi = new Hono<{ Bindings: Env }>();

encryptionApi.get("/encryption", async (c) => {
  const ring = await parseMasterKeyRing(c.env.MASTER_KEYS);
  const bucketKeys = await bucketKeysByMasterKey(openDb(c.env.DB));
  const masterKeys = [...ring.byId.keys()].map((id) => ({ id, newest: id === ring.newest.id, bucketKeys: bucketKeys[id] ?? 0 }));
  // Keys wrapped by a master key that is no longer configured cannot be opened: they must show up here.
  const unknown = Object.entries(bucketKeys).filter(([id]) => !ring.byId.has(id)).map(([id, n]) => ({ id, bucketKeys: n }));
  const pending = masterKeys.filter((k) => !k.newest).reduce((sum, k) => sum + k.bucketKeys, 0);
  return c.json({
    newestMasterKey: ring.newest.id,
    masterKeys,
    unconfiguredMasterKeys: unknown,
    rotation: { pending, complete: pending === 0, removable: masterKeys.filter((k) => !k.newest && k.bucketKeys === 0).map((k) => k.id) },
  });
});
