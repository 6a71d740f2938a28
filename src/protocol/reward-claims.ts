// The reward claims the edge serves (GET /api/v1/finance/claims/:address) and the two RewardsDistributor calls a
// payout address needs to use them, shared by the Worker and `icn-node-agent rewards` (no runtime imports).

import { z } from "zod";

const amount = z.string().regex(/^(0|[1-9]\d{0,77})$/, "an amount is a decimal string of base units");
const hash = z.string().regex(/^0x[0-9a-fA-F]{64}$/);

export const claimSchema = z.object({
  period: z.string(),
  /** RewardsDistributor's period number (the finance period's start in unix seconds), decimal. */
  chainPeriod: amount,
  amount,
  proof: z.array(hash),
  postedIn: hash,
});

export const claimsResponseSchema = z.object({
  address: z.string(),
  chainId: z.number().int().nullable(),
  distributor: z.string().regex(/^0x[0-9a-fA-F]{40}$/).nullable(),
  /** ICNT earned that no posted period pays yet (settled into payables, not yet funded on chain). */
  unposted: amount,
  claims: z.array(claimSchema),
});

export type Claim = z.infer<typeof claimSchema>;
export type ClaimsResponse = z.infer<typeof claimsResponseSchema>;

/** RewardsDistributor.claim and hasClaimed, as viem reads an ABI. */
export const rewardsClaimAbi = [
  {
    type: "function",
    name: "claim",
    stateMutability: "nonpayable",
    inputs: [
      { name: "periodId", type: "uint256" },
      { name: "account", type: "address" },
      { name: "amount", type: "uint256" },
      { name: "proof", type: "bytes32[]" },
    ],
    outputs: [],
  },
  {
    type: "function",
    name: "hasClaimed",
    stateMutability: "view",
    inputs: [
      { name: "periodId", type: "uint256" },
      { name: "account", type: "address" },
    ],
    outputs: [{ name: "", type: "bool" }],
  },
] as const;
