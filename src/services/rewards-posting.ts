// Posting a settled period's rewards: one leaf per payout address, the root and its funding sent to
// RewardsDistributor through the protocol key's Durable Object (each transaction under the step's key, so a
// resumed step sends neither again), then the posting and every leaf's proof recorded in D1 for the claims route.

import type { Address, Hex } from "viem";
import { edgeChain } from "../chain/edge-chain.ts";
import { ChainConfigError } from "../chain/errors.ts";
import { buildRewardsTree, postRewardsPeriod, type RewardEntry } from "../chain/rewards.ts";
import type { Db } from "../db/client.ts";
import { getRewardsPosting, recordRewardsPosting, type RewardPostingRow } from "../db/rewards.ts";
import type { Env } from "../env.ts";
import { periodBounds } from "../finance/periods.ts";
import { configOf } from "../config.ts";
import { protocolSigner } from "./protocol-signer.ts";

/** RewardsDistributor's uint256 period for a finance period: its start in unix seconds (unique, increasing). */
export function chainPeriodOf(periodId: string, periodMinutes?: number): bigint {
  const bounds = periodBounds(periodId, periodMinutes);
  if (!bounds) throw new Error(`${periodId} is not a finance period`);
  return BigInt(bounds.start / 1000);
}

/** Posts `entries` (one per address, amounts merged) for `periodId` once, and records the posting. */
export async function postPeriodRewards(env: Env, db: Db, periodId: string, entries: readonly RewardEntry[], now: number): Promise<RewardPostingRow> {
  const recorded = await getRewardsPosting(db, periodId);
  if (recorded) return recorded;
  const chain = edgeChain(env);
  if (!chain) throw new ChainConfigError("CHAIN_RPC_URL is not set: rewards cannot be posted.");
  const chainPeriod = chainPeriodOf(periodId, configOf(env).finance.periodMinutes);
  const tree = buildRewardsTree(entries);
  const receipt = await postRewardsPeriod(
    protocolSigner(env, chain.config),
    { icnt: chain.config.contracts.icnt, distributor: chain.config.contracts.rewardsDistributor, periodId: chainPeriod, tree },
    { idempotencyKey: `settlement:${periodId}:rewards` },
  );
  const posting: RewardPostingRow = { periodId, chainPeriod: chainPeriod.toString(), root: tree.root, total: tree.total.toString(), txHash: receipt.transactionHash, postedAt: now };
  await recordRewardsPosting(
    db,
    posting,
    entries.map((e) => ({ address: e.account, amount: e.amount, proof: tree.proofFor(e.account as Address).proof as Hex[] })),
  );
  return (await getRewardsPosting(db, periodId)) ?? posting;
}
