// Chore: the validators' challenge rounds. The coordinator Durable Object runs them on its own alarm; each cron
// tick makes sure that alarm is set (so a round schedule survives anything that lost it), and the admin route
// (POST /api/v1/admin/chores/challenge-round/run) opens a round at once.

import { coordinatorOf } from "../../src/api/validators.ts";
import type { Env } from "../../src/env.ts";
import type { RoundRunReport } from "../durable/challenge-coordinator/challenge-coordinator.ts";

export async function runOnce(env: Env): Promise<RoundRunReport> {
  return coordinatorOf(env).ensureScheduled();
}

export async function runNow(env: Env): Promise<RoundRunReport> {
  return coordinatorOf(env).runRoundNow();
}
