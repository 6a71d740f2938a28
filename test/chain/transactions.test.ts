// sendContractTransaction, the one way the edge and the local network send transactions: safe nonces under
// concurrent callers, receipts awaited, and reverts reported with the contract's own error.

import { encodeFunctionData, type Address } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChainTransactionError } from "../../src/chain/errors.ts";
import { icntAbi, nodeStakingAbi } from "../../src/chain/generated/abis.ts";
import { sendContractTransaction } from "../../src/chain/transactions.ts";
import { ICNT } from "../../src/localnet/chain.ts";
import { startTestChain, type TestChain } from "./support.ts";

let t: TestChain;
let icnt: Address;

beforeAll(async () => {
  t = await startTestChain();
  icnt = t.chain.contracts.icnt;
});
afterAll(async () => t?.stop());

const transfer = (to: Address, amount: bigint) =>
  sendContractTransaction(t.chain.protocol, { address: icnt, abi: icntAbi, functionName: "transfer", args: [to, amount] });

describe("sending contract transactions", () => {
  it("mines every one of many concurrent transactions from one key, each under its own nonce", async () => {
    const recipients = Array.from({ length: 12 }, (_, i) => t.wallet(70 + i).account.address);
    const receipts = await Promise.all(recipients.map((to, i) => transfer(to, BigInt(i + 1) * ICNT)));
    expect(receipts.every((r) => r.status === "success")).toBe(true);
    const nonces = await Promise.all(receipts.map(async (r) => (await t.chain.client.getTransaction({ hash: r.transactionHash })).nonce));
    expect(new Set(nonces).size).toBe(recipients.length);
    for (const [i, to] of recipients.entries()) expect(await t.balanceOf(icnt, to)).toBe(BigInt(i + 1) * ICNT);
  });

  it("recovers when another sender used the nonce it expected next", async () => {
    await transfer(t.wallet(82).account.address, 1n); // this process now expects nonce n+1
    // The same key sends from elsewhere (another Worker isolate, say), taking nonce n+1.
    const elsewhere = t.chain.signer(t.chain.workerSecrets().PROTOCOL_SIGNER_KEY);
    const hash = await elsewhere.walletClient.sendTransaction({
      to: icnt,
      data: encodeFunctionData({ abi: icntAbi, functionName: "transfer", args: [t.wallet(83).account.address, 1n] }),
    });
    await t.chain.client.waitForTransactionReceipt({ hash });
    const receipt = await transfer(t.wallet(84).account.address, 5n);
    expect(receipt.status).toBe("success");
    expect(await t.balanceOf(icnt, t.wallet(84).account.address)).toBe(5n);
  });

  it("keeps the nonces of two chains with the same chain id apart (a second local anvil in one process)", async () => {
    await transfer(t.wallet(86).account.address, 1n);
    // The second chain deploys everything with the same protocol key, from nonce 0.
    const other = await startTestChain();
    try {
      const receipt = await sendContractTransaction(other.chain.protocol, { address: other.chain.contracts.icnt, abi: icntAbi, functionName: "transfer", args: [t.wallet(87).account.address, 2n] });
      expect(receipt.status).toBe("success");
      expect(await other.balanceOf(other.chain.contracts.icnt, t.wallet(87).account.address)).toBe(2n);
    } finally {
      await other.stop();
    }
    // And the first chain's sender carries on where it was.
    expect((await transfer(t.wallet(88).account.address, 3n)).status).toBe("success");
  }, 90_000);

  it("reports a refused call with the contract's error name and arguments, and sends nothing", async () => {
    const nonceBefore = await t.chain.client.getTransactionCount({ address: t.chain.protocol.account.address });
    const error = await sendContractTransaction(t.chain.protocol, {
      address: t.chain.contracts.nodeStaking,
      abi: nodeStakingAbi,
      functionName: "unbondValidator",
      args: [1n],
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChainTransactionError);
    expect((error as ChainTransactionError).shortMessage).toBe("unbondValidator was refused by the contract: InsufficientBond(1, 0)");
    expect(await t.chain.client.getTransactionCount({ address: t.chain.protocol.account.address })).toBe(nonceBefore);
  });

  it("names token errors that surface through another contract", async () => {
    const poor = t.wallet(85);
    const error = await sendContractTransaction(poor, {
      address: t.chain.contracts.nodeStaking,
      abi: nodeStakingAbi,
      functionName: "stakeValidator",
      args: [1n],
    }).catch((e: unknown) => e);
    expect((error as ChainTransactionError).revertReason).toMatch(/^ERC20InsufficientAllowance\(/);
  });
});
