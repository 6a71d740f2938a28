// Prepaid ICNT (ServiceEscrow.sol): customers deposit and ask to withdraw; settlement draws each period's usage with
// the protocol key and then marks the period settled, which releases the withdrawals asked for during it.

import { parseEventLogs, type Address, type Hash, type TransactionReceipt } from "viem";
import type { ChainPublicClient, ChainSigner } from "./clients.ts";
import { serviceEscrowAbi } from "./generated/abis.ts";
import { sendContractTransaction, type SendContractTransactionOptions } from "./transactions.ts";

export async function readEscrowBalance(client: ChainPublicClient, p: { escrow: Address; customer: Address }): Promise<bigint> {
  return client.readContract({ address: p.escrow, abi: serviceEscrowAbi, functionName: "balanceOf", args: [p.customer] });
}

/** Whether settlement already drew `customer`'s usage of `periodId` (the contract allows one draw per pair). */
export async function readDrawnForPeriod(client: ChainPublicClient, p: { escrow: Address; customer: Address; periodId: bigint }): Promise<boolean> {
  return client.readContract({ address: p.escrow, abi: serviceEscrowAbi, functionName: "drawnForPeriod", args: [p.customer, p.periodId] });
}

/** The latest period marked settled (0n before any). */
export async function readLastSettledPeriod(client: ChainPublicClient, p: { escrow: Address }): Promise<bigint> {
  return client.readContract({ address: p.escrow, abi: serviceEscrowAbi, functionName: "lastSettledPeriod" });
}

/** Where draws are paid: settlement's ICNT treasury must be this address for its ledger to hold. */
export async function readRevenueRecipient(client: ChainPublicClient, p: { escrow: Address }): Promise<Address> {
  return client.readContract({ address: p.escrow, abi: serviceEscrowAbi, functionName: "revenueRecipient" });
}

export interface EscrowAccountView {
  balance: bigint;
  /** The pending withdrawal request, if any: `period` is the period it waits for. */
  withdrawal: { amount: bigint; period: bigint; withdrawable: bigint } | null;
  lastSettledPeriod: bigint;
}

/** A customer's balance and withdrawal request, read at one block. */
export async function readEscrowAccount(client: ChainPublicClient, p: { escrow: Address; customer: Address }): Promise<EscrowAccountView> {
  const blockNumber = await client.getBlockNumber();
  const at = { address: p.escrow, abi: serviceEscrowAbi, blockNumber } as const;
  const [balance, [amount, period], withdrawable, lastSettledPeriod] = await Promise.all([
    client.readContract({ ...at, functionName: "balanceOf", args: [p.customer] }),
    client.readContract({ ...at, functionName: "withdrawalRequestOf", args: [p.customer] }),
    client.readContract({ ...at, functionName: "withdrawable", args: [p.customer] }),
    client.readContract({ ...at, functionName: "lastSettledPeriod" }),
  ]);
  return { balance, withdrawal: amount === 0n ? null : { amount, period, withdrawable }, lastSettledPeriod };
}

/** Draws `amount` of period `periodId`'s usage; the contract refuses more than the balance and a second draw. */
export async function drawDownEscrow(
  signer: ChainSigner,
  p: { escrow: Address; customer: Address; periodId: bigint; amount: bigint },
  options: SendContractTransactionOptions = {},
): Promise<TransactionReceipt> {
  return sendContractTransaction(
    signer,
    { address: p.escrow, abi: serviceEscrowAbi, functionName: "drawDown", args: [p.customer, p.periodId, p.amount] },
    options,
  );
}

/** What a draw's receipt says was drawn (its UsageDrawn event); undefined when it holds none for this escrow. */
export function usageDrawnIn(receipt: TransactionReceipt, escrow: Address): { customer: Address; periodId: bigint; amount: bigint; balance: bigint; txHash: Hash } | undefined {
  const [event] = parseEventLogs({ abi: serviceEscrowAbi, eventName: "UsageDrawn", logs: receipt.logs.filter((l) => l.address.toLowerCase() === escrow.toLowerCase()) });
  return event && { ...event.args, txHash: receipt.transactionHash };
}

/** Marks `periodId` settled: withdrawals requested up to it become withdrawable. Ids must increase. */
export async function markEscrowPeriodSettled(
  signer: ChainSigner,
  p: { escrow: Address; periodId: bigint },
  options: SendContractTransactionOptions = {},
): Promise<TransactionReceipt> {
  return sendContractTransaction(signer, { address: p.escrow, abi: serviceEscrowAbi, functionName: "markSettled", args: [p.periodId] }, options);
}

/** The customer asks to withdraw `amount`, released once the open period is settled (replaces a pending request). */
export async function requestEscrowWithdrawal(customer: ChainSigner, p: { escrow: Address; amount: bigint }): Promise<TransactionReceipt> {
  return sendContractTransaction(customer, { address: p.escrow, abi: serviceEscrowAbi, functionName: "requestWithdrawal", args: [p.amount] });
}

/** The customer withdraws a settled request: min(requested, balance). Refused with WithdrawalNotReady before. */
export async function withdrawFromEscrow(customer: ChainSigner, p: { escrow: Address }): Promise<TransactionReceipt> {
  return sendContractTransaction(customer, { address: p.escrow, abi: serviceEscrowAbi, functionName: "withdraw", args: [] });
}

/** The customer deposits `amount` ICNT (after approving the escrow for it). */
export async function depositToEscrow(customer: ChainSigner, p: { escrow: Address; amount: bigint }): Promise<TransactionReceipt> {
  return sendContractTransaction(customer, { address: p.escrow, abi: serviceEscrowAbi, functionName: "deposit", args: [p.amount] });
}
