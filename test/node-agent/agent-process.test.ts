// The agent as an operator runs it: one command, a ready line, registration signed by the wallet,
// heartbeats, and a clean goodbye on SIGTERM. Each test spawns the real process against a fake edge.

import { randomBytes } from "node:crypto";
import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { verifyTypedData } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { afterEach, describe, expect, it } from "vitest";
import {
  BLOB_SHA256_HEADER,
  NODE_ID_PATTERN,
  registrationDomain,
  registrationTypedMessage,
  registrationTypes,
} from "../../src/protocol/node-protocol.ts";
import { exitWithin, killSpawnedAgents, spawnAgent, TEST_WALLET_KEY, type AgentProcess } from "./support/agent-process.ts";
import { FAKE_EDGE_ID, startFakeEdge, type FakeEdge } from "./support/fake-edge.ts";
import { edgeSigner, makeDataDir, newBlobId, sha256, waitUntil } from "./support/in-process-agent.ts";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  killSpawnedAgents();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function fakeEdge(options: Parameters<typeof startFakeEdge>[0] = {}): Promise<FakeEdge> {
  const edge = await startFakeEdge(options);
  cleanups.push(() => edge.close());
  return edge;
}

async function dataDir(): Promise<string> {
  const dir = await makeDataDir();
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function agentArgs(edge: FakeEdge, dir: string, extra: string[] = []): string[] {
  return ["--data-dir", dir, "--edge-url", edge.url, "--zone", "test-zone", "--wallet-key", TEST_WALLET_KEY, "--listen", "127.0.0.1:0", ...extra];
}

describe("a node's life with the edge", () => {
  it("registers with a valid EIP-712 signature, serves blobs, heartbeats, and on SIGTERM reports offline and exits 0", async () => {
    const edge = await fakeEdge({ heartbeatIntervalSeconds: 1 });
    const dir = await dataDir();
    const agent = spawnAgent(agentArgs(edge, dir, ["--capacity", "1000000000"]));
    const ready = await agent.ready();

    expect(ready.nodeId).toMatch(NODE_ID_PATTERN);
    expect(ready.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(ready.listen).toBe(ready.url.slice("http://".length));
    expect(ready.dataDir).toBe(dir);

    // The edge can recover the operator's wallet from the registration.
    expect(edge.registrations).toHaveLength(1);
    const { operator, message, signature } = edge.registrations[0]!;
    expect(operator).toBe(privateKeyToAccount(TEST_WALLET_KEY).address);
    expect(message).toMatchObject({ nodeId: ready.nodeId, url: ready.url, zone: "test-zone", capacityBytes: "1000000000", agentVersion: "0.1.0" });
    const nowS = Date.now() / 1000;
    expect(message.expiry).toBeGreaterThan(nowS + 200);
    expect(message.expiry).toBeLessThan(nowS + 400);
    const valid = await verifyTypedData({
      address: operator as `0x${string}`,
      domain: await registrationDomain(31337, FAKE_EDGE_ID),
      types: registrationTypes,
      primaryType: "NodeRegistration",
      message: registrationTypedMessage(message),
      signature: signature as `0x${string}`,
    });
    expect(valid).toBe(true);

    // The edge can use the node with the credentials it issued.
    const health = await fetch(`${ready.url}/health`);
    expect(await health.json()).toEqual({ ok: true, nodeId: ready.nodeId });
    const signer = edgeSigner(edge.issued[0]!);
    const bytes = randomBytes(123_456);
    const blobId = newBlobId();
    const put = await fetch(await signer.sign(`${ready.url}/blobs/${blobId}`, { method: "PUT", body: bytes }));
    expect(put.status).toBe(201);
    const get = await fetch(await signer.sign(`${ready.url}/blobs/${blobId}`));
    expect(get.headers.get(BLOB_SHA256_HEADER)).toBe(sha256(bytes));

    // Heartbeats are signed with those credentials and report the stored blob.
    await waitUntil(() => edge.heartbeats.some((h) => h.heartbeat.blobCount === 1), 10_000, "a heartbeat counting the blob");
    const beat = edge.heartbeats.find((h) => h.heartbeat.blobCount === 1)!;
    expect(beat.nodeId).toBe(ready.nodeId);
    expect(beat.heartbeat).toMatchObject({ usedBytes: 123_456, blobCount: 1, healthy: true, agentVersion: "0.1.0" });
    expect(beat.heartbeat.totalBytes).toBeGreaterThan(0);
    expect(beat.heartbeat.freeBytes).toBeLessThanOrEqual(beat.heartbeat.totalBytes);
    expect(edge.rejected).toEqual([]);

    agent.child.kill("SIGTERM");
    expect(await exitWithin(agent, 15_000)).toEqual({ code: 0, signal: null });
    expect(edge.offline).toEqual([ready.nodeId]);
    expect(edge.rejected).toEqual([]);
    // stdout carried exactly the ready line; everything else went to stderr as JSON lines.
    expect(agent.stdout().trim().split("\n")).toHaveLength(1);
    for (const line of agent.stderr().trim().split("\n")) expect(() => JSON.parse(line)).not.toThrow();
  });

  it("keeps its node id across restarts, reading its settings from ICN_* variables and a key file", async () => {
    const edge = await fakeEdge();
    const dir = await dataDir();
    const keyFile = join(dir, "..", `${Date.now()}-wallet.key`);
    await writeFile(keyFile, `${TEST_WALLET_KEY.slice(2)}\n`);
    cleanups.push(() => rm(keyFile, { force: true }));
    const env = { ICN_DATA_DIR: dir, ICN_EDGE_URL: edge.url, ICN_ZONE: "env-zone", ICN_WALLET_KEY_FILE: keyFile };

    const first = spawnAgent([], env);
    const firstReady = await first.ready();
    first.child.kill("SIGTERM");
    expect((await exitWithin(first, 15_000)).code).toBe(0);

    const second = spawnAgent([], env);
    const secondReady = await second.ready();
    expect(secondReady.nodeId).toBe(firstReady.nodeId);
    expect(JSON.parse(await readFile(join(dir, "node.json"), "utf8"))).toMatchObject({ nodeId: firstReady.nodeId });
    expect(edge.registrations.map((r) => r.message.zone)).toEqual(["env-zone", "env-zone"]);
    // Registration signatures are single-use: each start signs a fresh nonce.
    expect(new Set(edge.registrations.map((r) => r.message.nonce)).size).toBe(2);
    second.child.kill("SIGINT");
    expect((await exitWithin(second, 15_000)).code).toBe(0);
  });

  it("finishes an upload in flight before exiting on SIGTERM", async () => {
    const edge = await fakeEdge();
    const dir = await dataDir();
    const agent = spawnAgent(agentArgs(edge, dir));
    const ready = await agent.ready();
    const url = new URL(`${ready.url}/blobs/${newBlobId()}`);
    const bytes = randomBytes(2 * 1024 * 1024);
    const signed = await edgeSigner(edge.issued[0]!).sign(url.toString(), { method: "PUT", headers: { "content-length": String(bytes.length) } });
    const head = [`PUT ${url.pathname} HTTP/1.1`, `host: ${url.host}`];
    signed.headers.forEach((value, name) => head.push(`${name}: ${value}`));

    const socket = connect(Number(url.port), url.hostname);
    let answer = "";
    socket.setEncoding("utf8").on("data", (s: string) => (answer += s));
    await new Promise<void>((resolve) => socket.once("connect", resolve));
    socket.write(`${head.join("\r\n")}\r\n\r\n`);
    socket.write(bytes.subarray(0, bytes.length / 2));
    await waitUntil(async () => (await readdir(join(dir, "tmp"))).length > 0, 5_000, "the upload to reach a temp file");

    agent.child.kill("SIGTERM");
    await waitUntil(() => agent.stderr().includes("shutting_down"), 5_000, "the agent to start shutting down");
    expect(agent.child.exitCode).toBe(null);
    socket.write(bytes.subarray(bytes.length / 2));

    expect(await exitWithin(agent, 15_000)).toEqual({ code: 0, signal: null });
    await waitUntil(() => answer.includes("\r\n\r\n{"), 5_000, "the node's answer");
    expect(answer).toMatch(/^HTTP\/1\.1 201 /);
    expect(answer).toContain(sha256(bytes));
    expect(edge.offline).toEqual([ready.nodeId]);
  });

  it("registers again when the edge stops recognising its heartbeat credentials", async () => {
    const edge = await fakeEdge({ heartbeatIntervalSeconds: 1 });
    const dir = await dataDir();
    const agent = spawnAgent(agentArgs(edge, dir));
    await agent.ready();
    await waitUntil(() => edge.heartbeats.length >= 1, 10_000, "a first heartbeat");

    edge.forgetCredentials();
    await waitUntil(() => edge.issued.length === 2, 10_000, "a second registration");
    const accepted = edge.heartbeats.length;
    await waitUntil(() => edge.heartbeats.length > accepted, 10_000, "a heartbeat with the new credentials");
    expect(edge.rejected.length).toBeGreaterThanOrEqual(1);
  });

  it("retries an edge that answers 503 until it accepts the registration", async () => {
    const edge = await fakeEdge({ failRegistrations: 2 });
    const agent = spawnAgent(agentArgs(edge, await dataDir()));
    await agent.ready();
    expect(edge.registrations).toHaveLength(1);
    expect(agent.stderr()).toContain("registration_retry");
  });
});

describe("refusing to start", () => {
  it("exits 1 with the edge's code and message when the edge refuses the registration", async () => {
    const edge = await fakeEdge({ refuseRegistration: { status: 403, code: "OperatorNotAllowed", message: "this wallet is not an approved operator" } });
    const agent = spawnAgent(agentArgs(edge, await dataDir()));
    expect((await exitWithin(agent, 15_000)).code).toBe(1);
    expect(agent.stderr()).toContain("OperatorNotAllowed");
    expect(agent.stderr()).toContain("this wallet is not an approved operator");
    expect(agent.stdout()).toBe("");
  });

  for (const [label, args, mention] of [
    ["a missing zone", ["--zone", ""], "--zone"],
    ["an uppercase zone", ["--zone", "EU-West"], "--zone"],
    ["a malformed wallet key", ["--wallet-key", "0x1234"], "--wallet-key"],
    ["an unknown flag", ["--colour", "blue"], "--colour"],
    ["a bad listen address", ["--listen", "localhost"], "--listen"],
    ["a non-http edge url", ["--edge-url", "ftp://edge"], "--edge-url"],
  ] as const) {
    it(`exits 2 with a message naming the flag for ${label}`, async () => {
      const base = ["--data-dir", await dataDir(), "--edge-url", "http://127.0.0.1:9", "--zone", "z", "--wallet-key", TEST_WALLET_KEY];
      const agent = spawnAgent([...base, ...args]);
      expect((await exitWithin(agent, 15_000)).code).toBe(2);
      expect(agent.stderr()).toContain(mention);
      expect(agent.stdout()).toBe("");
    });
  }
});

export type { AgentProcess };
