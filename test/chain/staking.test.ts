// NodeStaking on a real anvil: stake per node proportional to capacity, unbonding, validators, and slashing
// limited to the slasher role and to maxSlashBps of the stake held.

import { decodeEventLog, stringToHex, type Address } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChainSigner } from "../../src/chain/clients.ts";
import { icntAbi, nodeStakingAbi } from "../../src/chain/generated/abis.ts";
import { nodeKeyOf, readNodeStake } from "../../src/chain/node-stake.ts";
import { sendContractTransaction } from "../../src/chain/transactions.ts";
import { isStakedValidator } from "../../src/chain/validator-stake.ts";
import { ICNT, LOCAL_PARAMETERS } from "../../src/localnet/chain.ts";
import { expectRevert, startTestChain, type TestChain } from "./support.ts";

const TiB = 1n << 40n;
let t: TestChain;
let staking: Address;
let nodeCounter = 0;

beforeAll(async () => {
  t = await startTestChain();
  staking = t.chain.contracts.nodeStaking;
});
afterAll(async () => t?.stop());

function freshNodeId(): string {
  return `node_${(0xa000_0000_0000_0000n + BigInt(++nodeCounter)).toString(16)}`;
}

async function fundedWallet(index: number, icnt = 1_000_000n * ICNT): Promise<ChainSigner> {
  const wallet = t.wallet(index);
  await t.chain.fundIcnt(wallet.account.address, icnt);
  await sendContractTransaction(wallet, { address: t.chain.contracts.icnt, abi: icntAbi, functionName: "approve", args: [staking, icnt * 10n] });
  return wallet;
}

function stake(wallet: ChainSigner, nodeId: string, amount: bigint) {
  return sendContractTransaction(wallet, { address: staking, abi: nodeStakingAbi, functionName: "stakeNode", args: [nodeKeyOf(nodeId), amount] });
}

function slash(wallet: ChainSigner, nodeId: string, amount: bigint) {
  return sendContractTransaction(wallet, {
    address: staking,
    abi: nodeStakingAbi,
    functionName: "slashNode",
    args: [nodeKeyOf(nodeId), amount, stringToHex("test", { size: 32 })],
  });
}

async function bondOf(nodeId: string) {
  const [operator, bonded, unbonding, unbondingEndsAt] = await t.chain.client.readContract({ address: staking, abi: nodeStakingAbi, functionName: "nodeStake", args: [nodeKeyOf(nodeId)] });
  return { operator, bonded, unbonding, unbondingEndsAt };
}

describe("node stake", () => {
  it("requires stake proportional to the capacity a node offers, rounded up", async () => {
    const minimum = (capacity: bigint) => t.chain.client.readContract({ address: staking, abi: nodeStakingAbi, functionName: "minimumNodeStake", args: [capacity] });
    expect(await minimum(TiB)).toBe(LOCAL_PARAMETERS.nodeStakePerTiB);
    expect(await minimum(10n * TiB)).toBe(10n * LOCAL_PARAMETERS.nodeStakePerTiB);
    expect(await minimum(TiB / 2n)).toBe(LOCAL_PARAMETERS.nodeStakePerTiB / 2n);
    // One byte still needs a (tiny) stake: rounding up never lets capacity in for free.
    expect(await minimum(1n)).toBe((LOCAL_PARAMETERS.nodeStakePerTiB + TiB - 1n) / TiB);
    expect(await minimum(TiB + 1n)).toBe(LOCAL_PARAMETERS.nodeStakePerTiB + (LOCAL_PARAMETERS.nodeStakePerTiB + TiB - 1n) / TiB);
  });

  it("counts a node as sufficiently staked only once its operator's bond reaches the minimum", async () => {
    const operator = await fundedWallet(10);
    const nodeId = freshNodeId();
    const params = { stakingAddress: staking, nodeId, capacityBytes: 2n * TiB, operator: operator.account.address };
    expect(await readNodeStake(t.chain.client, params)).toMatchObject({ stakedBy: undefined, bonded: 0n, sufficient: false });

    const receipt = await stake(operator, nodeId, 1_999n * ICNT);
    expect(await readNodeStake(t.chain.client, params)).toMatchObject({ stakedBy: operator.account.address, bonded: 1_999n * ICNT, required: 2_000n * ICNT, sufficient: false });
    const event = decodeEventLog({ abi: nodeStakingAbi, ...receipt.logs.find((l) => l.address.toLowerCase() === staking.toLowerCase())! });
    expect(event).toMatchObject({ eventName: "NodeStaked", args: { nodeKey: nodeKeyOf(nodeId), operator: operator.account.address, amount: 1_999n * ICNT } });

    await stake(operator, nodeId, 1n * ICNT);
    expect(await readNodeStake(t.chain.client, params)).toMatchObject({ bonded: 2_000n * ICNT, sufficient: true });
  });

  it("binds a node to the first operator who stakes for it and refuses stake from anyone else", async () => {
    const owner = await fundedWallet(11);
    const intruder = await fundedWallet(12);
    const nodeId = freshNodeId();
    await stake(owner, nodeId, 100n * ICNT);
    await expectRevert(stake(intruder, nodeId, 100n * ICNT), "NotNodeOperator");
    // Stake bound to another operator does not count for the one registering.
    const seenByIntruder = await readNodeStake(t.chain.client, { stakingAddress: staking, nodeId, capacityBytes: 1n, operator: intruder.account.address });
    expect(seenByIntruder.sufficient).toBe(false);
  });

  it("takes unbonding stake out of the bond at once and pays it out only after the unbonding period", async () => {
    const operator = await fundedWallet(13);
    const nodeId = freshNodeId();
    await stake(operator, nodeId, 1_000n * ICNT);
    const before = await t.balanceOf(t.chain.contracts.icnt, operator.account.address);

    await sendContractTransaction(operator, { address: staking, abi: nodeStakingAbi, functionName: "unbondNode", args: [nodeKeyOf(nodeId), 400n * ICNT] });
    expect(await bondOf(nodeId)).toMatchObject({ bonded: 600n * ICNT, unbonding: 400n * ICNT });
    await expectRevert(
      sendContractTransaction(operator, { address: staking, abi: nodeStakingAbi, functionName: "unbondNode", args: [nodeKeyOf(nodeId), 601n * ICNT] }),
      "InsufficientBond",
    );
    const withdraw = () => sendContractTransaction(operator, { address: staking, abi: nodeStakingAbi, functionName: "withdrawNode", args: [nodeKeyOf(nodeId)] });
    await expectRevert(withdraw(), "StillUnbonding");

    await t.advanceTime(LOCAL_PARAMETERS.unbondingPeriodSeconds);
    await withdraw();
    expect(await t.balanceOf(t.chain.contracts.icnt, operator.account.address)).toBe(before + 400n * ICNT);
    expect(await bondOf(nodeId)).toMatchObject({ bonded: 600n * ICNT, unbonding: 0n });
    await expectRevert(withdraw(), "NothingToWithdraw");
  });

  it("lets only the node's operator unbond or withdraw", async () => {
    const operator = await fundedWallet(14);
    const stranger = t.wallet(15);
    const nodeId = freshNodeId();
    await stake(operator, nodeId, 10n * ICNT);
    await expectRevert(
      sendContractTransaction(stranger, { address: staking, abi: nodeStakingAbi, functionName: "unbondNode", args: [nodeKeyOf(nodeId), 1n] }),
      "NotNodeOperator",
    );
  });
});

describe("slashing", () => {
  it("sends slashed stake to the treasury and records it in an event", async () => {
    const operator = await fundedWallet(16);
    const nodeId = freshNodeId();
    await stake(operator, nodeId, 1_000n * ICNT);
    const treasury = t.chain.describe().treasury;
    const before = await t.balanceOf(t.chain.contracts.icnt, treasury);

    const receipt = await slash(t.chain.protocol, nodeId, 300n * ICNT);
    expect(await t.balanceOf(t.chain.contracts.icnt, treasury)).toBe(before + 300n * ICNT);
    expect(await bondOf(nodeId)).toMatchObject({ bonded: 700n * ICNT });
    const slashed = receipt.logs
      .filter((l) => l.address.toLowerCase() === staking.toLowerCase())
      .map((l) => decodeEventLog({ abi: nodeStakingAbi, ...l }))
      .find((e) => e.eventName === "NodeSlashed");
    expect(slashed?.args).toMatchObject({ nodeKey: nodeKeyOf(nodeId), amount: 300n * ICNT, bonded: 700n * ICNT });
  });

  it("refuses to slash more than maxSlashBps of the stake held in one slash", async () => {
    const operator = await fundedWallet(17);
    const nodeId = freshNodeId();
    await stake(operator, nodeId, 1_000n * ICNT);
    const limit = (1_000n * ICNT * LOCAL_PARAMETERS.maxSlashBps) / 10_000n;
    const refused = await expectRevert(slash(t.chain.protocol, nodeId, limit + 1n), "SlashTooLarge");
    expect(refused.revertReason).toBe(`SlashTooLarge(${limit + 1n}, ${limit})`);
    await slash(t.chain.protocol, nodeId, limit);
    expect(await bondOf(nodeId)).toMatchObject({ bonded: 1_000n * ICNT - limit });
    await expectRevert(slash(t.chain.protocol, freshNodeId(), 1n), "NothingToSlash");
  });

  it("reaches stake that is still unbonding, so leaving does not escape a penalty", async () => {
    const operator = await fundedWallet(18);
    const nodeId = freshNodeId();
    await stake(operator, nodeId, 1_000n * ICNT);
    await sendContractTransaction(operator, { address: staking, abi: nodeStakingAbi, functionName: "unbondNode", args: [nodeKeyOf(nodeId), 900n * ICNT] });
    await slash(t.chain.protocol, nodeId, 500n * ICNT);
    expect(await bondOf(nodeId)).toMatchObject({ bonded: 0n, unbonding: 500n * ICNT });
  });

  it("refuses a slash from anyone without the slasher role, operators and admins' other keys alike", async () => {
    const operator = await fundedWallet(19);
    const nodeId = freshNodeId();
    await stake(operator, nodeId, 1_000n * ICNT);
    await expectRevert(slash(operator, nodeId, 1n), "AccessControlUnauthorizedAccount");
    await expectRevert(slash(t.wallet(20), nodeId, 1n), "AccessControlUnauthorizedAccount");
    expect(await bondOf(nodeId)).toMatchObject({ bonded: 1_000n * ICNT });
  });
});

describe("validators", () => {
  it("joins the validator set at the minimum stake and leaves it when unbonding below", async () => {
    const validator = await fundedWallet(21);
    const isValidator = () => isStakedValidator(t.chain.client, { stakingAddress: staking, validator: validator.account.address });
    const stakeValidator = (amount: bigint) => sendContractTransaction(validator, { address: staking, abi: nodeStakingAbi, functionName: "stakeValidator", args: [amount] });
    expect(await isValidator()).toBe(false);
    await stakeValidator(LOCAL_PARAMETERS.minValidatorStake - 1n);
    expect(await isValidator()).toBe(false);
    await stakeValidator(1n);
    expect(await isValidator()).toBe(true);
    await sendContractTransaction(validator, { address: staking, abi: nodeStakingAbi, functionName: "unbondValidator", args: [1n] });
    expect(await isValidator()).toBe(false);
  });

  it("slashes a validator's stake to the treasury within the same limit", async () => {
    const validator = await fundedWallet(22);
    await sendContractTransaction(validator, { address: staking, abi: nodeStakingAbi, functionName: "stakeValidator", args: [1_000n * ICNT] });
    const slashValidator = (amount: bigint) =>
      sendContractTransaction(t.chain.protocol, {
        address: staking,
        abi: nodeStakingAbi,
        functionName: "slashValidator",
        args: [validator.account.address, amount, stringToHex("missed rounds", { size: 32 })],
      });
    await expectRevert(slashValidator(501n * ICNT), "SlashTooLarge");
    await slashValidator(500n * ICNT);
    const [bonded] = await t.chain.client.readContract({ address: staking, abi: nodeStakingAbi, functionName: "validatorStake", args: [validator.account.address] });
    expect(bonded).toBe(500n * ICNT);
  });
});
