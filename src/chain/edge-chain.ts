// The edge's view of the chain, built from the Worker's vars and secrets: undefined when CHAIN_RPC_URL is empty.

import type { PrivateKeyAccount } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { createChainPublicClient, createChainSigner, type ChainPublicClient, type ChainSigner } from "./clients.ts";
import { chainConfigFromVars, type ChainConfig, type ChainVars } from "./config.ts";
import { ChainConfigError } from "./errors.ts";

export interface EdgeChainVars extends ChainVars {
  /** Worker secret: the key of the protocol's transactions (slashing, settlement). */
  PROTOCOL_SIGNER_KEY?: string;
  /** Worker secret: the key that signs challenge assignments (EIP-712), never a transaction. */
  AUDIT_SIGNER_KEY?: string;
}

export interface EdgeChain {
  config: ChainConfig;
  client: ChainPublicClient;
}

export function edgeChain(vars: EdgeChainVars): EdgeChain | undefined {
  const config = chainConfigFromVars(vars);
  if (!config) return undefined;
  return { config, client: createChainPublicClient({ rpcUrl: config.rpcUrl, chainId: config.chainId, pollingIntervalMs: 250 }) };
}

export function edgeProtocolSigner(vars: EdgeChainVars, config: ChainConfig): ChainSigner {
  if (!vars.PROTOCOL_SIGNER_KEY) throw new ChainConfigError("PROTOCOL_SIGNER_KEY is not set: the edge cannot send protocol transactions.");
  return createChainSigner({ rpcUrl: config.rpcUrl, chainId: config.chainId, pollingIntervalMs: 250 }, vars.PROTOCOL_SIGNER_KEY);
}

/** The account that signs challenge assignments; nodes check them against its address (the assignment signer). */
export function edgeAuditAccount(vars: EdgeChainVars): PrivateKeyAccount {
  const key = vars.AUDIT_SIGNER_KEY ?? "";
  if (!/^0x[0-9a-fA-F]{64}$/.test(key)) throw new ChainConfigError("AUDIT_SIGNER_KEY must be set to 0x followed by 64 hex digits: the edge cannot sign challenge assignments.");
  return privateKeyToAccount(key as `0x${string}`);
}

/** Why stake is not enforced when the chain is off; logged and reported wherever a check is skipped. */
export const STAKE_CHECK_SKIPPED_REASON = "CHAIN_RPC_URL is not set: node stake is not enforced";
