// RewardsDistributor: Merkle roots posted per period with their funding; claims with OpenZeppelin proofs.

import { type Address } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { icntAbi, rewardsDistributorAbi } from "../../src/chain/generated/abis.ts";
import { buildRewardsTree, claimReward, postRewardsPeriod, type RewardsTree } from "../../src/chain/rewards.ts";
import { sendContractTransaction } from "../../src/chain/transactions.ts";
import { ICNT } from "../../src/localnet/chain.ts";
import { expectRevert, startTestChain, type TestChain } from "./support.ts";

let t: TestChain;
let distributor: Address;
let icnt: Address;
const alice = () => t.wallet(30).account.address;
const bob = () => t.wallet(31).account.address;
const carol = () => t.wallet(32).account.address;

beforeAll(async () => {
  t = await startTestChain();
  distributor = t.chain.contracts.rewardsDistributor;
  icnt = t.chain.contracts.icnt;
});
afterAll(async () => t?.stop());

async function postPeriod(periodId: bigint, entries: { account: Address; amount: bigint }[]): Promise<RewardsTree> {
  const tree = buildRewardsTree(entries);
  await postRewardsPeriod(t.chain.protocol, { icnt, distributor, periodId, tree });
  return tree;
}

function claim(periodId: bigint, account: Address, amount: bigint, proof: readonly `0x${string}`[], from = t.wallet(33)) {
  return claimReward(from, { distributor, periodId, account, amount, proof });
}

describe("reward claims", () => {
  it("pays an account its amount when anyone submits its proof, from the period's funding", async () => {
    const tree = await postPeriod(1n, [
      { account: alice(), amount: 120n * ICNT },
      { account: bob(), amount: 80n * ICNT },
    ]);
    expect(await t.balanceOf(icnt, distributor)).toBe(200n * ICNT);
    const before = await t.balanceOf(icnt, alice());
    const { amount, proof } = tree.proofFor(alice());
    await claim(1n, alice(), amount, proof);
    expect(await t.balanceOf(icnt, alice())).toBe(before + 120n * ICNT);
    expect(await t.chain.client.readContract({ address: distributor, abi: rewardsDistributorAbi, functionName: "hasClaimed", args: [1n, alice()] })).toBe(true);
  });

  it("refuses a second claim of the same period by the same account", async () => {
    const tree = await postPeriod(2n, [{ account: alice(), amount: 5n * ICNT }, { account: bob(), amount: 6n * ICNT }]);
    const { amount, proof } = tree.proofFor(bob());
    await claim(2n, bob(), amount, proof);
    await expectRevert(claim(2n, bob(), amount, proof), "AlreadyClaimed");
  });

  it("refuses a proof for another account, a proof from another period, and a larger amount", async () => {
    const tree = await postPeriod(3n, [{ account: alice(), amount: 7n * ICNT }, { account: bob(), amount: 9n * ICNT }, { account: carol(), amount: 1n * ICNT }]);
    const aliceLeaf = tree.proofFor(alice());
    // Bob cannot take Alice's reward with her proof.
    await expectRevert(claim(3n, bob(), aliceLeaf.amount, aliceLeaf.proof), "InvalidProof");
    // Nor can Alice claim more than her leaf says.
    await expectRevert(claim(3n, alice(), aliceLeaf.amount + 1n, aliceLeaf.proof), "InvalidProof");
    // A proof from period 3 does not open period 1's root.
    await expectRevert(claim(1n, bob(), tree.proofFor(bob()).amount, tree.proofFor(bob()).proof), "InvalidProof");
    // A period nobody posted has nothing to claim.
    await expectRevert(claim(99n, alice(), aliceLeaf.amount, aliceLeaf.proof), "UnknownPeriod");
    // Failed attempts leave the real claim intact.
    await claim(3n, alice(), aliceLeaf.amount, aliceLeaf.proof);
  });

  it("keeps unclaimed rewards claimable after later periods are posted", async () => {
    const old = await postPeriod(4n, [{ account: carol(), amount: 11n * ICNT }, { account: alice(), amount: 1n }]);
    await postPeriod(5n, [{ account: carol(), amount: 2n * ICNT }, { account: bob(), amount: 1n }]);
    await postPeriod(6n, [{ account: carol(), amount: 3n * ICNT }, { account: bob(), amount: 1n }]);
    const before = await t.balanceOf(icnt, carol());
    await claim(4n, carol(), old.proofFor(carol()).amount, old.proofFor(carol()).proof);
    expect(await t.balanceOf(icnt, carol())).toBe(before + 11n * ICNT);
  });

  it("refuses to post a period twice, and lets only the distributor post", async () => {
    const tree = buildRewardsTree([{ account: alice(), amount: 1n }, { account: bob(), amount: 1n }]);
    await expectRevert(postRewardsPeriod(t.chain.protocol, { icnt, distributor, periodId: 1n, tree }), "PeriodAlreadyPosted");
    const outsider = t.wallet(34);
    await t.chain.fundIcnt(outsider.account.address, 10n);
    await expectRevert(postRewardsPeriod(outsider, { icnt, distributor, periodId: 50n, tree }), "AccessControlUnauthorizedAccount");
  });

  it("never pays a period's claims out of another period's funding", async () => {
    // A root whose leaves add up to more than was funded: the later claim must fail, not drain other periods.
    const tree = buildRewardsTree([{ account: alice(), amount: 10n * ICNT }, { account: bob(), amount: 10n * ICNT }]);
    await sendContractTransaction(t.chain.protocol, { address: icnt, abi: icntAbi, functionName: "approve", args: [distributor, 10n * ICNT] });
    await sendContractTransaction(t.chain.protocol, { address: distributor, abi: rewardsDistributorAbi, functionName: "postPeriod", args: [7n, tree.root, 10n * ICNT] });
    await claim(7n, alice(), 10n * ICNT, tree.proofFor(alice()).proof);
    await expectRevert(claim(7n, bob(), 10n * ICNT, tree.proofFor(bob()).proof), "PeriodOverdrawn");
  });
});
