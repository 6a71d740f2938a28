// The buyback decision's arithmetic (src/finance/buyback-guard.ts) on pools written by hand; the same decision
// against the real pool on anvil is test/chain/buyback-guard.test.ts.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Q112, type PoolState, type PriceObservation } from "../../src/chain/amm.ts";
import { constantProductAmountOut, decideBuyback, isqrt, loadPriceObservation, storePriceObservation, type BuybackPolicy } from "../../src/finance/buyback-guard.ts";
import { PROPERTY_SEED } from "./property-support.ts";

const ICNT_ADDRESS = "0x1000000000000000000000000000000000000001";
const ICNT = 10n ** 18n;
const USDC = 10n ** 6n;
const POLICY: BuybackPolicy = { minWindowSeconds: 300n, maxSpotDeviationBps: 200n, maxPriceImpactBps: 150n, minUsdcReserve: 10_000n * USDC, slippageBps: 100n, deadlineSeconds: 600n };

/** A pool (ICNT is token0) that stood at `reserves` for the whole window of `seconds`, ending at chain time 10_000. */
function pool(reserves: { icnt: bigint; usdc: bigint }, seconds: bigint, twapReserves = reserves): { earlier: PriceObservation; now: PoolState } {
  const earlier: PriceObservation = { timestamp: 10_000n - seconds, price0Cumulative: 5n, price1Cumulative: 7n, token0: ICNT_ADDRESS };
  const observation: PriceObservation = {
    timestamp: 10_000n,
    price0Cumulative: 5n + ((twapReserves.usdc * Q112) / twapReserves.icnt) * seconds,
    price1Cumulative: 7n + ((twapReserves.icnt * Q112) / twapReserves.usdc) * seconds,
    token0: ICNT_ADDRESS,
  };
  return { earlier, now: { observation, reserves, blockNumber: 1n } };
}
const CALM = { icnt: 1_000_000n * ICNT, usdc: 250_000n * USDC };

describe("the buyback decision", () => {
  it("on a pool whose spot price is its TWAP, expects exactly what the pool will pay, and asks for that less the slippage", () => {
    const d = decideBuyback({ usdcIn: 1_000n * USDC, policy: POLICY, ...pool(CALM, 600n), icnt: ICNT_ADDRESS });
    if (d.kind !== "execute") throw new Error(d.kind);
    const quote = constantProductAmountOut(1_000n * USDC, CALM.usdc, CALM.icnt);
    expect(d.spotOut).toBe(quote);
    // The virtual reserves at the TWAP are the real ones up to the square root's rounding.
    expect(d.twapOut <= quote + 10n ** 6n && d.twapOut >= quote - 10n ** 6n).toBe(true);
    expect(d.minimumOut).toBe((d.twapOut * 9_900n) / 10_000n);
    expect(d.deadline).toBe(10_600n);
    expect(d.twapUsdcPerIcnt).toBe(250_000n);
    expect(d.spotUsdcPerIcnt).toBe(250_000n);
    expect(d.windowSeconds).toBe(600n);
  });

  it("defers at a spot price just past the bound from the TWAP, either way, and swaps just inside it", () => {
    const at = (bps: bigint) => ({ icnt: (CALM.icnt * (10_000n + bps)) / 10_000n, usdc: CALM.usdc });
    const decide = (bps: bigint) => decideBuyback({ usdcIn: 100n * USDC, policy: POLICY, ...pool(at(bps), 600n, CALM), icnt: ICNT_ADDRESS });
    expect(decide(200n).kind).toBe("execute");
    expect(decide(-200n).kind).toBe("execute");
    expect(decide(201n)).toMatchObject({ kind: "defer", reason: "SpotDeviatesFromTwap" });
    expect(decide(-201n)).toMatchObject({ kind: "defer", reason: "SpotDeviatesFromTwap" });
  });

  it("skips nothing to swap, and refuses a policy out of range", () => {
    expect(decideBuyback({ usdcIn: 0n, policy: POLICY, ...pool(CALM, 600n), icnt: ICNT_ADDRESS })).toEqual({ kind: "skip", reason: "NothingToSwap" });
    expect(() => decideBuyback({ usdcIn: 1n, policy: { ...POLICY, slippageBps: 10_001n }, ...pool(CALM, 600n), icnt: ICNT_ADDRESS })).toThrow(RangeError);
    expect(() => decideBuyback({ usdcIn: 1n, policy: { ...POLICY, minWindowSeconds: -1n }, ...pool(CALM, 600n), icnt: ICNT_ADDRESS })).toThrow(RangeError);
  });

  it("defers on an empty pool rather than dividing by zero", () => {
    expect(decideBuyback({ usdcIn: 1n, policy: POLICY, ...pool({ icnt: 0n, usdc: 0n }, 600n, CALM), icnt: ICNT_ADDRESS })).toMatchObject({ kind: "defer", reason: "PoolTooThin" });
  });

  it("stores an observation as decimal strings and reads it back exactly, refusing anything else", () => {
    const o: PriceObservation = { timestamp: 1_700_000_000n, price0Cumulative: 2n ** 200n + 1n, price1Cumulative: 3n, token0: ICNT_ADDRESS };
    expect(loadPriceObservation(JSON.parse(JSON.stringify(storePriceObservation(o))))).toEqual(o);
    expect(() => loadPriceObservation({ ...storePriceObservation(o), timestamp: "1.5" })).toThrow();
    expect(() => loadPriceObservation({ ...storePriceObservation(o), token0: "0x12" })).toThrow();
  });
});

describe("integer square root", () => {
  it("is the largest integer whose square does not exceed n", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 300n }), (n) => {
        const r = isqrt(n);
        expect(r * r <= n && (r + 1n) * (r + 1n) > n).toBe(true);
      }),
      { seed: PROPERTY_SEED, numRuns: 500 },
    );
    expect(isqrt(0n)).toBe(0n);
    expect(isqrt(15n)).toBe(3n);
    expect(isqrt(16n)).toBe(4n);
  });
});
