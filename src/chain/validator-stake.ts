// Validator set membership: a validator receives challenge rounds only while its bond is at least
// NodeStaking.minValidatorStake. Challenge-round assignment must call this before handing out work.

import type { Address } from "viem";
import type { ChainPublicClient } from "./clients.ts";
import { nodeStakingAbi } from "./generated/abis.ts";

export async function isStakedValidator(client: ChainPublicClient, p: { stakingAddress: Address; validator: Address }): Promise<boolean> {
  return client.readContract({ address: p.stakingAddress, abi: nodeStakingAbi, functionName: "isValidator", args: [p.validator] });
}
