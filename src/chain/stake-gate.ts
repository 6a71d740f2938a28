// Whether a node's stake covers its registered capacity: the one judgement that node registration, heartbeats,
// the stake-check chore and the admin slash share. It only reads; callers suspend or refuse.

import type { Address } from "viem";
import { edgeChain, STAKE_CHECK_SKIPPED_REASON, type EdgeChainVars } from "./edge-chain.ts";
import { readNodeStakeCached, type NodeStakeStatus } from "./node-stake.ts";

export type NodeStakeVerdict =
  | { kind: "skipped"; reason: string }
  | { kind: "staked"; stake: NodeStakeStatus }
  | { kind: "understaked"; stake: NodeStakeStatus };

export interface StakedNode {
  id: string;
  operatorAddress: Address | string;
  capacityBytes: number | bigint;
}

/** `fresh` bypasses the per-isolate cache (registration, right after a slash); otherwise reads are reused for the TTL. */
export async function judgeNodeStake(vars: EdgeChainVars, node: StakedNode, options: { now: number; fresh: boolean }): Promise<NodeStakeVerdict> {
  const chain = edgeChain(vars);
  if (!chain) return { kind: "skipped", reason: STAKE_CHECK_SKIPPED_REASON };
  const params = {
    stakingAddress: chain.config.contracts.nodeStaking,
    nodeId: node.id,
    capacityBytes: BigInt(node.capacityBytes),
    operator: node.operatorAddress,
  };
  const stake = await readNodeStakeCached(chain.client, { ...params, now: options.now, ttlMs: chain.config.stakeCacheTtlMs, fresh: options.fresh });
  return { kind: stake.sufficient ? "staked" : "understaked", stake };
}
