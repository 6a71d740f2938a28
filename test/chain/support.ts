// Shared by the contract tests: one anvil per test file with the protocol deployed exactly as the local network
// deploys it, wallets from the test mnemonic, and assertions on reverts by the contract's own error name.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTestClient, http, type Address } from "viem";
import { expect } from "vitest";
import type { ChainSigner } from "../../src/chain/clients.ts";
import { ChainTransactionError } from "../../src/chain/errors.ts";
import { icntAbi } from "../../src/chain/generated/abis.ts";
import { LocalChain, mnemonicKey } from "../../src/localnet/chain.ts";

export interface TestChain {
  chain: LocalChain;
  /** A funded wallet (ETH for gas) from the test mnemonic; indexes 10..89 are free for tests (71..78 are the local validators' operational keys once ensureValidatorsStaked ran). */
  wallet(index: number): ChainSigner;
  balanceOf(token: Address, account: Address): Promise<bigint>;
  /** Moves the chain's clock forward and mines a block. */
  advanceTime(seconds: bigint): Promise<void>;
  stop(): Promise<void>;
}

export async function startTestChain(): Promise<TestChain> {
  const stateDir = await mkdtemp(join(tmpdir(), "icn-chain-"));
  const chain = await LocalChain.start({ stateDir, port: 0, logFile: join(stateDir, "anvil.log") });
  await chain.deployOrReuse();
  const testClient = createTestClient({ mode: "anvil", transport: http(chain.rpcUrl) });
  return {
    chain,
    wallet: (index) => chain.signer(mnemonicKey(index)),
    balanceOf: (token, account) => chain.client.readContract({ address: token, abi: icntAbi, functionName: "balanceOf", args: [account] }),
    async advanceTime(seconds) {
      await testClient.increaseTime({ seconds: Number(seconds) });
      await testClient.mine({ blocks: 1 });
    },
    async stop() {
      await chain.stop();
      // anvil's last log lines may still be landing: retry the removal briefly.
      await rm(stateDir, { recursive: true, force: true, maxRetries: 5 });
    },
  };
}

/** Asserts that `promise` failed with the contract error `errorName` (a custom error or a revert string). */
export async function expectRevert(promise: Promise<unknown>, errorName: string): Promise<ChainTransactionError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected a revert with ${errorName}`).toBeInstanceOf(ChainTransactionError);
  const refused = error as ChainTransactionError;
  expect(refused.revertReason ?? refused.shortMessage).toContain(errorName);
  return refused;
}
