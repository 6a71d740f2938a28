// Where the protocol's contracts live, read from the Worker's vars (wrangler.toml [vars], empty by default).
// An empty CHAIN_RPC_URL means "no chain": the edge then skips stake checks and says so (see README, Chain).

import { getAddress, isAddress, type Address } from "viem";
import { ChainConfigError } from "./errors.ts";

/** The vars this module reads; a structural type so Node code (tests, scripts) can pass plain objects. */
export interface ChainVars {
  CHAIN_RPC_URL?: string;
  CHAIN_ID?: string;
  ICNT_ADDRESS?: string;
  NODE_STAKING_ADDRESS?: string;
  REWARDS_DISTRIBUTOR_ADDRESS?: string;
  SERVICE_ESCROW_ADDRESS?: string;
  AUDIT_LOG_ADDRESS?: string;
  STAKE_CACHE_TTL_SECONDS?: string;
  USDC_ADDRESS?: string;
  UNISWAP_V2_ROUTER_ADDRESS?: string;
  ICNT_USDC_PAIR_ADDRESS?: string;
}

export interface ProtocolContracts {
  icnt: Address;
  nodeStaking: Address;
  rewardsDistributor: Address;
  serviceEscrow: Address;
  /** Round commitments, epoch anchors and validators' operational keys (AuditLog.sol). */
  auditLog: Address;
}

export interface ChainConfig {
  rpcUrl: string;
  chainId: number;
  contracts: ProtocolContracts;
  /** How long a stake read may be reused by heartbeats and the stake-check chore. */
  stakeCacheTtlMs: number;
  /** Where settlement buys ICNT (a Uniswap v2 ICNT/USDC pool); undefined when not configured (no buyback). */
  market: { router: Address; pair: Address; usdc: Address } | undefined;
}

const MARKET_VARS = { usdc: "USDC_ADDRESS", router: "UNISWAP_V2_ROUTER_ADDRESS", pair: "ICNT_USDC_PAIR_ADDRESS" } as const satisfies Record<string, keyof ChainVars>;

const ADDRESS_VARS = {
  icnt: "ICNT_ADDRESS",
  nodeStaking: "NODE_STAKING_ADDRESS",
  rewardsDistributor: "REWARDS_DISTRIBUTOR_ADDRESS",
  serviceEscrow: "SERVICE_ESCROW_ADDRESS",
  auditLog: "AUDIT_LOG_ADDRESS",
} as const satisfies Record<keyof ProtocolContracts, keyof ChainVars>;

export const DEFAULT_STAKE_CACHE_TTL_SECONDS = 30;

/** Returns undefined when CHAIN_RPC_URL is empty (chain disabled); throws ChainConfigError when it is half set up. */
export function chainConfigFromVars(vars: ChainVars): ChainConfig | undefined {
  const rpcUrl = vars.CHAIN_RPC_URL?.trim() ?? "";
  if (rpcUrl === "") return undefined;

  const chainId = Number(vars.CHAIN_ID);
  if (!Number.isSafeInteger(chainId) || chainId <= 0) throw new ChainConfigError(`CHAIN_ID must be a positive integer, not "${vars.CHAIN_ID ?? ""}".`);

  const contracts = {} as ProtocolContracts;
  for (const [key, name] of Object.entries(ADDRESS_VARS) as [keyof ProtocolContracts, keyof ChainVars][]) {
    const value = vars[name]?.trim() ?? "";
    if (!isAddress(value)) throw new ChainConfigError(`${name} must be a contract address when CHAIN_RPC_URL is set, not "${value}".`);
    contracts[key] = getAddress(value);
  }

  const ttlSeconds = vars.STAKE_CACHE_TTL_SECONDS ? Number(vars.STAKE_CACHE_TTL_SECONDS) : DEFAULT_STAKE_CACHE_TTL_SECONDS;
  if (!Number.isFinite(ttlSeconds) || ttlSeconds < 0) throw new ChainConfigError(`STAKE_CACHE_TTL_SECONDS must be a number of seconds ≥ 0.`);
  const marketValues = Object.entries(MARKET_VARS).map(([key, name]) => [key, name, vars[name]?.trim() ?? ""] as const);
  let market: ChainConfig["market"];
  if (marketValues.some(([, , value]) => value !== "")) {
    for (const [, name, value] of marketValues) {
      if (!isAddress(value)) throw new ChainConfigError(`${name} must be a contract address when any of ${Object.values(MARKET_VARS).join(", ")} is set, not "${value}".`);
    }
    market = Object.fromEntries(marketValues.map(([key, , value]) => [key, getAddress(value)])) as NonNullable<ChainConfig["market"]>;
  }
  return { rpcUrl, chainId, contracts, stakeCacheTtlMs: ttlSeconds * 1000, market };
}
