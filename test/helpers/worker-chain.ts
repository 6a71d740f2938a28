// globalSetup of the Worker tests: a real anvil with the protocol deployed and two nodes staked, handed to the
// tests (which run inside workerd and cannot start processes) through vitest's provide/inject.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { LocalChain, mnemonicKey } from "../../src/localnet/chain.ts";

/** The operator key the Worker tests sign registrations with (anvil account 2). */
const TEST_OPERATOR_KEY = mnemonicKey(2);
/**
 * Nodes staked at exactly the minimum for STAKED_CAPACITY, so any slash takes them below it: the first two for
 * stake-gate.test.ts, the third for reputation.test.ts (the slash of a disqualified node).
 */
export const STAKED_NODE_IDS = ["node_5747a6ed00000001", "node_5747a6ed00000002", "node_5747a6ed00000003"];
/**
 * Nodes of the settlement tests (test/worker/settlement-settle.test.ts): the first staked at its minimum, the second
 * at a tenth of it, so settlement owes it a collateral top-up.
 */
export const SETTLEMENT_NODE_IDS = ["node_5e771e0000000001", "node_5e771e0000000002"];
/** The capacity the Worker tests register with (10 GiB), and the stake is sized for. */
const STAKED_CAPACITY = 10n * 1024n ** 3n;

declare module "vitest" {
  export interface ProvidedContext {
    chain: { vars: Record<string, string>; stakedNodeIds: string[]; settlementNodeIds: string[] };
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const stateDir = await mkdtemp(join(tmpdir(), "icn-worker-chain-"));
  const chain = await LocalChain.start({ stateDir, port: 0, logFile: join(stateDir, "anvil.log") });
  try {
    await chain.deployOrReuse();
    for (const nodeId of STAKED_NODE_IDS) await chain.ensureNodeStake(TEST_OPERATOR_KEY, nodeId, STAKED_CAPACITY);
    // Staked by anvil account 1, the operator test/worker/helpers.ts registers nodes with.
    const full = await chain.ensureNodeStake(mnemonicKey(1), SETTLEMENT_NODE_IDS[0]!, STAKED_CAPACITY);
    await chain.stakeNode(mnemonicKey(1), SETTLEMENT_NODE_IDS[1]!, full.required / 10n);
  } catch (error) {
    await chain.stop();
    throw error;
  }
  // A TTL of 0 makes every stake read fresh, so a test sees a slash at once.
  project.provide("chain", { vars: { ...chain.workerVars(), ...chain.workerSecrets(), STAKE_CACHE_TTL_SECONDS: "0" }, stakedNodeIds: STAKED_NODE_IDS, settlementNodeIds: SETTLEMENT_NODE_IDS });
  return async () => {
    await chain.stop();
    await rm(stateDir, { recursive: true, force: true, maxRetries: 5 });
  };
}
