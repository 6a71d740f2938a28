// Posting a period's rewards and claiming them (src/services/rewards-posting.ts, GET /api/v1/finance/claims), against
// the real anvil of test/helpers/worker-chain.ts: the root and its funding are posted once through the protocol
// key's Durable Object, every leaf's proof is served publicly, and an operator claims exactly its amount with it.

import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { erc20Abi, type Address, type Hex } from "viem";
import { describe, expect, inject, it } from "vitest";
import { createChainSigner } from "../../src/chain/clients.ts";
import { edgeChain } from "../../src/chain/edge-chain.ts";
import { claimReward, hasClaimed, readRewardsPeriod } from "../../src/chain/rewards.ts";
import { openDb } from "../../src/db/client.ts";
import type { Env } from "../../src/env.ts";
import worker from "../../src/index.ts";
import { chainPeriodOf, postPeriodRewards } from "../../src/services/rewards-posting.ts";
import { mnemonicKey } from "../../src/localnet/chain.ts";
import { EDGE } from "./helpers.ts";

const chainEnv = (): Env => ({ ...(env as unknown as Env), ...inject("chain").vars });

async function claimsApi(path: string): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await worker.fetch(new Request(`${EDGE}/api/v1/finance/claims/${path}`), chainEnv(), ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

// anvil accounts 10 and 11: payout addresses of an operator and a validator, with gas to claim.
const operatorKey = mnemonicKey(10);
const ICNT = 10n ** 18n;

describe("rewards of a period", () => {
  it("are posted once, served with their proofs, and claimed on chain for exactly the leaf's amount", async () => {
    const e = chainEnv();
    const { config, client } = edgeChain(e)!;
    const operator = createChainSigner({ rpcUrl: config.rpcUrl, chainId: config.chainId, pollingIntervalMs: 250 }, operatorKey);
    const validator = createChainSigner({ rpcUrl: config.rpcUrl, chainId: config.chainId, pollingIntervalMs: 250 }, mnemonicKey(11)).account.address;
    const entries = [
      { account: operator.account.address, amount: 123n * ICNT + 7n },
      { account: validator, amount: 45n * ICNT },
    ];
    const db = openDb(e.DB);
    const period = "2026-10";
    const posting = await postPeriodRewards(e, db, period, entries, Date.now());
    expect(posting).toMatchObject({ periodId: period, chainPeriod: chainPeriodOf(period).toString(), total: (168n * ICNT + 7n).toString() });
    const onChain = await readRewardsPeriod(client, { distributor: config.contracts.rewardsDistributor, periodId: chainPeriodOf(period) });
    expect(onChain).toEqual({ root: posting.root, funded: 168n * ICNT + 7n, claimed: 0n });
    // Posted again (a rerun of the step): the same posting, no transaction.
    const protocol = e.PROTOCOL_SIGNER_KEY!;
    const protocolAddress = createChainSigner({ rpcUrl: config.rpcUrl, chainId: config.chainId }, protocol).account.address;
    const nonce = await client.getTransactionCount({ address: protocolAddress });
    expect(await postPeriodRewards(e, db, period, entries, Date.now())).toEqual(posting);
    expect(await client.getTransactionCount({ address: protocolAddress })).toBe(nonce);

    const listed = await claimsApi(operator.account.address);
    expect(listed.status).toBe(200);
    const body = (await listed.json()) as { distributor: string; unposted: string; claims: { period: string; chainPeriod: string; amount: string; proof: Hex[] }[] };
    expect(body.distributor).toBe(config.contracts.rewardsDistributor);
    expect(body.unposted).toBe("0");
    expect(body.claims).toHaveLength(1);
    expect(body.claims[0]).toMatchObject({ period, amount: (123n * ICNT + 7n).toString() });
    const one = (await (await claimsApi(`${operator.account.address.toUpperCase().replace("0X", "0x")}?period=${period}`)).json()) as { amount: string; proof: Hex[] };
    expect(one).toEqual({ period, chainPeriod: body.claims[0]!.chainPeriod, amount: body.claims[0]!.amount, proof: body.claims[0]!.proof });

    const before = await client.readContract({ address: config.contracts.icnt, abi: erc20Abi, functionName: "balanceOf", args: [operator.account.address] });
    await claimReward(operator, { distributor: config.contracts.rewardsDistributor, periodId: chainPeriodOf(period), account: operator.account.address as Address, amount: BigInt(one.amount), proof: one.proof });
    const after = await client.readContract({ address: config.contracts.icnt, abi: erc20Abi, functionName: "balanceOf", args: [operator.account.address] });
    expect(after - before).toBe(123n * ICNT + 7n);
    expect(await hasClaimed(client, { distributor: config.contracts.rewardsDistributor, periodId: chainPeriodOf(period), account: operator.account.address as Address })).toBe(true);
    // The proof for one amount proves no other.
    await expect(
      claimReward(operator, { distributor: config.contracts.rewardsDistributor, periodId: chainPeriodOf(period), account: validator as Address, amount: 46n * ICNT, proof: one.proof }),
    ).rejects.toThrow(/InvalidProof/);
  });

  it("answers 404 NoSuchClaim for a period without the address, and 400 for a malformed address or period", async () => {
    const address = "0x00000000000000000000000000000000000000aa";
    expect((await claimsApi(`${address}?period=2026-10`)).status).toBe(404);
    expect(((await (await claimsApi(address)).json()) as { claims: unknown[] }).claims).toEqual([]);
    for (const bad of ["0x123", `${address}?period=october`]) {
      const res = await claimsApi(bad);
      expect(res.status, bad).toBe(400);
      expect(((await res.json()) as { code: string }).code).toBe("ValidationError");
    }
  });
});
