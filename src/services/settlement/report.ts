// A period's report, for finance ops (GET /api/v1/admin/finance/periods/:id): what was invoiced, what the buyback
// paid and got, what each operator and validator is paid, what was held back, topped up and kept by the protocol,
// and the root posted on chain. Read from the steps' own records, so it says exactly what settlement did.

import type { Db } from "../../db/client.ts";
import { getSettlementPeriod, listSettlementSteps } from "../../db/settlement.ts";
import { readBuybackRecord } from "./buyback.ts";
import { readDrawRecord } from "./draw.ts";
import { readPostRecord } from "./post.ts";
import { readSplitRecord } from "./split.ts";

export interface PeriodReportView {
  id: string;
  state: "open" | "closed" | "settled" | "deferred";
  currency: string | null;
  revenueMinor: string;
  invoices: number;
  closedAt: string | null;
  /** The swap, once it happened; amounts in USDC and ICNT base units, the price in USDC base units per whole ICNT. */
  buyback: { stableIn: string; icntOut: string; txHash: string; priceUsdcPerIcnt: string; twapUsdcPerIcnt: string | null } | null;
  /** Invoices paid from prepaid ICNT: the price they were converted at (USDC base units per ICNT) and each draw. */
  prepaid: { usdcPerIcnt: string; draws: { accountId: string; wallet: string; icntDrawn: string; coveredMinor: string; txHash: string }[] } | null;
  /** Why the buyback waits (the period is deferred) or why its last attempt failed. */
  deferral: { reason: string; message: string; at: string } | null;
  /** One per payout address (the RewardsDistributor leaves): operator and validator earnings merged. */
  payouts: { account: string; amount: string }[];
  operators: { account: string; amount: string }[];
  validators: { account: string; amount: string }[];
  /** Per node: earned, paid, newly held back, released, forfeited, topped up. */
  nodes: { nodeId: string; payoutAddress: string; earned: string; paid: string; held: string; released: string; forfeited: string; topUp: string }[];
  protocolShare: string | null;
  rewardsRoot: string | null;
  rewardsTxHash: string | null;
  steps: { step: string; state: string; attempts: number; error: string | null }[];
}

export async function periodReport(db: Db, id: string): Promise<PeriodReportView> {
  const row = await getSettlementPeriod(db, id);
  const steps = await listSettlementSteps(db, id);
  const result = (step: string) => steps.find((s) => s.step === step)?.result;
  const buyback = readBuybackRecord(result("buyback"));
  const draw = readDrawRecord(result("draw"));
  const split = readSplitRecord(result("split"));
  const post = readPostRecord(steps.find((s) => s.step === "post" && s.state === "done")?.result);
  const pairs = (xs: { address: string; amount: string }[] | undefined) => (xs ?? []).map((x) => ({ account: x.address, amount: x.amount }));
  return {
    id,
    state: row?.state ?? "open",
    currency: row?.currency ?? null,
    revenueMinor: row?.revenueMinor ?? "0",
    invoices: row?.invoices ?? 0,
    closedAt: row?.closedAt == null ? null : new Date(row.closedAt).toISOString(),
    buyback: buyback?.swap
      ? { stableIn: buyback.swap.stableIn, icntOut: buyback.swap.icntOut, txHash: buyback.swap.txHash, priceUsdcPerIcnt: buyback.swap.priceUsdcPerIcnt, twapUsdcPerIcnt: buyback.decision?.twapUsdcPerIcnt ?? null }
      : null,
    prepaid: draw?.usdcPerIcnt ? { usdcPerIcnt: draw.usdcPerIcnt, draws: draw.draws } : null,
    deferral: !buyback?.swap && buyback?.lastDeferral ? { reason: buyback.lastDeferral.reason, message: buyback.lastDeferral.message, at: new Date(buyback.lastDeferral.at).toISOString() } : null,
    payouts: post ? (split?.payables.leaves ?? []).map((l) => ({ account: l.account, amount: l.amount })) : [],
    operators: pairs(split?.payables.operators),
    validators: pairs(split?.payables.validators),
    nodes: (split?.nodes ?? []).map((n) => ({ nodeId: n.nodeId, payoutAddress: n.payoutAddress, earned: n.earned, paid: n.paid, held: n.held, released: n.released, forfeited: n.forfeited, topUp: n.topUp })),
    protocolShare: split?.split.protocolShare ?? null,
    rewardsRoot: post?.rewardsRoot ?? null,
    rewardsTxHash: post?.rewardsTxHash ?? null,
    steps: steps.map((s) => ({ step: s.step, state: s.state, attempts: s.attempts, error: s.error })),
  };
}

/** The report as CSV rows (section, key, amount): one line per figure, for a spreadsheet. */
export function periodReportRows(r: PeriodReportView): string[][] {
  const rows: string[][] = [
    ["period", "state", r.state],
    ["revenue", r.currency ?? "USD", r.revenueMinor],
  ];
  if (r.buyback) {
    rows.push(["buyback", "usdc_in", r.buyback.stableIn], ["buyback", "icnt_out", r.buyback.icntOut], ["buyback", "price_usdc_per_icnt", r.buyback.priceUsdcPerIcnt], ["buyback", "tx", r.buyback.txHash]);
  }
  for (const d of r.prepaid?.draws ?? []) rows.push(["prepaid_draw_icnt", d.accountId, d.icntDrawn], ["prepaid_covered_minor", d.accountId, d.coveredMinor]);
  if (r.deferral) rows.push(["deferral", r.deferral.reason, r.deferral.message]);
  for (const o of r.operators) rows.push(["operator_payout", o.account, o.amount]);
  for (const v of r.validators) rows.push(["validator_payout", v.account, v.amount]);
  for (const n of r.nodes) {
    for (const [key, amount] of [["earned", n.earned], ["held_back", n.held], ["released", n.released], ["forfeited", n.forfeited], ["collateral_topup", n.topUp]] as const) {
      if (amount !== "0") rows.push([`node_${key}`, n.nodeId, amount]);
    }
  }
  if (r.protocolShare !== null) rows.push(["protocol_share", "", r.protocolShare]);
  if (r.rewardsRoot) rows.push(["rewards", "root", r.rewardsRoot], ["rewards", "tx", r.rewardsTxHash ?? ""]);
  return rows;
}
