// The split of a period's ICNT (src/finance/split.ts): parts sum exactly to the whole, none is negative, a node or
// validator that did nothing gets nothing, the leftover units go by largest remainder with ties to the smaller id,
// and the result does not depend on the order of the input. Properties with fast-check, known values by hand.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { allocateByWeight, auditScoreToPpm, BPS, PPM, splitRewards, type NodeWork, type SplitPolicy, type ValidatorWork } from "../../src/finance/split.ts";
import { PROPERTY_SEED } from "./property-support.ts";

const ICNT = 10n ** 18n;
const POLICY: SplitPolicy = { protocolShareBps: 1_000n, validatorShareBps: 1_500n, storageWeight: 3n, egressWeight: 1n };
const RUNS = { seed: PROPERTY_SEED, numRuns: 300 };

const amount = fc.bigInt({ min: 0n, max: 10n ** 30n });
const weights = fc.uniqueArray(fc.record({ id: fc.string({ minLength: 1, maxLength: 6 }), weight: fc.bigInt({ min: 0n, max: 10n ** 24n }) }), {
  selector: (w) => w.id,
  minLength: 1,
  maxLength: 25,
});
const hex = fc.string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength: 1, maxLength: 4 });
const nodes = fc.uniqueArray(
  fc.record({
    nodeId: hex.map((h) => `node_${h}`),
    byteHoursHeld: fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: 10n ** 20n })),
    auditScorePpm: fc.oneof(fc.constant(0n), fc.constant(PPM), fc.bigInt({ min: 0n, max: PPM })),
    egressBytes: fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: 10n ** 15n })),
  }),
  { selector: (n) => n.nodeId, maxLength: 20 },
);
const validators = fc.uniqueArray(
  fc.record({ validator: hex.map((h) => `0x${h}`), agreedAssignments: fc.bigInt({ min: 0n, max: 10_000n }) }),
  { selector: (v) => v.validator, maxLength: 10 },
);
const policy = fc
  .record({ protocolShareBps: fc.bigInt({ min: 0n, max: BPS }), validatorShareBps: fc.bigInt({ min: 0n, max: BPS }), storageWeight: fc.bigInt({ min: 0n, max: 10n }), egressWeight: fc.bigInt({ min: 1n, max: 10n }) })
  .filter((p) => p.protocolShareBps + p.validatorShareBps <= BPS);

const shuffled = <T>(items: readonly T[], seed: number): T[] => {
  const out = [...items];
  for (let i = out.length - 1, s = seed; i > 0; i--) {
    s = (s * 1103515245 + 12345) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
};

describe("largest-remainder allocation", () => {
  it("sums exactly to the total, gives nothing negative and nothing to a zero weight, and stays within one unit of the exact share", () => {
    fc.assert(
      fc.property(amount, weights, (total, ws) => {
        fc.pre(ws.some((w) => w.weight > 0n));
        const parts = allocateByWeight(total, ws);
        const sum = ws.reduce((s, w) => s + w.weight, 0n);
        expect(parts.reduce((s, p) => s + p.amount, 0n)).toBe(total);
        for (const p of parts) {
          const w = ws.find((x) => x.id === p.id)!.weight;
          expect(p.amount >= 0n).toBe(true);
          if (w === 0n) expect(p.amount).toBe(0n);
          const floor = (total * w) / sum;
          expect(p.amount === floor || p.amount === floor + 1n).toBe(true);
        }
      }),
      RUNS,
    );
  });

  it("is deterministic: the same allocation, sorted by id, whatever the order of the input", () => {
    fc.assert(
      fc.property(amount, weights, fc.nat(), (total, ws, seed) => {
        fc.pre(ws.some((w) => w.weight > 0n));
        const parts = allocateByWeight(total, ws);
        expect(allocateByWeight(total, shuffled(ws, seed))).toEqual(parts);
        expect(parts.map((p) => p.id)).toEqual([...ws.map((w) => w.id)].sort());
      }),
      RUNS,
    );
  });

  it("gives the leftover units to the largest remainders, ties to the smaller id", () => {
    // 10 in thirds: 3.33 each, one unit left, all remainders equal: it goes to "a".
    expect(allocateByWeight(10n, [{ id: "c", weight: 1n }, { id: "a", weight: 1n }, { id: "b", weight: 1n }])).toEqual([
      { id: "a", amount: 4n },
      { id: "b", amount: 3n },
      { id: "c", amount: 3n },
    ]);
    // 100 by 1:2:4 = 14.29, 28.57, 57.14: floors sum to 99, the unit left goes to b (.57), not a (.29) or c (.14).
    expect(allocateByWeight(100n, [{ id: "a", weight: 1n }, { id: "b", weight: 2n }, { id: "c", weight: 4n }])).toEqual([
      { id: "a", amount: 14n },
      { id: "b", amount: 29n },
      { id: "c", amount: 57n },
    ]);
    // 11 by 1:1:1:1:3 = 1.57 (four times) and 4.71: floors sum to 8; of the three units left, e (.71) takes one,
    // and the four tied .57s give the other two to the smaller ids, a and b.
    expect(allocateByWeight(11n, [{ id: "e", weight: 3n }, { id: "d", weight: 1n }, { id: "c", weight: 1n }, { id: "b", weight: 1n }, { id: "a", weight: 1n }]).map((p) => p.amount)).toEqual([2n, 2n, 1n, 1n, 5n]);
  });

  it("refuses a negative weight, a duplicate id, and weights that sum to zero", () => {
    expect(() => allocateByWeight(5n, [{ id: "a", weight: -1n }, { id: "b", weight: 2n }])).toThrow(RangeError);
    expect(() => allocateByWeight(5n, [{ id: "a", weight: 1n }, { id: "a", weight: 2n }])).toThrow(RangeError);
    expect(() => allocateByWeight(5n, [{ id: "a", weight: 0n }])).toThrow(RangeError);
    expect(() => allocateByWeight(-5n, [{ id: "a", weight: 1n }])).toThrow(RangeError);
  });
});

describe("the period's split", () => {
  it("pays the protocol, the validators and the nodes exactly the total, never negative, for any work and policy", () => {
    fc.assert(
      fc.property(amount, policy, nodes, validators, (total, p, ns, vs) => {
        const split = splitRewards(total, p, ns, vs);
        const paid = split.protocolShare + split.validators.reduce((s, v) => s + v.amount, 0n) + split.nodes.reduce((s, n) => s + n.amount, 0n);
        expect(paid).toBe(total);
        expect(split.protocolShare >= 0n && split.unearned >= 0n && split.unearned <= split.protocolShare).toBe(true);
        for (const n of split.nodes) {
          expect(n.storage >= 0n && n.egress >= 0n && n.amount === n.storage + n.egress).toBe(true);
          const work = ns.find((w) => w.nodeId === n.nodeId)!;
          if (work.byteHoursHeld * work.auditScorePpm === 0n) expect(n.storage).toBe(0n);
          if (work.egressBytes === 0n) expect(n.egress).toBe(0n);
        }
        for (const v of split.validators) {
          expect(v.amount >= 0n).toBe(true);
          if (vs.find((w) => w.validator === v.id)!.agreedAssignments === 0n) expect(v.amount).toBe(0n);
        }
      }),
      RUNS,
    );
  });

  it("does not depend on the order nodes and validators are listed in", () => {
    fc.assert(
      fc.property(amount, policy, nodes, validators, fc.nat(), (total, p, ns, vs, seed) => {
        expect(splitRewards(total, p, shuffled(ns, seed), shuffled(vs, seed + 1))).toEqual(splitRewards(total, p, ns, vs));
      }),
      RUNS,
    );
  });

  it("splits 1000 ICNT by hand: 10% protocol, 15% validators by agreed assignments, 75% nodes by score-weighted byte-hours (3 parts) and egress (1 part)", () => {
    const ns: NodeWork[] = [
      { nodeId: "node_a", byteHoursHeld: 3_000n, auditScorePpm: PPM, egressBytes: 0n },
      { nodeId: "node_b", byteHoursHeld: 2_000n, auditScorePpm: PPM / 2n, egressBytes: 500n },
      { nodeId: "node_c", byteHoursHeld: 0n, auditScorePpm: PPM, egressBytes: 1_500n },
    ];
    const vs: ValidatorWork[] = [
      { validator: "0xBBBB", agreedAssignments: 2n },
      { validator: "0xaaaa", agreedAssignments: 1n },
    ];
    const split = splitRewards(1_000n * ICNT, POLICY, ns, vs);
    expect(split.protocolShare).toBe(100n * ICNT);
    expect(split.unearned).toBe(0n);
    expect(split.validators).toEqual([
      { id: "0xaaaa", amount: 50n * ICNT },
      { id: "0xbbbb", amount: 100n * ICNT },
    ]);
    // Operators 750: storage 562.5 by 3000·1 : 2000·0.5 = 3:1, egress 187.5 by 500:1500 = 1:3.
    expect(split.nodes).toEqual([
      { nodeId: "node_a", storage: 421_875n * 10n ** 15n, egress: 0n, amount: 421_875n * 10n ** 15n },
      { nodeId: "node_b", storage: 140_625n * 10n ** 15n, egress: 46_875n * 10n ** 15n, amount: 187_500n * 10n ** 15n },
      { nodeId: "node_c", storage: 0n, egress: 140_625n * 10n ** 15n, amount: 140_625n * 10n ** 15n },
    ]);
  });

  it("gives a pool nobody earned to the protocol, and the operators' pool wholly to storage when nobody served data", () => {
    const ns: NodeWork[] = [{ nodeId: "node_a", byteHoursHeld: 10n, auditScorePpm: PPM, egressBytes: 0n }];
    const split = splitRewards(1_000n, POLICY, ns, [{ validator: "0xaa", agreedAssignments: 0n }]);
    expect(split.validators).toEqual([{ id: "0xaa", amount: 0n }]);
    expect(split.nodes[0]!.amount).toBe(750n);
    expect(split.protocolShare).toBe(250n);
    expect(split.unearned).toBe(150n);
    expect(splitRewards(1_000n, POLICY, [], [])).toMatchObject({ protocolShare: 1_000n, unearned: 900n });
  });

  it("treats the same validator address in two cases as one and refuses it twice", () => {
    expect(() => splitRewards(100n, POLICY, [], [
      { validator: "0xAB", agreedAssignments: 1n },
      { validator: "0xab", agreedAssignments: 1n },
    ])).toThrow(RangeError);
  });

  it("refuses shares above the whole, scores outside 0..1 and negative work", () => {
    expect(() => splitRewards(1n, { ...POLICY, protocolShareBps: 6_000n, validatorShareBps: 5_000n }, [], [])).toThrow(RangeError);
    expect(() => splitRewards(1n, { ...POLICY, storageWeight: 0n, egressWeight: 0n }, [], [])).toThrow(RangeError);
    expect(() => splitRewards(1n, POLICY, [{ nodeId: "n", byteHoursHeld: 1n, auditScorePpm: PPM + 1n, egressBytes: 0n }], [])).toThrow(RangeError);
    expect(() => splitRewards(1n, POLICY, [{ nodeId: "n", byteHoursHeld: -1n, auditScorePpm: PPM, egressBytes: 0n }], [])).toThrow(RangeError);
  });

  it("reads reputation's score as parts per million, rounded down and clamped", () => {
    expect(auditScoreToPpm(1)).toBe(PPM);
    expect(auditScoreToPpm(0.95)).toBe(950_000n);
    expect(auditScoreToPpm(0.9999999)).toBe(999_999n);
    expect(auditScoreToPpm(-0.1)).toBe(0n);
    expect(auditScoreToPpm(Number.NaN)).toBe(0n);
  });
});
