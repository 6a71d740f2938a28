// Chore: destroys KMS keys whose deletion window has passed (ScheduleKeyDeletion's PendingWindowInDays). The
// row goes with its wrapped material, so objects encrypted under the key can never be read again.

import { openDb } from "../../src/db/client.ts";
import type { Env } from "../../src/env.ts";
import { deleteDueKmsKeys } from "../../src/services/kms.ts";

export interface KmsDeletionReport {
  chore: "kms-deletion";
  destroyed: number;
}

export async function runOnce(env: Env, now: Date): Promise<KmsDeletionReport> {
  return { chore: "kms-deletion", destroyed: await deleteDueKmsKeys(openDb(env.DB), now.getTime()) };
}
