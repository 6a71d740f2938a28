// ServiceEscrow: customers prepay in ICNT, settlement draws usage within the balance once per period, and the
// customer withdraws the rest.

import type { Address } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChainSigner } from "../../src/chain/clients.ts";
import { drawDownEscrow, readEscrowBalance } from "../../src/chain/escrow.ts";
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
  it("draws a period's usage from the balance to the treasury", async () => {
    const customer = await customerWithDeposit(40, 100n * ICNT);
    const treasury = t.chain.describe().treasury;
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

  it("returns what is left to the customer, and no more", async () => {
    const customer = await customerWithDeposit(44, 20n * ICNT);
    await draw(customer, 1n, 5n * ICNT);
    const withdraw = (amount: bigint) => sendContractTransaction(customer, { address: escrow, abi: serviceEscrowAbi, functionName: "withdraw", args: [amount] });
    await expectRevert(withdraw(15n * ICNT + 1n), "InsufficientBalance");
    const before = await t.balanceOf(icnt, customer.account.address);
    await withdraw(15n * ICNT);
    expect(await t.balanceOf(icnt, customer.account.address)).toBe(before + 15n * ICNT);
    expect(await balance(customer)).toBe(0n);
  });
});
