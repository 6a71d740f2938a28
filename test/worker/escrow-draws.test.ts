// Settlement's draws on prepaid ICNT (src/services/escrow-draws.ts) against the Worker tests' anvil, through the
// protocol key's Durable Object: each linked account pays its invoice from its wallet's escrow balance as far as the
// balance goes, an unlinked account is left to fiat, a retried step draws nothing twice, a draw that lost a race with
// a withdrawal is made again with what is left, and the ledger entries balance in USD and ICNT.

import { env } from "cloudflare:test";
import { encodeFunctionData, type Address } from "viem";
import { describe, expect, it } from "vitest";
import { markEscrowPeriodSettled, readEscrowBalance, readLastSettledPeriod, requestEscrowWithdrawal, withdrawFromEscrow } from "../../src/chain/escrow.ts";
import { serviceEscrowAbi } from "../../src/chain/generated/abis.ts";
import type { ChainSigner } from "../../src/chain/clients.ts";
import { createAccount } from "../../src/db/accounts.ts";
import { openDb } from "../../src/db/client.ts";
import { getLedgerEntry, postLedgerEntry } from "../../src/db/ledger.ts";
import { linkWallet, unlinkWallet } from "../../src/db/wallets.ts";
import type { Env } from "../../src/env.ts";
import { escrowDrawEntry, icntOwedFor, usdCoveredBy } from "../../src/finance/escrow-entries.ts";
import { validateEntry } from "../../src/finance/ledger.ts";
import { rewardsPoolEntry } from "../../src/finance/settlement-entries.ts";
import { drawPrepaidUsage, escrowDrawKey, markPeriodSettled } from "../../src/services/escrow-draws.ts";
import { protocolTransactionsOf } from "../../src/services/protocol-signer.ts";
import { chainEnv, chainOf, customerWallet, ICNT, icntBalance } from "./escrow-helpers.ts";

const db = () => openDb((env as unknown as Env).DB);
/** 0.25 USDC per ICNT (the local pool's seed price): a cent buys 0.04 ICNT. */
const PRICE = 250_000n;

async function linkedAccount(wallet: ChainSigner | undefined): Promise<string> {
  const id = `acc_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  await createAccount(db(), id, id, 0);
  if (wallet) await linkWallet(db(), { accountId: id, wallet: wallet.account.address.toLowerCase(), signature: "0x", issuedAt: 0, linkedAt: 0 });
  return id;
}

const balanceOf = (wallet: ChainSigner) => readEscrowBalance(chainOf().client, { escrow: chainOf().escrow, customer: wallet.account.address });
const protocolNonce = () => chainOf().client.getTransactionCount({ address: chainOf().protocol.account.address, blockTag: "pending" });
/** A period id of its own per test, and a chain period no other draw of these wallets used. */
const period = () => ({ periodId: `test-${crypto.randomUUID().slice(0, 8)}`, chainPeriod: 1_700_000_000n + BigInt(Math.floor(Math.random() * 1e6)) });

describe("prepaid ICNT draws", () => {
  it("converts a USD invoice into ICNT without charging more than owed", () => {
    expect(icntOwedFor(1000n, PRICE)).toBe(40n * ICNT);
    // 1 cent at 0.30 USDC/ICNT is 0.0333… ICNT: rounded down, and still the whole cent when drawn in full.
    const owed = icntOwedFor(1n, 300_000n);
    expect(owed).toBe(33_333_333_333_333_333n);
    expect(owed * 300_000n).toBeLessThanOrEqual(1n * 10n ** 22n);
    expect(usdCoveredBy(owed, 1n, 300_000n)).toBe(1n);
    expect(usdCoveredBy(owed - 1n, 1n, 300_000n)).toBe(0n);
    expect(usdCoveredBy(10n * ICNT, 1000n, PRICE)).toBe(250n);
  });

  it("draws each linked account's invoice, part of it when the balance is short, skips the unlinked, and draws nothing twice", async () => {
    const e = chainEnv();
    const { periodId, chainPeriod } = period();
    const rich = await customerWallet(100n * ICNT);
    const short = await customerWallet(10n * ICNT);
    const empty = await customerWallet(0n);
    const unlinkedWallet = await customerWallet(50n * ICNT);
    const [richId, shortId, emptyId, unlinkedId] = [await linkedAccount(rich), await linkedAccount(short), await linkedAccount(empty), await linkedAccount(undefined)];
    const invoices = [richId, shortId, emptyId, unlinkedId].map((accountId) => ({ accountId, totalMinor: 1000n }));
    const treasury = chainOf().protocol.account.address;
    const treasuryBefore = await icntBalance(treasury);

    const draws = await drawPrepaidUsage(e, db(), { periodId, chainPeriod, invoices, usdcPerIcnt: PRICE, now: Date.now() });
    const byAccount = new Map(draws.map((d) => [d.accountId, d]));
    expect([...byAccount.keys()].sort()).toEqual([richId, shortId].sort());
    expect(byAccount.get(richId)).toMatchObject({ wallet: rich.account.address, icntDrawn: 40n * ICNT, coveredMinor: 1000n });
    // 10 ICNT at 0.25 USDC pays 2.50 of the 10.00 invoice; the rest stays a fiat receivable.
    expect(byAccount.get(shortId)).toMatchObject({ wallet: short.account.address, icntDrawn: 10n * ICNT, coveredMinor: 250n });
    expect(await balanceOf(rich)).toBe(60n * ICNT);
    expect(await balanceOf(short)).toBe(0n);
    expect(await balanceOf(unlinkedWallet)).toBe(50n * ICNT);
    expect(await icntBalance(treasury)).toBe(treasuryBefore + 50n * ICNT);

    // The step again (a retry, a resume after a crash): the same draws, read from their receipts; no transaction sent.
    const nonce = await protocolNonce();
    const again = await drawPrepaidUsage(e, db(), { periodId, chainPeriod, invoices, usdcPerIcnt: PRICE, now: Date.now() });
    expect(again).toEqual(draws);
    expect(await protocolNonce()).toBe(nonce);
    expect(await balanceOf(rich)).toBe(60n * ICNT);

    // The ledger: each draw balances per currency, posts once, and its ICNT fills the rewards pool from prepaid_clearing.
    const entries = draws.map((d) => escrowDrawEntry({ ...d, periodId, occurredAt: 1 }));
    for (const entry of entries) {
      expect(validateEntry(entry)).toEqual(expect.arrayContaining([expect.objectContaining({ currency: "ICNT" }), expect.objectContaining({ currency: "USD" })]));
      expect(await postLedgerEntry(db(), entry, 1)).toBe(true);
      expect(await postLedgerEntry(db(), entry, 2)).toBe(false);
    }
    const richEntry = await getLedgerEntry(db(), `settlement:${periodId}:escrow:${richId}`);
    expect(richEntry!.lines).toEqual([
      { account: "icnt_treasury", subaccount: "", currency: "ICNT", side: "debit", amount: 40n * ICNT },
      { account: "prepaid_clearing", subaccount: "", currency: "ICNT", side: "credit", amount: 40n * ICNT },
      { account: "prepaid_clearing", subaccount: "", currency: "USD", side: "debit", amount: 1000n },
      { account: "receivables", subaccount: richId, currency: "USD", side: "credit", amount: 1000n },
    ]);
    const pool = rewardsPoolEntry({ periodId, occurredAt: 1, sources: [{ account: "prepaid_clearing", amount: draws.reduce((s, d) => s + d.icntDrawn, 0n) }] });
    expect(validateEntry(pool)).toEqual([{ currency: "ICNT", debits: 50n * ICNT, credits: 50n * ICNT }]);
  });

  it("leaves an invoice to fiat when its wallet already paid another account's invoice of the period", async () => {
    const e = chainEnv();
    const { periodId, chainPeriod } = period();
    const wallet = await customerWallet(100n * ICNT);
    const first = await linkedAccount(wallet);
    const [drawn] = await drawPrepaidUsage(e, db(), { periodId, chainPeriod, invoices: [{ accountId: first, totalMinor: 100n }], usdcPerIcnt: PRICE, now: Date.now() });
    expect(drawn!.icntDrawn).toBe(4n * ICNT);
    // The wallet moves to another account within the period: the contract allows one draw per wallet and period.
    await unlinkWallet(db(), first);
    const second = await linkedAccount(wallet);
    expect(await drawPrepaidUsage(e, db(), { periodId, chainPeriod, invoices: [{ accountId: second, totalMinor: 100n }], usdcPerIcnt: PRICE, now: Date.now() })).toEqual([]);
    expect(await balanceOf(wallet)).toBe(96n * ICNT);
  });

  it("draws what is left under the step's next key when its first draw lost a race with a withdrawal", async () => {
    const e = chainEnv();
    const { periodId, chainPeriod } = period();
    const { config, escrow, client } = chainOf(e);
    const wallet = await customerWallet(10n * ICNT);
    const accountId = await linkedAccount(wallet);
    // The customer's withdrawal of 6 is ready (its period settled)...
    await requestEscrowWithdrawal(wallet, { escrow, amount: 6n * ICNT });
    await markEscrowPeriodSettled(chainOf(e).protocol, { escrow, periodId: (await readLastSettledPeriod(client, { escrow })) + 1n }, { idempotencyKey: `test:settled:${crypto.randomUUID()}` });
    // ...when the step signs its draw of the whole balance (then crashes before sending it), and the customer withdraws.
    const stub = protocolTransactionsOf(e);
    const data = encodeFunctionData({ abi: serviceEscrowAbi, functionName: "drawDown", args: [wallet.account.address as Address, chainPeriod, 10n * ICNT] });
    const stored = await stub.prepare({ rpcUrl: config.rpcUrl, chainId: config.chainId }, escrowDrawKey(periodId, accountId), { to: escrow, data });
    await withdrawFromEscrow(wallet, { escrow });
    expect(await balanceOf(wallet)).toBe(4n * ICNT);

    const [draw] = await drawPrepaidUsage(e, db(), { periodId, chainPeriod, invoices: [{ accountId, totalMinor: 1000n }], usdcPerIcnt: PRICE, now: Date.now() });
    expect(draw).toMatchObject({ icntDrawn: 4n * ICNT, coveredMinor: 100n });
    expect(draw!.txHash).not.toBe(stored.hash);
    expect((await client.getTransactionReceipt({ hash: stored.hash })).status).toBe("reverted");
    expect((await stub.transaction(config.chainId, escrowDrawKey(periodId, accountId, 2)))!.hash).toBe(draw!.txHash);
    expect(await balanceOf(wallet)).toBe(0n);
    // And resumed once more, the same draw.
    expect(await drawPrepaidUsage(e, db(), { periodId, chainPeriod, invoices: [{ accountId, totalMinor: 1000n }], usdcPerIcnt: PRICE, now: Date.now() })).toEqual([draw]);
  });

  it("marks a period settled once, and not again for a period the escrow already counts as settled", async () => {
    const e = chainEnv();
    const { escrow, client } = chainOf(e);
    const periodId = `test-${crypto.randomUUID().slice(0, 8)}`;
    const chainPeriod = (await readLastSettledPeriod(client, { escrow })) + 1n;
    const { txHash } = await markPeriodSettled(e, { periodId, chainPeriod });
    expect(txHash).toMatch(/^0x[0-9a-f]{64}$/);
    expect(await readLastSettledPeriod(client, { escrow })).toBe(chainPeriod);
    const nonce = await protocolNonce();
    expect(await markPeriodSettled(e, { periodId, chainPeriod })).toEqual({ txHash });
    expect(await markPeriodSettled(e, { periodId: `${periodId}-late`, chainPeriod })).toEqual({ txHash: null });
    expect(await protocolNonce()).toBe(nonce);
  });
});
