// Settlement's draws on prepaid ICNT (issue 17): each invoiced account with a linked wallet pays its invoice from
// the wallet's ServiceEscrow balance, as far as the balance goes; the rest stays a fiat receivable. Called by the
// settlement chore (src/services/settlement.ts), which posts each draw's ledger entry (src/finance/escrow-entries.ts
// escrowDrawEntry) and, once the period is settled, marks it so on chain (markPeriodSettled), which releases the
// withdrawals customers asked for during it.
//
// Every transaction goes through the protocol key's Durable Object under the step's key
// (`settlement:<period>:escrow:<account>`), so a resumed step reads the receipt of the draw it already made instead
// of drawing again; the contract's one-draw-per-(wallet, period) rule is the second guard. A draw can lose a race
// with a withdrawal the customer was entitled to make (the balance read, then withdrawn before the draw is mined):
// a draw refused in simulation is recomputed from a fresh balance, and one mined and reverted takes the step's next
// key (`…:2`, `…:3`): a reverted transaction changed nothing, so nothing is drawn twice.

import type { Address, Hash } from "viem";
import { getAddress } from "viem";
import type { ChainSigner } from "../chain/clients.ts";
import { edgeChain, type EdgeChain } from "../chain/edge-chain.ts";
import { ChainConfigError, ChainTransactionError } from "../chain/errors.ts";
import { drawDownEscrow, markEscrowPeriodSettled, readDrawnForPeriod, readEscrowBalance, readLastSettledPeriod, readRevenueRecipient, usageDrawnIn } from "../chain/escrow.ts";
import type { Db } from "../db/client.ts";
import { walletsOfAccounts } from "../db/wallets.ts";
import type { Env } from "../env.ts";
import { icntOwedFor, usdCoveredBy } from "../finance/escrow-entries.ts";
import { protocolSigner, protocolTransactionsOf } from "./protocol-signer.ts";

export interface EscrowDraw {
  accountId: string;
  /** Checksummed. */
  wallet: Address;
  /** ICNT base units drawn (what the UsageDrawn event says). */
  icntDrawn: bigint;
  /** USD cents of the invoice the draw paid: all of it, or the ICNT's value rounded down when the balance was short. */
  coveredMinor: bigint;
  txHash: Hash;
}

export interface DrawPrepaidUsageParameters {
  /** The finance period (src/finance/periods.ts): names the transactions' keys. */
  periodId: string;
  /** ServiceEscrow's id of the period (increasing; the same the period is marked settled with). */
  chainPeriod: bigint;
  /** The period's invoices in USD cents; accounts without a linked wallet, or owing nothing, are skipped. */
  invoices: readonly { accountId: string; totalMinor: bigint }[];
  /**
   * USDC base units per whole ICNT. A resumed step must pass the price its first run used (record it with the
   * step): coveredMinor is computed from it, and the ledger refuses a second entry with other amounts.
   */
  usdcPerIcnt: bigint;
  /** ms, the edge's clock (for logs). */
  now: number;
}

/** Keys a draw may take: the step's own, then one more for each draw of it mined and reverted. */
const MAX_DRAW_KEYS = 3;
/** Fresh balance reads for a draw the contract refused in simulation (a withdrawal got in first). */
const MAX_BALANCE_READS = 3;

export const escrowDrawKey = (periodId: string, accountId: string, attempt = 1) => `settlement:${periodId}:escrow:${accountId}${attempt === 1 ? "" : `:${attempt}`}`;
export const escrowSettledKey = (periodId: string) => `settlement:${periodId}:escrow-settled`;

/**
 * Draws each linked account's invoice (min(owed, balance)) from its wallet's escrow balance, oldest key first, one
 * account at a time. Returns the draws made now and those a previous run of the step made; none when the edge has no
 * chain. Throws ChainConfigError when the escrow pays draws anywhere but the protocol key (the ledger's ICNT
 * treasury), and ChainError / ChainTransactionError when the chain fails (the step retries; nothing is drawn twice).
 */
export async function drawPrepaidUsage(env: Env, db: Db, p: DrawPrepaidUsageParameters): Promise<EscrowDraw[]> {
  const chain = edgeChain(env);
  const owing = p.invoices.filter((i) => i.totalMinor > 0n);
  if (!chain || owing.length === 0) return [];
  const wallets = await walletsOfAccounts(db, owing.map((i) => i.accountId));
  if (wallets.size === 0) return [];
  const signer = protocolSigner(env, chain.config);
  const escrow = chain.config.contracts.serviceEscrow;
  const recipient = await readRevenueRecipient(chain.client, { escrow });
  if (recipient.toLowerCase() !== signer.account.address.toLowerCase()) {
    throw new ChainConfigError(`ServiceEscrow pays draws to ${recipient}, not to the protocol key ${signer.account.address}: the ICNT would not reach the treasury settlement funds rewards from.`);
  }
  const draws: EscrowDraw[] = [];
  for (const invoice of [...owing].sort((a, b) => (a.accountId < b.accountId ? -1 : a.accountId > b.accountId ? 1 : 0))) {
    const wallet = wallets.get(invoice.accountId);
    if (!wallet) continue;
    const owed = icntOwedFor(invoice.totalMinor, p.usdcPerIcnt);
    if (owed === 0n) continue;
    const drawn = await drawOne(env, chain, signer, { ...p, accountId: invoice.accountId, wallet: getAddress(wallet), owed });
    if (drawn) draws.push({ accountId: invoice.accountId, wallet: getAddress(wallet), icntDrawn: drawn.amount, coveredMinor: usdCoveredBy(drawn.amount, invoice.totalMinor, p.usdcPerIcnt), txHash: drawn.txHash });
  }
  return draws;
}

async function drawOne(
  env: Env,
  chain: EdgeChain,
  signer: ChainSigner,
  d: { periodId: string; chainPeriod: bigint; accountId: string; wallet: Address; owed: bigint; now: number },
): Promise<{ amount: bigint; txHash: Hash } | undefined> {
  const escrow = chain.config.contracts.serviceEscrow;
  const transactions = protocolTransactionsOf(env);
  const call = (amount: bigint, key: string) => drawDownEscrow(signer, { escrow, customer: d.wallet, periodId: d.chainPeriod, amount }, { idempotencyKey: key });
  const drawnIn = (receipt: Awaited<ReturnType<typeof call>>) => {
    const event = usageDrawnIn(receipt, escrow);
    if (!event) throw new ChainTransactionError(`drawDown ${receipt.transactionHash} has no UsageDrawn event.`, { functionName: "drawDown", transactionHash: receipt.transactionHash });
    return { amount: event.amount, txHash: event.txHash };
  };
  for (let attempt = 1; attempt <= MAX_DRAW_KEYS; attempt++) {
    const key = escrowDrawKey(d.periodId, d.accountId, attempt);
    if (await transactions.transaction(chain.config.chainId, key)) {
      // This step drew (or tried to) before: its receipt says what, and a revert lets the next key try again.
      try {
        return drawnIn(await call(d.owed, key));
      } catch (error) {
        if (error instanceof ChainTransactionError && error.transactionHash) continue;
        throw error;
      }
    }
    // Drawn, but not under this account's keys: the wallet paid another account's invoice of this period (it was
    // linked to that account before), or the settler drew by hand. This invoice stays a fiat receivable.
    if (await readDrawnForPeriod(chain.client, { escrow, customer: d.wallet, periodId: d.chainPeriod })) {
      console.warn(JSON.stringify({ event: "escrow_draw_skipped", reason: "wallet already drawn for this period", periodId: d.periodId, accountId: d.accountId, wallet: d.wallet }));
      return undefined;
    }
    for (let read = 1; ; read++) {
      const balance = await readEscrowBalance(chain.client, { escrow, customer: d.wallet });
      const amount = d.owed < balance ? d.owed : balance;
      if (amount === 0n) return undefined;
      try {
        return drawnIn(await call(amount, key));
      } catch (error) {
        if (!(error instanceof ChainTransactionError)) throw error;
        if (error.transactionHash) break; // mined and reverted: the next key
        if (read < MAX_BALANCE_READS && error.revertReason?.startsWith("InsufficientBalance")) continue;
        throw error;
      }
    }
  }
  throw new ChainTransactionError(`The draw of ${d.accountId}'s invoice for ${d.periodId} reverted on chain under each of its ${MAX_DRAW_KEYS} keys.`, { functionName: "drawDown" });
}

/**
 * Marks the period settled in ServiceEscrow once its draws are done: withdrawals requested up to it become
 * withdrawable. Under the key `settlement:<period>:escrow-settled`; a period the escrow already counts as settled
 * (this step ran before without its record, or a later period was marked) sends nothing. txHash null when nothing was
 * sent now or before, or when the edge has no chain.
 */
export async function markPeriodSettled(env: Env, p: { periodId: string; chainPeriod: bigint }): Promise<{ txHash: Hash | null }> {
  const chain = edgeChain(env);
  if (!chain) return { txHash: null };
  const signer = protocolSigner(env, chain.config);
  const escrow = chain.config.contracts.serviceEscrow;
  const key = escrowSettledKey(p.periodId);
  const send = () => markEscrowPeriodSettled(signer, { escrow, periodId: p.chainPeriod }, { idempotencyKey: key });
  if (await protocolTransactionsOf(env).transaction(chain.config.chainId, key)) return { txHash: (await send()).transactionHash };
  if ((await readLastSettledPeriod(chain.client, { escrow })) >= p.chainPeriod) return { txHash: null };
  try {
    return { txHash: (await send()).transactionHash };
  } catch (error) {
    if (error instanceof ChainTransactionError && !error.transactionHash && error.revertReason?.startsWith("PeriodAlreadySettled")) return { txHash: null };
    throw error;
  }
}
