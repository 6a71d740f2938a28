// Typed viem clients for the protocol's chain: one public client for reads, and a signer for transactions.

import { createPublicClient, createWalletClient, defineChain, http, type Chain, type PrivateKeyAccount, type PublicClient, type Transport, type WalletClient } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { ChainConfigError } from "./errors.ts";
import type { TransactionRelay } from "./transaction-relay.ts";

export type ChainPublicClient = PublicClient<Transport, Chain>;

/** An account that signs transactions, with the clients it sends them through. */
export interface ChainSigner {
  account: PrivateKeyAccount;
  publicClient: ChainPublicClient;
  walletClient: WalletClient<Transport, Chain, PrivateKeyAccount>;
  /**
   * When set, transactions are handed to this owner of the account's nonces (which signs, stores and broadcasts
   * them) instead of being signed here; `account` then only names the sender for simulation.
   */
  relay?: TransactionRelay;
}

export interface ChainEndpoint {
  rpcUrl: string;
  chainId: number;
  /** How often receipts are polled; short against a local anvil, the default (4 s) elsewhere. */
  pollingIntervalMs?: number;
}

export function chainDefinition({ rpcUrl, chainId }: ChainEndpoint): Chain {
  return defineChain({
    id: chainId,
    name: `icn-${chainId}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
}

export function createChainPublicClient(endpoint: ChainEndpoint): ChainPublicClient {
  return createPublicClient({
    chain: chainDefinition(endpoint),
    transport: http(endpoint.rpcUrl, { retryCount: 1 }),
    pollingInterval: endpoint.pollingIntervalMs ?? 1000,
    // Stake and nonce reads must see the latest block, never a cached one.
    cacheTime: 0,
  });
}

export function createChainSigner(endpoint: ChainEndpoint, privateKey: string): ChainSigner {
  if (!/^0x[0-9a-fA-F]{64}$/.test(privateKey)) throw new ChainConfigError("A signing key must be 0x followed by 64 hex digits.");
  const account = privateKeyToAccount(privateKey as `0x${string}`);
  const publicClient = createChainPublicClient(endpoint);
  const walletClient = createWalletClient({ account, chain: publicClient.chain, transport: http(endpoint.rpcUrl, { retryCount: 0 }) });
  return { account, publicClient, walletClient };
}
