// Step 2 of settlement, the decision: whether to swap the period's stablecoin for ICNT now, and with what bounds.
// The price the buyback must beat comes from the pool's time-weighted average over a window of chain time (Uniswap
// v2 whitepaper §2.2; the shape of v2-periphery's ExampleOracleSimple.consult), never from a quote in the same
// block, which whoever trades just before us sets. The swap is deferred, with a reason for the alert, when:
// - the oracle window is shorter than required (a short average is nearly a spot price),
// - the spot price has moved from the average beyond a bound (someone is pushing the pool right now),
// - the pool is too thin: its stablecoin reserve is under a floor, or our own swap would move the price too far.
// Pure: the chain reads are src/chain/amm.ts readPoolState, and the swap is executeBuyback there.

import type { Address } from "viem";
import { z } from "zod";
import type { PoolState, PriceObservation } from "../chain/amm.ts";
import { Q112 } from "../chain/amm.ts";
import { AMOUNT_PATTERN } from "./money.ts";
import { BPS } from "./split.ts";

export interface BuybackPolicy {
  /** The TWAP covers at least this many seconds of chain time. */
  minWindowSeconds: bigint;
  /** Defer when the spot price is further than this from the TWAP, either way. */
  maxSpotDeviationBps: bigint;
  /** Defer when the swap itself would move the pool's price by more than this. */
  maxPriceImpactBps: bigint;
  /** Defer when the pool holds less stablecoin than this (USDC base units). */
  minUsdcReserve: bigint;
  /**
   * The minimum output is the TWAP-implied output less this. The TWAP-implied output already pays the pool's fee and
   * our own price impact, so this covers only drift: keep it at least maxSpotDeviationBps, or a swap the guard lets
   * through can still revert on its minimum.
   */
  slippageBps: bigint;
  /** The swap's deadline: this many seconds of chain time after the observation the decision was made on. */
  deadlineSeconds: bigint;
}

export type BuybackDeferral = "OracleWindowTooShort" | "SpotDeviatesFromTwap" | "PoolTooThin";

export interface BuybackPrices {
  /** USDC base units per whole ICNT (10^18 base units): 250000n is 0.25 USDC. */
  twapUsdcPerIcnt: bigint;
  spotUsdcPerIcnt: bigint;
  windowSeconds: bigint;
  /** The chain time (block timestamp) of the observation the decision was made on. */
  observedAt: bigint;
}

export type BuybackDecision =
  | { kind: "skip"; reason: "NothingToSwap" }
  | ({
      kind: "defer";
      reason: BuybackDeferral;
      /** One line for the alert. */
      message: string;
    } & Partial<BuybackPrices>)
  | ({
      kind: "execute";
      usdcIn: bigint;
      /** The swap reverts below this. */
      minimumOut: bigint;
      /** Chain time (unix seconds) after which the swap reverts. */
      deadline: bigint;
      /** What the pool would pay at its TWAP price with its present depth, after its 0.3% fee. */
      twapOut: bigint;
      /** What the pool would pay now (Router02.getAmountsOut). */
      spotOut: bigint;
      priceImpactBps: bigint;
    } & BuybackPrices);

export interface DecideBuybackParameters {
  /** The stablecoin to swap: the period's fiat revenue share, USDC base units. */
  usdcIn: bigint;
  policy: BuybackPolicy;
  /** The window's start: an observation stored earlier (e.g. when the period closed). */
  earlier: PriceObservation;
  /** The pool now (its observation is the window's end). */
  now: PoolState;
  icnt: string;
}

/** Uniswap v2's getAmountOut (UniswapV2Library): x·y=k with the 0.3% fee taken from the input. */
export function constantProductAmountOut(amountIn: bigint, reserveIn: bigint, reserveOut: bigint): bigint {
  if (amountIn <= 0n || reserveIn <= 0n || reserveOut <= 0n) return 0n;
  const inWithFee = amountIn * 997n;
  return (inWithFee * reserveOut) / (reserveIn * 1000n + inWithFee);
}

/** ⌊√n⌋ for a bigint (Newton's method). */
export function isqrt(n: bigint): bigint {
  if (n < 0n) throw new RangeError("square root of a negative number");
  if (n < 2n) return n;
  let x = 1n << BigInt(Math.ceil(n.toString(2).length / 2));
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

/** Decides the buyback from two observations of the pool; see the module comment for when it defers. */
export function decideBuyback(p: DecideBuybackParameters): BuybackDecision {
  const { policy, earlier, now, usdcIn } = p;
  for (const [name, v] of Object.entries(policy)) if (v < 0n) throw new RangeError(`buyback policy ${name} is negative`);
  if (policy.slippageBps > BPS || policy.maxPriceImpactBps > BPS) throw new RangeError("basis points above 10000");
  if (usdcIn < 0n) throw new RangeError("a negative amount to swap");
  if (usdcIn === 0n) return { kind: "skip", reason: "NothingToSwap" };
  if (earlier.token0.toLowerCase() !== now.observation.token0.toLowerCase()) throw new RangeError("the two observations are of different pools");

  const observedAt = now.observation.timestamp;
  const windowSeconds = observedAt - earlier.timestamp;
  if (windowSeconds < policy.minWindowSeconds || windowSeconds <= 0n) {
    return { kind: "defer", reason: "OracleWindowTooShort", message: `The price window is ${windowSeconds} s of chain time; at least ${policy.minWindowSeconds} s are required.`, windowSeconds, observedAt };
  }

  // ICNT base units per USDC base unit, UQ112x112, averaged over the window: the accumulator of USDC's price.
  const icntIsToken0 = earlier.token0.toLowerCase() === p.icnt.toLowerCase();
  const cumulative = (o: PriceObservation) => (icntIsToken0 ? o.price1Cumulative : o.price0Cumulative);
  const twapQ = (cumulative(now.observation) - cumulative(earlier)) / windowSeconds;
  const { icnt: reserveIcnt, usdc: reserveUsdc } = now.reserves;
  if (twapQ <= 0n || reserveIcnt <= 0n || reserveUsdc <= 0n) {
    return { kind: "defer", reason: "PoolTooThin", message: "The pool has no liquidity or no price over the window.", windowSeconds, observedAt };
  }
  const spotQ = (reserveIcnt * Q112) / reserveUsdc;
  const prices: BuybackPrices = {
    twapUsdcPerIcnt: (Q112 * 10n ** 18n) / twapQ,
    spotUsdcPerIcnt: (reserveUsdc * 10n ** 18n) / reserveIcnt,
    windowSeconds,
    observedAt,
  };

  if (reserveUsdc < policy.minUsdcReserve) {
    return { kind: "defer", reason: "PoolTooThin", message: `The pool holds ${reserveUsdc} USDC base units, under the floor of ${policy.minUsdcReserve}.`, ...prices };
  }
  const deviationBps = ((spotQ > twapQ ? spotQ - twapQ : twapQ - spotQ) * BPS) / twapQ;
  if (deviationBps > policy.maxSpotDeviationBps) {
    return {
      kind: "defer",
      reason: "SpotDeviatesFromTwap",
      message: `The spot price ${prices.spotUsdcPerIcnt} is ${deviationBps} bps from the ${windowSeconds} s TWAP ${prices.twapUsdcPerIcnt} (bound ${policy.maxSpotDeviationBps} bps).`,
      ...prices,
    };
  }
  const spotOut = constantProductAmountOut(usdcIn, reserveUsdc, reserveIcnt);
  // How far our swap moves ICNT's price: the ICNT a USDC buys, before and after, (R_i - out)·R_u / (R_i·(R_u + in)).
  const priceImpactBps = BPS - ((reserveIcnt - spotOut) * reserveUsdc * BPS) / (reserveIcnt * (reserveUsdc + usdcIn));
  if (priceImpactBps > policy.maxPriceImpactBps) {
    return { kind: "defer", reason: "PoolTooThin", message: `Swapping ${usdcIn} USDC base units would move the price ${priceImpactBps} bps (bound ${policy.maxPriceImpactBps} bps).`, ...prices };
  }
  // The pool's depth (k) at the TWAP price: reserves R_u·R_i = k with R_i/R_u = twap, so R_u = √(k/twap).
  const k = reserveIcnt * reserveUsdc;
  const virtualUsdc = isqrt((k * Q112) / twapQ);
  const twapOut = constantProductAmountOut(usdcIn, virtualUsdc, k / virtualUsdc);
  return {
    kind: "execute",
    usdcIn,
    minimumOut: (twapOut * (BPS - policy.slippageBps)) / BPS,
    deadline: observedAt + policy.deadlineSeconds,
    twapOut,
    spotOut,
    priceImpactBps,
    ...prices,
  };
}

/** The window's start is stored (D1, JSON) between the run that observes it and the run that swaps: as decimal strings. */
export const storedPriceObservation = z.object({
  timestamp: z.string().regex(AMOUNT_PATTERN),
  price0Cumulative: z.string().regex(AMOUNT_PATTERN),
  price1Cumulative: z.string().regex(AMOUNT_PATTERN),
  token0: z.string().regex(/^0x[0-9a-fA-F]{40}$/),
});
export type StoredPriceObservation = z.infer<typeof storedPriceObservation>;

export function storePriceObservation(o: PriceObservation): StoredPriceObservation {
  return { timestamp: o.timestamp.toString(), price0Cumulative: o.price0Cumulative.toString(), price1Cumulative: o.price1Cumulative.toString(), token0: o.token0 };
}

/** Parses what storePriceObservation wrote (throws a ZodError on anything else). */
export function loadPriceObservation(json: unknown): PriceObservation {
  const o = storedPriceObservation.parse(json);
  return { timestamp: BigInt(o.timestamp), price0Cumulative: BigInt(o.price0Cumulative), price1Cumulative: BigInt(o.price1Cumulative), token0: o.token0 as Address };
}

/**
 * The stablecoin the buyback spends for a period: `shareBps` of its recognized fiat revenue (USD cents), rounded
 * down to the cent, at par (1 USD = 1 USDC: 10^4 USDC base units per cent; locally TestUSDC is minted for it).
 */
export function buybackStablecoin(revenueMinor: bigint, shareBps: bigint): { usdMinor: bigint; usdc: bigint } {
  if (revenueMinor < 0n || shareBps < 0n || shareBps > BPS) throw new RangeError("revenue is non-negative and the share is 0..10000 bps");
  const usdMinor = (revenueMinor * shareBps) / BPS;
  return { usdMinor, usdc: usdMinor * 10_000n };
}
