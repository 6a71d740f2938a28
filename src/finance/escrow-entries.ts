// Invoices paid in prepaid ICNT (issue 17): the conversion of a USD invoice into the ICNT settlement draws from the
// customer's ServiceEscrow balance, and the ledger entry of a draw. Pure. The price is USDC base units per whole
// ICNT (the buyback's TWAP, src/chain/amm.ts icntTwapInUsdc), and a USD cent is 10^4 USDC base units at par.
//
// The entry (`settlement:<period>:escrow:<account>`) balances each currency on its own through prepaid_clearing,
// as fx_clearing does for fiat turned into stablecoin:
//
//   USD    receivables:<account> credited by the part of the invoice the ICNT covered ← prepaid_clearing
//   ICNT   icnt_treasury debited by the ICNT drawn (ServiceEscrow pays it to the protocol key) → prepaid_clearing
//
// and the period's rewards pool then takes its ICNT from prepaid_clearing (settlement-entries.ts rewardsPoolEntry,
// source { account: "prepaid_clearing", amount: Σ icntDrawn }), leaving it with the USD side only: the record of
// what the ICNT was worth when it paid.

import { FinanceError } from "./errors.ts";
import { transfer, type LedgerEntry } from "./ledger.ts";

/** USDC base units in one USD cent (USDC has 6 decimals, USD minor units 2), at par. */
export const USDC_PER_CENT = 10n ** 4n;
/** ICNT base units in one ICNT. */
export const ICNT_UNIT = 10n ** 18n;

function requirePrice(usdcPerIcnt: bigint): void {
  if (usdcPerIcnt <= 0n) throw new FinanceError("InvalidAmount", "An ICNT price is a positive number of USDC base units per ICNT.", { usdcPerIcnt: usdcPerIcnt.toString() });
}

/**
 * The ICNT that pays `totalMinor` USD cents at `usdcPerIcnt`, rounded down: the customer is never charged more than
 * the invoice (at most one ICNT base unit less).
 */
export function icntOwedFor(totalMinor: bigint, usdcPerIcnt: bigint): bigint {
  requirePrice(usdcPerIcnt);
  if (totalMinor <= 0n) return 0n;
  return (totalMinor * USDC_PER_CENT * ICNT_UNIT) / usdcPerIcnt;
}

/**
 * The USD cents `icntDrawn` pays of an invoice of `totalMinor`: all of it when the draw is the whole amount owed
 * (icntOwedFor), otherwise the ICNT's value rounded down, so a short balance never covers more than it is worth.
 */
export function usdCoveredBy(icntDrawn: bigint, totalMinor: bigint, usdcPerIcnt: bigint): bigint {
  const owed = icntOwedFor(totalMinor, usdcPerIcnt);
  if (icntDrawn < 0n || icntDrawn > owed) throw new FinanceError("InvalidAmount", "A draw is between 0 and the ICNT owed.", { icntDrawn: icntDrawn.toString(), owed: owed.toString() });
  if (icntDrawn === owed) return totalMinor;
  // Below `owed` the value is below the invoice: owed = ⌊T·10^22 / p⌋, so drawn < owed means drawn·p < T·10^22.
  return (icntDrawn * usdcPerIcnt) / (USDC_PER_CENT * ICNT_UNIT);
}

export interface EscrowDrawEntryParameters {
  periodId: string;
  /** When the draw was mined (ms, the edge's clock). */
  occurredAt: number;
  accountId: string;
  wallet: string;
  icntDrawn: bigint;
  coveredMinor: bigint;
  txHash: string;
}

/** The ledger entry of one account's escrow draw; its key makes a resumed step post it once. */
export function escrowDrawEntry(p: EscrowDrawEntryParameters): LedgerEntry {
  if (p.icntDrawn <= 0n) throw new FinanceError("InvalidAmount", "An escrow draw moves a positive amount of ICNT.", { accountId: p.accountId });
  return {
    key: `settlement:${p.periodId}:escrow:${p.accountId}`,
    periodId: p.periodId,
    kind: "escrow-draw",
    memo: `${p.icntDrawn} ICNT base units drawn from ${p.wallet.toLowerCase()}'s escrow in ${p.txHash}, paying ${p.coveredMinor} USD cents of ${p.accountId}'s invoice`,
    occurredAt: p.occurredAt,
    lines: [
      ...transfer({ debit: "icnt_treasury", credit: "prepaid_clearing", currency: "ICNT", amount: p.icntDrawn }),
      // Less than a cent's worth of ICNT pays no cent: the ICNT side stands alone.
      ...(p.coveredMinor > 0n ? transfer({ debit: "prepaid_clearing", credit: { account: "receivables", subaccount: p.accountId }, currency: "USD", amount: p.coveredMinor }) : []),
    ],
  };
}
