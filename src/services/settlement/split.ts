// Step 4, split: the period's ICNT (what the buyback bought and what prepaying accounts' escrows paid) divided between the protocol, the validators (by
// assignments completed in agreement with the quorum) and the storage nodes (byte-hours held × audit score, plus
// bytes served), src/finance/split.ts; each node's share then held back while the node is new, released at month
// 15, forfeited on disqualification, or put into its stake while the stake is below its collateral requirement
// (src/finance/holdback.ts). Everything the split depends on (ledger balances, stakes, scores) is read once and the
// result recorded before any entry is posted, so a resumed split posts exactly what was decided.

import { edgeChain } from "../../chain/edge-chain.ts";
import { readNodeStake } from "../../chain/node-stake.ts";
import { configOf } from "../../config.ts";
import { postLedgerEntry } from "../../db/ledger.ts";
import { getNode } from "../../db/registry.ts";
import { readNodeReputation, validatorWorkForPeriod } from "../../db/reputation.ts";
import { completeSettlementStep, getSettlementStep, nodesWithHeldBalance, prepareSettlementStep, subledgerTotals } from "../../db/settlement.ts";
import { usageForPeriod } from "../../db/usage.ts";
import { nodeAgeInMonths, settleNodeEarnings, STORJ_HOLDBACK } from "../../finance/holdback.ts";
import { periodPayables, rewardsPoolEntry, rewardsSplitEntries, type NodeSettlement, type PeriodPayables } from "../../finance/settlement-entries.ts";
import { auditScoreToPpm, splitRewards, type NodeWork, type RewardSplit, type ValidatorWork } from "../../finance/split.ts";
import { scoreOf } from "../reputation.ts";
import { readBuybackRecord } from "./buyback.ts";
import { drawTotals, readDrawRecord } from "./draw.ts";
import { checkpoint, SettlementStepError, type PeriodContext, type RunContext, type StepOutcome } from "./context.ts";

/** Bigints as decimal strings, recursively: how the split's record is stored. */
type Stored<T> = T extends bigint ? string : T extends readonly (infer U)[] ? Stored<U>[] : T extends object ? { [K in keyof T]: Stored<T[K]> } : T;

export interface SplitRecord {
  /** Where the period's ICNT came from. */
  pool: { buyback: string; escrow: string; total: string };
  /** What each node did, as the split weighed it. */
  work: Stored<NodeWork>[];
  validators: Stored<ValidatorWork>[];
  split: Stored<RewardSplit>;
  nodes: Stored<NodeSettlement>[];
  payables: Stored<PeriodPayables>;
}

const toStored = <T>(value: T): Stored<T> => JSON.parse(JSON.stringify(value, (_, v) => (typeof v === "bigint" ? v.toString() : v))) as Stored<T>;

export function readSplitRecord(result: string | null | undefined): SplitRecord | undefined {
  return result ? (JSON.parse(result) as SplitRecord) : undefined;
}

/** The split's payables and node settlements as bigints again. */
export function splitOf(record: SplitRecord): { split: RewardSplit; nodes: NodeSettlement[]; payables: PeriodPayables } {
  const big = (s: string) => BigInt(s);
  const split: RewardSplit = {
    total: big(record.split.total),
    protocolShare: big(record.split.protocolShare),
    unearned: big(record.split.unearned),
    validators: record.split.validators.map((v) => ({ id: v.id, amount: big(v.amount) })),
    nodes: record.split.nodes.map((n) => ({ nodeId: n.nodeId, storage: big(n.storage), egress: big(n.egress), amount: big(n.amount) })),
  };
  const nodes: NodeSettlement[] = record.nodes.map((n) => ({
    nodeId: n.nodeId,
    payoutAddress: n.payoutAddress,
    earned: big(n.earned),
    paid: big(n.paid),
    held: big(n.held),
    released: big(n.released),
    forfeited: big(n.forfeited),
    topUp: big(n.topUp),
    heldTaken: big(n.heldTaken),
  }));
  const pay = (xs: { address: string; amount: string }[]) => xs.map((x) => ({ address: x.address, amount: big(x.amount) }));
  const payables: PeriodPayables = {
    operators: pay(record.payables.operators),
    validators: pay(record.payables.validators),
    leaves: record.payables.leaves.map((l) => ({ account: l.account as `0x${string}`, amount: big(l.amount) })),
    total: big(record.payables.total),
  };
  return { split, nodes, payables };
}

async function decideSplit(ctx: RunContext, period: PeriodContext): Promise<SplitRecord> {
  const buyback = readBuybackRecord((await getSettlementStep(ctx.db, period.id, "buyback"))?.result);
  const bought = BigInt(buyback?.swap?.icntOut ?? "0");
  const drawn = drawTotals(readDrawRecord((await getSettlementStep(ctx.db, period.id, "draw"))?.result)).icnt;
  const total = bought + drawn;

  const chain = edgeChain(ctx.env);
  if (!chain) throw new SettlementStepError(period.id, "split", "CHAIN_RPC_URL is not set: node stakes cannot be read.");
  const reputation = configOf(ctx.env).reputation;
  const usage = await usageForPeriod(ctx.db, period.id);
  const work: NodeWork[] = [];
  const settlements: NodeSettlement[] = [];
  const inputs: { nodeId: string; registeredAt: number; disqualified: boolean; payoutAddress: string; capacityBytes: number }[] = [];
  // The nodes that worked in the period, and those with earnings still held back (a disqualified node forfeits
  // them, a node at month 15 is paid its release, whether or not it held anything this period).
  const idle = { heldByteHours: 0n, bytesServed: 0n };
  const nodeIds = [...new Set([...usage.nodes.map((u) => u.nodeId), ...(await nodesWithHeldBalance(ctx.db))])].sort();
  for (const nodeId of nodeIds) {
    const u = usage.nodes.find((n) => n.nodeId === nodeId) ?? idle;
    const node = await getNode(ctx.db, nodeId);
    if (!node) continue; // a node that left the registry is paid nothing more
    const rep = await readNodeReputation(ctx.db, nodeId, reputation);
    work.push({ nodeId, byteHoursHeld: u.heldByteHours, auditScorePpm: rep ? auditScoreToPpm(scoreOf(rep.audit)) : 0n, egressBytes: u.bytesServed });
    inputs.push({ nodeId: node.id, registeredAt: node.registeredAt, disqualified: node.standing === "disqualified", payoutAddress: node.operatorAddress, capacityBytes: node.capacityBytes });
  }
  const counts = await validatorWorkForPeriod(ctx.db, period.id);
  const validators: ValidatorWork[] = counts.map((c) => ({ validator: c.validator, agreedAssignments: BigInt(c.agreed) }));
  const split = splitRewards(total, ctx.settlement.split, work, validators);

  for (const input of inputs) {
    const share = split.nodes.find((n) => n.nodeId === input.nodeId)!;
    const held = await subledgerTotals(ctx.db, "held_back", input.nodeId, "ICNT");
    const owed = await subledgerTotals(ctx.db, "collateral_topups", input.nodeId, "ICNT");
    const stake = await readNodeStake(chain.client, { stakingAddress: chain.config.contracts.nodeStaking, nodeId: input.nodeId, capacityBytes: BigInt(input.capacityBytes), operator: input.payoutAddress });
    const payout = settleNodeEarnings(STORJ_HOLDBACK, {
      nodeId: input.nodeId,
      earned: share.amount,
      ageMonths: nodeAgeInMonths(Math.min(input.registeredAt, period.start), period.start, ctx.periodMinutes),
      disqualified: input.disqualified,
      heldTotal: held.credits,
      heldReturned: held.debits,
      bonded: stake.bonded + (owed.credits - owed.debits),
      // NodeStaking can top up only a node someone staked for: one nobody did is paid instead (the stake gate
      // keeps such a node from holding data where a chain is configured).
      collateralRequired: stake.stakedBy === undefined ? 0n : stake.required,
    });
    settlements.push({ ...payout, payoutAddress: input.payoutAddress });
  }
  const payables = periodPayables(split, settlements);
  return {
    pool: { buyback: bought.toString(), escrow: drawn.toString(), total: total.toString() },
    work: toStored(work),
    validators: toStored(validators),
    split: toStored(split),
    nodes: toStored(settlements),
    payables: toStored(payables),
  };
}

export async function splitStep(ctx: RunContext, period: PeriodContext): Promise<StepOutcome> {
  let step = (await getSettlementStep(ctx.db, period.id, "split"))!;
  if (step.state !== "prepared") {
    step = await prepareSettlementStep(ctx.db, period.id, "split", JSON.stringify(await decideSplit(ctx, period)), ctx.now);
    checkpoint(ctx, "split.prepared");
  }
  const record = readSplitRecord(step.result)!;
  const { split, nodes } = splitOf(record);
  if (split.total > 0n) {
    const sources = [
      { account: "buyback" as const, amount: BigInt(record.pool.buyback) },
      { account: "prepaid_clearing" as const, amount: BigInt(record.pool.escrow) },
    ];
    await postLedgerEntry(ctx.db, rewardsPoolEntry({ periodId: period.id, occurredAt: ctx.now, sources }), ctx.now);
  }
  // Also with nothing bought: a release of held-back earnings (month 15) or a forfeiture is posted all the same.
  for (const entry of rewardsSplitEntries({ periodId: period.id, occurredAt: ctx.now, split, nodes })) await postLedgerEntry(ctx.db, entry, ctx.now);
  await completeSettlementStep(ctx.db, period.id, "split", step.result!, ctx.now);
  return { kind: "done" };
}
