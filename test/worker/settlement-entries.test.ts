// The ledger entries of settlement's buyback, split and funding (src/finance/settlement-entries.ts): each balances
// in every currency, a period's entries posted to D1 leave a zero trial balance with the rewards pool and the
// payables empty, and the distributor is funded with exactly the sum of the Merkle leaves, which is exactly what the
// split owed. Known values by hand, then properties over any split.

import { env } from "cloudflare:test";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { buildRewardsTree } from "../../src/chain/rewards.ts";
import { openDb } from "../../src/db/client.ts";
import { postLedgerEntry, trialBalance } from "../../src/db/ledger.ts";
import { buybackStablecoin } from "../../src/finance/buyback-guard.ts";
import { settleNodeEarnings, STORJ_HOLDBACK } from "../../src/finance/holdback.ts";
import { MAX_LINES_PER_ENTRY, validateEntry, type LedgerEntry } from "../../src/finance/ledger.ts";
import {
  buybackEntry,
  collateralTopUpEntry,
  fiatConversionEntry,
  periodPayables,
  rewardsFundingEntries,
  rewardsPoolEntry,
  rewardsSplitEntries,
  type NodeSettlement,
} from "../../src/finance/settlement-entries.ts";
import { PPM, splitRewards, type NodeWork, type SplitPolicy } from "../../src/finance/split.ts";
import { PROPERTY_SEED } from "./property-support.ts";

const ICNT = 10n ** 18n;
const NOW = Date.parse("2026-12-01T12:00:00Z");
const POLICY: SplitPolicy = { protocolShareBps: 1_000n, validatorShareBps: 1_500n, storageWeight: 3n, egressWeight: 1n };
const addr = (n: number) => `0x${n.toString(16).padStart(40, "0")}`;
const OPERATOR_A = addr(0xa);
const OPERATOR_B = addr(0xb);
const VALIDATOR = addr(0xc);

/** Balances (debits - credits) per account:subaccount:currency over entries, each validated first. */
function balances(entries: readonly LedgerEntry[]): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const e of entries) {
    validateEntry(e);
    for (const l of e.lines) {
      const k = `${l.account}:${l.subaccount ?? ""}:${l.currency}`;
      out.set(k, (out.get(k) ?? 0n) + (l.side === "debit" ? l.amount : -l.amount));
    }
  }
  return out;
}
const sumOf = (m: Map<string, bigint>, prefix: string) => [...m].filter(([k]) => k.startsWith(prefix)).reduce((s, [, v]) => s + v, 0n);

/**
 * A period: three nodes (two under operator A, one of them new; node 3 disqualified with earnings held from its
 * first months), one validator that is also operator B's address, and node 2 short of collateral.
 */
function period(periodId: string, icntOut: bigint) {
  const work: NodeWork[] = [
    { nodeId: "node_1", byteHoursHeld: 5_000n, auditScorePpm: PPM, egressBytes: 100n },
    { nodeId: "node_2", byteHoursHeld: 3_000n, auditScorePpm: 900_000n, egressBytes: 300n },
    { nodeId: "node_3", byteHoursHeld: 1_000n, auditScorePpm: 400_000n, egressBytes: 0n },
  ];
  const split = splitRewards(icntOut, POLICY, work, [{ validator: OPERATOR_B, agreedAssignments: 7n }, { validator: VALIDATOR, agreedAssignments: 5n }]);
  const earned = (id: string) => split.nodes.find((n) => n.nodeId === id)!.amount;
  const nodes: NodeSettlement[] = [
    { ...settleNodeEarnings(STORJ_HOLDBACK, { nodeId: "node_1", earned: earned("node_1"), ageMonths: 2, disqualified: false, heldTotal: 0n, heldReturned: 0n, bonded: 10n * ICNT, collateralRequired: 10n * ICNT }), payoutAddress: OPERATOR_A },
    { ...settleNodeEarnings(STORJ_HOLDBACK, { nodeId: "node_2", earned: earned("node_2"), ageMonths: 30, disqualified: false, heldTotal: 0n, heldReturned: 0n, bonded: 9n * ICNT, collateralRequired: 10n * ICNT }), payoutAddress: OPERATOR_A.toUpperCase().replace("0X", "0x") },
    { ...settleNodeEarnings(STORJ_HOLDBACK, { nodeId: "node_3", earned: earned("node_3"), ageMonths: 5, disqualified: true, heldTotal: 0n, heldReturned: 0n, bonded: 0n, collateralRequired: 0n }), payoutAddress: OPERATOR_B },
  ];
  const payables = periodPayables(split, nodes);
  const entries: LedgerEntry[] = [
    fiatConversionEntry({ periodId, occurredAt: NOW, usdMinor: 50_000n, usdc: 500_000_000n, reference: "test" }),
    buybackEntry({ periodId, occurredAt: NOW, stableIn: 500_000_000n, icntOut, txHash: "0xswap" }),
    rewardsPoolEntry({ periodId, occurredAt: NOW, sources: [{ account: "buyback", amount: icntOut }] }),
    ...rewardsSplitEntries({ periodId, occurredAt: NOW, split, nodes }),
    ...rewardsFundingEntries({ periodId, occurredAt: NOW, payables, txHash: "0xfund" }),
    collateralTopUpEntry({ periodId, occurredAt: NOW, nodeId: "node_2", amount: nodes[1]!.topUp, txHash: "0xstake" }),
  ];
  return { split, nodes, payables, entries };
}

describe("settlement entries, one by one", () => {
  it("records the buyback as two balanced sides through the buyback account: USDC out, ICNT in", () => {
    const e = buybackEntry({ periodId: "p", occurredAt: NOW, stableIn: 1_000_000_000n, icntOut: 3_980n * ICNT + 7n, txHash: "0xabc" });
    expect(e.key).toBe("settlement:p:buyback");
    expect(validateEntry(e)).toEqual([
      { currency: "USDC", debits: 1_000_000_000n, credits: 1_000_000_000n },
      { currency: "ICNT", debits: 3_980n * ICNT + 7n, credits: 3_980n * ICNT + 7n },
    ]);
    expect(e.memo).toContain("0xabc");
  });

  it("records the fiat converted for the buyback in USD and USDC, each balanced through fx_clearing", () => {
    const { usdMinor, usdc } = buybackStablecoin(123_457n, 4_000n);
    expect(usdMinor).toBe(49_382n); // 40% of $1234.57, rounded down to the cent
    expect(usdc).toBe(493_820_000n);
    expect(validateEntry(fiatConversionEntry({ periodId: "p", occurredAt: NOW, usdMinor, usdc, reference: "bank" }))).toEqual([
      { currency: "USD", debits: usdMinor, credits: usdMinor },
      { currency: "USDC", debits: usdc, credits: usdc },
    ]);
  });

  it("merges an operator's nodes and a validator's earnings at one address into one leaf", () => {
    const { payables, nodes, split } = period("p", 1_000n * ICNT);
    const n1 = nodes[0]!;
    const n2 = nodes[1]!;
    expect(payables.operators).toEqual([{ address: OPERATOR_A, amount: n1.paid + n2.paid }]);
    const validatorB = split.validators.find((v) => v.id === OPERATOR_B)!.amount;
    const validatorC = split.validators.find((v) => v.id === VALIDATOR)!.amount;
    expect(payables.leaves).toEqual([
      { account: OPERATOR_A, amount: n1.paid + n2.paid },
      { account: OPERATOR_B, amount: validatorB }, // node 3 was disqualified: nothing as an operator
      { account: VALIDATOR, amount: validatorC },
    ]);
    expect(buildRewardsTree(payables.leaves).total).toBe(payables.total);
  });

  it("refuses a split whose node settlements do not match its shares", () => {
    const { split, nodes } = period("p", 1_000n * ICNT);
    expect(() => rewardsSplitEntries({ periodId: "p", occurredAt: NOW, split, nodes: nodes.slice(1) })).toThrow(RangeError);
    expect(() => rewardsSplitEntries({ periodId: "p", occurredAt: NOW, split, nodes: [{ ...nodes[0]!, earned: nodes[0]!.earned + 1n, paid: nodes[0]!.paid + 1n }, ...nodes.slice(1)] })).toThrow(RangeError);
  });
});

describe("a settled period in the ledger", () => {
  it("leaves a zero trial balance in D1, the pool and the payables empty, and funds exactly the leaves", async () => {
    const periodId = "settle-entries";
    const icntOut = 1_987n * ICNT + 123_456_789n;
    const { split, nodes, payables, entries } = period(periodId, icntOut);
    const db = openDb(env.DB);
    for (const e of entries) expect(await postLedgerEntry(db, e, NOW)).toBe(true);
    // A resumed chore posts the same entries again: nothing changes.
    for (const e of entries) expect(await postLedgerEntry(db, e, NOW)).toBe(false);

    const tb = await trialBalance(db, periodId);
    expect(tb.balanced).toBe(true);
    for (const currency of ["USD", "USDC", "ICNT"]) expect(tb.accounts.filter((a) => a.currency === currency).reduce((s, a) => s + a.balance, 0n)).toBe(0n);
    const balance = (account: string, subaccount = "") => tb.accounts.find((a) => a.account === account && a.subaccount === subaccount && a.currency === "ICNT")?.balance ?? 0n;
    const credits = (account: string) => tb.accounts.filter((a) => a.account === account).reduce((s, a) => s + a.credits, 0n);

    expect(balance("rewards_pool")).toBe(0n);
    for (const a of tb.accounts.filter((x) => x.account.endsWith("_payables") || x.account === "collateral_topups")) expect(a.balance).toBe(0n);
    const leaves = payables.leaves.reduce((s, l) => s + l.amount, 0n);
    const funded = entries.filter((e) => e.kind === "funding").flatMap((e) => e.lines).filter((l) => l.account === "icnt_treasury").reduce((s, l) => s + l.amount, 0n);
    expect(funded).toBe(leaves);
    expect(credits("operator_payables") + credits("validator_payables")).toBe(leaves);
    // The treasury keeps what was bought less what left for the distributor and into node 2's stake.
    expect(balance("icnt_treasury")).toBe(icntOut - leaves - nodes[1]!.topUp);
    // Node 1 is in its second month: 75% held. Node 3 was disqualified: its share went to the protocol.
    expect(balance("held_back", "node_1")).toBe(-((nodes[0]!.earned * 3n) / 4n));
    expect(balance("protocol_share")).toBe(-(split.protocolShare + nodes[2]!.earned));
    expect(nodes[1]!.topUp).toBe(ICNT);
  });

  it("splits into entries of at most the line limit when there are many nodes, each balanced, together the whole", () => {
    const work: NodeWork[] = Array.from({ length: 700 }, (_, i) => ({ nodeId: `node_${String(i).padStart(4, "0")}`, byteHoursHeld: BigInt(1 + i), auditScorePpm: PPM, egressBytes: BigInt(i % 3) }));
    const total = 5_000n * ICNT + 3n;
    const split = splitRewards(total, POLICY, work, []);
    const nodes = split.nodes.map((s, i) => ({
      ...settleNodeEarnings(STORJ_HOLDBACK, { nodeId: s.nodeId, earned: s.amount, ageMonths: 1 + (i % 20), disqualified: i % 97 === 0, heldTotal: BigInt(i), heldReturned: 0n, bonded: 0n, collateralRequired: BigInt(i % 5) }),
      payoutAddress: addr(1 + (i % 40)),
    }));
    const entries = rewardsSplitEntries({ periodId: "many", occurredAt: NOW, split, nodes });
    expect(entries.length).toBeGreaterThan(1);
    expect(new Set(entries.map((e) => e.key)).size).toBe(entries.length);
    for (const e of entries) expect(e.lines.length).toBeLessThanOrEqual(MAX_LINES_PER_ENTRY);
    const b = balances([rewardsPoolEntry({ periodId: "many", occurredAt: NOW, sources: [{ account: "buyback", amount: total }] }), ...entries]);
    expect(b.get("rewards_pool::ICNT") ?? 0n).toBe(0n);
  });
});

describe("any split", () => {
  it("posts balanced entries that empty the pool and fund exactly what the split owed", () => {
    const nodeArb = fc.record({
      byteHoursHeld: fc.bigInt({ min: 0n, max: 10n ** 18n }),
      auditScorePpm: fc.bigInt({ min: 0n, max: PPM }),
      egressBytes: fc.bigInt({ min: 0n, max: 10n ** 12n }),
      ageMonths: fc.integer({ min: 1, max: 24 }),
      disqualified: fc.boolean(),
      heldTotal: fc.bigInt({ min: 0n, max: 10n ** 20n }),
      bonded: fc.bigInt({ min: 0n, max: 10n ** 20n }),
      collateralRequired: fc.bigInt({ min: 0n, max: 10n ** 20n }),
      operator: fc.integer({ min: 1, max: 5 }),
    });
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: 10n ** 26n }), fc.array(nodeArb, { maxLength: 12 }), fc.array(fc.bigInt({ min: 0n, max: 50n }), { maxLength: 4 }), (total, ns, vs) => {
        const work = ns.map((n, i) => ({ nodeId: `node_${i}`, byteHoursHeld: n.byteHoursHeld, auditScorePpm: n.auditScorePpm, egressBytes: n.egressBytes }));
        const split = splitRewards(total, POLICY, work, vs.map((agreedAssignments, i) => ({ validator: addr(100 + i), agreedAssignments })));
        const nodes = split.nodes.map((s) => {
          const n = ns[Number(s.nodeId.slice(5))]!;
          return { ...settleNodeEarnings(STORJ_HOLDBACK, { nodeId: s.nodeId, earned: s.amount, ageMonths: n.ageMonths, disqualified: n.disqualified, heldTotal: n.heldTotal, heldReturned: 0n, bonded: n.bonded, collateralRequired: n.collateralRequired }), payoutAddress: addr(n.operator) };
        });
        const payables = periodPayables(split, nodes);
        const entries = [
          rewardsPoolEntry({ periodId: "prop", occurredAt: NOW, sources: [{ account: "buyback", amount: total }] }),
          ...rewardsSplitEntries({ periodId: "prop", occurredAt: NOW, split, nodes }),
          ...rewardsFundingEntries({ periodId: "prop", occurredAt: NOW, payables, txHash: "0xf" }),
        ];
        const b = balances(entries); // validates every entry: each balances per currency
        expect(b.get("rewards_pool::ICNT") ?? 0n).toBe(0n);
        expect(sumOf(b, "operator_payables:") + sumOf(b, "validator_payables:")).toBe(0n);
        expect(-(b.get("icnt_treasury::ICNT") ?? 0n)).toBe(payables.total);
        expect(payables.leaves.reduce((s, l) => s + l.amount, 0n)).toBe(payables.total);
        const owed = nodes.reduce((s, n) => s + n.paid, 0n) + split.validators.reduce((s, v) => s + v.amount, 0n);
        expect(payables.total).toBe(owed);
        // Everything bought is somewhere: paid out, held, owed into stakes, or the protocol's.
        expect(-sumOf(b, "held_back:") - sumOf(b, "collateral_topups:") - sumOf(b, "protocol_share:") + payables.total).toBe(total);
      }),
      { seed: PROPERTY_SEED, numRuns: 150 },
    );
  });
});
