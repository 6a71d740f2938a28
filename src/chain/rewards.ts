// Per-period rewards: settlement builds a Merkle tree of (account, amount), posts its root with the funding, and
// anyone claims for an account with that account's proof. The tree is OpenZeppelin's StandardMerkleTree, whose
// leaves RewardsDistributor.sol verifies with MerkleProof.

import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import type { Address, Hex, TransactionReceipt } from "viem";
import type { ChainPublicClient, ChainSigner } from "./clients.ts";
import { icntAbi, rewardsDistributorAbi } from "./generated/abis.ts";
import { sendContractTransaction } from "./transactions.ts";

export interface RewardEntry {
  account: Address;
  amount: bigint;
}

export interface RewardsTree {
  root: Hex;
  total: bigint;
  /** The proof for `account`; throws when the account has no leaf. */
  proofFor(account: Address): { amount: bigint; proof: Hex[] };
}

/** One leaf per account: amounts for the same account must be summed before (a second leaf could never be claimed). */
export function buildRewardsTree(entries: readonly RewardEntry[]): RewardsTree {
  const seen = new Set<string>();
  for (const e of entries) {
    const account = e.account.toLowerCase();
    if (seen.has(account)) throw new Error(`rewards for ${e.account} appear twice; sum them into one entry`);
    seen.add(account);
  }
  const tree = StandardMerkleTree.of(
    entries.map((e) => [e.account, e.amount.toString()]),
    ["address", "uint256"],
  );
  return {
    root: tree.root as Hex,
    total: entries.reduce((sum, e) => sum + e.amount, 0n),
    proofFor(account) {
      for (const [i, [leafAccount, amount]] of tree.entries()) {
        if (String(leafAccount).toLowerCase() === account.toLowerCase()) return { amount: BigInt(amount as string), proof: tree.getProof(i) as Hex[] };
      }
      throw new Error(`${account} has no reward in this tree`);
    },
  };
}

/**
 * Approves the distributor for the period's total and posts root and funding (two transactions). With a relaying
 * signer, `idempotencyKey` names the step: the two transactions go under `<key>:approve` and `<key>:post`, so a
 * step resumed after a crash sends neither again.
 */
export async function postRewardsPeriod(
  signer: ChainSigner,
  p: { icnt: Address; distributor: Address; periodId: bigint; tree: Pick<RewardsTree, "root" | "total"> },
  options: { idempotencyKey?: string } = {},
): Promise<TransactionReceipt> {
  const key = (step: string) => (options.idempotencyKey === undefined ? {} : { idempotencyKey: `${options.idempotencyKey}:${step}` });
  await sendContractTransaction(signer, { address: p.icnt, abi: icntAbi, functionName: "approve", args: [p.distributor, p.tree.total] }, key("approve"));
  return sendContractTransaction(
    signer,
    { address: p.distributor, abi: rewardsDistributorAbi, functionName: "postPeriod", args: [p.periodId, p.tree.root, p.tree.total] },
    key("post"),
  );
}

/** What the distributor holds for a period: its root, what was funded and what has been claimed. */
export async function readRewardsPeriod(client: ChainPublicClient, p: { distributor: Address; periodId: bigint }): Promise<{ root: Hex; funded: bigint; claimed: bigint }> {
  const [root, funded, claimed] = await client.readContract({ address: p.distributor, abi: rewardsDistributorAbi, functionName: "periods", args: [p.periodId] });
  return { root, funded, claimed };
}

/** Whether `account` has claimed its reward of a period. */
export async function hasClaimed(client: ChainPublicClient, p: { distributor: Address; periodId: bigint; account: Address }): Promise<boolean> {
  return client.readContract({ address: p.distributor, abi: rewardsDistributorAbi, functionName: "hasClaimed", args: [p.periodId, p.account] });
}

export async function claimReward(
  signer: ChainSigner,
  p: { distributor: Address; periodId: bigint; account: Address; amount: bigint; proof: readonly Hex[] },
): Promise<TransactionReceipt> {
  return sendContractTransaction(signer, {
    address: p.distributor,
    abi: rewardsDistributorAbi,
    functionName: "claim",
    args: [p.periodId, p.account, p.amount, p.proof],
  });
}
