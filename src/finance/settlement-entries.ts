// The ledger entries of settlement's buyback, split and funding steps. Pure: each function turns a step's result
// into entries the chore posts (src/db/ledger.ts), keyed `settlement:<period>:<step>[:<n>]` so a resumed step posts
// the same entries and changes nothing. Every entry balances in each of its currencies; value changes currency only
// in a recorded conversion or swap, each side posted in its own currency against a clearing account (fx_clearing,
// buyback). The flow of ICNT through one period:
//
//   buyback   icnt_treasury  ← buyback            (and USDC: buyback ← stablecoin_treasury)
//   pool      buyback (and ICNT drawn from escrows) → rewards_pool
//   split     rewards_pool → operator/validator payables, held_back, collateral_topups, protocol_share;
//             held_back → payables (a release) or → protocol_share (a forfeiture)
//   funding   payables discharged, icnt_treasury ← (the ICNT leaves for RewardsDistributor)
//   top-up    collateral_topups discharged, icnt_treasury ← (the ICNT leaves into NodeStaking)
//
// so after a period the pool is zero, the payables are zero, and what the distributor was funded with equals the
// sum of the Merkle leaves and the payables the split credited.

import type { AccountCode } from "./chart.ts";
import type { NodePayout } from "./holdback.ts";
import { MAX_LINES_PER_ENTRY, transfer, type LedgerEntry, type LedgerLine } from "./ledger.ts";
import type { RewardSplit } from "./split.ts";

const ADDRESS = /^0x[0-9a-f]{40}$/;

/** A payout address as the ledger and the Merkle leaves key it: lower case. */
export function payoutKey(address: string): string {
  const key = address.toLowerCase();
  if (!ADDRESS.test(key)) throw new RangeError(`"${address}" is not an address`);
  return key;
}

interface StepBase {
  periodId: string;
  /** When the step happened (ms, the edge's clock). */
  occurredAt: number;
}

/**
 * Fiat converted to stablecoin off-chain (locally: TestUSDC minted for it): USD leaves cash, USDC enters the
 * treasury, each side against fx_clearing.
 */
export function fiatConversionEntry(p: StepBase & { usdMinor: bigint; usdc: bigint; reference: string }): LedgerEntry {
  return {
    key: `settlement:${p.periodId}:conversion`,
    periodId: p.periodId,
    kind: "conversion",
    memo: `${p.usdMinor} USD cents converted to ${p.usdc} USDC base units (${p.reference})`,
    occurredAt: p.occurredAt,
    lines: [
      ...transfer({ debit: "fx_clearing", credit: "cash", currency: "USD", amount: p.usdMinor }),
      ...transfer({ debit: "stablecoin_treasury", credit: "fx_clearing", currency: "USDC", amount: p.usdc }),
    ],
  };
}

/** The swap: USDC out of the stablecoin treasury and ICNT into the ICNT treasury, each side through `buyback`. */
export function buybackEntry(p: StepBase & { stableIn: bigint; icntOut: bigint; txHash: string }): LedgerEntry {
  return {
    key: `settlement:${p.periodId}:buyback`,
    periodId: p.periodId,
    kind: "buyback",
    memo: `swap ${p.txHash}: ${p.stableIn} USDC base units for ${p.icntOut} ICNT base units`,
    occurredAt: p.occurredAt,
    lines: [
      ...transfer({ debit: "buyback", credit: "stablecoin_treasury", currency: "USDC", amount: p.stableIn }),
      ...transfer({ debit: "icnt_treasury", credit: "buyback", currency: "ICNT", amount: p.icntOut }),
    ],
  };
}

/** Fills the period's rewards pool from where its ICNT came from (the buyback; an escrow draw's account). */
export function rewardsPoolEntry(p: StepBase & { sources: readonly { account: AccountCode; amount: bigint }[] }): LedgerEntry {
  const total = p.sources.reduce((s, x) => s + x.amount, 0n);
  return {
    key: `settlement:${p.periodId}:pool`,
    periodId: p.periodId,
    kind: "rewards-pool",
    memo: `${total} ICNT base units to distribute`,
    occurredAt: p.occurredAt,
    lines: [
      ...p.sources.filter((s) => s.amount !== 0n).map((s): LedgerLine => ({ account: s.account, currency: "ICNT", side: "debit", amount: s.amount })),
      { account: "rewards_pool", currency: "ICNT", side: "credit", amount: total },
    ],
  };
}

/** One node's period (src/finance/holdback.ts) and where its operator is paid. */
export type NodeSettlement = NodePayout & { payoutAddress: string };

/** What the period owes each payout address, and the one Merkle leaf per address that funds it. */
export interface PeriodPayables {
  /** Per address (lower case, sorted): operator_payables credited by the split (paid, including releases). */
  operators: { address: string; amount: bigint }[];
  /** Per address (lower case, sorted): validator_payables credited by the split. */
  validators: { address: string; amount: bigint }[];
  /** One per address with something owed, operator and validator earnings merged: the RewardsDistributor leaves. */
  leaves: { account: `0x${string}`; amount: bigint }[];
  /** Σ leaves = Σ operators + Σ validators: what the distributor is funded with. */
  total: bigint;
}

export function periodPayables(split: RewardSplit, nodes: readonly NodeSettlement[]): PeriodPayables {
  const sumBy = (items: { address: string; amount: bigint }[]) => {
    const m = new Map<string, bigint>();
    for (const i of items) if (i.amount > 0n) m.set(payoutKey(i.address), (m.get(payoutKey(i.address)) ?? 0n) + i.amount);
    return [...m].sort(([a], [b]) => (a < b ? -1 : 1)).map(([address, amount]) => ({ address, amount }));
  };
  const operators = sumBy(nodes.map((n) => ({ address: n.payoutAddress, amount: n.paid })));
  const validators = sumBy(split.validators.map((v) => ({ address: v.id, amount: v.amount })));
  const leaves = sumBy([...operators, ...validators]).map((l) => ({ account: l.address as `0x${string}`, amount: l.amount }));
  return { operators, validators, leaves, total: leaves.reduce((s, l) => s + l.amount, 0n) };
}

/**
 * The split, as entries of at most MAX_LINES_PER_ENTRY lines (`settlement:<period>:split:<n>`, n from 1), each
 * debiting rewards_pool by what it credits. A node's lines stay in one entry. Throws RangeError when `nodes` does
 * not match the split (a node missing, or earning other than its share).
 */
export function rewardsSplitEntries(p: StepBase & { split: RewardSplit; nodes: readonly NodeSettlement[] }): LedgerEntry[] {
  const { split } = p;
  const shares = new Map(split.nodes.map((n) => [n.nodeId, n.amount]));
  if (p.nodes.length !== shares.size) throw new RangeError("every node of the split needs its settlement, once");
  for (const n of p.nodes) {
    if (shares.get(n.nodeId) !== n.earned) throw new RangeError(`node ${n.nodeId} earned ${n.earned}, not its share of the split`);
    shares.delete(n.nodeId);
  }

  const groups: LedgerLine[][] = [];
  const credit = (account: AccountCode, amount: bigint, subaccount?: string): LedgerLine[] =>
    amount > 0n ? [{ account, ...(subaccount === undefined ? {} : { subaccount }), currency: "ICNT", side: "credit", amount }] : [];
  groups.push(credit("protocol_share", split.protocolShare));
  for (const v of split.validators) groups.push(credit("validator_payables", v.amount, payoutKey(v.id)));
  for (const n of [...p.nodes].sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1))) {
    const lines = [
      ...credit("operator_payables", n.paid, payoutKey(n.payoutAddress)),
      ...credit("held_back", n.held, n.nodeId),
      ...credit("collateral_topups", n.topUp, n.nodeId),
      ...credit("protocol_share", n.forfeited),
    ];
    if (n.heldTaken > 0n) lines.push({ account: "held_back", subaccount: n.nodeId, currency: "ICNT", side: "debit", amount: n.heldTaken });
    groups.push(lines);
  }

  const chunks: LedgerLine[][] = [[]];
  for (const g of groups) {
    if (g.length === 0) continue;
    // One line of each chunk is kept for its rewards_pool debit.
    if (chunks.at(-1)!.length + g.length > MAX_LINES_PER_ENTRY - 1) chunks.push([]);
    chunks.at(-1)!.push(...g);
  }
  return chunks
    .filter((c) => c.length > 0)
    .map((chunk, i) => {
      const lines = mergeLines(chunk);
      const net = lines.reduce((s, l) => s + (l.side === "credit" ? l.amount : -l.amount), 0n);
      if (net < 0n) throw new RangeError("a split entry would take more out of held-back than it pays");
      if (net > 0n) lines.unshift({ account: "rewards_pool", currency: "ICNT", side: "debit", amount: net });
      return { key: `settlement:${p.periodId}:split:${i + 1}`, periodId: p.periodId, kind: "split", memo: `split of ${split.total} ICNT base units, part ${i + 1}`, occurredAt: p.occurredAt, lines };
    });
}

/**
 * Funding RewardsDistributor (one postPeriod transaction): each address's payables discharged, the ICNT out of the
 * treasury. Entries `settlement:<period>:fund:<n>`; their treasury credits sum to `payables.total`.
 */
export function rewardsFundingEntries(p: StepBase & { payables: PeriodPayables; txHash: string }): LedgerEntry[] {
  const debits: LedgerLine[] = [
    ...p.payables.operators.map((o): LedgerLine => ({ account: "operator_payables", subaccount: o.address, currency: "ICNT", side: "debit", amount: o.amount })),
    ...p.payables.validators.map((v): LedgerLine => ({ account: "validator_payables", subaccount: v.address, currency: "ICNT", side: "debit", amount: v.amount })),
  ];
  const entries: LedgerEntry[] = [];
  for (let i = 0; i < debits.length; i += MAX_LINES_PER_ENTRY - 1) {
    const chunk = debits.slice(i, i + MAX_LINES_PER_ENTRY - 1);
    const n = entries.length + 1;
    entries.push({
      key: `settlement:${p.periodId}:fund:${n}`,
      periodId: p.periodId,
      kind: "funding",
      memo: `RewardsDistributor funded with ${p.payables.total} ICNT base units in ${p.txHash}, part ${n}`,
      occurredAt: p.occurredAt,
      lines: [...chunk, { account: "icnt_treasury", currency: "ICNT", side: "credit", amount: chunk.reduce((s, l) => s + l.amount, 0n) }],
    });
  }
  return entries;
}

/** A node's owed top-up staked for it on chain: collateral_topups discharged, the ICNT out of the treasury. */
export function collateralTopUpEntry(p: StepBase & { nodeId: string; amount: bigint; txHash: string }): LedgerEntry {
  return {
    key: `settlement:${p.periodId}:topup:${p.nodeId}`,
    periodId: p.periodId,
    kind: "collateral-topup",
    memo: `stake top-up of ${p.nodeId} in ${p.txHash}`,
    occurredAt: p.occurredAt,
    lines: transfer({ debit: { account: "collateral_topups", subaccount: p.nodeId }, credit: "icnt_treasury", currency: "ICNT", amount: p.amount }),
  };
}

/** Lines on the same side of the same (account, subaccount), summed, in order of first appearance. */
function mergeLines(lines: readonly LedgerLine[]): LedgerLine[] {
  const merged = new Map<string, LedgerLine>();
  for (const l of lines) {
    const k = `${l.account}\u0000${l.subaccount ?? ""}\u0000${l.currency}\u0000${l.side}`;
    const prior = merged.get(k);
    merged.set(k, prior ? { ...prior, amount: prior.amount + l.amount } : { ...l });
  }
  return [...merged.values()];
}
