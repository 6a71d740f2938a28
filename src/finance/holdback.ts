// What a storage node's share of a period becomes: held back while the node is new, returned in part later,
// forfeited on disqualification, and put into its stake while the stake is below its collateral requirement.
//
// Held-back earnings follow Storj's storage-node schedule (storj/storj satellite/compensation,
// DefaultWithheldPercents = 75,75,75,50,50,50,25,25,25 by month of age): 75% of earnings are held in months 1-3 of a node's life,
// 50% in months 4-6, 25% in months 7-9, none from month 10; at month 15 half of everything held is returned (the
// rest waits for a graceful exit); a disqualified node forfeits what is held. ICN's collateral rule: while a
// node's bonded stake is below what its capacity requires (NodeStaking.minimumNodeStake), its rewards go into its
// stake instead of to its operator, until the requirement is met.
//
// Pure functions over bigint base units; the state they need (what was held and returned so far) is the node's
// held_back balance in the ledger, so settling a period again computes the same amounts.

import { BPS } from "./split.ts";

export interface HoldbackPolicy {
  /** Share held by age: a node in age month m holds the heldBps of the first step with m ≤ throughMonth; 0 after the last. */
  schedule: readonly { throughMonth: number; heldBps: bigint }[];
  /** From this age month on, releaseBps of everything ever held is returned (once: later periods return nothing more). */
  releaseMonth: number;
  releaseBps: bigint;
}

/** Storj's schedule: 75/50/25% in months 1-3/4-6/7-9, half returned at month 15. */
export const STORJ_HOLDBACK: HoldbackPolicy = {
  schedule: [
    { throughMonth: 3, heldBps: 7_500n },
    { throughMonth: 6, heldBps: 5_000n },
    { throughMonth: 9, heldBps: 2_500n },
  ],
  releaseMonth: 15,
  releaseBps: 5_000n,
};

/**
 * A node's age in months during the period starting at `periodStartMs`, counting the month it registered as
 * month 1. Months are UTC calendar months, or, with `periodMinutes` (FINANCE_PERIOD_MINUTES: tests and the local
 * network), windows of that many minutes from the Unix epoch, so a short local period ages a node one "month".
 * Throws RangeError for a period before the node registered.
 */
export function nodeAgeInMonths(registeredAtMs: number, periodStartMs: number, periodMinutes?: number): number {
  let age: number;
  if (periodMinutes === undefined) {
    const months = (ms: number) => {
      const d = new Date(ms);
      return d.getUTCFullYear() * 12 + d.getUTCMonth();
    };
    age = months(periodStartMs) - months(registeredAtMs) + 1;
  } else {
    if (!Number.isInteger(periodMinutes) || periodMinutes <= 0) throw new RangeError("periodMinutes is a positive integer");
    const windowMs = periodMinutes * 60_000;
    age = Math.floor(periodStartMs / windowMs) - Math.floor(registeredAtMs / windowMs) + 1;
  }
  if (!Number.isSafeInteger(age) || age < 1) throw new RangeError(`the period starting at ${periodStartMs} is before the node registered (${registeredAtMs})`);
  return age;
}

/** The basis points of this period's earnings held back for a node in age month `ageMonths`. */
export function heldBpsAt(policy: HoldbackPolicy, ageMonths: number): bigint {
  for (const step of policy.schedule) if (ageMonths <= step.throughMonth) return step.heldBps;
  return 0n;
}

export interface NodeEarnings {
  nodeId: string;
  /** The node's share of the period (src/finance/split.ts). */
  earned: bigint;
  /** nodeAgeInMonths for the period. */
  ageMonths: number;
  /** Disqualified for good: it forfeits this period's earnings and everything held. */
  disqualified: boolean;
  /** Everything ever held back for the node before this period: its held_back credits in the ledger. */
  heldTotal: bigint;
  /** Everything ever taken out of its held-back (released or forfeited): its held_back debits. */
  heldReturned: bigint;
  /** Its bonded stake, plus top-ups owed but not yet staked (its collateral_topups balance). */
  bonded: bigint;
  /** The stake its declared capacity requires (NodeStaking.minimumNodeStake). */
  collateralRequired: bigint;
}

/**
 * Where one node's earnings go in one period. Every amount ≥ 0, and
 * earned + heldTaken = paid + held + topUp + forfeited.
 */
export interface NodePayout {
  nodeId: string;
  earned: bigint;
  /** To the operator's payout address (this period's leaf). */
  paid: bigint;
  /** Newly held back (credited to held_back). */
  held: bigint;
  /** Returned from held-back to the node (part of paid and topUp). */
  released: bigint;
  /** Lost on disqualification, to the protocol: this period's earnings and the held balance. */
  forfeited: bigint;
  /** Owed into the node's stake. */
  topUp: bigint;
  /** Taken out of held_back this period: released, or the held balance forfeited. */
  heldTaken: bigint;
}

/** Applies the hold-back schedule, the month-15 release, forfeiture and the collateral rule to one node's period. */
export function settleNodeEarnings(policy: HoldbackPolicy, n: NodeEarnings): NodePayout {
  for (const [name, value] of [["earned", n.earned], ["heldTotal", n.heldTotal], ["heldReturned", n.heldReturned], ["bonded", n.bonded], ["collateralRequired", n.collateralRequired]] as const) {
    if (value < 0n) throw new RangeError(`${name} of node ${n.nodeId} is negative`);
  }
  const balance = n.heldTotal - n.heldReturned;
  if (balance < 0n) throw new RangeError(`node ${n.nodeId} had more returned from held-back than was ever held`);
  if (!Number.isSafeInteger(n.ageMonths) || n.ageMonths < 1) throw new RangeError(`node ${n.nodeId} has an age below month 1`);

  if (n.disqualified) {
    return { nodeId: n.nodeId, earned: n.earned, paid: 0n, held: 0n, released: 0n, forfeited: n.earned + balance, topUp: 0n, heldTaken: balance };
  }
  // Rounded down: the unit of rounding goes to the node, not to the hold.
  const held = (n.earned * heldBpsAt(policy, n.ageMonths)) / BPS;
  let released = 0n;
  if (n.ageMonths >= policy.releaseMonth) {
    const due = (n.heldTotal * policy.releaseBps) / BPS - n.heldReturned;
    if (due > 0n) released = due;
  }
  const available = n.earned - held + released;
  const shortfall = n.collateralRequired > n.bonded ? n.collateralRequired - n.bonded : 0n;
  const topUp = available < shortfall ? available : shortfall;
  return { nodeId: n.nodeId, earned: n.earned, paid: available - topUp, held, released, forfeited: 0n, topUp, heldTaken: released };
}
