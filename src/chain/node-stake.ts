// Node stake as the edge sees it. A node is keyed on chain by `nodeKey = keccak256(utf8(nodeId))`; its operator
// must keep at least NodeStaking.minimumNodeStake(capacityBytes) bonded for the capacity it registered with.

import { keccak256, stringToBytes, zeroAddress, type Address, type Hex } from "viem";
import type { ChainPublicClient } from "./clients.ts";
import { nodeStakingAbi } from "./generated/abis.ts";

export function nodeKeyOf(nodeId: string): Hex {
  return keccak256(stringToBytes(nodeId));
}

export interface NodeStakeStatus {
  nodeKey: Hex;
  /** The operator the stake is bound to; undefined when nobody has staked for this node. */
  stakedBy: Address | undefined;
  bonded: bigint;
  /** The minimum for the node's capacity. */
  required: bigint;
  sufficient: boolean;
}

export interface ReadNodeStakeParameters {
  stakingAddress: Address;
  nodeId: string;
  capacityBytes: bigint;
  /** The node's operator: stake bound to anyone else does not count. */
  operator: Address | string;
}

export async function readNodeStake(client: ChainPublicClient, p: ReadNodeStakeParameters): Promise<NodeStakeStatus> {
  const nodeKey = nodeKeyOf(p.nodeId);
  const [[stakedBy, bonded], required] = await Promise.all([
    client.readContract({ address: p.stakingAddress, abi: nodeStakingAbi, functionName: "nodeStake", args: [nodeKey] }),
    client.readContract({ address: p.stakingAddress, abi: nodeStakingAbi, functionName: "minimumNodeStake", args: [p.capacityBytes] }),
  ]);
  const bound = stakedBy === zeroAddress ? undefined : stakedBy;
  const byOperator = bound !== undefined && bound.toLowerCase() === p.operator.toLowerCase();
  return { nodeKey, stakedBy: bound, bonded, required, sufficient: byOperator && bonded > 0n && bonded >= required };
}

// Per-isolate cache for the hot paths (heartbeats, the chore): a stake read is reused for the TTL. Registration
// and admin actions read fresh, and their reads replace the cached one.
const cache = new Map<string, { status: NodeStakeStatus; expiresAt: number }>();
const MAX_CACHED = 10_000;

export async function readNodeStakeCached(
  client: ChainPublicClient,
  p: ReadNodeStakeParameters & { now: number; ttlMs: number; fresh?: boolean },
): Promise<NodeStakeStatus> {
  const key = `${client.chain.id}:${p.stakingAddress}:${p.nodeId}:${p.capacityBytes}:${p.operator.toLowerCase()}`;
  const hit = cache.get(key);
  if (!p.fresh && hit && hit.expiresAt > p.now) return hit.status;
  const status = await readNodeStake(client, p);
  if (cache.size >= MAX_CACHED) cache.clear();
  cache.set(key, { status, expiresAt: p.now + p.ttlMs });
  return status;
}
