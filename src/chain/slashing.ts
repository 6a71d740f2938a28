// Slashing with the protocol's key (the Worker secret PROTOCOL_SIGNER_KEY holds NodeStaking's SLASHER_ROLE).
// The contract caps each slash at maxSlashBps of the stake held and sends the ICNT to the treasury.

import { stringToHex, type Address, type TransactionReceipt } from "viem";
import type { ChainSigner } from "./clients.ts";
import { nodeStakingAbi } from "./generated/abis.ts";
import { nodeKeyOf } from "./node-stake.ts";
import { sendContractTransaction } from "./transactions.ts";

export interface SlashNodeParameters {
  stakingAddress: Address;
  nodeId: string;
  amount: bigint;
  /** Recorded in the NodeSlashed event; at most 32 bytes of UTF-8. */
  reason: string;
}

export async function slashNode(signer: ChainSigner, p: SlashNodeParameters): Promise<TransactionReceipt> {
  return sendContractTransaction(signer, {
    address: p.stakingAddress,
    abi: nodeStakingAbi,
    functionName: "slashNode",
    args: [nodeKeyOf(p.nodeId), p.amount, stringToHex(p.reason, { size: 32 })],
  });
}

export interface SlashValidatorParameters {
  stakingAddress: Address;
  /** The validator's stake address (not its operational key). */
  validator: Address;
  amount: bigint;
  /** Recorded in the ValidatorSlashed event; at most 32 bytes of UTF-8. */
  reason: string;
}

/** Slashes a validator on objective evidence (a pass attested for a proof that does not verify, two conflicting attestations). */
export async function slashValidator(signer: ChainSigner, p: SlashValidatorParameters): Promise<TransactionReceipt> {
  return sendContractTransaction(signer, {
    address: p.stakingAddress,
    abi: nodeStakingAbi,
    functionName: "slashValidator",
    args: [p.validator, p.amount, stringToHex(p.reason, { size: 32 })],
  });
}
