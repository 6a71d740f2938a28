import { createExecutionContext, env, SELF, waitOnExecutionContext } from "cloudflare:test";
import worker from "../../src/index.ts";
import { AwsClient } from "aws4fetch";
import { privateKeyToAccount } from "viem/accounts";
import { describe, expect, it } from "vitest";
import { type RegistrationMessage, type RegistrationResponse } from "../../src/protocol/node-protocol.ts";
import { runOnce as runNodeLiveness } from "../../workers/cron/node-liveness.ts";
import type { Env } from "../../src/env.ts";
import { SCRUB_REPORTS_PER_WINDOW, SCRUB_REPORT_WINDOW_MS } from "../../src/api/nodes.ts";
import { openDb } from "../../src/db/client.ts";
import { recordPlacedBlobs } from "../../src/db/placements.ts";
import { admin, EDGE, nodeSignedPost, registrationMessage, registrationRequest, signedRegistration, testOperator } from "./helpers.ts";

const operator = testOperator;
const workerEnv = env as unknown as Env;
const stranger = privateKeyToAccount("0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a");

async function register(m: RegistrationMessage, signer = operator, claimed: string = operator.address, edgeId?: string): Promise<Response> {
  return SELF.fetch(registrationRequest(await signedRegistration(m, signer, claimed, edgeId)));
}

/** Sends `request` to the Worker's own fetch handler with `workerEnv` (another edge's configuration). */
async function workerFetch(request: Request, withEnv: Env): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await worker.fetch(request, withEnv, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

async function nodeIds(): Promise<string[]> {
  const body = (await (await admin("GET", "/nodes")).json()) as { nodes: { id: string }[] };
  return body.nodes.map((n) => n.id);
}

async function approve(address: string, status = "approved") {
  const res = await admin("PUT", `/operators/${address}`, { status });
  expect(res.status).toBe(200);
}

describe("node registration", () => {
  it("refuses an operator that is not approved, and writes nothing", async () => {
    await approve(operator.address, "pending");
    const m = registrationMessage();
    const res = await register(m);
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ code: "OperatorNotApproved" });
    expect(await nodeIds()).not.toContain(m.nodeId);
  });

  it("registers a node signed by an approved operator and issues SigV4 credentials", async () => {
    await approve(operator.address);
    const m = registrationMessage();
    const res = await register(m);
    expect(res.status).toBe(200);
    const body = (await res.json()) as RegistrationResponse;
    expect(body.nodeId).toBe(m.nodeId);
    expect(body.secretAccessKey).toHaveLength(40);
    expect(await nodeIds()).toContain(m.nodeId);
  });

  it("refuses a message signed by a different wallet than the claimed operator", async () => {
    await approve(operator.address);
    const m = registrationMessage();
    const res = await register(m, stranger, operator.address);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ code: "WrongSigner" });
    expect(await nodeIds()).not.toContain(m.nodeId);
  });

  it("refuses an expired signature", async () => {
    await approve(operator.address);
    const m = registrationMessage({ expiry: Math.floor(Date.now() / 1000) - 1 });
    const res = await register(m);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: "SignatureExpired" });
  });

  it("refuses a replayed nonce, even for an otherwise valid message", async () => {
    await approve(operator.address);
    const m = registrationMessage();
    expect((await register(m)).status).toBe(200);
    const replay = await register(m);
    expect(replay.status).toBe(409);
    expect(await replay.json()).toMatchObject({ code: "NonceReplayed" });
  });

  it("refuses a registration signed for another edge on the same chain, and one replayed from another edge", async () => {
    await approve(operator.address);
    const forOther = registrationMessage();
    const refused = await register(forOther, operator, operator.address, "edge-b");
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ code: "WrongSigner" });
    expect(await nodeIds()).not.toContain(forOther.nodeId);

    // Accepted here, the same request is refused by an edge with another id (same chain, same registry).
    const m = registrationMessage();
    const request = await signedRegistration(m);
    const elsewhere = await workerFetch(registrationRequest(request), { ...workerEnv, EDGE_ID: "edge-b" });
    expect(elsewhere.status).toBe(401);
    expect(await nodeIds()).not.toContain(m.nodeId);
    expect((await SELF.fetch(registrationRequest(request))).status).toBe(200);
  });

  it("tells nodes which edge and chain to sign registrations for", async () => {
    const res = await SELF.fetch(`${EDGE}/api/v1/nodes/registration-domain`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ edgeId: workerEnv.EDGE_ID, chainId: 31337 });
  });

  it("refuses a malformed message with a zod error naming the field", async () => {
    const res = await SELF.fetch(`${EDGE}/api/v1/nodes/register`, {
      method: "POST",
      body: JSON.stringify({ operator: operator.address, message: { ...registrationMessage(), zone: "Not A Zone" }, signature: "0x00" }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { code: string; details: { path: string }[] };
    expect(body.code).toBe("ValidationError");
    expect(body.details.map((d) => d.path)).toContain("message.zone");
  });
});

describe("node heartbeats and liveness", () => {
  async function registered() {
    await approve(operator.address);
    const m = registrationMessage();
    const creds = (await (await register(m)).json()) as RegistrationResponse;
    const client = new AwsClient({ accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey, service: "icn", region: "icn", retries: 0 });
    return { m, creds, client };
  }

  const beat = { totalBytes: 1000, freeBytes: 600, usedBytes: 400, blobCount: 7, healthy: true, agentVersion: "0.1.1" };

  it("records a signed heartbeat's disk figures", async () => {
    const { m, client } = await registered();
    const res = await SELF.fetch(await client.sign(`${EDGE}/api/v1/nodes/${m.nodeId}/heartbeat`, { method: "POST", body: JSON.stringify(beat) }));
    expect(res.status).toBe(200);
    const nodes = ((await (await admin("GET", "/nodes")).json()) as { nodes: { id: string; freeBytes: number; blobCount: number; agentVersion: string }[] }).nodes;
    expect(nodes.find((n) => n.id === m.nodeId)).toMatchObject({ freeBytes: 600, blobCount: 7, agentVersion: "0.1.1" });
  });

  it("refuses a heartbeat signed with the wrong secret or for another node", async () => {
    const { m, creds } = await registered();
    const other = await registered();
    const forger = new AwsClient({ accessKeyId: creds.accessKeyId, secretAccessKey: "f".repeat(40), service: "icn", region: "icn", retries: 0 });
    const forged = await SELF.fetch(await forger.sign(`${EDGE}/api/v1/nodes/${m.nodeId}/heartbeat`, { method: "POST", body: JSON.stringify(beat) }));
    expect(forged.status).toBe(403);
    const crossed = await SELF.fetch(await other.client.sign(`${EDGE}/api/v1/nodes/${m.nodeId}/heartbeat`, { method: "POST", body: JSON.stringify(beat) }));
    expect(crossed.status).toBe(403);
  });

  it("marks a node offline once it has been silent past the window", async () => {
    const { m } = await registered();
    const window = Number((env as unknown as Env).NODE_OFFLINE_AFTER_SECONDS) * 1000;
    const early = await runNodeLiveness(env as unknown as Env, new Date(Date.now() + window / 2));
    expect(early.markedOffline).not.toContain(m.nodeId);
    const late = await runNodeLiveness(env as unknown as Env, new Date(Date.now() + window + 5000));
    expect(late.markedOffline).toContain(m.nodeId);
  });

  it("records a scrub report's findings on blobs placed there as faults and lowers the node's reputation", async () => {
    const { m, client } = await registered();
    const blob = (n: number) => `b${"a".repeat(32)}${String(n).padStart(32, "0")}`;
    await recordPlacedBlobs(openDb(workerEnv.DB), [1, 2].map((n) => ({ nodeId: m.nodeId, blobId: blob(n), bytes: 100 })), Date.now());
    const report = { startedAt: Date.now() - 1000, finishedAt: Date.now(), scanned: 10, corrupt: [{ blobId: blob(1), expectedSha256: "0".repeat(64), actualSha256: "1".repeat(64) }], missing: [blob(2), blob(3)] };
    const res = await SELF.fetch(await nodeSignedPost(client, `${EDGE}/api/v1/nodes/${m.nodeId}/scrub-report`, report));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ faultsRecorded: 2, ignored: 1 });
    const nodes = ((await (await admin("GET", "/nodes")).json()) as { nodes: { id: string; reputation: number }[] }).nodes;
    expect(nodes.find((n) => n.id === m.nodeId)?.reputation).toBeCloseTo(0.81, 5);
    const repair = (await (await admin("GET", "/repair")).json()) as { faults: number };
    expect(repair.faults).toBeGreaterThanOrEqual(2);
  });

  it("ignores scrub findings on blobs the edge never placed on that node, and bounds report size", async () => {
    const { m, client } = await registered();
    const faultsBefore = ((await (await admin("GET", "/repair")).json()) as { faults: number }).faults;
    const invented = Array.from({ length: 1000 }, (_, i) => `b${"e".repeat(32)}${String(i).padStart(32, "0")}`);
    const report = { startedAt: Date.now() - 1000, finishedAt: Date.now(), scanned: 1000, corrupt: [], missing: invented };
    const res = await SELF.fetch(await nodeSignedPost(client, `${EDGE}/api/v1/nodes/${m.nodeId}/scrub-report`, report));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ faultsRecorded: 0, ignored: 1000 });
    expect(((await (await admin("GET", "/repair")).json()) as { faults: number }).faults).toBe(faultsBefore);
    const nodes = ((await (await admin("GET", "/nodes")).json()) as { nodes: { id: string; reputation: number }[] }).nodes;
    expect(nodes.find((n) => n.id === m.nodeId)?.reputation).toBe(1);

    const tooBig = { ...report, missing: [...invented, `b${"e".repeat(32)}${"f".repeat(32)}`] };
    const refused = await SELF.fetch(await nodeSignedPost(client, `${EDGE}/api/v1/nodes/${m.nodeId}/scrub-report`, tooBig));
    expect(refused.status).toBe(400);
  });

  it("refuses more scrub reports from one node than a window allows", async () => {
    const { m, client } = await registered();
    const report = { startedAt: Date.now() - 1000, finishedAt: Date.now(), scanned: 1, corrupt: [], missing: [] };
    const send = async () => SELF.fetch(await nodeSignedPost(client, `${EDGE}/api/v1/nodes/${m.nodeId}/scrub-report`, report));
    for (let i = 0; i < SCRUB_REPORTS_PER_WINDOW; i++) expect((await send()).status).toBe(200);
    const limited = await send();
    expect(limited.status).toBe(429);
    expect(await limited.json()).toMatchObject({ code: "SlowDown" });
    expect(limited.headers.get("retry-after")).toBe(String(SCRUB_REPORT_WINDOW_MS / 1000));
    // Another node is not affected.
    const other = await registered();
    expect((await SELF.fetch(await nodeSignedPost(other.client, `${EDGE}/api/v1/nodes/${other.m.nodeId}/scrub-report`, report))).status).toBe(200);
  });

  it("takes a node out of service when it says it is going offline", async () => {
    const { m, client } = await registered();
    const res = await SELF.fetch(await client.sign(`${EDGE}/api/v1/nodes/${m.nodeId}/offline`, { method: "POST", body: "{}" }));
    expect(res.status).toBe(200);
    const nodes = ((await (await admin("GET", "/nodes")).json()) as { nodes: { id: string; status: string }[] }).nodes;
    expect(nodes.find((n) => n.id === m.nodeId)?.status).toBe("offline");
  });
});
