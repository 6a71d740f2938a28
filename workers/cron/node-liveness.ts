// Chore: nodes silent for longer than NODE_OFFLINE_AFTER_SECONDS are marked offline. Placement already
// ignores silent nodes by their heartbeat time; this makes the registry say so too.

import { configOf } from "../../src/config.ts";
import { openDb } from "../../src/db/client.ts";
import { markSilentNodesOffline } from "../../src/db/registry.ts";
import type { Env } from "../../src/env.ts";

export interface NodeLivenessReport {
  chore: "node-liveness";
  markedOffline: string[];
}

export async function runOnce(env: Env, now: Date): Promise<NodeLivenessReport> {
  const cutoff = now.getTime() - configOf(env).nodeOfflineAfterMs;
  const markedOffline = await markSilentNodesOffline(openDb(env.DB), cutoff, now.getTime());
  return { chore: "node-liveness", markedOffline };
}
