// ICN's collateral rule on chain: a node whose bond is below what its capacity requires has its settlement rewards
// staked for it (NodeStaking.topUpNode) instead of paid to its operator. The amounts come from
// src/finance/holdback.ts (settleNodeEarnings' topUp); the ledger side is settlement-entries.ts collateralTopUpEntry.

import type { Address, Hash } from "viem";
import type { ChainSigner } from "./clients.ts";
import { icntAbi, nodeStakingAbi } from "./generated/abis.ts";
import { nodeKeyOf } from "./node-stake.ts";
import { sendContractTransaction } from "./transactions.ts";

export interface TopUpNodeStakeParameters {
  icnt: Address;
  stakingAddress: Address;
  nodeId: string;
  /** ICNT base units, > 0, from the signer's (the treasury's) balance. */
  amount: bigint;
}

/**
 * Approves and stakes `amount` into node `nodeId`'s bond (two transactions); returns the top-up's hash. With a
 * relaying signer, `idempotencyKey` keeps a resumed top-up from sending either again (`<key>:approve`, `<key>:stake`).
 */
export async function topUpNodeStake(signer: ChainSigner, p: TopUpNodeStakeParameters, options: { idempotencyKey?: string } = {}): Promise<{ txHash: Hash; bonded: bigint }> {
  const key = (step: string) => (options.idempotencyKey === undefined ? {} : { idempotencyKey: `${options.idempotencyKey}:${step}` });
  await sendContractTransaction(signer, { address: p.icnt, abi: icntAbi, functionName: "approve", args: [p.stakingAddress, p.amount] }, key("approve"));
  const receipt = await sendContractTransaction(
    signer,
    { address: p.stakingAddress, abi: nodeStakingAbi, functionName: "topUpNode", args: [nodeKeyOf(p.nodeId), p.amount] },
    key("stake"),
  );
  const [, bonded] = await signer.publicClient.readContract({ address: p.stakingAddress, abi: nodeStakingAbi, functionName: "nodeStake", args: [nodeKeyOf(p.nodeId)], blockNumber: receipt.blockNumber });
  return { txHash: receipt.transactionHash, bonded };
}
