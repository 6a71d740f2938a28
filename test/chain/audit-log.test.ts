// AuditLog on a real anvil: round commitments written once by the auditor (the block they were mined in fixes the
// seed), epoch anchors that cannot be rewritten, validators' operational keys, and the chain clients the edge's
// rounds use (idempotent for retried steps), the validator listing and slashValidator.

import { decodeEventLog, keccak256, stringToHex, zeroAddress, type Address, type Hex } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  anchorEpoch,
  commitRound,
  readEpochAnchor,
  readOperationalKey,
  readRoundCommitment,
  roundSeed,
  SeedBlockPendingError,
  setOperationalKey,
  validatorOfOperationalKey,
} from "../../src/chain/audit-log.ts";
import type { ChainSigner } from "../../src/chain/clients.ts";
import { ChainTransactionError } from "../../src/chain/errors.ts";
import { auditLogAbi, icntAbi, nodeStakingAbi } from "../../src/chain/generated/abis.ts";
import { slashValidator } from "../../src/chain/slashing.ts";
import { sendContractTransaction } from "../../src/chain/transactions.ts";
import { listStakedValidators } from "../../src/chain/validator-stake.ts";
import { LOCAL_PARAMETERS } from "../../src/localnet/chain.ts";
import { expectRevert, startTestChain, type TestChain } from "./support.ts";

let t: TestChain;
let auditLog: Address;
let counter = 0n;

beforeAll(async () => {
  t = await startTestChain();
  auditLog = t.chain.contracts.auditLog;
});
afterAll(async () => t?.stop());

const freshId = () => 1_000n + ++counter;
const hashOf = (text: string): Hex => keccak256(stringToHex(text));

function rawCommit(signer: ChainSigner, roundId: bigint, commitment: Hex) {
  return sendContractTransaction(signer, { address: auditLog, abi: auditLogAbi, functionName: "commitRound", args: [roundId, commitment] });
}

function rawAnchor(signer: ChainSigner, epoch: bigint, root: Hex, rounds: number) {
  return sendContractTransaction(signer, { address: auditLog, abi: auditLogAbi, functionName: "anchorEpoch", args: [epoch, root, rounds] });
}

function rawSetKey(signer: ChainSigner, key: Address) {
  return sendContractTransaction(signer, { address: auditLog, abi: auditLogAbi, functionName: "setOperationalKey", args: [key] });
}

describe("round commitments", () => {
  it("records the commitment with the block it was mined in, and emits RoundCommitted", async () => {
    const roundId = freshId();
    expect(await readRoundCommitment(t.chain.client, { auditLog, roundId })).toBeUndefined();
    const receipt = await rawCommit(t.chain.protocol, roundId, hashOf("challenges"));
    expect(await readRoundCommitment(t.chain.client, { auditLog, roundId })).toEqual({ commitment: hashOf("challenges"), blockNumber: receipt.blockNumber });
    const event = decodeEventLog({ abi: auditLogAbi, ...receipt.logs.find((l) => l.address.toLowerCase() === auditLog.toLowerCase())! });
    expect(event).toMatchObject({ eventName: "RoundCommitted", args: { roundId, commitment: hashOf("challenges"), blockNumber: receipt.blockNumber } });
  });

  it("refuses a second commitment of the same round, even an identical one, and keeps the first", async () => {
    const roundId = freshId();
    const first = await rawCommit(t.chain.protocol, roundId, hashOf("first"));
    await expectRevert(rawCommit(t.chain.protocol, roundId, hashOf("second")), "RoundAlreadyCommitted");
    await expectRevert(rawCommit(t.chain.protocol, roundId, hashOf("first")), "RoundAlreadyCommitted");
    expect(await readRoundCommitment(t.chain.client, { auditLog, roundId })).toEqual({ commitment: hashOf("first"), blockNumber: first.blockNumber });
  });

  it("accepts commitments and anchors only from the auditor role", async () => {
    const outsider = t.wallet(30);
    const roundId = freshId();
    await expectRevert(rawCommit(outsider, roundId, hashOf("forged")), "AccessControlUnauthorizedAccount");
    await expectRevert(rawAnchor(outsider, roundId, hashOf("forged"), 1), "AccessControlUnauthorizedAccount");
    expect(await readRoundCommitment(t.chain.client, { auditLog, roundId })).toBeUndefined();
    expect(await readEpochAnchor(t.chain.client, { auditLog, epoch: roundId })).toBeUndefined();
  });

  it("commitRound returns the recorded block to a retried step instead of failing", async () => {
    const p = { auditLog, roundId: freshId(), commitment: hashOf("retried") };
    const first = await commitRound(t.chain.protocol, p);
    expect(first.committedNow).toBe(true);
    const retried = await commitRound(t.chain.protocol, p);
    expect(retried).toEqual({ commitment: p.commitment, blockNumber: first.blockNumber, committedNow: false });
  });

  it("commitRound run twice at once commits once, and both attempts see the same block", async () => {
    const p = { auditLog, roundId: freshId(), commitment: hashOf("concurrent") };
    const [a, b] = await Promise.all([commitRound(t.chain.protocol, p), commitRound(t.chain.protocol, p)]);
    expect(a.blockNumber).toBe(b.blockNumber);
    expect([a.committedNow, b.committedNow].filter(Boolean)).toHaveLength(1);
  });

  it("commitRound refuses to stand behind a round committed with other challenges", async () => {
    const roundId = freshId();
    await commitRound(t.chain.protocol, { auditLog, roundId, commitment: hashOf("original") });
    const error = await commitRound(t.chain.protocol, { auditLog, roundId, commitment: hashOf("other") }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChainTransactionError);
    expect((error as ChainTransactionError).revertReason).toContain("RoundAlreadyCommitted");
    expect((await readRoundCommitment(t.chain.client, { auditLog, roundId }))?.commitment).toBe(hashOf("original"));
  });
});

describe("round seeds", () => {
  it("is the hash of the seed block once it is mined, and a clear error before", async () => {
    const { blockNumber } = await commitRound(t.chain.protocol, { auditLog, roundId: freshId(), commitment: hashOf("seeded") });
    const seedBlock = blockNumber + 2n;
    const pending = await roundSeed(t.chain.client, seedBlock).catch((e: unknown) => e);
    expect(pending).toBeInstanceOf(SeedBlockPendingError);
    expect((pending as SeedBlockPendingError).shortMessage).toBe(`Block ${seedBlock} is not mined yet: the round's seed is not known until it is.`);

    await t.advanceTime(1n);
    await t.advanceTime(1n);
    const seed = await roundSeed(t.chain.client, seedBlock);
    expect(seed).toBe((await t.chain.client.getBlock({ blockNumber: seedBlock })).hash);
    expect(seed).not.toBe((await t.chain.client.getBlock({ blockNumber })).hash);
    // Every reader gets the same seed.
    expect(await roundSeed(t.chain.client, seedBlock)).toBe(seed);
  });
});

describe("epoch anchors", () => {
  it("anchors an epoch's verdict root once; a different root for the same epoch is refused and the first stays", async () => {
    const epoch = freshId();
    const receipt = await rawAnchor(t.chain.protocol, epoch, hashOf("verdicts"), 12);
    expect(await readEpochAnchor(t.chain.client, { auditLog, epoch })).toEqual({ verdictRoot: hashOf("verdicts"), rounds: 12, blockNumber: receipt.blockNumber });
    const event = decodeEventLog({ abi: auditLogAbi, ...receipt.logs.find((l) => l.address.toLowerCase() === auditLog.toLowerCase())! });
    expect(event).toMatchObject({ eventName: "EpochAnchored", args: { epoch, verdictRoot: hashOf("verdicts"), rounds: 12 } });

    await expectRevert(rawAnchor(t.chain.protocol, epoch, hashOf("rewritten"), 12), "EpochAlreadyAnchored");
    expect((await readEpochAnchor(t.chain.client, { auditLog, epoch }))?.verdictRoot).toBe(hashOf("verdicts"));
  });

  it("anchorEpoch is idempotent for a retried step and refuses to overwrite history", async () => {
    const p = { auditLog, epoch: freshId(), verdictRoot: hashOf("epoch"), rounds: 3 };
    const first = await anchorEpoch(t.chain.protocol, p);
    expect(first.anchoredNow).toBe(true);
    expect(await anchorEpoch(t.chain.protocol, p)).toEqual({ ...first, anchoredNow: false });
    const refused = await anchorEpoch(t.chain.protocol, { ...p, verdictRoot: hashOf("rewritten") }).catch((e: unknown) => e);
    expect((refused as ChainTransactionError).revertReason).toContain("EpochAlreadyAnchored");
  });
});

describe("operational keys", () => {
  it("lets a stake address authorize one key at a time, and the views answer both ways", async () => {
    const validator = t.wallet(31);
    const [first, second] = [t.wallet(32).account.address, t.wallet(33).account.address];
    const me = validator.account.address;
    const receipt = await rawSetKey(validator, first);
    expect(await readOperationalKey(t.chain.client, { auditLog, validator: me })).toBe(first);
    expect(await validatorOfOperationalKey(t.chain.client, { auditLog, key: first })).toBe(me);
    const event = decodeEventLog({ abi: auditLogAbi, ...receipt.logs[0]! });
    expect(event).toMatchObject({ eventName: "OperationalKeySet", args: { validator: me, key: first, previousKey: zeroAddress } });

    // A new key replaces the old one, which no longer signs for anyone.
    await rawSetKey(validator, second);
    expect(await readOperationalKey(t.chain.client, { auditLog, validator: me })).toBe(second);
    expect(await validatorOfOperationalKey(t.chain.client, { auditLog, key: first })).toBeUndefined();
    expect(await validatorOfOperationalKey(t.chain.client, { auditLog, key: second })).toBe(me);

    // The zero address revokes.
    await rawSetKey(validator, zeroAddress);
    expect(await readOperationalKey(t.chain.client, { auditLog, validator: me })).toBeUndefined();
    expect(await validatorOfOperationalKey(t.chain.client, { auditLog, key: second })).toBeUndefined();
    // Its own former key it may authorize again.
    await setOperationalKey(validator, { auditLog, key: first });
    expect(await validatorOfOperationalKey(t.chain.client, { auditLog, key: first })).toBe(me);
  });

  it("never lets a key serve a second validator, not even after the first revoked it", async () => {
    const [owner, other] = [t.wallet(34), t.wallet(35)];
    const key = t.wallet(36).account.address;
    await rawSetKey(owner, key);
    await expectRevert(rawSetKey(other, key), "KeyBoundToAnotherValidator");
    await rawSetKey(owner, zeroAddress);
    await expectRevert(rawSetKey(other, key), "KeyBoundToAnotherValidator");
    expect(await validatorOfOperationalKey(t.chain.client, { auditLog, key })).toBeUndefined();
    expect(await readOperationalKey(t.chain.client, { auditLog, validator: other.account.address })).toBeUndefined();
  });

  it("refuses the stake address as its own operational key", async () => {
    const validator = t.wallet(37);
    await expectRevert(rawSetKey(validator, validator.account.address), "KeyIsStakeAddress");
    expect(await validatorOfOperationalKey(t.chain.client, { auditLog, key: validator.account.address })).toBeUndefined();
  });
});

describe("the validator set", () => {
  async function stakeValidator(wallet: ChainSigner, amount: bigint): Promise<void> {
    await t.chain.fundIcnt(wallet.account.address, amount);
    await sendContractTransaction(wallet, { address: t.chain.contracts.icnt, abi: icntAbi, functionName: "approve", args: [t.chain.contracts.nodeStaking, amount] });
    await sendContractTransaction(wallet, { address: t.chain.contracts.nodeStaking, abi: nodeStakingAbi, functionName: "stakeValidator", args: [amount] });
  }

  it("lists staked validators with an authorized key and their stake, and slashValidator reduces that stake", async () => {
    const minimum = LOCAL_PARAMETERS.minValidatorStake;
    const [staked, rich, understaked, keyless, revoked] = [t.wallet(40), t.wallet(41), t.wallet(42), t.wallet(43), t.wallet(44)];
    for (const [wallet, amount] of [[staked, minimum], [rich, 3n * minimum], [understaked, minimum - 1n], [keyless, minimum], [revoked, minimum]] as const) {
      await stakeValidator(wallet, amount);
    }
    for (const [i, wallet] of [staked, rich, understaked, revoked].entries()) await setOperationalKey(wallet, { auditLog, key: t.wallet(50 + i).account.address });
    await setOperationalKey(revoked, { auditLog, key: zeroAddress });

    const listed = await listStakedValidators(t.chain.client, { stakingAddress: t.chain.contracts.nodeStaking, auditLog, pageSize: 2 });
    const expected = [
      { address: staked.account.address, operationalAddress: t.wallet(50).account.address, stake: minimum },
      { address: rich.account.address, operationalAddress: t.wallet(51).account.address, stake: 3n * minimum },
    ].sort((a, b) => (a.address.toLowerCase() < b.address.toLowerCase() ? -1 : 1));
    // Other tests in this file authorize keys for addresses that never staked: they are not validators.
    expect(listed).toEqual(expected);

    await slashValidator(t.chain.protocol, { stakingAddress: t.chain.contracts.nodeStaking, validator: rich.account.address, amount: minimum, reason: "attested a bad proof" });
    const after = await listStakedValidators(t.chain.client, { stakingAddress: t.chain.contracts.nodeStaking, auditLog });
    expect(after.find((v) => v.address === rich.account.address)?.stake).toBe(2n * minimum);
    await expectRevert(
      slashValidator(staked, { stakingAddress: t.chain.contracts.nodeStaking, validator: rich.account.address, amount: 1n, reason: "not the slasher" }),
      "AccessControlUnauthorizedAccount",
    );
  });
});
