// ICNT: a fixed supply minted at deploy, EIP-2612 permits, and ERC20Votes voting power for governance.

import { parseSignature, type Address } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { icntAbi } from "../../src/chain/generated/abis.ts";
import { sendContractTransaction } from "../../src/chain/transactions.ts";
import { ICNT, LOCAL_CHAIN_ID, LOCAL_PARAMETERS } from "../../src/localnet/chain.ts";
import { startTestChain, type TestChain } from "./support.ts";

let t: TestChain;
let icnt: Address;

beforeAll(async () => {
  t = await startTestChain();
  icnt = t.chain.contracts.icnt;
});
afterAll(async () => t?.stop());

const read = <F extends "totalSupply" | "decimals" | "symbol">(functionName: F) => t.chain.client.readContract({ address: icnt, abi: icntAbi, functionName });

describe("ICNT", () => {
  it("has its whole fixed supply minted at deploy and no way to mint more", async () => {
    expect(await read("totalSupply")).toBe(LOCAL_PARAMETERS.icntSupply);
    expect(await read("symbol")).toBe("ICNT");
    expect(await read("decimals")).toBe(18);
    const functions = icntAbi.filter((i) => i.type === "function").map((i) => i.name);
    expect(functions.filter((name) => /mint/i.test(name))).toEqual([]);
  });

  it("lets a holder approve a spender with a signature instead of a transaction (EIP-2612)", async () => {
    const owner = t.wallet(60);
    const spender = t.wallet(61);
    await t.chain.fundIcnt(owner.account.address, 10n * ICNT);
    const nonce = await t.chain.client.readContract({ address: icnt, abi: icntAbi, functionName: "nonces", args: [owner.account.address] });
    const deadline = (await t.chain.client.getBlock()).timestamp + 600n;
    const signature = await owner.account.signTypedData({
      domain: { name: "ICN Token", version: "1", chainId: LOCAL_CHAIN_ID, verifyingContract: icnt },
      types: {
        Permit: [
          { name: "owner", type: "address" },
          { name: "spender", type: "address" },
          { name: "value", type: "uint256" },
          { name: "nonce", type: "uint256" },
          { name: "deadline", type: "uint256" },
        ],
      },
      primaryType: "Permit",
      message: { owner: owner.account.address, spender: spender.account.address, value: 4n * ICNT, nonce, deadline },
    });
    const { v, r, s } = parseSignature(signature);
    // The spender submits the permit and spends; the owner never sends a transaction.
    await sendContractTransaction(spender, { address: icnt, abi: icntAbi, functionName: "permit", args: [owner.account.address, spender.account.address, 4n * ICNT, deadline, Number(v), r, s] });
    await sendContractTransaction(spender, { address: icnt, abi: icntAbi, functionName: "transferFrom", args: [owner.account.address, spender.account.address, 4n * ICNT] });
    expect(await t.balanceOf(icnt, owner.account.address)).toBe(6n * ICNT);
  });

  it("gives voting power to the delegate a holder chooses, and moves it with the tokens", async () => {
    const holder = t.wallet(62);
    const delegate = t.wallet(63).account.address;
    await t.chain.fundIcnt(holder.account.address, 1_000n * ICNT);
    const votes = () => t.chain.client.readContract({ address: icnt, abi: icntAbi, functionName: "getVotes", args: [delegate] });
    expect(await votes()).toBe(0n);
    await sendContractTransaction(holder, { address: icnt, abi: icntAbi, functionName: "delegate", args: [delegate] });
    expect(await votes()).toBe(1_000n * ICNT);
    await sendContractTransaction(holder, { address: icnt, abi: icntAbi, functionName: "transfer", args: [t.wallet(64).account.address, 400n * ICNT] });
    expect(await votes()).toBe(600n * ICNT);
  });
});
