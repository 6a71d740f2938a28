// What the coordinator needs from the chain, in one place: round commitments and seeds, the validator set with
// stakes and operational keys, epoch anchors and validator slashing (all sent with the protocol's transaction
// key; assignments are signed with the edge's separate audit key, src/services/audit-keys.ts).

import type { Address, Hex } from "viem";
import { anchorEpoch, commitRound, epochAnchorTx, readOperationalKey, roundCommitTx, roundSeed } from "../../../src/chain/audit-log.ts";
import { edgeChain, type EdgeChain } from "../../../src/chain/edge-chain.ts";
import { protocolSigner } from "../../../src/services/protocol-signer.ts";
import { slashValidator } from "../../../src/chain/slashing.ts";
import { isStakedValidator, listStakedValidators } from "../../../src/chain/validator-stake.ts";
import type { Env } from "../../../src/env.ts";

export interface StakedValidator {
  address: string;
  operator: string;
  stake: bigint;
}

export interface AuditChain {
  commitRound(roundId: number, commitment: Hex): Promise<{ txHash: Hex | undefined; blockNumber: bigint }>;
  headBlock(): Promise<bigint>;
  /** The hash of a mined block; undefined while it is not mined yet. */
  blockHash(blockNumber: bigint): Promise<Hex | undefined>;
  /** Staked validators (NodeStaking.isValidator) with an operational key authorized on chain. */
  validators(): Promise<StakedValidator[]>;
  isValidator(address: string): Promise<boolean>;
  operatorOf(validator: string): Promise<string | undefined>;
  anchorEpoch(epoch: number, root: Hex, rounds: number): Promise<Hex | undefined>;
  slashValidator(validator: string, amount: bigint, reason: string): Promise<Hex>;
}

/** The chain side of auditing, or undefined when the edge runs without a chain (no rounds are opened then). */
export function auditChainOf(env: Env): AuditChain | undefined {
  const chain: EdgeChain | undefined = edgeChain(env);
  if (!chain) return undefined;
  const { client, config } = chain;
  const auditLog = config.contracts.auditLog;
  const signer = () => protocolSigner(env, config);
  return {
    commitRound: async (roundId, commitment) => {
      const committed = await commitRound(signer(), { auditLog, roundId: BigInt(roundId), commitment });
      return { txHash: await roundCommitTx(client, { auditLog, roundId: BigInt(roundId), blockNumber: committed.blockNumber }), blockNumber: committed.blockNumber };
    },
    headBlock: () => client.getBlockNumber({ cacheTime: 0 }),
    blockHash: (blockNumber) => roundSeed(client, blockNumber).catch(() => undefined),
    validators: async () =>
      (await listStakedValidators(client, { stakingAddress: config.contracts.nodeStaking, auditLog })).map((v) => ({ address: v.address, operator: v.operationalAddress, stake: v.stake })),
    isValidator: (address) => isStakedValidator(client, { stakingAddress: config.contracts.nodeStaking, validator: address as Address }),
    operatorOf: (validator) => readOperationalKey(client, { auditLog, validator: validator as Address }),
    anchorEpoch: async (epoch, root, rounds) => {
      const anchored = await anchorEpoch(signer(), { auditLog, epoch: BigInt(epoch), verdictRoot: root, rounds });
      return epochAnchorTx(client, { auditLog, epoch: BigInt(epoch), blockNumber: anchored.blockNumber });
    },
    slashValidator: async (validator, amount, reason) =>
      (await slashValidator(signer(), { stakingAddress: config.contracts.nodeStaking, validator: validator as Address, amount, reason })).transactionHash,
  };
}
