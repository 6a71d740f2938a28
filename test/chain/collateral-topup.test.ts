// ICN's collateral rule on chain: settlement stakes an under-collateralized node's rewards into its bond
// (NodeStaking.topUpNode). The stake stays its operator's; a node nobody staked for cannot be topped up.

import { parseEventLogs, type Address } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChainSigner } from "../../src/chain/clients.ts";
import { topUpNodeStake } from "../../src/chain/collateral-topup.ts";
import { icntAbi, nodeStakingAbi } from "../../src/chain/generated/abis.ts";
import { nodeKeyOf, readNodeStake } from "../../src/chain/node-stake.ts";
import { sendContractTransaction } from "../../src/chain/transactions.ts";
import { ICNT, TREASURY_ACCOUNT_INDEX } from "../../src/localnet/chain.ts";
import { expectRevert, startTestChain, type TestChain } from "./support.ts";

const TiB = 1n << 40n;
let t: TestChain;
let staking: Address;
let icnt: Address;
let treasury: ChainSigner;
let operator: ChainSigner;

beforeAll(async () => {
  t = await startTestChain();
  staking = t.chain.contracts.nodeStaking;
  icnt = t.chain.contracts.icnt;
  treasury = t.wallet(TREASURY_ACCOUNT_INDEX);
  operator = t.wallet(40);
  await t.chain.fundIcnt(treasury.account.address, 10_000n * ICNT);
  await t.chain.fundIcnt(operator.account.address, 10_000n * ICNT);
  await sendContractTransaction(operator, { address: icnt, abi: icntAbi, functionName: "approve", args: [staking, 10_000n * ICNT] });
});
afterAll(async () => t?.stop());

describe("collateral top-ups", () => {
  it("stakes rewards into an under-collateralized node's bond until it meets its requirement, the stake staying its operator's", async () => {
    const nodeId = "node_00000000000000c1";
    const params = { stakingAddress: staking, nodeId, capacityBytes: TiB, operator: operator.account.address };
    const required = (await readNodeStake(t.chain.client, params)).required;
    await sendContractTransaction(operator, { address: staking, abi: nodeStakingAbi, functionName: "stakeNode", args: [nodeKeyOf(nodeId), required - 5n * ICNT] });
    expect((await readNodeStake(t.chain.client, params)).sufficient).toBe(false);

    const treasuryBefore = await t.balanceOf(icnt, treasury.account.address);
    const { txHash, bonded } = await topUpNodeStake(treasury, { icnt, stakingAddress: staking, nodeId, amount: 5n * ICNT });
    expect(bonded).toBe(required);
    expect(await t.balanceOf(icnt, treasury.account.address)).toBe(treasuryBefore - 5n * ICNT);
    const after = await readNodeStake(t.chain.client, params);
    expect(after).toMatchObject({ stakedBy: operator.account.address, bonded: required, sufficient: true });

    const receipt = await t.chain.client.getTransactionReceipt({ hash: txHash });
    const [event] = parseEventLogs({ abi: nodeStakingAbi, eventName: "NodeToppedUp", logs: receipt.logs });
    expect(event?.args).toMatchObject({ nodeKey: nodeKeyOf(nodeId), operator: operator.account.address, payer: treasury.account.address, amount: 5n * ICNT, bonded: required });
    // The payer cannot take it back: only the operator unbonds.
    await expectRevert(
      sendContractTransaction(treasury, { address: staking, abi: nodeStakingAbi, functionName: "unbondNode", args: [nodeKeyOf(nodeId), 1n] }),
      "NotNodeOperator",
    );
  });

  it("refuses to top up a node nobody has staked for, or by nothing, moving no ICNT", async () => {
    const before = await t.balanceOf(icnt, treasury.account.address);
    await expectRevert(topUpNodeStake(treasury, { icnt, stakingAddress: staking, nodeId: "node_00000000000000c2", amount: ICNT }), "UnknownNode");
    await expectRevert(topUpNodeStake(treasury, { icnt, stakingAddress: staking, nodeId: "node_00000000000000c1", amount: 0n }), "ZeroAmount");
    expect(await t.balanceOf(icnt, treasury.account.address)).toBe(before);
    expect((await readNodeStake(t.chain.client, { stakingAddress: staking, nodeId: "node_00000000000000c2", capacityBytes: TiB, operator: operator.account.address })).stakedBy).toBeUndefined();
  });
});
