// Step 3, buyback: a share of the period's fiat revenue (SETTLEMENT_BUYBACK_SHARE_BPS) becomes stablecoin in the
// protocol's account and is swapped for ICNT through the pool's router, at a minimum output taken from the pool's
// TWAP over a window of chain time (src/finance/buyback-guard.ts). The step works in stages, each recorded on the
// step before the next begins, so a resumed step continues where the last one stopped:
//   1. conversion: the fiat converted off-chain is in the treasury (locally: TestUSDC minted for it, under the key
//      `settlement:<period>:conversion`), and the ledger records both sides;
//   2. decision: the guard's verdict on the pool as it is now against an observation stored at least the window's
//      length earlier (workers/cron/pool-observer.ts). A deferral marks the period deferred and raises an alert;
//      the next run decides again;
//   3. swap: sent under `settlement:<period>:buyback:<attempt>`, so a resumed attempt rebroadcasts or reads its
//      receipt and never swaps twice. A swap the router refuses (the price moved past the minimum, the deadline
//      passed) swapped nothing: the attempt is counted and the next run decides afresh.

import { erc20Abi, type Address, type Hash } from "viem";
import { executeBuyback } from "../../chain/amm.ts";
import { readPoolState } from "../../chain/amm.ts";
import { edgeChain } from "../../chain/edge-chain.ts";
import { ChainTransactionError } from "../../chain/errors.ts";
import { testUsdcAbi } from "../../chain/generated/abis.ts";
import { sendContractTransaction } from "../../chain/transactions.ts";
import { postLedgerEntry } from "../../db/ledger.ts";
import { poolObservationAtOrBefore } from "../../db/pool-observations.ts";
import { completeSettlementStep, getSettlementPeriod, getSettlementStep, saveSettlementStepResult } from "../../db/settlement.ts";
import { buybackStablecoin, decideBuyback, type BuybackDecision } from "../../finance/buyback-guard.ts";
import { buybackEntry, fiatConversionEntry } from "../../finance/settlement-entries.ts";
import { protocolSigner } from "../protocol-signer.ts";
import { drawTotals, readDrawRecord } from "./draw.ts";
import { checkpoint, SettlementStepError, type PeriodContext, type RunContext, type StepOutcome } from "./context.ts";

/** The buyback step's record (decimal strings of base units), saved after each stage. */
export interface BuybackRecord {
  /** The fiat share that buys ICNT: USD cents, and the USDC base units it converts to at par. */
  usdMinor: string;
  usdc: string;
  /** Swap attempts begun; the current one's transactions go under `settlement:<period>:buyback:<attempt>`. */
  attempt: number;
  /** The fiat's conversion to stablecoin: the mint's transaction, or "treasury" when finance ops deposited it. */
  conversion?: { reference: string };
  /** The guard's bounds for the current attempt (set before its swap is sent). */
  decision?: { usdcIn: string; minimumOut: string; deadline: string; twapUsdcPerIcnt: string; spotUsdcPerIcnt: string; windowSeconds: string };
  /** The last deferral or refused swap, for the report and the alert. */
  lastDeferral?: { reason: string; message: string; at: number };
  /** What the pool's Swap event says changed hands. */
  swap?: { stableIn: string; icntOut: string; txHash: Hash; priceUsdcPerIcnt: string };
  /** Nothing to swap (no fiat revenue in the period). */
  skipped?: "NothingToSwap";
}

export function readBuybackRecord(result: string | null | undefined): BuybackRecord | undefined {
  return result ? (JSON.parse(result) as BuybackRecord) : undefined;
}

export async function buybackStep(ctx: RunContext, period: PeriodContext): Promise<StepOutcome> {
  const save = (r: BuybackRecord) => saveSettlementStepResult(ctx.db, period.id, "buyback", JSON.stringify(r), ctx.now);
  let record = readBuybackRecord((await getSettlementStep(ctx.db, period.id, "buyback"))?.result);
  if (!record) {
    const row = (await getSettlementPeriod(ctx.db, period.id))!;
    // The fiat revenue: what was invoiced less what prepaid ICNT paid (that ICNT joins the pool as it is).
    const prepaid = drawTotals(readDrawRecord((await getSettlementStep(ctx.db, period.id, "draw"))?.result)).coveredMinor;
    const { usdMinor, usdc } = buybackStablecoin(BigInt(row.revenueMinor) - prepaid, ctx.settlement.buybackShareBps);
    record = { usdMinor: usdMinor.toString(), usdc: usdc.toString(), attempt: 1 };
    await save(record);
  }
  if (BigInt(record.usdc) === 0n) {
    await completeSettlementStep(ctx.db, period.id, "buyback", JSON.stringify({ ...record, skipped: "NothingToSwap" }), ctx.now);
    return { kind: "done" };
  }

  const chain = edgeChain(ctx.env);
  const market = chain?.config.market;
  if (!chain || !market) throw new SettlementStepError(period.id, "buyback", "No buyback market is configured (USDC_ADDRESS, UNISWAP_V2_ROUTER_ADDRESS, ICNT_USDC_PAIR_ADDRESS).");
  const signer = protocolSigner(ctx.env, chain.config);
  const treasury = signer.account.address;
  const fullMarket = { ...market, icnt: chain.config.contracts.icnt };

  if (!record.conversion) {
    const usdc = BigInt(record.usdc);
    let reference: string;
    if (ctx.settlement.usdcFunding === "mint-test-usdc") {
      const receipt = await sendContractTransaction(signer, { address: market.usdc, abi: testUsdcAbi, functionName: "mint", args: [treasury, usdc] }, { idempotencyKey: `settlement:${period.id}:conversion` });
      reference = receipt.transactionHash;
    } else {
      const balance = await chain.client.readContract({ address: market.usdc, abi: erc20Abi, functionName: "balanceOf", args: [treasury] });
      if (balance < usdc) return defer(ctx, period, record, "TreasuryShort", `The treasury ${treasury} holds ${balance} USDC base units; the buyback needs ${usdc}. Convert the period's fiat share and deposit it.`);
      reference = "treasury";
    }
    await postLedgerEntry(ctx.db, fiatConversionEntry({ periodId: period.id, occurredAt: ctx.now, usdMinor: BigInt(record.usdMinor), usdc, reference }), ctx.now);
    record = { ...record, conversion: { reference } };
    await save(record);
    checkpoint(ctx, "buyback.converted");
  }

  if (!record.decision) {
    const now = await readPoolState(chain.client, fullMarket);
    const earlier = await poolObservationAtOrBefore(ctx.db, market.pair, now.observation.timestamp - ctx.settlement.buyback.minWindowSeconds);
    const decision: BuybackDecision = earlier
      ? decideBuyback({ usdcIn: BigInt(record.usdc), policy: ctx.settlement.buyback, earlier, now, icnt: fullMarket.icnt })
      : { kind: "defer", reason: "OracleWindowTooShort", message: `No price observation of the pool is ${ctx.settlement.buyback.minWindowSeconds} s of chain time old yet.` };
    if (decision.kind === "defer") return defer(ctx, period, record, decision.reason, decision.message);
    if (decision.kind === "skip") throw new SettlementStepError(period.id, "buyback", "the guard found nothing to swap");
    record = {
      ...record,
      decision: {
        usdcIn: decision.usdcIn.toString(),
        minimumOut: decision.minimumOut.toString(),
        deadline: decision.deadline.toString(),
        twapUsdcPerIcnt: decision.twapUsdcPerIcnt.toString(),
        spotUsdcPerIcnt: decision.spotUsdcPerIcnt.toString(),
        windowSeconds: decision.windowSeconds.toString(),
      },
    };
    await save(record);
  }

  const d = record.decision!;
  let swap;
  try {
    swap = await executeBuyback(
      signer,
      fullMarket,
      { usdcIn: BigInt(d.usdcIn), minimumOut: BigInt(d.minimumOut), deadline: BigInt(d.deadline), recipient: treasury as Address },
      { idempotencyKey: `settlement:${period.id}:buyback:${record.attempt}` },
    );
  } catch (error) {
    if (!(error instanceof ChainTransactionError)) throw error;
    // Refused or reverted: nothing was swapped. The next run decides again under a new attempt's keys.
    const { decision: _, ...rest } = record;
    await save({ ...rest, attempt: record.attempt + 1, lastDeferral: { reason: "SwapRefused", message: error.message, at: ctx.now } });
    throw new SettlementStepError(period.id, "buyback", `The swap of attempt ${record.attempt} did not go through: ${error.message}`);
  }
  checkpoint(ctx, "buyback.swapped");
  await postLedgerEntry(ctx.db, buybackEntry({ periodId: period.id, occurredAt: ctx.now, stableIn: swap.stableIn, icntOut: swap.icntOut, txHash: swap.txHash }), ctx.now);
  const priceUsdcPerIcnt = swap.icntOut === 0n ? 0n : (swap.stableIn * 10n ** 18n) / swap.icntOut;
  record = { ...record, swap: { stableIn: swap.stableIn.toString(), icntOut: swap.icntOut.toString(), txHash: swap.txHash, priceUsdcPerIcnt: priceUsdcPerIcnt.toString() } };
  await completeSettlementStep(ctx.db, period.id, "buyback", JSON.stringify(record), ctx.now);
  return { kind: "done" };
}

async function defer(ctx: RunContext, period: PeriodContext, record: BuybackRecord, reason: string, message: string): Promise<StepOutcome> {
  await saveSettlementStepResult(ctx.db, period.id, "buyback", JSON.stringify({ ...record, lastDeferral: { reason, message, at: ctx.now } }), ctx.now);
  return { kind: "deferred", reason, message };
}
