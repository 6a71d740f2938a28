// The edge's view of the chain, built from the Worker's vars and secrets: undefined when CHAIN_RPC_URL is empty.

import { createChainPublicClient, createChainSigner, type ChainPublicClient, type ChainSigner } from "./clients.ts";
import { chainConfigFromVars, type ChainConfig, type ChainVars } from "./config.ts";
import { ChainConfigError } from "./errors.ts";

export interface EdgeChainVars extends ChainVars {
  /** Worker secret: the key of the protocol's transactions (slashing, settlement). */
  PROTOCOL_SIGNER_KEY?: string;
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

/** Why stake is not enforced when the chain is off; logged and reported wherever a check is skipped. */
export const STAKE_CHECK_SKIPPED_REASON = "CHAIN_RPC_URL is not set: node stake is not enforced";
