// ServiceEscrow: customers prepay in ICNT, settlement draws usage within the balance once per period, and the
// customer withdraws the rest once the period in which the withdrawal was asked for is settled.

import type { Address } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChainSigner } from "../../src/chain/clients.ts";
import { parseEventLogs } from "viem";
import {
  drawDownEscrow,
  markEscrowPeriodSettled,
  readEscrowAccount,
  readEscrowBalance,
  readLastSettledPeriod,
  requestEscrowWithdrawal,
  withdrawFromEscrow,
} from "../../src/chain/escrow.ts";
import { icntAbi, serviceEscrowAbi } from "../../src/chain/generated/abis.ts";
import { sendContractTransaction } from "../../src/chain/transactions.ts";
import { ICNT } from "../../src/localnet/chain.ts";
import { expectRevert, startTestChain, type TestChain } from "./support.ts";

let t: TestChain;
let escrow: Address;
let icnt: Address;

beforeAll(async () => {
  t = await startTestChain();
  escrow = t.chain.contracts.serviceEscrow;
  icnt = t.chain.contracts.icnt;
});
afterAll(async () => t?.stop());

async function customerWithDeposit(index: number, amount: bigint): Promise<ChainSigner> {
  const customer = t.wallet(index);
  await t.chain.fundIcnt(customer.account.address, amount);
  await sendContractTransaction(customer, { address: icnt, abi: icntAbi, functionName: "approve", args: [escrow, amount] });
  await sendContractTransaction(customer, { address: escrow, abi: serviceEscrowAbi, functionName: "deposit", args: [amount] });
  return customer;
}

const balance = (customer: ChainSigner) => readEscrowBalance(t.chain.client, { escrow, customer: customer.account.address });
const draw = (customer: ChainSigner, periodId: bigint, amount: bigint, settler = t.chain.protocol) =>
  drawDownEscrow(settler, { escrow, customer: customer.account.address, periodId, amount });

describe("prepaid storage escrow", () => {
  it("draws a period's usage from the balance to the protocol's ICNT treasury (the settlement account)", async () => {
    const customer = await customerWithDeposit(40, 100n * ICNT);
    const treasury = t.chain.describe().protocolAccount;
    const before = await t.balanceOf(icnt, treasury);
    await draw(customer, 1n, 30n * ICNT);
    expect(await balance(customer)).toBe(70n * ICNT);
    expect(await t.balanceOf(icnt, treasury)).toBe(before + 30n * ICNT);
  });

  it("never draws more than the balance, and draws the whole balance exactly", async () => {
    const customer = await customerWithDeposit(41, 50n * ICNT);
    const refused = await expectRevert(draw(customer, 1n, 50n * ICNT + 1n), "InsufficientBalance");
    expect(refused.revertReason).toBe(`InsufficientBalance(${50n * ICNT + 1n}, ${50n * ICNT})`);
    await draw(customer, 1n, 50n * ICNT);
    expect(await balance(customer)).toBe(0n);
  });

  it("draws each customer's period only once, so a retried settlement cannot charge twice", async () => {
    const customer = await customerWithDeposit(42, 50n * ICNT);
    await draw(customer, 7n, 10n * ICNT);
    await expectRevert(draw(customer, 7n, 10n * ICNT), "AlreadyDrawn");
    await draw(customer, 8n, 10n * ICNT);
    expect(await balance(customer)).toBe(30n * ICNT);
  });

  it("lets only the settler draw", async () => {
    const customer = await customerWithDeposit(43, 5n * ICNT);
    await expectRevert(draw(customer, 1n, 1n, customer), "AccessControlUnauthorizedAccount");
    expect(await balance(customer)).toBe(5n * ICNT);
  });

});

// These mark periods settled, which no test above may see: periods here are above every period drawn above.
describe("withdrawals wait until the period they were asked for in is settled", () => {
  const settle = (periodId: bigint) => markEscrowPeriodSettled(t.chain.protocol, { escrow, periodId });
  const request = (customer: ChainSigner, amount: bigint) => requestEscrowWithdrawal(customer, { escrow, amount });
  const withdraw = (customer: ChainSigner) => withdrawFromEscrow(customer, { escrow });
  const lastSettled = () => readLastSettledPeriod(t.chain.client, { escrow });

  it("refuses a withdrawal before its period is settled, and pays it after", async () => {
    const customer = await customerWithDeposit(45, 20n * ICNT);
    const open = (await lastSettled()) + 1n;
    const asked = await request(customer, 15n * ICNT);
    const [requested] = parseEventLogs({ abi: serviceEscrowAbi, eventName: "WithdrawalRequested", logs: asked.logs });
    expect(requested!.args).toEqual({ customer: customer.account.address, amount: 15n * ICNT, period: open });

    const refused = await expectRevert(withdraw(customer), "WithdrawalNotReady");
    expect(refused.revertReason).toBe(`WithdrawalNotReady(${customer.account.address}, ${open}, ${open - 1n})`);
    expect(await balance(customer)).toBe(20n * ICNT);
    expect((await readEscrowAccount(t.chain.client, { escrow, customer: customer.account.address })).withdrawal).toEqual({ amount: 15n * ICNT, period: open, withdrawable: 0n });

    const settled = await settle(open + 99n);
    const [event] = parseEventLogs({ abi: serviceEscrowAbi, eventName: "PeriodSettled", logs: settled.logs });
    expect(event!.args.periodId).toBe(open + 99n);

    const before = await t.balanceOf(icnt, customer.account.address);
    const paid = await withdraw(customer);
    const [withdrawn] = parseEventLogs({ abi: serviceEscrowAbi, eventName: "Withdrawn", logs: paid.logs });
    expect(withdrawn!.args).toEqual({ customer: customer.account.address, amount: 15n * ICNT, balance: 5n * ICNT });
    expect(await t.balanceOf(icnt, customer.account.address)).toBe(before + 15n * ICNT);
    expect(await balance(customer)).toBe(5n * ICNT);
    // The request is spent: a second withdrawal needs a new request.
    await expectRevert(withdraw(customer), "NoWithdrawalRequested");
  });

  it("lets settlement draw requested ICNT until it is withdrawn, and never pays the same ICNT twice", async () => {
    const customer = await customerWithDeposit(46, 10n * ICNT);
    const open = (await lastSettled()) + 1n;
    await request(customer, 8n * ICNT);
    // The period's usage is drawn from the requested ICNT too: the balance left is 4, less than the 8 asked for.
    await draw(customer, open, 6n * ICNT);
    await expectRevert(draw(customer, open, 1n), "AlreadyDrawn");
    await settle(open);
    expect((await readEscrowAccount(t.chain.client, { escrow, customer: customer.account.address })).withdrawal).toEqual({ amount: 8n * ICNT, period: open, withdrawable: 4n * ICNT });
    // The next period's draw, before the customer withdraws, is taken first; the withdrawal gets the rest.
    await draw(customer, open + 1n, 3n * ICNT);
    await expectRevert(draw(customer, open + 2n, 1n * ICNT + 1n), "InsufficientBalance");
    const before = await t.balanceOf(icnt, customer.account.address);
    await withdraw(customer);
    expect(await t.balanceOf(icnt, customer.account.address)).toBe(before + 1n * ICNT);
    expect(await balance(customer)).toBe(0n);
    await expectRevert(draw(customer, open + 2n, 1n), "InsufficientBalance");
  });

  it("makes a new request wait again, and lets the customer cancel one", async () => {
    const customer = await customerWithDeposit(47, 10n * ICNT);
    await request(customer, 2n * ICNT);
    await settle((await lastSettled()) + 1n);
    // Ready, but replaced by a larger one: that waits for the next settlement.
    await request(customer, 5n * ICNT);
    await expectRevert(withdraw(customer), "WithdrawalNotReady");
    await expectRevert(request(customer, 10n * ICNT + 1n), "InsufficientBalance");
    const cancelled = await sendContractTransaction(customer, { address: escrow, abi: serviceEscrowAbi, functionName: "cancelWithdrawal", args: [] });
    const [event] = parseEventLogs({ abi: serviceEscrowAbi, eventName: "WithdrawalCancelled", logs: cancelled.logs });
    expect(event!.args).toEqual({ customer: customer.account.address, amount: 5n * ICNT });
    await settle((await lastSettled()) + 1n);
    await expectRevert(withdraw(customer), "NoWithdrawalRequested");
    expect(await balance(customer)).toBe(10n * ICNT);
  });

  it("marks periods settled in increasing order, by the settler only", async () => {
    const last = await lastSettled();
    const refused = await expectRevert(settle(last), "PeriodAlreadySettled");
    expect(refused.revertReason).toBe(`PeriodAlreadySettled(${last}, ${last})`);
    await expectRevert(markEscrowPeriodSettled(t.wallet(48), { escrow, periodId: last + 1n }), "AccessControlUnauthorizedAccount");
    expect(await lastSettled()).toBe(last);
  });
});
