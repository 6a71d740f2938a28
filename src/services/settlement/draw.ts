// Step 2, draw: accounts that prepay in ICNT (a wallet linked, ICNT deposited in ServiceEscrow) pay their invoice
// from the escrow (src/services/escrow-draws.ts). Each invoice is converted at the pool's TWAP over the buyback's
// window (never a same-block price: a customer's draw is as hard to push as the buyback), recorded before any draw
// so a resumed step converts at the same price; what a balance cannot cover stays a receivable, paid in fiat. The
// ICNT drawn joins the period's rewards pool; the fiat share the buyback spends is taken from the rest.

import { icntTwapInUsdc, readPoolState } from "../../chain/amm.ts";
import { edgeChain } from "../../chain/edge-chain.ts";
import { postLedgerEntry } from "../../db/ledger.ts";
import { poolObservationAtOrBefore } from "../../db/pool-observations.ts";
import { completeSettlementStep, getSettlementStep, saveSettlementStepResult } from "../../db/settlement.ts";
import { walletsOfAccounts } from "../../db/wallets.ts";
import { escrowDrawEntry } from "../../finance/escrow-entries.ts";
import { drawPrepaidUsage } from "../escrow-draws.ts";
import { chainPeriodOf } from "../rewards-posting.ts";
import type { CloseRecord } from "./close.ts";
import { SettlementStepError, type PeriodContext, type RunContext, type StepOutcome } from "./context.ts";

export interface DrawRecord {
  /** USDC base units per whole ICNT the invoices were converted at; null when no invoiced account prepays. */
  usdcPerIcnt: string | null;
  draws: { accountId: string; wallet: string; icntDrawn: string; coveredMinor: string; txHash: string }[];
}

export function readDrawRecord(result: string | null | undefined): DrawRecord | undefined {
  return result ? (JSON.parse(result) as DrawRecord) : undefined;
}

/** What the period's draws took: ICNT into the pool, and the USD cents of invoices they paid. */
export function drawTotals(record: DrawRecord | undefined): { icnt: bigint; coveredMinor: bigint } {
  let icnt = 0n;
  let coveredMinor = 0n;
  for (const d of record?.draws ?? []) {
    icnt += BigInt(d.icntDrawn);
    coveredMinor += BigInt(d.coveredMinor);
  }
  return { icnt, coveredMinor };
}

export async function drawStep(ctx: RunContext, period: PeriodContext): Promise<StepOutcome> {
  const close = JSON.parse((await getSettlementStep(ctx.db, period.id, "close"))!.result!) as CloseRecord;
  const invoices = close.invoices.map((i) => ({ accountId: i.accountId, totalMinor: BigInt(i.totalMinor) })).filter((i) => i.totalMinor > 0n);
  const wallets = await walletsOfAccounts(ctx.db, invoices.map((i) => i.accountId));
  const prepaying = invoices.filter((i) => wallets.has(i.accountId));
  let record = readDrawRecord((await getSettlementStep(ctx.db, period.id, "draw"))?.result);
  if (prepaying.length === 0 && !record?.usdcPerIcnt) {
    await completeSettlementStep(ctx.db, period.id, "draw", JSON.stringify({ usdcPerIcnt: null, draws: [] } satisfies DrawRecord), ctx.now);
    return { kind: "done" };
  }

  if (!record?.usdcPerIcnt) {
    const chain = edgeChain(ctx.env);
    const market = chain?.config.market;
    if (!chain || !market) throw new SettlementStepError(period.id, "draw", "No market is configured to price prepaid ICNT (USDC_ADDRESS, UNISWAP_V2_ROUTER_ADDRESS, ICNT_USDC_PAIR_ADDRESS).");
    const icnt = chain.config.contracts.icnt;
    const now = await readPoolState(chain.client, { ...market, icnt });
    const earlier = await poolObservationAtOrBefore(ctx.db, market.pair, now.observation.timestamp - ctx.settlement.buyback.minWindowSeconds);
    if (!earlier || earlier.timestamp >= now.observation.timestamp) {
      return { kind: "deferred", reason: "OracleWindowTooShort", message: `No price observation of the pool is ${ctx.settlement.buyback.minWindowSeconds} s of chain time old yet to price prepaid ICNT.` };
    }
    const price = icntTwapInUsdc(earlier, now.observation, icnt);
    if (price <= 0n) return { kind: "deferred", reason: "PoolTooThin", message: "The pool has no price over the window to convert prepaid invoices at." };
    record = { usdcPerIcnt: price.toString(), draws: [] };
    await saveSettlementStepResult(ctx.db, period.id, "draw", JSON.stringify(record), ctx.now);
  }

  const draws = await drawPrepaidUsage(ctx.env, ctx.db, {
    periodId: period.id,
    chainPeriod: chainPeriodOf(period.id, ctx.periodMinutes),
    invoices: prepaying,
    usdcPerIcnt: BigInt(record.usdcPerIcnt!),
    now: ctx.now,
  });
  for (const d of draws) {
    await postLedgerEntry(ctx.db, escrowDrawEntry({ periodId: period.id, occurredAt: ctx.now, accountId: d.accountId, wallet: d.wallet, icntDrawn: d.icntDrawn, coveredMinor: d.coveredMinor, txHash: d.txHash }), ctx.now);
  }
  record = {
    usdcPerIcnt: record.usdcPerIcnt,
    draws: draws.map((d) => ({ accountId: d.accountId, wallet: d.wallet, icntDrawn: d.icntDrawn.toString(), coveredMinor: d.coveredMinor.toString(), txHash: d.txHash })),
  };
  await completeSettlementStep(ctx.db, period.id, "draw", JSON.stringify(record), ctx.now);
  return { kind: "done" };
}
