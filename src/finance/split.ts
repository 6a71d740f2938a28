// Step 3 of settlement: the period's ICNT split between the protocol, the validators and the storage nodes.
// Everything is bigint base units, and every division goes through one rule, the largest-remainder (Hamilton)
// method: each part gets the floor of its exact share, and the few base units left over go one each to the parts
// with the largest fractional remainders, ties to the smaller id. The parts therefore sum exactly to the whole,
// none is negative, a zero weight gets nothing, and the result does not depend on the order of the input.

export const BPS = 10_000n;
/** Audit scores enter the split as integer parts per million: 1_000_000n is a perfect score. */
export const PPM = 1_000_000n;

export interface Weighted {
  id: string;
  weight: bigint;
}

export interface Allocation {
  id: string;
  amount: bigint;
}

const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * Divides `total` in proportion to the weights (largest remainder, ties to the smaller id). Returns one allocation
 * per input, sorted by id. Throws RangeError on a negative total or weight, a duplicate id, or weights summing to 0
 * (there is no one to give the total to: the caller decides where it goes).
 */
export function allocateByWeight(total: bigint, weights: readonly Weighted[]): Allocation[] {
  if (total < 0n) throw new RangeError(`cannot allocate a negative total (${total})`);
  const sorted = [...weights].sort(byId);
  let sum = 0n;
  sorted.forEach((w, i) => {
    if (w.weight < 0n) throw new RangeError(`the weight of ${w.id} is negative`);
    if (i > 0 && sorted[i - 1]!.id === w.id) throw new RangeError(`${w.id} appears twice`);
    sum += w.weight;
  });
  if (sum === 0n) throw new RangeError("the weights sum to zero");
  const parts = sorted.map((w) => ({ id: w.id, amount: (total * w.weight) / sum, remainder: (total * w.weight) % sum }));
  let left = total - parts.reduce((s, p) => s + p.amount, 0n);
  // left < the number of parts with a nonzero remainder, so only those get a unit (never a zero weight).
  const byRemainder = [...parts].sort((a, b) => (a.remainder > b.remainder ? -1 : a.remainder < b.remainder ? 1 : byId(a, b)));
  for (const p of byRemainder) {
    if (left === 0n) break;
    p.amount += 1n;
    left -= 1n;
  }
  return parts.map(({ id, amount }) => ({ id, amount }));
}

export interface SplitPolicy {
  /** The protocol treasury's share of the whole, in basis points. */
  protocolShareBps: bigint;
  /** The validators' pool, in basis points of the whole; the operators' pool is what is left. */
  validatorShareBps: bigint;
  /** Within the operators' pool, the relative weights of its storage part and its egress part (e.g. 3n and 1n). */
  storageWeight: bigint;
  egressWeight: bigint;
}

/** What one storage node did in the period. */
export interface NodeWork {
  nodeId: string;
  /** Byte-hours the node really held (what it stores, not what clients see). */
  byteHoursHeld: bigint;
  /** Its audit score, 0..PPM (see auditScoreToPpm). */
  auditScorePpm: bigint;
  /** Bytes it served. */
  egressBytes: bigint;
}

/** What one validator did in the period. */
export interface ValidatorWork {
  /** The validator's payout address (compared and returned in lower case). */
  validator: string;
  /** Assignments it completed with a verdict that agreed with the quorum's. */
  agreedAssignments: bigint;
}

export interface NodeShare {
  nodeId: string;
  /** From the storage part: byte-hours held × audit score. */
  storage: bigint;
  /** From the egress part: bytes served. */
  egress: bigint;
  /** storage + egress. */
  amount: bigint;
}

export interface RewardSplit {
  total: bigint;
  /** The protocol's share plus every pool nobody earned (below). */
  protocolShare: bigint;
  /** Of protocolShare: pools with no one to receive them (no validator agreed, no node held or served data). */
  unearned: bigint;
  /** One per validator (lower-case address), zero or not, sorted by address. */
  validators: Allocation[];
  /** One per node, sorted by node id. */
  nodes: NodeShare[];
}

/** The score reputation keeps (a float in [0, 1]) as integer parts per million, rounded down. */
export function auditScoreToPpm(score: number): bigint {
  if (!Number.isFinite(score) || score <= 0) return 0n;
  if (score >= 1) return PPM;
  return BigInt(Math.floor(score * 1_000_000));
}

function checkPolicy(policy: SplitPolicy): void {
  const { protocolShareBps: p, validatorShareBps: v, storageWeight: s, egressWeight: e } = policy;
  if (p < 0n || v < 0n || p + v > BPS) throw new RangeError("the protocol and validator shares are basis points summing to at most 10000");
  if (s < 0n || e < 0n || s + e === 0n) throw new RangeError("the storage and egress weights are non-negative and not both zero");
}

/**
 * Splits `total` ICNT base units. Pools: protocol, validators and operators by their basis points (largest
 * remainder across the three). The operators' pool divides into a storage part and an egress part by the policy's
 * weights; the storage part goes by byte-hours held × audit score, the egress part by bytes served, each among the
 * nodes. A part nobody earned goes to the other part of the operators' pool; a pool nobody earned goes to the
 * protocol (`unearned`). Invariant: protocolShare + Σ validators + Σ nodes = total.
 */
export function splitRewards(total: bigint, policy: SplitPolicy, nodes: readonly NodeWork[], validators: readonly ValidatorWork[]): RewardSplit {
  checkPolicy(policy);
  if (total < 0n) throw new RangeError("the total to split is negative");
  for (const n of nodes) {
    if (n.byteHoursHeld < 0n || n.egressBytes < 0n) throw new RangeError(`node ${n.nodeId} has negative work`);
    if (n.auditScorePpm < 0n || n.auditScorePpm > PPM) throw new RangeError(`node ${n.nodeId} has an audit score outside 0..${PPM}`);
  }
  const pools = allocateByWeight(total, [
    { id: "operators", weight: BPS - policy.protocolShareBps - policy.validatorShareBps },
    { id: "protocol", weight: policy.protocolShareBps },
    { id: "validators", weight: policy.validatorShareBps },
  ]);
  const pool = (id: string) => pools.find((p) => p.id === id)!.amount;
  let unearned = 0n;

  const validatorWeights = validators.map((v) => ({ id: v.validator.toLowerCase(), weight: v.agreedAssignments }));
  let validatorShares: Allocation[];
  if (sumOf(validatorWeights) === 0n) {
    unearned += pool("validators");
    validatorShares = allocateZero(validatorWeights);
  } else {
    validatorShares = allocateByWeight(pool("validators"), validatorWeights);
  }

  const storageWeights = nodes.map((n) => ({ id: n.nodeId, weight: n.byteHoursHeld * n.auditScorePpm }));
  const egressWeights = nodes.map((n) => ({ id: n.nodeId, weight: n.egressBytes }));
  const storageEarned = sumOf(storageWeights) > 0n;
  const egressEarned = sumOf(egressWeights) > 0n;
  let storagePart = 0n;
  let egressPart = 0n;
  if (storageEarned && egressEarned) {
    const parts = allocateByWeight(pool("operators"), [
      { id: "egress", weight: policy.egressWeight },
      { id: "storage", weight: policy.storageWeight },
    ]);
    egressPart = parts[0]!.amount;
    storagePart = parts[1]!.amount;
  } else if (storageEarned) storagePart = pool("operators");
  else if (egressEarned) egressPart = pool("operators");
  else unearned += pool("operators");

  const storage = storageEarned ? allocateByWeight(storagePart, storageWeights) : allocateZero(storageWeights);
  const egress = egressEarned ? allocateByWeight(egressPart, egressWeights) : allocateZero(egressWeights);
  const nodeShares = storage.map((s, i) => {
    const e = egress[i]!;
    return { nodeId: s.id, storage: s.amount, egress: e.amount, amount: s.amount + e.amount };
  });

  return { total, protocolShare: pool("protocol") + unearned, unearned, validators: validatorShares, nodes: nodeShares };
}

function sumOf(weights: readonly Weighted[]): bigint {
  return weights.reduce((s, w) => s + w.weight, 0n);
}

/** Zero for everyone, after the same checks allocateByWeight makes (duplicates, negative weights). */
function allocateZero(weights: readonly Weighted[]): Allocation[] {
  const sorted = [...weights].sort(byId);
  sorted.forEach((w, i) => {
    if (w.weight < 0n) throw new RangeError(`the weight of ${w.id} is negative`);
    if (i > 0 && sorted[i - 1]!.id === w.id) throw new RangeError(`${w.id} appears twice`);
  });
  return sorted.map((w) => ({ id: w.id, amount: 0n }));
}
