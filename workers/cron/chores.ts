// Every scheduled chore, in the order each cron tick runs them. Each is `runOnce(env, now)` -> a report.

import type { Env } from "../../src/env.ts";
import { runOnce as runAuditRoots } from "./audit-roots.ts";
import { runOnce as runBucketLifecycle } from "./bucket-lifecycle.ts";
import { runNow as runChallengeRoundNow, runOnce as runChallengeRound } from "./challenge-round.ts";
import { runOnce as runKeyRotation } from "./key-rotation.ts";
import { runOnce as runKmsDeletion } from "./kms-deletion.ts";
import { runOnce as runNodeLiveness } from "./node-liveness.ts";
import { runOnce as runOrphanSweep } from "./orphan-sweep.ts";
import { runOnce as runPlacementBackfill } from "./placement-backfill.ts";
import { runOnce as runPoolObserver } from "./pool-observer.ts";
import { runOnce as runRepair } from "./repair.ts";
import { runOnce as runSettlement, SETTLEMENT_CRON } from "./settlement.ts";
import { runOnce as runStakeCheck } from "./stake-check.ts";
import { runOnce as runUsageFlush, USAGE_FLUSH_CRON } from "./usage-flush.ts";

export interface Chore {
  name: string;
  runOnce(env: Env, now: Date): Promise<unknown>;
  /** What the admin route runs when it differs from a tick (the challenge round opens one at once). */
  runNow?(env: Env, now: Date): Promise<unknown>;
  /** A cron expression of its own (wrangler.toml lists it): the chore runs on that trigger only, not every tick. */
  schedule?: string;
}

export const CHORES: Chore[] = [
  { name: "node-liveness", runOnce: runNodeLiveness },
  { name: "stake-check", runOnce: runStakeCheck },
  { name: "placement-backfill", runOnce: runPlacementBackfill },
  { name: "audit-roots", runOnce: runAuditRoots },
  { name: "repair", runOnce: runRepair },
  { name: "bucket-lifecycle", runOnce: runBucketLifecycle },
  { name: "orphan-sweep", runOnce: runOrphanSweep },
  { name: "key-rotation", runOnce: runKeyRotation },
  { name: "kms-deletion", runOnce: runKmsDeletion },
  { name: "challenge-round", runOnce: runChallengeRound, runNow: runChallengeRoundNow },
  { name: "pool-observer", runOnce: runPoolObserver },
  { name: "usage-flush", runOnce: runUsageFlush, schedule: USAGE_FLUSH_CRON },
  { name: "settlement", runOnce: runSettlement, schedule: SETTLEMENT_CRON },
];

/**
 * Runs once each chore the trigger `cron` is for: a chore with a schedule of its own on that trigger only, every
 * other chore on any other trigger (the every-minute tick). One failing does not stop the others.
 */
export async function runAllChores(env: Env, now: Date, cron?: string): Promise<void> {
  const dedicated = cron !== undefined && CHORES.some((chore) => chore.schedule === cron);
  const due = CHORES.filter((chore) => (dedicated ? chore.schedule === cron : chore.schedule === undefined));
  for (const chore of due) {
    try {
      console.log(JSON.stringify(await chore.runOnce(env, now)));
    } catch (error) {
      console.error(JSON.stringify({ event: "chore_failed", chore: chore.name, error: String(error) }));
    }
  }
}
