// Reward claims, public: `GET /api/v1/finance/claims/:address` lists what an operator's or validator's payout
// address can claim from RewardsDistributor, period by period, with the Merkle proof of each leaf (the tree is
// public once its root is on chain), and what it has earned that no posted period pays yet. `?period=ID` answers
// one period's `{ amount, proof }`. `icn-node-agent rewards` reads it.

import { Hono } from "hono";
import { z } from "zod";
import { edgeChain } from "../chain/edge-chain.ts";
import { openDb } from "../db/client.ts";
import { claimsOf, unpostedEarnings } from "../db/rewards.ts";
import type { ClaimsResponse } from "../protocol/reward-claims.ts";
import type { Env } from "../env.ts";
import { ApiError, parseWith } from "./errors.ts";

export const claimsApi = new Hono<{ Bindings: Env }>();

const addressSchema = z.string().regex(/^0x[0-9a-fA-F]{40}$/, "an address is 0x followed by 40 hex digits");
const querySchema = z.object({ period: z.string().regex(/^\d{4}-\d{2}(-\d{2}T\d{2}:\d{2})?$/, "period is YYYY-MM or YYYY-MM-DDTHH:MM").optional() });

claimsApi.get("/claims/:address", async (c) => {
  const address = parseWith(addressSchema, c.req.param("address")).toLowerCase();
  const { period } = parseWith(querySchema, c.req.query());
  const db = openDb(c.env.DB);
  const claims = await claimsOf(db, address, period);
  if (period !== undefined) {
    const [claim] = claims;
    if (!claim) throw new ApiError(404, "NoSuchClaim", `No reward for ${address} in period ${period}.`);
    return c.json({ period: claim.periodId, chainPeriod: claim.chainPeriod, amount: claim.amount, proof: claim.proof });
  }
  const chain = edgeChain(c.env);
  const body: ClaimsResponse = {
    address,
    chainId: chain?.config.chainId ?? null,
    distributor: chain?.config.contracts.rewardsDistributor ?? null,
    unposted: (await unpostedEarnings(db, address)).toString(),
    claims: claims.map((cl) => ({ period: cl.periodId, chainPeriod: cl.chainPeriod, amount: cl.amount, proof: cl.proof, postedIn: cl.txHash })),
  };
  return c.json(body);
});
