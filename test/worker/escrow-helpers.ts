// Helpers for the prepaid-ICNT tests against the Worker tests' anvil (test/helpers/worker-chain.ts): the edge's env
// pointed at that chain, and customer wallets (fresh keys) funded with gas and ICNT, with a deposit in ServiceEscrow.

import { env } from "cloudflare:test";
import { createTestClient, http, type Address } from "viem";
import { generatePrivateKey } from "viem/accounts";
import { inject } from "vitest";
import { createChainSigner, type ChainSigner } from "../../src/chain/clients.ts";
import { edgeChain } from "../../src/chain/edge-chain.ts";
import { depositToEscrow } from "../../src/chain/escrow.ts";
import { icntAbi } from "../../src/chain/generated/abis.ts";
import { sendContractTransaction } from "../../src/chain/transactions.ts";
import type { Env } from "../../src/env.ts";
import { protocolSigner } from "../../src/services/protocol-signer.ts";

export const ICNT = 10n ** 18n;

export const chainEnv = (): Env => ({ ...(env as unknown as Env), ...inject("chain").vars });

export function chainOf(e: Env = chainEnv()) {
  const chain = edgeChain(e)!;
  return { ...chain, escrow: chain.config.contracts.serviceEscrow, icnt: chain.config.contracts.icnt, protocol: protocolSigner(e, chain.config) };
}

/** A fresh wallet with gas, `deposit` ICNT in the escrow (none when 0n). */
export async function customerWallet(deposit: bigint): Promise<ChainSigner> {
  const { config, escrow, icnt, protocol } = chainOf();
  const customer = createChainSigner({ rpcUrl: config.rpcUrl, chainId: config.chainId, pollingIntervalMs: 100 }, generatePrivateKey());
  await createTestClient({ mode: "anvil", transport: http(config.rpcUrl) }).setBalance({ address: customer.account.address, value: 10n ** 18n });
  if (deposit > 0n) {
    await sendContractTransaction(protocol, { address: icnt, abi: icntAbi, functionName: "transfer", args: [customer.account.address, deposit] }, { idempotencyKey: `test:fund:${crypto.randomUUID()}` });
    await sendContractTransaction(customer, { address: icnt, abi: icntAbi, functionName: "approve", args: [escrow, deposit] });
    await depositToEscrow(customer, { escrow, amount: deposit });
  }
  return customer;
}

export async function icntBalance(address: Address): Promise<bigint> {
  const { client, icnt } = chainOf();
  return client.readContract({ address: icnt, abi: icntAbi, functionName: "balanceOf", args: [address] });
}
