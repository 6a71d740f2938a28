// The buyback market: a Uniswap v2 constant-product pool ICNT/USDC. The buyback swaps USDC for ICNT with a bound
// on slippage, and the pool's cumulative prices give a manipulation-resistant time-weighted average price.

import { erc20Abi, type Address, type TransactionReceipt } from "viem";
import type { ChainPublicClient, ChainSigner } from "./clients.ts";
import { uniswapV2PairAbi, uniswapV2Router02Abi } from "./generated/abis.ts";
import { sendContractTransaction } from "./transactions.ts";

export interface BuybackMarket {
  router: Address;
  pair: Address;
  icnt: Address;
  usdc: Address;
}

export const BPS = 10_000n;

/** ICNT out for `usdcIn`, by the pool's x·y=k with its 0.3% fee: Router02.getAmountsOut. */
export async function quoteBuyback(client: ChainPublicClient, market: BuybackMarket, usdcIn: bigint): Promise<bigint> {
  const amounts = await client.readContract({
    address: market.router,
    abi: uniswapV2Router02Abi,
    functionName: "getAmountsOut",
    args: [usdcIn, [market.usdc, market.icnt]],
  });
  return amounts[amounts.length - 1]!;
}

export interface BuybackParameters {
  usdcIn: bigint;
  /** The swap reverts rather than deliver less than the quote minus this many basis points. */
  maxSlippageBps: bigint;
  recipient: Address;
  /** Unix seconds after which the swap reverts. */
  deadline: bigint;
}

/** Swaps USDC for ICNT (approve + swapExactTokensForTokens). */
export async function buybackIcnt(signer: ChainSigner, market: BuybackMarket, p: BuybackParameters): Promise<TransactionReceipt> {
  const quoted = await quoteBuyback(signer.publicClient, market, p.usdcIn);
  const minimumOut = (quoted * (BPS - p.maxSlippageBps)) / BPS;
  await sendContractTransaction(signer, { address: market.usdc, abi: erc20Abi, functionName: "approve", args: [market.router, p.usdcIn] });
  return sendContractTransaction(signer, {
    address: market.router,
    abi: uniswapV2Router02Abi,
    functionName: "swapExactTokensForTokens",
    args: [p.usdcIn, minimumOut, [market.usdc, market.icnt], p.recipient, p.deadline],
  });
}

/** A reading of the pool's price accumulators (Uniswap v2 whitepaper §2.2), brought up to `timestamp`. */
export interface PriceObservation {
  timestamp: bigint;
  /** Σ price · seconds, UQ112x112, for token1-per-token0 and token0-per-token1. */
  price0Cumulative: bigint;
  price1Cumulative: bigint;
  token0: Address;
}

const Q112 = 1n << 112n;

/** Like UniswapV2OracleLibrary.currentCumulativePrices: accumulates the time since the pool's last update. */
export async function observePoolPrice(client: ChainPublicClient, pair: Address): Promise<PriceObservation> {
  const [[reserve0, reserve1, lastUpdate], price0CumulativeLast, price1CumulativeLast, token0, block] = await Promise.all([
    client.readContract({ address: pair, abi: uniswapV2PairAbi, functionName: "getReserves" }),
    client.readContract({ address: pair, abi: uniswapV2PairAbi, functionName: "price0CumulativeLast" }),
    client.readContract({ address: pair, abi: uniswapV2PairAbi, functionName: "price1CumulativeLast" }),
    client.readContract({ address: pair, abi: uniswapV2PairAbi, functionName: "token0" }),
    client.getBlock({ blockTag: "latest" }),
  ]);
  const elapsed = block.timestamp - BigInt(lastUpdate);
  let price0Cumulative = price0CumulativeLast;
  let price1Cumulative = price1CumulativeLast;
  if (elapsed > 0n && reserve0 > 0n && reserve1 > 0n) {
    price0Cumulative += ((reserve1 * Q112) / reserve0) * elapsed;
    price1Cumulative += ((reserve0 * Q112) / reserve1) * elapsed;
  }
  return { timestamp: block.timestamp, price0Cumulative, price1Cumulative, token0 };
}

/**
 * The time-weighted average price of ICNT between two observations, in USDC base units per whole ICNT (10^18 base
 * units): 250000n is 0.25 USDC.
 */
export function icntTwapInUsdc(earlier: PriceObservation, later: PriceObservation, icnt: Address): bigint {
  const seconds = later.timestamp - earlier.timestamp;
  if (seconds <= 0n) throw new Error("a TWAP needs two observations at different times");
  const icntIsToken0 = earlier.token0.toLowerCase() === icnt.toLowerCase();
  const delta = icntIsToken0 ? later.price0Cumulative - earlier.price0Cumulative : later.price1Cumulative - earlier.price1Cumulative;
  return (delta * 10n ** 18n) / seconds / Q112;
}
