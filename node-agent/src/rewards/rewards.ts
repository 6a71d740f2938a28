// `icn-node-agent rewards [claim]`: what a payout address (an operator's wallet, a validator's stake address) has
// earned, and claiming it. The edge serves each posted period's leaf with its Merkle proof; the chain says which
// were claimed; `claim` sends RewardsDistributor.claim for every one that was not, signed with the wallet key.

import { createPublicClient, createWalletClient, defineChain, http, type Address, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { claimsResponseSchema, rewardsClaimAbi, type ClaimsResponse } from "../../../src/protocol/reward-claims.ts";
import type { RewardsConfig } from "./config.ts";

export interface ClaimStatus {
  period: string;
  chainPeriod: bigint;
  amount: bigint;
  proof: Hex[];
  /** undefined when no chain RPC URL was given (the status cannot be read). */
  claimed: boolean | undefined;
}

export interface RewardsReport {
  address: Address;
  unposted: bigint;
  claims: ClaimStatus[];
}

export async function fetchClaims(edgeUrl: string, address: string, signal?: AbortSignal): Promise<ClaimsResponse> {
  const res = await fetch(`${edgeUrl}/api/v1/finance/claims/${address}`, { signal });
  const text = await res.text();
  if (!res.ok) throw new Error(`the edge answered ${res.status} for ${address}'s claims: ${text.slice(0, 300)}`);
  return claimsResponseSchema.parse(JSON.parse(text));
}

function chainOf(rpcUrl: string, chainId: number) {
  return defineChain({ id: chainId, name: `icn-${chainId}`, nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 }, rpcUrls: { default: { http: [rpcUrl] } } });
}

export async function rewardsReport(config: RewardsConfig): Promise<{ report: RewardsReport; response: ClaimsResponse }> {
  const response = await fetchClaims(config.edgeUrl, config.address);
  const client =
    config.chainRpcUrl && response.chainId !== null && response.distributor !== null
      ? createPublicClient({ chain: chainOf(config.chainRpcUrl, response.chainId), transport: http(config.chainRpcUrl) })
      : undefined;
  const claims: ClaimStatus[] = [];
  for (const c of response.claims) {
    const claimed = client
      ? await client.readContract({ address: response.distributor as Address, abi: rewardsClaimAbi, functionName: "hasClaimed", args: [BigInt(c.chainPeriod), config.address] })
      : undefined;
    claims.push({ period: c.period, chainPeriod: BigInt(c.chainPeriod), amount: BigInt(c.amount), proof: c.proof as Hex[], claimed });
  }
  return { report: { address: config.address, unposted: BigInt(response.unposted), claims }, response };
}

/** Claims every posted, unclaimed period; returns the transactions it sent, one per period. */
export async function claimAll(config: RewardsConfig & { walletKey: Hex; chainRpcUrl: string }): Promise<{ period: string; amount: bigint; txHash: Hex }[]> {
  const { report, response } = await rewardsReport(config);
  if (response.chainId === null || response.distributor === null) throw new Error("the edge runs without a chain: there is nothing to claim on");
  const chain = chainOf(config.chainRpcUrl, response.chainId);
  const account = privateKeyToAccount(config.walletKey);
  const wallet = createWalletClient({ account, chain, transport: http(config.chainRpcUrl) });
  const client = createPublicClient({ chain, transport: http(config.chainRpcUrl) });
  const sent: { period: string; amount: bigint; txHash: Hex }[] = [];
  for (const c of report.claims) {
    if (c.claimed !== false) continue;
    const txHash = await wallet.writeContract({ address: response.distributor as Address, abi: rewardsClaimAbi, functionName: "claim", args: [c.chainPeriod, config.address, c.amount, c.proof] });
    const receipt = await client.waitForTransactionReceipt({ hash: txHash, timeout: 120_000 });
    if (receipt.status !== "success") throw new Error(`the claim for ${c.period} reverted in block ${receipt.blockNumber} (${txHash})`);
    sent.push({ period: c.period, amount: c.amount, txHash });
  }
  return sent;
}

/** ICNT base units as a decimal ICNT amount, exactly (18 decimals, trailing zeros dropped). */
export function formatIcnt(units: bigint): string {
  const whole = units / 10n ** 18n;
  const fraction = (units % 10n ** 18n).toString().padStart(18, "0").replace(/0+$/, "");
  return fraction === "" ? `${whole}` : `${whole}.${fraction}`;
}
