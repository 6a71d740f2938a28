// Stake gating inside the Worker: with CHAIN_RPC_URL empty the checks are skipped and say so; with a chain (a real
// anvil started by test/helpers/worker-chain.ts) registration needs stake, the stake-check chore suspends nodes
// below their minimum, and the edge slashes with its protocol key from inside workerd.

import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { AwsClient } from "aws4fetch";
import { privateKeyToAccount } from "viem/accounts";
import { describe, expect, inject, it } from "vitest";
import { slashNode } from "../../src/chain/slashing.ts";
import { edgeChain, edgeProtocolSigner } from "../../src/chain/edge-chain.ts";
import type { Env } from "../../src/env.ts";
import worker from "../../src/index.ts";
import { randomHex } from "../../src/protocol/crypto.ts";
import { type RegistrationResponse } from "../../src/protocol/node-protocol.ts";
import { runOnce as runStakeCheck } from "../../workers/cron/stake-check.ts";
import { admin, EDGE, registrationMessage, registrationRequest, signedRegistration } from "./helpers.ts";

declare module "vitest" {
  export interface ProvidedContext {
    chain: { vars: Record<string, string>; stakedNodeIds: string[]; settlementNodeIds: string[] };
  }
}

// anvil account 2: the operator whose stake test/helpers/worker-chain.ts put on chain.
const operator = privateKeyToAccount("0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a");
const plainEnv = env as unknown as Env;
const chainEnv = (): Env => ({ ...plainEnv, ...inject("chain").vars });

/** Registers through the Worker's own fetch handler with `workerEnv`. */
async function register(nodeId: string, workerEnv: Env): Promise<Response> {
  return workerFetch(registrationRequest(await signedRegistration(registrationMessage({ nodeId }), operator)), workerEnv);
}

/** Sends `request` to the Worker's own fetch handler with `workerEnv`. */
async function workerFetch(request: Request, workerEnv: Env): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await worker.fetch(request, workerEnv, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

async function statusOf(nodeId: string): Promise<string | undefined> {
  const { nodes } = (await (await admin("GET", "/nodes")).json()) as { nodes: { id: string; status: string }[] };
  return nodes.find((n) => n.id === nodeId)?.status;
}

async function approveOperator() {
  expect((await admin("PUT", `/operators/${operator.address}`, { status: "approved" })).status).toBe(200);
}

describe("without a chain (CHAIN_RPC_URL empty)", () => {
  it("registers nodes without stake and the stake-check chore reports that it checked nothing", async () => {
    await approveOperator();
    const nodeId = `node_${randomHex(8)}`;
    expect((await register(nodeId, plainEnv)).status).toBe(200);
    const report = await runStakeCheck(plainEnv, new Date());
    expect(report).toMatchObject({ chore: "stake-check", checked: 0, suspended: [], skipped: expect.stringContaining("CHAIN_RPC_URL is not set") });
    expect(await statusOf(nodeId)).toBe("active");
  });
});

describe("with a chain", () => {
  it("refuses to register a node without stake, naming the minimum its capacity needs", async () => {
    await approveOperator();
    const nodeId = `node_${randomHex(8)}`;
    const res = await register(nodeId, chainEnv());
    expect(res.status).toBe(403);
    const body = (await res.json()) as { code: string; details: { bonded: string; required: string } };
    expect(body.code).toBe("InsufficientStake");
    // 10 GiB at 1,000 ICNT per TiB.
    expect(body.details).toMatchObject({ bonded: "0", required: String((1000n * 10n ** 18n * 10n) / 1024n) });
    expect(await statusOf(nodeId)).toBeUndefined();
  });

  it("registers a node whose operator staked the minimum, and suspends it once a slash takes it below", async () => {
    await approveOperator();
    const stakedNodeId = inject("chain").stakedNodeIds[0]!;
    expect((await register(stakedNodeId, chainEnv())).status).toBe(200);
    expect(await statusOf(stakedNodeId)).toBe("active");

    // A node registered while the chain was off, with no stake at all.
    const unstaked = `node_${randomHex(8)}`;
    expect((await register(unstaked, plainEnv)).status).toBe(200);

    const first = await runStakeCheck(chainEnv(), new Date());
    expect(first.suspended).toContain(unstaked);
    expect(first.suspended).not.toContain(stakedNodeId);
    expect(await statusOf(unstaked)).toBe("suspended");
    expect(await statusOf(stakedNodeId)).toBe("active");

    // The edge's protocol key slashes from inside workerd; the next chore run suspends the node.
    const chain = edgeChain(chainEnv())!;
    await slashNode(edgeProtocolSigner(chainEnv(), chain.config), { stakingAddress: chain.config.contracts.nodeStaking, nodeId: stakedNodeId, amount: 1n, reason: "test" });
    const second = await runStakeCheck(chainEnv(), new Date());
    expect(second.suspended).toContain(stakedNodeId);
    expect(await statusOf(stakedNodeId)).toBe("suspended");
  });

  it("suspends a node at its first heartbeat after a slash takes its stake below the minimum", async () => {
    await approveOperator();
    const nodeId = inject("chain").stakedNodeIds[1]!;
    const registered = await register(nodeId, chainEnv());
    expect(registered.status).toBe(200);
    const creds = (await registered.json()) as RegistrationResponse;
    const signer = new AwsClient({ accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey, service: "icn", region: "icn", retries: 0 });
    const heartbeat = async () => {
      const body = JSON.stringify({ totalBytes: 1000, freeBytes: 600, usedBytes: 400, blobCount: 0, healthy: true, agentVersion: "0.1.0" });
      const signed = await signer.sign(`${EDGE}/api/v1/nodes/${nodeId}/heartbeat`, { method: "POST", body, headers: { "content-type": "application/json" } });
      return (await (await workerFetch(signed, chainEnv())).json()) as { status: string };
    };
    expect(await heartbeat()).toMatchObject({ status: "active" });

    const chain = edgeChain(chainEnv())!;
    await slashNode(edgeProtocolSigner(chainEnv(), chain.config), { stakingAddress: chain.config.contracts.nodeStaking, nodeId, amount: 1n, reason: "test" });
    expect(await heartbeat()).toMatchObject({ status: "suspended" });
    expect(await statusOf(nodeId)).toBe("suspended");
  });
});
