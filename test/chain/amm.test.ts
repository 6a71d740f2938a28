// The buyback market: Uniswap v2's constant-product pool ICNT/USDC, as the local network deploys and seeds it.

import { erc20Abi, type Address } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buybackIcnt, icntTwapInUsdc, observePoolPrice, quoteBuyback, type BuybackMarket } from "../../src/chain/amm.ts";
import type { ChainSigner } from "../../src/chain/clients.ts";
import { testUsdcAbi, uniswapV2PairAbi, uniswapV2Router02Abi } from "../../src/chain/generated/abis.ts";
import { sendContractTransaction } from "../../src/chain/transactions.ts";
import { ICNT, LOCAL_PARAMETERS, USDC } from "../../src/localnet/chain.ts";
import { expectRevert, startTestChain, type TestChain } from "./support.ts";

let t: TestChain;
let market: BuybackMarket;

beforeAll(async () => {
  t = await startTestChain();
  const c = t.chain.contracts;
  market = { router: c.uniswapV2Router02, pair: c.icntUsdcPair, icnt: c.icnt, usdc: c.usdc };
});
afterAll(async () => t?.stop());

async function reserves(): Promise<{ icnt: bigint; usdc: bigint }> {
  const [r0, r1] = await t.chain.client.readContract({ address: market.pair, abi: uniswapV2PairAbi, functionName: "getReserves" });
  const token0 = await t.chain.client.readContract({ address: market.pair, abi: uniswapV2PairAbi, functionName: "token0" });
  return token0.toLowerCase() === market.icnt.toLowerCase() ? { icnt: r0, usdc: r1 } : { icnt: r1, usdc: r0 };
}

/** A trader with `usdc` test dollars, approved for the router. */
async function trader(index: number, usdc: bigint): Promise<ChainSigner> {
  const wallet = t.wallet(index);
  await sendContractTransaction(t.chain.protocol, { address: market.usdc, abi: testUsdcAbi, functionName: "mint", args: [wallet.account.address, usdc] });
  await sendContractTransaction(wallet, { address: market.usdc, abi: erc20Abi, functionName: "approve", args: [market.router, usdc] });
  return wallet;
}

function swapUsdcForIcnt(wallet: ChainSigner, usdcIn: bigint, minimumOut: bigint, deadline: bigint) {
  return sendContractTransaction(wallet, {
    address: market.router,
    abi: uniswapV2Router02Abi,
    functionName: "swapExactTokensForTokens",
    args: [usdcIn, minimumOut, [market.usdc, market.icnt], wallet.account.address, deadline],
  });
}

const deadline = async () => (await t.chain.client.getBlock()).timestamp + 600n;

describe("ICNT/USDC constant-product pool", () => {
  it("starts with the local network's seed liquidity, a price of 0.25 USDC per ICNT", async () => {
    expect(await reserves()).toEqual({ icnt: LOCAL_PARAMETERS.poolIcnt, usdc: LOCAL_PARAMETERS.poolUsdc });
  });

  it("pays out exactly what x·y=k with the 0.3% fee gives, and never lowers k", async () => {
    const before = await reserves();
    const usdcIn = 1_000n * USDC;
    // Uniswap v2 whitepaper §3.2.1: out = in·997·R_out / (R_in·1000 + in·997).
    const expected = (usdcIn * 997n * before.icnt) / (before.usdc * 1000n + usdcIn * 997n);
    expect(await quoteBuyback(t.chain.client, market, usdcIn)).toBe(expected);

    const wallet = await trader(50, usdcIn);
    const icntBefore = await t.balanceOf(market.icnt, wallet.account.address);
    await swapUsdcForIcnt(wallet, usdcIn, expected, await deadline());
    expect(await t.balanceOf(market.icnt, wallet.account.address)).toBe(icntBefore + expected);

    const after = await reserves();
    expect(after).toEqual({ icnt: before.icnt - expected, usdc: before.usdc + usdcIn });
    expect(after.icnt * after.usdc).toBeGreaterThanOrEqual(before.icnt * before.usdc);
  });

  it("refuses a swap that would deliver less than the caller's minimum, as when the price moved after the quote", async () => {
    const usdcIn = 2_000n * USDC;
    const buyer = await trader(51, usdcIn);
    const quote = await quoteBuyback(t.chain.client, market, usdcIn);
    const minimumOut = (quote * 9_950n) / 10_000n; // 0.5% slippage allowed
    // Someone else buys first, moving the price by far more than 0.5%.
    const frontRunner = await trader(52, 50_000n * USDC);
    await swapUsdcForIcnt(frontRunner, 50_000n * USDC, 0n, await deadline());

    const icntBefore = await t.balanceOf(market.icnt, buyer.account.address);
    await expectRevert(swapUsdcForIcnt(buyer, usdcIn, minimumOut, await deadline()), "UniswapV2Router: INSUFFICIENT_OUTPUT_AMOUNT");
    expect(await t.balanceOf(market.icnt, buyer.account.address)).toBe(icntBefore);
  });

  it("buys ICNT back within the slippage bound it was given", async () => {
    const usdcIn = 500n * USDC;
    await sendContractTransaction(t.chain.protocol, { address: market.usdc, abi: testUsdcAbi, functionName: "mint", args: [t.chain.protocol.account.address, usdcIn] });
    const treasury = t.chain.describe().treasury as Address;
    const quote = await quoteBuyback(t.chain.client, market, usdcIn);
    const before = await t.balanceOf(market.icnt, treasury);
    await buybackIcnt(t.chain.protocol, market, { usdcIn, maxSlippageBps: 50n, recipient: treasury, deadline: await deadline() });
    const bought = (await t.balanceOf(market.icnt, treasury)) - before;
    expect(bought).toBe(quote); // nobody traded in between
  });

  it("reports a time-weighted average price between two observations", async () => {
    const first = await observePoolPrice(t.chain.client, market.pair);
    const spotBefore = await reserves();
    await t.advanceTime(100n);
    // Move the price, then let the new price stand for as long as the old one did.
    const wallet = await trader(53, 20_000n * USDC);
    await swapUsdcForIcnt(wallet, 20_000n * USDC, 0n, await deadline());
    const middle = await observePoolPrice(t.chain.client, market.pair);
    const spotAfter = await reserves();
    await t.advanceTime(100n);
    const last = await observePoolPrice(t.chain.client, market.pair);

    const priceOf = (r: { icnt: bigint; usdc: bigint }) => (r.usdc * ICNT) / r.icnt;
    const secondsBefore = middle.timestamp - first.timestamp;
    const secondsAfter = last.timestamp - middle.timestamp;
    const expected = (priceOf(spotBefore) * secondsBefore + priceOf(spotAfter) * secondsAfter) / (secondsBefore + secondsAfter);
    const twap = icntTwapInUsdc(first, last, market.icnt);
    expect(priceOf(spotAfter)).toBeGreaterThan(priceOf(spotBefore));
    // UQ112x112 truncation: equal to within a unit per term.
    expect(twap >= expected - 2n && twap <= expected + 2n).toBe(true);
  });
});
