// Chore: active nodes whose stake no longer covers their capacity are suspended, so placement stops sending them
// data (heartbeats catch most drops sooner; this catches silent nodes and is the backstop). Without a chain
// (CHAIN_RPC_URL empty) it checks nothing and its report says why.

import { chainConfigFromVars } from "../../src/chain/config.ts";
import { STAKE_CHECK_SKIPPED_REASON } from "../../src/chain/edge-chain.ts";
import { judgeNodeStake } from "../../src/chain/stake-gate.ts";
import { openDb } from "../../src/db/client.ts";
import { listNodes, setNodeStatus } from "../../src/db/registry.ts";
import type { Env } from "../../src/env.ts";

export interface StakeCheckReport {
  chore: "stake-check";
  /** Set when no check ran, with the reason. */
  skipped?: string;
  checked: number;
  suspended: string[];
  /** Nodes whose stake could not be read; they keep their status until a later run reads it. */
  failed: { nodeId: string; message: string }[];
}

/** Stake reads in flight at once: enough to finish a large registry within the minute, few enough for an RPC. */
const CONCURRENT_READS = 8;

export async function runOnce(env: Env, now: Date): Promise<StakeCheckReport> {
  const report: StakeCheckReport = { chore: "stake-check", checked: 0, suspended: [], failed: [] };
  if (chainConfigFromVars(env) === undefined) return { ...report, skipped: STAKE_CHECK_SKIPPED_REASON };
  const db = openDb(env.DB);
  const active = (await listNodes(db)).filter((n) => n.status === "active");

  for (let i = 0; i < active.length; i += CONCURRENT_READS) {
    const batch = active.slice(i, i + CONCURRENT_READS);
    const verdicts = await Promise.allSettled(batch.map((node) => judgeNodeStake(env, node, { now: now.getTime(), fresh: false })));
    for (const [j, result] of verdicts.entries()) {
      const node = batch[j]!;
      if (result.status === "rejected") {
        report.failed.push({ nodeId: node.id, message: String((result.reason as Error)?.message ?? result.reason).split("\n")[0]! });
        continue;
      }
      report.checked++;
      if (result.value.kind === "understaked") {
        await setNodeStatus(db, node.id, "suspended", now.getTime());
        report.suspended.push(node.id);
      }
    }
  }
  return report;
}
