// End to end: stake gates the real network. A node whose operator has not staked cannot register; once staked it
// registers and gets data; slashed below its minimum it is suspended and gets no new data.

import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { icntAbi } from "../../src/chain/generated/abis.ts";
import { readNodeStake } from "../../src/chain/node-stake.ts";
import { operatorWallet, type LocalNetwork, type NetworkDescription } from "../../src/localnet/network.ts";
import { edgeS3Client, startTestNetwork, stopTestNetwork } from "../helpers/test-support.ts";

const LATE_NODE = 2;
let network: LocalNetwork;
let d: NetworkDescription;
let stateDir: string;
let s3: S3Client;
const bucket = "stake-e2e";

beforeAll(async () => {
  // Node LATE_NODE is started by the tests themselves, first without stake.
  ({ network, d } = await startTestNetwork("icn-stake-e2e-", { nodeCount: 2, vars: { STAKE_CACHE_TTL_SECONDS: "1" } }));
  stateDir = network.options.stateDir;
  s3 = edgeS3Client(d);
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
}, 180_000);

afterAll(() => stopTestNetwork(network), 60_000);

interface AdminNode {
  id: string;
  status: string;
}

async function nodeStatus(nodeId: string): Promise<string | undefined> {
  const { nodes } = await network.admin<{ nodes: AdminNode[] }>("GET", "/nodes");
  return nodes.find((n) => n.id === nodeId)?.status;
}

/** Blob files on a node's disk (sidecars aside). */
async function blobsOnDisk(index: number): Promise<number> {
  const blobsDir = join(stateDir, "nodes", `node-${index}`, "blobs");
  let count = 0;
  for (const fanout of await readdir(blobsDir).catch(() => [])) {
    count += (await readdir(join(blobsDir, fanout))).filter((name) => !name.endsWith(".meta.json")).length;
  }
  return count;
}

/** Bodies larger than the index keeps inline (INLINE_OBJECT_MAX_BYTES): these go to nodes. */
function bodyOf(prefix: string, i: number): string {
  return `${prefix} object ${i}\n${".".repeat(8 * 1024)}`;
}

async function putObjects(prefix: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}/${i}`, Body: bodyOf(prefix, i) }));
}

async function waitForStatus(nodeId: string, status: string, timeoutMs: number): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  let seen = await nodeStatus(nodeId);
  while (seen !== status && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    seen = await nodeStatus(nodeId);
  }
  return seen;
}

describe("stake-gated nodes", () => {
  let lateNodeId: string;

  it("describes the chain in network.json and stakes every node the network starts", async () => {
    const written = JSON.parse(await readFile(network.networkFile, "utf8")) as NetworkDescription;
    expect(written.chain.rpcUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(written.chain.contracts.nodeStaking).toMatch(/^0x[0-9a-fA-F]{40}$/);
    for (const node of d.nodes) expect(await nodeStatus(node.id)).toBe("active");
  });

  it("refuses to register a node whose operator has not staked for it", async () => {
    lateNodeId = (await network.prepareNodeDir(LATE_NODE)).nodeId;
    await expect(network.startNode(LATE_NODE, { stake: false })).rejects.toThrow(/exited with 1/);
    const agentLog = await readFile(join(stateDir, "logs", `node-${LATE_NODE}.log`), "utf8");
    expect(agentLog).toContain("InsufficientStake");
    expect(await nodeStatus(lateNodeId)).toBeUndefined();
  });

  it("registers the node once its operator stakes the minimum for its capacity, and places data on it", async () => {
    const staked = await network.stakeNode(LATE_NODE);
    const info = await network.startNode(LATE_NODE);
    expect(info.id).toBe(lateNodeId);
    expect(await nodeStatus(lateNodeId)).toBe("active");
    const stake = await readNodeStake(network.chain!.client, {
      stakingAddress: d.chain.contracts.nodeStaking,
      nodeId: lateNodeId,
      capacityBytes: staked.capacityBytes,
      operator: operatorWallet(LATE_NODE).address,
    });
    expect(stake).toMatchObject({ sufficient: true, bonded: stake.required });

    // Rendezvous placement over three nodes: 24 objects miss one node with probability (2/3)^24 < 1e-4.
    const before = await blobsOnDisk(LATE_NODE);
    await putObjects("while-staked", 24);
    expect(await blobsOnDisk(LATE_NODE)).toBeGreaterThan(before);
  });

  it("suspends a node slashed below its minimum on chain, and places no new data on it", async () => {
    // The validator quorum's key slashes on chain; the edge learns of it by reading the stake.
    await network.chain!.slashNode(lateNodeId, 10n ** 18n, "failed audit");
    await fetch(`${d.worker.url}/cdn-cgi/handler/scheduled`);
    expect(await waitForStatus(lateNodeId, "suspended", 20_000)).toBe("suspended");

    const before = await blobsOnDisk(LATE_NODE);
    await putObjects("after-slash", 24);
    expect(await blobsOnDisk(LATE_NODE)).toBe(before);
    // Data already on the node stays readable.
    const old = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "while-staked/0" }));
    expect(await old.Body!.transformToString()).toBe(bodyOf("while-staked", 0));
  });

  it("slashes through the edge's protocol key, sends the ICNT to the treasury and suspends the node at once", async () => {
    const node = d.nodes[1]!;
    const treasuryBalance = () =>
      network.chain!.client.readContract({ address: d.chain.contracts.icnt, abi: icntAbi, functionName: "balanceOf", args: [d.chain.treasury] });
    const before = await treasuryBalance();
    const result = await network.admin<{ status: string; bonded: string; required: string; transactionHash: string }>("POST", `/nodes/${node.id}/slash`, {
      amount: String(5n * 10n ** 18n),
      reason: "missed challenges",
    });
    expect(result.status).toBe("suspended");
    expect(BigInt(result.bonded)).toBeLessThan(BigInt(result.required));
    expect(result.transactionHash).toMatch(/^0x[0-9a-f]{64}$/);
    expect(await treasuryBalance()).toBe(before + 5n * 10n ** 18n);

    // A slash beyond the contract's per-slash limit is refused with the contract's reason.
    const refused = await fetch(`${d.edgeUrl}/api/v1/admin/nodes/${node.id}/slash`, {
      method: "POST",
      headers: { authorization: `Bearer ${d.adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ amount: String(10n ** 30n), reason: "too much" }),
    });
    expect(refused.status).toBe(422);
    expect(await refused.json()).toMatchObject({ code: "SlashRefused", details: { revertReason: expect.stringMatching(/^SlashTooLarge\(/) } });
  });
});
