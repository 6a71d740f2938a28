// Held-back earnings and the collateral rule (src/finance/holdback.ts): Storj's 75/50/25% schedule by a node's age
// in months, half of everything held returned once at month 15, all of it forfeited on disqualification, and
// rewards redirected into the stake of a node below its collateral requirement. Every period's amounts add up:
// earned + taken from held-back = paid + held + top-up + forfeited.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { heldBpsAt, nodeAgeInMonths, settleNodeEarnings, STORJ_HOLDBACK, type NodeEarnings } from "../../src/finance/holdback.ts";
import { PROPERTY_SEED } from "./property-support.ts";

const base: NodeEarnings = { nodeId: "node_0000000000000001", earned: 1_000n, ageMonths: 1, disqualified: false, heldTotal: 0n, heldReturned: 0n, bonded: 0n, collateralRequired: 0n };
const settle = (n: Partial<NodeEarnings>) => settleNodeEarnings(STORJ_HOLDBACK, { ...base, ...n });

describe("a node's age", () => {
  it("counts calendar months from the month it registered, that month being month 1", () => {
    const registered = Date.parse("2026-01-15T10:00:00Z");
    expect(nodeAgeInMonths(registered, Date.parse("2026-01-01T00:00:00Z"))).toBe(1);
    expect(nodeAgeInMonths(registered, Date.parse("2026-03-01T00:00:00Z"))).toBe(3);
    expect(nodeAgeInMonths(registered, Date.parse("2026-04-01T00:00:00Z"))).toBe(4);
    expect(nodeAgeInMonths(registered, Date.parse("2027-03-01T00:00:00Z"))).toBe(15);
  });

  it("counts local periods as months when periods are minutes long", () => {
    const registered = Date.parse("2026-12-01T12:03:00Z");
    expect(nodeAgeInMonths(registered, Date.parse("2026-12-01T12:00:00Z"), 5)).toBe(1);
    expect(nodeAgeInMonths(registered, Date.parse("2026-12-01T12:10:00Z"), 5)).toBe(3);
    expect(nodeAgeInMonths(registered, Date.parse("2026-12-01T13:10:00Z"), 5)).toBe(15);
  });

  it("refuses a period before the node registered", () => {
    expect(() => nodeAgeInMonths(Date.parse("2026-05-02T00:00:00Z"), Date.parse("2026-04-01T00:00:00Z"))).toThrow(RangeError);
    expect(() => nodeAgeInMonths(Date.parse("2026-12-01T12:10:00Z"), Date.parse("2026-12-01T12:05:00Z"), 5)).toThrow(RangeError);
  });
});

describe("held-back earnings", () => {
  it("holds 75% in months 1-3, 50% in 4-6, 25% in 7-9 and nothing from month 10", () => {
    const held = [1, 3, 4, 6, 7, 9, 10, 14].map((ageMonths) => settle({ ageMonths }).held);
    expect(held).toEqual([750n, 750n, 500n, 500n, 250n, 250n, 0n, 0n]);
    expect(heldBpsAt(STORJ_HOLDBACK, 100)).toBe(0n);
  });

  it("rounds the hold down, the unit going to the node", () => {
    expect(settle({ earned: 3n })).toMatchObject({ held: 2n, paid: 1n });
  });

  it("over a node's first 20 months holds 4500 of 1000 a month and returns 2250 once, at month 15", () => {
    let heldTotal = 0n;
    let heldReturned = 0n;
    let paid = 0n;
    const released: bigint[] = [];
    for (let ageMonths = 1; ageMonths <= 20; ageMonths++) {
      const p = settle({ ageMonths, heldTotal, heldReturned });
      heldTotal += p.held;
      heldReturned += p.heldTaken;
      paid += p.paid;
      released.push(p.released);
    }
    expect(heldTotal).toBe(4_500n);
    expect(released[14]).toBe(2_250n);
    expect(released.reduce((s, r) => s + r, 0n)).toBe(2_250n);
    expect(paid).toBe(20_000n - 2_250n);
    expect(heldTotal - heldReturned).toBe(2_250n); // the rest waits for a graceful exit
  });

  it("returns the half even when the node earns nothing that month, and catches up if month 15 was missed", () => {
    expect(settle({ ageMonths: 15, earned: 0n, heldTotal: 4_501n })).toMatchObject({ released: 2_250n, paid: 2_250n, heldTaken: 2_250n });
    expect(settle({ ageMonths: 17, earned: 0n, heldTotal: 4_500n })).toMatchObject({ released: 2_250n });
    expect(settle({ ageMonths: 17, earned: 0n, heldTotal: 4_500n, heldReturned: 2_250n })).toMatchObject({ released: 0n, paid: 0n });
  });

  it("forfeits the period's earnings and everything still held when the node is disqualified", () => {
    expect(settle({ ageMonths: 12, earned: 400n, heldTotal: 4_500n, disqualified: true })).toEqual({
      nodeId: base.nodeId,
      earned: 400n,
      paid: 0n,
      held: 0n,
      released: 0n,
      forfeited: 4_900n,
      topUp: 0n,
      heldTaken: 4_500n,
    });
    expect(settle({ ageMonths: 20, earned: 0n, heldTotal: 4_500n, heldReturned: 2_250n, disqualified: true })).toMatchObject({ forfeited: 2_250n, heldTaken: 2_250n });
  });
});

describe("the collateral rule", () => {
  it("puts a node's rewards into its stake until the stake covers its requirement, and pays the rest", () => {
    expect(settle({ ageMonths: 12, bonded: 100n, collateralRequired: 300n })).toMatchObject({ topUp: 200n, paid: 800n });
    expect(settle({ ageMonths: 12, bonded: 100n, collateralRequired: 5_000n })).toMatchObject({ topUp: 1_000n, paid: 0n });
    expect(settle({ ageMonths: 12, bonded: 300n, collateralRequired: 300n })).toMatchObject({ topUp: 0n, paid: 1_000n });
  });

  it("tops up only from what is not held back, and from a release", () => {
    expect(settle({ ageMonths: 1, bonded: 0n, collateralRequired: 10_000n })).toMatchObject({ held: 750n, topUp: 250n, paid: 0n });
    expect(settle({ ageMonths: 15, earned: 0n, heldTotal: 4_500n, bonded: 0n, collateralRequired: 2_000n })).toMatchObject({ released: 2_250n, topUp: 2_000n, paid: 250n });
  });
});

describe("every period adds up", () => {
  it("earned + taken from held-back = paid + held + top-up + forfeited, all non-negative, for any node", () => {
    const amount = fc.bigInt({ min: 0n, max: 10n ** 24n });
    fc.assert(
      fc.property(amount, fc.integer({ min: 1, max: 40 }), fc.boolean(), amount, fc.bigInt({ min: 0n, max: 10_000n }), amount, amount, (earned, ageMonths, disqualified, heldTotal, returnedBps, bonded, collateralRequired) => {
        const heldReturned = (heldTotal * returnedBps) / 10_000n;
        const p = settleNodeEarnings(STORJ_HOLDBACK, { ...base, earned, ageMonths, disqualified, heldTotal, heldReturned, bonded, collateralRequired });
        for (const v of [p.paid, p.held, p.released, p.forfeited, p.topUp, p.heldTaken]) expect(v >= 0n).toBe(true);
        expect(p.earned + p.heldTaken).toBe(p.paid + p.held + p.topUp + p.forfeited);
        expect(p.heldTaken <= heldTotal - heldReturned).toBe(true);
        if (!disqualified) expect(p.heldTaken).toBe(p.released);
        if (bonded >= collateralRequired) expect(p.topUp).toBe(0n);
      }),
      { seed: PROPERTY_SEED, numRuns: 500 },
    );
  });

  it("refuses a held-back balance below zero and negative amounts", () => {
    expect(() => settle({ heldTotal: 1n, heldReturned: 2n })).toThrow(RangeError);
    expect(() => settle({ earned: -1n })).toThrow(RangeError);
    expect(() => settle({ ageMonths: 0 })).toThrow(RangeError);
  });
});
