// Per-period rewards: settlement builds a Merkle tree of (account, amount), posts its root with the funding, and
// anyone claims for an account with that account's proof. The tree is OpenZeppelin's StandardMerkleTree, whose
// leaves RewardsDistributor.sol verifies with MerkleProof.

import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import type { Address, Hex, TransactionReceipt } from "viem";
import type { ChainSigner } from "./clients.ts";
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

/** Approves the distributor for the period's total and posts root and funding (two transactions). */
export async function postRewardsPeriod(
  signer: ChainSigner,
  p: { icnt: Address; distributor: Address; periodId: bigint; tree: Pick<RewardsTree, "root" | "total"> },
): Promise<TransactionReceipt> {
  await sendContractTransaction(signer, { address: p.icnt, abi: icntAbi, functionName: "approve", args: [p.distributor, p.tree.total] });
  return sendContractTransaction(signer, {
    address: p.distributor,
    abi: rewardsDistributorAbi,
    functionName: "postPeriod",
    args: [p.periodId, p.tree.root, p.tree.total],
  });
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
