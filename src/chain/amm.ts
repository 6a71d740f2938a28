// The buyback market: a Uniswap v2 constant-product pool ICNT/USDC. The buyback swaps USDC for ICNT with a bound
// on slippage, and the pool's cumulative prices give a manipulation-resistant time-weighted average price.

import { erc20Abi, parseEventLogs, type Address, type Hash, type TransactionReceipt } from "viem";
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

export type BuybackParameters = {
  usdcIn: bigint;
  recipient: Address;
  /** Unix seconds of chain time (block timestamp) after which the swap reverts. */
  deadline: bigint;
} & (
  | {
      /** The swap reverts rather than deliver less than the same-block quote minus this many basis points. */
      maxSlippageBps: bigint;
    }
  | {
      /** The swap reverts rather than deliver less than this (settlement derives it from the TWAP: buyback-guard.ts). */
      minimumOut: bigint;
    }
);

/**
 * Swaps USDC for ICNT (approve + swapExactTokensForTokens). With a relaying signer, `idempotencyKey` names the
 * attempt: its two transactions go under `<key>:approve` and `<key>:swap`, so a resumed attempt sends neither again.
 */
export async function buybackIcnt(signer: ChainSigner, market: BuybackMarket, p: BuybackParameters, options: { idempotencyKey?: string } = {}): Promise<TransactionReceipt> {
  const key = (step: string) => (options.idempotencyKey === undefined ? {} : { idempotencyKey: `${options.idempotencyKey}:${step}` });
  const minimumOut = "minimumOut" in p ? p.minimumOut : ((await quoteBuyback(signer.publicClient, market, p.usdcIn)) * (BPS - p.maxSlippageBps)) / BPS;
  await sendContractTransaction(signer, { address: market.usdc, abi: erc20Abi, functionName: "approve", args: [market.router, p.usdcIn] }, key("approve"));
  return sendContractTransaction(
    signer,
    {
      address: market.router,
      abi: uniswapV2Router02Abi,
      functionName: "swapExactTokensForTokens",
      args: [p.usdcIn, minimumOut, [market.usdc, market.icnt], p.recipient, p.deadline],
    },
    key("swap"),
  );
}

/** A reading of the pool's price accumulators (Uniswap v2 whitepaper §2.2), brought up to `timestamp`. */
export interface PriceObservation {
  timestamp: bigint;
  /** Σ price · seconds, UQ112x112, for token1-per-token0 and token0-per-token1. */
  price0Cumulative: bigint;
  price1Cumulative: bigint;
  token0: Address;
}

/** Uniswap v2's fixed-point unit: prices are UQ112x112. */
export const Q112 = 1n << 112n;

/** Like UniswapV2OracleLibrary.currentCumulativePrices: accumulates the time since the pool's last update. */
export async function observePoolPrice(client: ChainPublicClient, pair: Address): Promise<PriceObservation> {
  return (await readPairAtLatestBlock(client, pair)).observation;
}

/** The pool as one block saw it: its price accumulators and its reserves, and that block. */
export interface PoolState {
  observation: PriceObservation;
  reserves: { icnt: bigint; usdc: bigint };
  blockNumber: bigint;
}

/** Reads accumulators and reserves pinned to one block, so the spot price and the TWAP's end describe the same moment. */
export async function readPoolState(client: ChainPublicClient, market: BuybackMarket): Promise<PoolState> {
  const { observation, reserve0, reserve1, blockNumber } = await readPairAtLatestBlock(client, market.pair);
  const icntIsToken0 = observation.token0.toLowerCase() === market.icnt.toLowerCase();
  return { observation, reserves: icntIsToken0 ? { icnt: reserve0, usdc: reserve1 } : { icnt: reserve1, usdc: reserve0 }, blockNumber };
}

async function readPairAtLatestBlock(client: ChainPublicClient, pair: Address) {
  const block = await client.getBlock({ blockTag: "latest" });
  const at = { address: pair, abi: uniswapV2PairAbi, blockNumber: block.number } as const;
  const [[reserve0, reserve1, lastUpdate], price0CumulativeLast, price1CumulativeLast, token0] = await Promise.all([
    client.readContract({ ...at, functionName: "getReserves" }),
    client.readContract({ ...at, functionName: "price0CumulativeLast" }),
    client.readContract({ ...at, functionName: "price1CumulativeLast" }),
    client.readContract({ ...at, functionName: "token0" }),
  ]);
  const elapsed = block.timestamp - BigInt(lastUpdate);
  let price0Cumulative = price0CumulativeLast;
  let price1Cumulative = price1CumulativeLast;
  if (elapsed > 0n && reserve0 > 0n && reserve1 > 0n) {
    price0Cumulative += ((reserve1 * Q112) / reserve0) * elapsed;
    price1Cumulative += ((reserve0 * Q112) / reserve1) * elapsed;
  }
  const observation: PriceObservation = { timestamp: block.timestamp, price0Cumulative, price1Cumulative, token0 };
  return { observation, reserve0, reserve1, blockNumber: block.number };
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

export interface ExecuteBuybackParameters {
  usdcIn: bigint;
  /** From the buyback guard (src/finance/buyback-guard.ts decideBuyback): TWAP-implied output less slippage. */
  minimumOut: bigint;
  /** Chain time (unix seconds), from the guard: the observation's block timestamp plus the allowed delay. */
  deadline: bigint;
  /** Where the ICNT goes: the protocol's ICNT treasury. */
  recipient: Address;
}

export interface ExecuteBuybackReturnType {
  stableIn: bigint;
  icntOut: bigint;
  txHash: Hash;
  blockNumber: bigint;
}

/**
 * Swaps with the guard's bounds and reports what the pool's Swap event says changed hands (not a balance
 * difference, which a transfer in the same block would distort). Throws ChainTransactionError when the router
 * refuses (below the minimum: INSUFFICIENT_OUTPUT_AMOUNT; past the deadline: EXPIRED), having swapped nothing.
 */
export async function executeBuyback(
  signer: ChainSigner,
  market: BuybackMarket,
  p: ExecuteBuybackParameters,
  options: { idempotencyKey?: string } = {},
): Promise<ExecuteBuybackReturnType> {
  const receipt = await buybackIcnt(signer, market, { usdcIn: p.usdcIn, minimumOut: p.minimumOut, deadline: p.deadline, recipient: p.recipient }, options);
  const swaps = parseEventLogs({ abi: uniswapV2PairAbi, eventName: "Swap", logs: receipt.logs }).filter((log) => log.address.toLowerCase() === market.pair.toLowerCase());
  if (swaps.length !== 1) throw new Error(`the buyback transaction ${receipt.transactionHash} has ${swaps.length} Swap events on the pair, not one`);
  const { amount0In, amount1In, amount0Out, amount1Out } = swaps[0]!.args;
  const token0 = await signer.publicClient.readContract({ address: market.pair, abi: uniswapV2PairAbi, functionName: "token0" });
  const icntIsToken0 = token0.toLowerCase() === market.icnt.toLowerCase();
  return {
    stableIn: icntIsToken0 ? amount1In : amount0In,
    icntOut: icntIsToken0 ? amount0Out : amount1Out,
    txHash: receipt.transactionHash,
    blockNumber: receipt.blockNumber,
  };
}
