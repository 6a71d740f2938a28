// Step 5, post: the period's Merkle root (one leaf per payout address, operator and validator earnings merged) is
// posted to RewardsDistributor and funded with exactly the leaves' sum (src/services/rewards-posting.ts, under
// `settlement:<period>:rewards`), the payables it discharges leave the ledger, and each under-collateralized node's
// owed top-up is staked for it (`settlement:<period>:topup:<node>`). ServiceEscrow is told the period is settled
// (withdrawals requested in it become payable), and then the period is settled.

import { topUpNodeStake } from "../../chain/collateral-topup.ts";
import { edgeChain } from "../../chain/edge-chain.ts";
import { postLedgerEntry } from "../../db/ledger.ts";
import { getRewardsPosting } from "../../db/rewards.ts";
import { getSettlementStep, recordPeriodSettled } from "../../db/settlement.ts";
import { collateralTopUpEntry, rewardsFundingEntries } from "../../finance/settlement-entries.ts";
import { protocolSigner } from "../protocol-signer.ts";
import { markPeriodSettled } from "../escrow-draws.ts";
import { chainPeriodOf, postPeriodRewards } from "../rewards-posting.ts";
import { checkpoint, SettlementStepError, type PeriodContext, type RunContext, type StepOutcome } from "./context.ts";
import { readSplitRecord, splitOf } from "./split.ts";

export interface PostRecord {
  rewardsRoot: string | null;
  rewardsTxHash: string | null;
  funded: string;
  topUps: { nodeId: string; amount: string; txHash: string }[];
  /** ServiceEscrow.markSettled for the period (null when it sent nothing: the escrow counted it settled already). */
  escrowSettledTxHash: string | null;
}

export function readPostRecord(result: string | null | undefined): PostRecord | undefined {
  return result ? (JSON.parse(result) as PostRecord) : undefined;
}

export async function postStep(ctx: RunContext, period: PeriodContext): Promise<StepOutcome> {
  const split = readSplitRecord((await getSettlementStep(ctx.db, period.id, "split"))?.result);
  if (!split) throw new SettlementStepError(period.id, "post", "the split is not recorded");
  const { nodes, payables } = splitOf(split);
  const chain = edgeChain(ctx.env);
  if (!chain) throw new SettlementStepError(period.id, "post", "CHAIN_RPC_URL is not set: rewards cannot be posted.");

  const record: PostRecord = { rewardsRoot: null, rewardsTxHash: null, funded: "0", topUps: [], escrowSettledTxHash: null };
  if (payables.leaves.length > 0) {
    const posting = (await getRewardsPosting(ctx.db, period.id)) ?? (await postPeriodRewards(ctx.env, ctx.db, period.id, payables.leaves, ctx.now));
    checkpoint(ctx, "post.rewards");
    if (BigInt(posting.total) !== payables.total) {
      throw new SettlementStepError(period.id, "post", `RewardsDistributor was funded with ${posting.total}, not the leaves' ${payables.total}`);
    }
    for (const entry of rewardsFundingEntries({ periodId: period.id, occurredAt: ctx.now, payables, txHash: posting.txHash })) await postLedgerEntry(ctx.db, entry, ctx.now);
    Object.assign(record, { rewardsRoot: posting.root, rewardsTxHash: posting.txHash, funded: posting.total });
  }

  const signer = nodes.some((n) => n.topUp > 0n) ? protocolSigner(ctx.env, chain.config) : undefined;
  for (const node of nodes) {
    if (node.topUp === 0n) continue;
    const { txHash } = await topUpNodeStake(
      signer!,
      { icnt: chain.config.contracts.icnt, stakingAddress: chain.config.contracts.nodeStaking, nodeId: node.nodeId, amount: node.topUp },
      { idempotencyKey: `settlement:${period.id}:topup:${node.nodeId}` },
    );
    await postLedgerEntry(ctx.db, collateralTopUpEntry({ periodId: period.id, occurredAt: ctx.now, nodeId: node.nodeId, amount: node.topUp, txHash }), ctx.now);
    record.topUps.push({ nodeId: node.nodeId, amount: node.topUp.toString(), txHash });
  }
  record.escrowSettledTxHash = (await markPeriodSettled(ctx.env, { periodId: period.id, chainPeriod: chainPeriodOf(period.id, ctx.periodMinutes) })).txHash;
  await recordPeriodSettled(ctx.db, { periodId: period.id, step: "post", result: JSON.stringify(record), now: ctx.now });
  return { kind: "done" };
}
