// Chore: destroys KMS keys whose deletion window has passed (ScheduleKeyDeletion's PendingWindowInDays). The
// row goes with its wrapped material, so objects encrypted under the key can never be read again. A key that an
// object version under Object Lock still depends on (a legal hold placed, or a retention set, during the window) is
// not destroyed: it stays pending, unusable, until nothing it protects is retained any more.

import { openDb } from "../../src/db/client.ts";
import { listKmsKeysDueBy } from "../../src/db/kms.ts";
import type { Env } from "../../src/env.ts";
import { deleteDueKmsKeys } from "../../src/services/kms.ts";
import { retainedVersionsOf } from "../../src/services/retained-versions.ts";

export interface KmsDeletionReport {
  chore: "kms-deletion";
  destroyed: number;
  /** Keys past their window kept because Object Lock still protects versions under them. */
  heldByObjectLock: number;
}

export async function runOnce(env: Env, now: Date): Promise<KmsDeletionReport> {
  const db = openDb(env.DB);
  const held: string[] = [];
  for (const key of await listKmsKeysDueBy(db, now.getTime())) {
    if ((await retainedVersionsOf(env, db, key.accountId, now.getTime(), key.id)).length > 0) held.push(key.id);
  }
  return { chore: "kms-deletion", destroyed: await deleteDueKmsKeys(db, now.getTime(), held), heldByObjectLock: held.length };
}
