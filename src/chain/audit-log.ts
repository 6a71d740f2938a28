// The audit record on chain (AuditLog.sol): round commitments and the seeds they fix, epoch anchors, and the
// operational keys validators sign attestations with. Writes are idempotent so a Durable Object step retried after
// an eviction (at-least-once alarms) finds what its first attempt recorded instead of failing.

import { BlockNotFoundError, zeroAddress, type Address, type Hex } from "viem";
import type { ChainPublicClient, ChainSigner } from "./clients.ts";
import { ChainError, ChainTransactionError } from "./errors.ts";
import { auditLogAbi } from "./generated/abis.ts";
import { sendContractTransaction } from "./transactions.ts";

export interface RoundCommitment {
  commitment: Hex;
  /** The block the commitment was mined in; the round's seed block is a fixed number of blocks after it. */
  blockNumber: bigint;
}

/** undefined while the round is not committed. */
export async function readRoundCommitment(client: ChainPublicClient, p: { auditLog: Address; roundId: bigint }): Promise<RoundCommitment | undefined> {
  const [commitment, blockNumber] = await client.readContract({ address: p.auditLog, abi: auditLogAbi, functionName: "roundCommitment", args: [p.roundId] });
  return blockNumber === 0n ? undefined : { commitment, blockNumber };
}

export interface CommitRoundParameters {
  auditLog: Address;
  roundId: bigint;
  commitment: Hex;
}

export type CommitRoundReturnType = RoundCommitment & {
  /** false when an earlier attempt (this step before a retry) had already committed the round. */
  committedNow: boolean;
};

/**
 * Commits round `roundId`, or returns what an earlier attempt committed. A round committed with a different
 * commitment is a ChainTransactionError (revertReason `RoundAlreadyCommitted(…)`): the chain's record stands, and
 * a caller holding other challenges must not run the round with them.
 */
export async function commitRound(signer: ChainSigner, p: CommitRoundParameters): Promise<CommitRoundReturnType> {
  const recorded = () => readRoundCommitment(signer.publicClient, p);
  return writeOnce({
    functionName: "commitRound",
    read: recorded,
    matches: (r) => r.commitment.toLowerCase() === p.commitment.toLowerCase(),
    conflict: (r) => `RoundAlreadyCommitted(${p.roundId}, ${r.commitment}, ${r.blockNumber})`,
    send: () => sendContractTransaction(signer, { address: p.auditLog, abi: auditLogAbi, functionName: "commitRound", args: [p.roundId, p.commitment] }),
  });
}

/** The transaction that committed a round, found by its RoundCommitted event in the commitment's block. */
export async function roundCommitTx(client: ChainPublicClient, p: { auditLog: Address; roundId: bigint; blockNumber: bigint }): Promise<Hex | undefined> {
  const logs = await client.getContractEvents({ address: p.auditLog, abi: auditLogAbi, eventName: "RoundCommitted", args: { roundId: p.roundId }, fromBlock: p.blockNumber, toBlock: p.blockNumber });
  return logs[0]?.transactionHash ?? undefined;
}

/** The transaction that anchored an epoch, found by its EpochAnchored event in the anchor's block. */
export async function epochAnchorTx(client: ChainPublicClient, p: { auditLog: Address; epoch: bigint; blockNumber: bigint }): Promise<Hex | undefined> {
  const logs = await client.getContractEvents({ address: p.auditLog, abi: auditLogAbi, eventName: "EpochAnchored", args: { epoch: p.epoch }, fromBlock: p.blockNumber, toBlock: p.blockNumber });
  return logs[0]?.transactionHash ?? undefined;
}

/**
 * The seed of a round: the hash of its seed block. Throws SeedBlockPendingError while that block is not mined yet
 * (the caller waits and retries; on the local chain a block is mined every second).
 */
export async function roundSeed(client: ChainPublicClient, blockNumber: bigint): Promise<Hex> {
  try {
    const block = await client.getBlock({ blockNumber });
    return block.hash;
  } catch (error) {
    if (error instanceof BlockNotFoundError) throw new SeedBlockPendingError(blockNumber, error);
    throw new ChainError(`Block ${blockNumber} could not be read.`, { cause: error, details: (error as Error).message });
  }
}

/** The seed block is in the future: nobody knows its hash yet. */
export class SeedBlockPendingError extends ChainError {
  override name = "SeedBlockPendingError";
  readonly blockNumber: bigint;
  constructor(blockNumber: bigint, cause?: unknown) {
    super(`Block ${blockNumber} is not mined yet: the round's seed is not known until it is.`, { cause });
    this.blockNumber = blockNumber;
  }
}

export interface EpochAnchor {
  verdictRoot: Hex;
  rounds: number;
  blockNumber: bigint;
}

/** undefined while the epoch is not anchored. */
export async function readEpochAnchor(client: ChainPublicClient, p: { auditLog: Address; epoch: bigint }): Promise<EpochAnchor | undefined> {
  const [verdictRoot, rounds, blockNumber] = await client.readContract({ address: p.auditLog, abi: auditLogAbi, functionName: "epochAnchor", args: [p.epoch] });
  return blockNumber === 0n ? undefined : { verdictRoot, rounds, blockNumber };
}

export interface AnchorEpochParameters {
  auditLog: Address;
  epoch: bigint;
  verdictRoot: Hex;
  rounds: number;
}

/** Anchors epoch `epoch`, or returns the earlier attempt's anchor; a different recorded anchor throws, as commitRound. */
export async function anchorEpoch(signer: ChainSigner, p: AnchorEpochParameters): Promise<EpochAnchor & { anchoredNow: boolean }> {
  const result = await writeOnce({
    functionName: "anchorEpoch",
    read: () => readEpochAnchor(signer.publicClient, p),
    matches: (a) => a.verdictRoot.toLowerCase() === p.verdictRoot.toLowerCase() && a.rounds === p.rounds,
    conflict: (a) => `EpochAlreadyAnchored(${p.epoch}, ${a.verdictRoot})`,
    send: () => sendContractTransaction(signer, { address: p.auditLog, abi: auditLogAbi, functionName: "anchorEpoch", args: [p.epoch, p.verdictRoot, p.rounds] }),
  });
  const { committedNow, ...anchor } = result;
  return { ...anchor, anchoredNow: committedNow };
}

/**
 * Read, write if absent, read back. The read after a failed write covers a retry whose first attempt's transaction
 * was still pending when it read (the second transaction then reverts on chain) and two concurrent attempts.
 */
async function writeOnce<T>(w: {
  functionName: string;
  read: () => Promise<T | undefined>;
  matches: (recorded: T) => boolean;
  conflict: (recorded: T) => string;
  send: () => Promise<unknown>;
}): Promise<T & { committedNow: boolean }> {
  const check = (recorded: T, committedNow: boolean): T & { committedNow: boolean } => {
    if (w.matches(recorded)) return { ...recorded, committedNow };
    const revertReason = w.conflict(recorded);
    throw new ChainTransactionError(`${w.functionName} was refused: already recorded with different values (${revertReason}).`, { functionName: w.functionName, revertReason });
  };
  const before = await w.read();
  if (before) return check(before, false);
  try {
    await w.send();
  } catch (error) {
    const after = error instanceof ChainTransactionError ? await w.read() : undefined;
    if (after) return check(after, false);
    throw error;
  }
  const after = await w.read();
  if (!after) throw new ChainError(`${w.functionName} was mined but its record cannot be read back.`);
  return check(after, true);
}

// ---- Operational keys

/** The key `validator` authorizes to sign its attestations; undefined when none. */
export async function readOperationalKey(client: ChainPublicClient, p: { auditLog: Address; validator: Address }): Promise<Address | undefined> {
  const key = await client.readContract({ address: p.auditLog, abi: auditLogAbi, functionName: "operationalKeyOf", args: [p.validator] });
  return key === zeroAddress ? undefined : key;
}

/** The validator (stake address) `key` signs for now; undefined when the key is not, or no longer, authorized. */
export async function validatorOfOperationalKey(client: ChainPublicClient, p: { auditLog: Address; key: Address }): Promise<Address | undefined> {
  const validator = await client.readContract({ address: p.auditLog, abi: auditLogAbi, functionName: "validatorOf", args: [p.key] });
  return validator === zeroAddress ? undefined : validator;
}

/** Sent by the validator's stake address: authorizes `key` (zeroAddress revokes). Nothing is sent when it is already set. */
export async function setOperationalKey(stakeSigner: ChainSigner, p: { auditLog: Address; key: Address }): Promise<void> {
  const current = (await readOperationalKey(stakeSigner.publicClient, { auditLog: p.auditLog, validator: stakeSigner.account.address })) ?? zeroAddress;
  if (current.toLowerCase() === p.key.toLowerCase()) return;
  await sendContractTransaction(stakeSigner, { address: p.auditLog, abi: auditLogAbi, functionName: "setOperationalKey", args: [p.key] });
}
