// Validator set membership: a validator receives challenge rounds only while its bond is at least
// NodeStaking.minValidatorStake. Challenge-round assignment must call this before handing out work.

import type { Address } from "viem";
import type { ChainPublicClient } from "./clients.ts";
import { auditLogAbi, nodeStakingAbi } from "./generated/abis.ts";

export async function isStakedValidator(client: ChainPublicClient, p: { stakingAddress: Address; validator: Address }): Promise<boolean> {
  return client.readContract({ address: p.stakingAddress, abi: nodeStakingAbi, functionName: "isValidator", args: [p.validator] });
}

export interface StakedValidator {
  /** The stake address: NodeStaking's validator and the identity verdicts and slashes name. */
  address: Address;
  /** The key that signs its attestations (AuditLog.operationalKeyOf). */
  operationalAddress: Address;
  /** Bonded stake, the weight of its vote and of its chance to be selected. */
  stake: bigint;
}

export interface ListStakedValidatorsParameters {
  stakingAddress: Address;
  auditLog: Address;
  /** Validators read per AuditLog page; default 200. */
  pageSize?: number;
}

/**
 * The validators that can take assignments now: every address that ever authorized an operational key in AuditLog
 * (the contract lists them; NodeStaking keeps no list), kept when the key is still authorized and NodeStaking
 * counts it a validator (bond >= minValidatorStake). Sorted by address, so every reader sees the same order for a
 * seeded selection. 2 + pages + N reads.
 */
export async function listStakedValidators(client: ChainPublicClient, p: ListStakedValidatorsParameters): Promise<StakedValidator[]> {
  const pageSize = BigInt(p.pageSize ?? 200);
  const [count, minimum] = await Promise.all([
    client.readContract({ address: p.auditLog, abi: auditLogAbi, functionName: "validatorCount" }),
    client.readContract({ address: p.stakingAddress, abi: nodeStakingAbi, functionName: "minValidatorStake" }),
  ]);
  const listed: { address: Address; key: Address }[] = [];
  for (let offset = 0n; offset < count; offset += pageSize) {
    const [validators, keys] = await client.readContract({ address: p.auditLog, abi: auditLogAbi, functionName: "validatorsPage", args: [offset, pageSize] });
    validators.forEach((address, i) => listed.push({ address, key: keys[i]! }));
  }
  const withKeys = listed.filter((v) => BigInt(v.key) !== 0n);
  const bonds = await Promise.all(
    withKeys.map((v) => client.readContract({ address: p.stakingAddress, abi: nodeStakingAbi, functionName: "validatorStake", args: [v.address] })),
  );
  return withKeys
    .map((v, i) => ({ address: v.address, operationalAddress: v.key, stake: bonds[i]![0] }))
    // The same test as NodeStaking.isValidator.
    .filter((v) => v.stake > 0n && v.stake >= minimum)
    .sort((a, b) => (a.address.toLowerCase() < b.address.toLowerCase() ? -1 : 1));
}
