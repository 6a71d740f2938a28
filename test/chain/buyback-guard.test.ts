// The buyback guard against the real Uniswap v2 pool on anvil: a window of chain time between two observations
// gives the TWAP the minimum output is built on; a pool pushed inside the window, a window too short, or a pool too
// thin for the swap defers the buyback; and a swap whose minimum is no longer met reverts, moving nothing.

import { createTestClient, erc20Abi, http, type Address, type TestClient } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { executeBuyback, readPoolState, type BuybackMarket, type PoolState, type PriceObservation } from "../../src/chain/amm.ts";
import type { ChainSigner } from "../../src/chain/clients.ts";
import { testUsdcAbi, uniswapV2Router02Abi } from "../../src/chain/generated/abis.ts";
import { sendContractTransaction } from "../../src/chain/transactions.ts";
import { decideBuyback, loadPriceObservation, storePriceObservation, type BuybackPolicy } from "../../src/finance/buyback-guard.ts";
import { ICNT, USDC } from "../../src/localnet/chain.ts";
import { expectRevert, startTestChain, type TestChain } from "./support.ts";

let t: TestChain;
let market: BuybackMarket;
let treasury: Address;

const POLICY: BuybackPolicy = {
  minWindowSeconds: 300n,
  maxSpotDeviationBps: 200n,
  maxPriceImpactBps: 150n,
  minUsdcReserve: 10_000n * USDC,
  slippageBps: 200n,
  deadlineSeconds: 600n,
};

let testClient: TestClient;

beforeAll(async () => {
  t = await startTestChain();
  // Chain time moves one second per block, whatever the wall clock does: a TWAP window here must not widen because
  // a loaded machine took long to send the transactions inside it.
  testClient = createTestClient({ mode: "anvil", transport: http(t.chain.rpcUrl) });
  await testClient.setBlockTimestampInterval({ interval: 1 });
  const c = t.chain.contracts;
  market = { router: c.uniswapV2Router02, pair: c.icntUsdcPair, icnt: c.icnt, usdc: c.usdc };
  treasury = t.chain.describe().treasury as Address;
});
afterAll(async () => t?.stop());

/** Lets exactly `seconds` of chain time pass: the next block is mined that long after the latest. */
async function advanceChainTime(seconds: bigint): Promise<void> {
  const latest = await t.chain.client.getBlock();
  await testClient.setNextBlockTimestamp({ timestamp: latest.timestamp + seconds });
  await testClient.mine({ blocks: 1 });
}

/** The protocol's account holds `usdc` more test dollars: the period's fiat share, converted off-chain. */
async function fundProtocol(usdc: bigint): Promise<void> {
  await sendContractTransaction(t.chain.protocol, { address: market.usdc, abi: testUsdcAbi, functionName: "mint", args: [t.chain.protocol.account.address, usdc] });
}

/** Someone else trades through the router: `amountIn` of `from` for the other token. */
async function trade(index: number, from: "usdc" | "icnt", amountIn: bigint): Promise<void> {
  const wallet: ChainSigner = t.wallet(index);
  const tokenIn = from === "usdc" ? market.usdc : market.icnt;
  const tokenOut = from === "usdc" ? market.icnt : market.usdc;
  if (from === "usdc") await sendContractTransaction(t.chain.protocol, { address: market.usdc, abi: testUsdcAbi, functionName: "mint", args: [wallet.account.address, amountIn] });
  await sendContractTransaction(wallet, { address: tokenIn, abi: erc20Abi, functionName: "approve", args: [market.router, amountIn] });
  const deadline = (await t.chain.client.getBlock()).timestamp + 600n;
  await sendContractTransaction(wallet, {
    address: market.router,
    abi: uniswapV2Router02Abi,
    functionName: "swapExactTokensForTokens",
    args: [amountIn, 0n, [tokenIn, tokenOut], wallet.account.address, deadline],
  });
}

/** Observes the window's start (stored and reloaded as the chore would), lets `seconds` of chain time pass, reads the pool. */
async function windowOf(seconds: bigint, during?: () => Promise<void>): Promise<{ earlier: PriceObservation; now: PoolState }> {
  const earlier = loadPriceObservation(JSON.parse(JSON.stringify(storePriceObservation((await readPoolState(t.chain.client, market)).observation))));
  await advanceChainTime(seconds);
  await during?.();
  return { earlier, now: await readPoolState(t.chain.client, market) };
}

const usdcPerIcnt = (stable: bigint, icnt: bigint) => (stable * ICNT) / icnt;

describe("the buyback guard on the ICNT/USDC pool", () => {
  it("buys at a sane price when the pool is calm: at least the TWAP-implied minimum, delivered to the treasury", async () => {
    const usdcIn = 1_000n * USDC;
    await fundProtocol(usdcIn);
    const { earlier, now } = await windowOf(600n);
    const decision = decideBuyback({ usdcIn, policy: POLICY, earlier, now, icnt: market.icnt });
    if (decision.kind !== "execute") throw new Error(`expected a swap, got ${JSON.stringify(decision, (_, v) => (typeof v === "bigint" ? v.toString() : v))}`);
    // The pool was seeded at 0.25 USDC per ICNT and nobody traded: TWAP and spot agree.
    expect(decision.twapUsdcPerIcnt).toBeGreaterThanOrEqual(249_999n);
    expect(decision.twapUsdcPerIcnt).toBeLessThanOrEqual(250_001n);
    expect(decision.spotUsdcPerIcnt).toBe(250_000n);
    // The deadline is chain time: the observed block's timestamp plus the allowed delay.
    const observedBlock = await t.chain.client.getBlock({ blockNumber: now.blockNumber });
    expect(decision.deadline).toBe(observedBlock.timestamp + POLICY.deadlineSeconds);

    const usdcBefore = await t.balanceOf(market.usdc, t.chain.protocol.account.address);
    const icntBefore = await t.balanceOf(market.icnt, treasury);
    const result = await executeBuyback(t.chain.protocol, market, { usdcIn, minimumOut: decision.minimumOut, deadline: decision.deadline, recipient: treasury });

    expect(result.stableIn).toBe(usdcIn);
    expect(result.icntOut).toBe(decision.spotOut); // x·y=k with the fee, nobody in between
    expect(result.icntOut).toBeGreaterThanOrEqual(decision.minimumOut);
    expect(await t.balanceOf(market.icnt, treasury)).toBe(icntBefore + result.icntOut);
    expect(await t.balanceOf(market.usdc, t.chain.protocol.account.address)).toBe(usdcBefore - usdcIn);
    // Paid 0.25 USDC per ICNT plus the 0.3% fee and about 0.4% of price impact: under 0.252.
    const paid = usdcPerIcnt(result.stableIn, result.icntOut);
    expect(paid).toBeGreaterThan(250_000n);
    expect(paid).toBeLessThan(252_000n);
    const receipt = await t.chain.client.getTransactionReceipt({ hash: result.txHash });
    expect(receipt.status).toBe("success");
  });

  it("defers when the pool is pushed by a large swap inside the window, though the TWAP barely moved", async () => {
    const { earlier, now } = await windowOf(600n, () => trade(60, "usdc", 60_000n * USDC));
    const decision = decideBuyback({ usdcIn: 1_000n * USDC, policy: POLICY, earlier, now, icnt: market.icnt });
    expect(decision.kind).toBe("defer");
    if (decision.kind !== "defer") return;
    expect(decision.reason).toBe("SpotDeviatesFromTwap");
    // The spot price jumped by half; the ten-minute average is within a few percent of where it was.
    expect(decision.spotUsdcPerIcnt!).toBeGreaterThan(350_000n);
    expect(decision.twapUsdcPerIcnt!).toBeLessThan(260_000n);

    // The manipulator unwinds; once the pool has stood still for a full window, the guard lets a swap through again.
    await trade(60, "icnt", await t.balanceOf(market.icnt, t.wallet(60).account.address));
    const calm = await windowOf(900n);
    const again = decideBuyback({ usdcIn: 1_000n * USDC, policy: POLICY, ...calm, icnt: market.icnt });
    expect(again.kind).toBe("execute");
  });

  it("defers when the oracle window is shorter than required, whatever the price", async () => {
    const { earlier, now } = await windowOf(10n);
    const decision = decideBuyback({ usdcIn: 1_000n * USDC, policy: POLICY, earlier, now, icnt: market.icnt });
    expect(decision).toMatchObject({ kind: "defer", reason: "OracleWindowTooShort" });
    expect(decision.kind === "defer" && decision.windowSeconds! < POLICY.minWindowSeconds).toBe(true);
    // The same observation taken as both ends is no window at all.
    expect(decideBuyback({ usdcIn: 1n, policy: { ...POLICY, minWindowSeconds: 0n }, earlier: now.observation, now, icnt: market.icnt })).toMatchObject({
      kind: "defer",
      reason: "OracleWindowTooShort",
    });
  });

  it("defers a swap the pool is too thin for: one that would move its price beyond the bound", async () => {
    const { earlier, now } = await windowOf(600n);
    const decision = decideBuyback({ usdcIn: 20_000n * USDC, policy: POLICY, earlier, now, icnt: market.icnt });
    expect(decision).toMatchObject({ kind: "defer", reason: "PoolTooThin" });
    expect(decideBuyback({ usdcIn: 1_000n * USDC, policy: { ...POLICY, minUsdcReserve: 10_000_000n * USDC }, earlier, now, icnt: market.icnt })).toMatchObject({
      kind: "defer",
      reason: "PoolTooThin",
    });
  });

  it("reverts the swap, moving nothing, when a trade after the decision pushes the output under its minimum", async () => {
    const usdcIn = 1_000n * USDC;
    await fundProtocol(usdcIn);
    const { earlier, now } = await windowOf(600n);
    const decision = decideBuyback({ usdcIn, policy: POLICY, earlier, now, icnt: market.icnt });
    if (decision.kind !== "execute") throw new Error(`expected a swap, got ${decision.kind}`);
    await trade(61, "usdc", 20_000n * USDC); // front-runs our swap: ICNT is ~16% dearer

    const usdcBefore = await t.balanceOf(market.usdc, t.chain.protocol.account.address);
    const icntBefore = await t.balanceOf(market.icnt, treasury);
    await expectRevert(
      executeBuyback(t.chain.protocol, market, { usdcIn, minimumOut: decision.minimumOut, deadline: decision.deadline, recipient: treasury }),
      "UniswapV2Router: INSUFFICIENT_OUTPUT_AMOUNT",
    );
    expect(await t.balanceOf(market.usdc, t.chain.protocol.account.address)).toBe(usdcBefore);
    expect(await t.balanceOf(market.icnt, treasury)).toBe(icntBefore);
    await trade(61, "icnt", await t.balanceOf(market.icnt, t.wallet(61).account.address));
  });

  it("reverts a swap whose deadline has passed in chain time", async () => {
    const usdcIn = 100n * USDC;
    await fundProtocol(usdcIn);
    const { earlier, now } = await windowOf(900n);
    const decision = decideBuyback({ usdcIn, policy: POLICY, earlier, now, icnt: market.icnt });
    if (decision.kind !== "execute") throw new Error(`expected a swap, got ${decision.kind}`);
    await advanceChainTime(POLICY.deadlineSeconds + 1n);
    const usdcBefore = await t.balanceOf(market.usdc, t.chain.protocol.account.address);
    await expectRevert(
      executeBuyback(t.chain.protocol, market, { usdcIn, minimumOut: decision.minimumOut, deadline: decision.deadline, recipient: treasury }),
      "UniswapV2Router: EXPIRED",
    );
    expect(await t.balanceOf(market.usdc, t.chain.protocol.account.address)).toBe(usdcBefore);
  });
});
