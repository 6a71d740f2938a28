// Prepaid ICNT: settlement draws each period's usage from a customer's escrow balance with the protocol key.

import type { Address, TransactionReceipt } from "viem";
import type { ChainPublicClient, ChainSigner } from "./clients.ts";
import { serviceEscrowAbi } from "./generated/abis.ts";
import { sendContractTransaction } from "./transactions.ts";

export async function readEscrowBalance(client: ChainPublicClient, p: { escrow: Address; customer: Address }): Promise<bigint> {
  return client.readContract({ address: p.escrow, abi: serviceEscrowAbi, functionName: "balanceOf", args: [p.customer] });
}

/** Draws `amount` of period `periodId`'s usage; the contract refuses more than the balance and a second draw. */
export async function drawDownEscrow(
  signer: ChainSigner,
  p: { escrow: Address; customer: Address; periodId: bigint; amount: bigint },
): Promise<TransactionReceipt> {
  return sendContractTransaction(signer, {
    address: p.escrow,
    abi: serviceEscrowAbi,
    functionName: "drawDown",
    args: [p.customer, p.periodId, p.amount],
  });
}
