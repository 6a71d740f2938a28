// The one slash of a disqualified node: a share of the stake it holds (bonded + unbonding), through
// NodeStaking.slashNode with the protocol's key, exactly once. Disqualification queues a "pending" row in the same
// transaction that records it (src/db/reputation.ts); this settles the queue and is safe to run again at any point:
// before sending, it records the chain's height, so a retry after a crash between sending and recording finds the
// NodeSlashed event on chain and records that transaction instead of slashing twice. Without a chain, the slash
// is recorded as skipped, with why.

import { stringToHex, type Hex } from "viem";
import { configOf } from "../config.ts";
import { edgeChain, type EdgeChainVars } from "../chain/edge-chain.ts";
import { protocolSigner } from "./protocol-signer.ts";
import { nodeStakingAbi } from "../chain/generated/abis.ts";
import { nodeKeyOf } from "../chain/node-stake.ts";
import { slashNode } from "../chain/slashing.ts";
import type { Db } from "../db/client.ts";
import { listPendingDisqualificationSlashes, recordSlashAttempt, settleDisqualificationSlash, type DisqualificationSlashRow } from "../db/reputation.ts";
import type { Env } from "../env.ts";

/** The reason in the NodeSlashed event (bytes32): how a retry recognises its own earlier slash. */
export const DISQUALIFICATION_SLASH_REASON = "audit disqualification";

export interface DisqualificationSlashReport {
  slashed: { nodeId: string; txHash: string; amount: string }[];
  skipped: { nodeId: string; detail: string }[];
  /** Slashes that failed this time and stay pending for the next call. */
  errors: { nodeId: string; message: string }[];
}

const BPS = 10_000n;

/** Settles every pending disqualification slash; call after applying a round (and again on retry: it is idempotent). */
export async function settleDisqualificationSlashes(env: Env & EdgeChainVars, db: Db, now: number): Promise<DisqualificationSlashReport> {
  const report: DisqualificationSlashReport = { slashed: [], skipped: [], errors: [] };
  const pending = await listPendingDisqualificationSlashes(db);
  if (pending.length === 0) return report;
  const chain = edgeChain(env);
  for (const row of pending) {
    try {
      if (!chain) {
        const detail = "CHAIN_RPC_URL is not set: no stake to slash";
        await settleDisqualificationSlash(db, row.nodeId, { state: "skipped", detail }, now);
        report.skipped.push({ nodeId: row.nodeId, detail });
        continue;
      }
      const outcome = await slashOnce(env, chain, db, row, now);
      if (outcome.state === "slashed") report.slashed.push({ nodeId: row.nodeId, txHash: outcome.txHash, amount: outcome.amount });
      else report.skipped.push({ nodeId: row.nodeId, detail: outcome.detail });
      console.log(JSON.stringify({ event: "disqualification_slash", nodeId: row.nodeId, ...outcome }));
    } catch (error) {
      report.errors.push({ nodeId: row.nodeId, message: (error as Error).message.split("\n")[0]! });
      console.warn(JSON.stringify({ event: "disqualification_slash_failed", nodeId: row.nodeId, message: (error as Error).message.split("\n")[0] }));
    }
  }
  return report;
}

type Settled = { state: "slashed"; txHash: string; amount: string } | { state: "skipped"; detail: string };

async function slashOnce(env: Env & EdgeChainVars, chain: NonNullable<ReturnType<typeof edgeChain>>, db: Db, row: DisqualificationSlashRow, now: number): Promise<Settled> {
  const staking = chain.config.contracts.nodeStaking;
  const nodeKey = nodeKeyOf(row.nodeId);
  const reason = stringToHex(DISQUALIFICATION_SLASH_REASON, { size: 32 });

  if (row.fromBlock !== null) {
    const earlier = await findEarlierSlash(chain.client, staking, nodeKey, reason, BigInt(row.fromBlock));
    if (earlier) {
      const settled = { state: "slashed" as const, txHash: earlier.txHash, amount: earlier.amount.toString() };
      await settleDisqualificationSlash(db, row.nodeId, settled, now);
      return settled;
    }
  }

  const [[, bonded, unbonding], maxSlashBps] = await Promise.all([
    chain.client.readContract({ address: staking, abi: nodeStakingAbi, functionName: "nodeStake", args: [nodeKey] }),
    chain.client.readContract({ address: staking, abi: nodeStakingAbi, functionName: "maxSlashBps" }),
  ]);
  const held = bonded + unbonding;
  const bps = BigInt(configOf(env).disqualificationSlashBps);
  const amount = (held * (bps < maxSlashBps ? bps : maxSlashBps)) / BPS;
  if (amount === 0n) {
    const settled = { state: "skipped" as const, detail: held === 0n ? "the node holds no stake" : "the slash share of its stake rounds to 0" };
    await settleDisqualificationSlash(db, row.nodeId, settled, now);
    return settled;
  }

  await recordSlashAttempt(db, row.nodeId, Number(await chain.client.getBlockNumber()), now);
  const receipt = await slashNode(protocolSigner(env, chain.config), { stakingAddress: staking, nodeId: row.nodeId, amount, reason: DISQUALIFICATION_SLASH_REASON });
  const settled = { state: "slashed" as const, txHash: receipt.transactionHash, amount: amount.toString() };
  await settleDisqualificationSlash(db, row.nodeId, settled, now);
  return settled;
}

async function findEarlierSlash(
  client: NonNullable<ReturnType<typeof edgeChain>>["client"],
  staking: `0x${string}`,
  nodeKey: Hex,
  reason: Hex,
  fromBlock: bigint,
): Promise<{ txHash: string; amount: bigint } | undefined> {
  const events = await client.getContractEvents({ address: staking, abi: nodeStakingAbi, eventName: "NodeSlashed", args: { nodeKey }, fromBlock, toBlock: "latest" });
  const mine = events.find((e) => e.args.reason === reason);
  return mine ? { txHash: mine.transactionHash, amount: mine.args.amount ?? 0n } : undefined;
}
