// The control API's shared guards in use (src/api/guards/): bodies are read with a hard byte cap (a chunked body
// is cut off while it streams), a node endpoint checks the signature before it reads a body, and callers are
// rate limited per node, per access key and per IP address.
import { SELF } from "cloudflare:test";
import { AwsClient } from "aws4fetch";
import { privateKeyToAccount } from "viem/accounts";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/protocol/crypto.ts";
import { registrationDomain, registrationTypedMessage, registrationTypes, type RegistrationResponse } from "../../src/protocol/node-protocol.ts";
import { admin, createAccountWithKey, EDGE, registrationMessage, TEST_EDGE_ID, type TestAccount } from "./helpers.ts";
import { meteredBody, MIB } from "./metered-body.ts";

const operator = privateKeyToAccount("0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6");
/** Far more than any cap: an edge that buffered it would answer only after the client sent all of it. */
const HUGE = 64 * MIB;

async function registerNode(): Promise<{ nodeId: string; client: AwsClient; creds: RegistrationResponse }> {
  expect((await admin("PUT", `/operators/${operator.address}`, { status: "approved" })).status).toBe(200);
  const m = registrationMessage();
  const signature = await operator.signTypedData({ domain: await registrationDomain(31337, TEST_EDGE_ID), types: registrationTypes, primaryType: "NodeRegistration", message: registrationTypedMessage(m) });
  const res = await SELF.fetch(`${EDGE}/api/v1/nodes/register`, {
    method: "POST",
    headers: { "content-type": "application/json", "cf-connecting-ip": "192.0.2.1" },
    body: JSON.stringify({ operator: operator.address, message: m, signature }),
  });
  expect(res.status).toBe(200);
  const creds = (await res.json()) as RegistrationResponse;
  const client = new AwsClient({ accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey, service: "icn", region: "icn", retries: 0 });
  return { nodeId: m.nodeId, client, creds };
}

describe("control-API bodies are read with a hard byte cap", () => {
  it("answers 413 in JSON to a registration whose declared length is over the cap", async () => {
    const res = await SELF.fetch(`${EDGE}/api/v1/nodes/register`, {
      method: "POST",
      headers: { "content-type": "application/json", "cf-connecting-ip": "192.0.2.10" },
      body: JSON.stringify({ padding: "x".repeat(200 * 1024) }),
    });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ code: "PayloadTooLarge" });
  });

  it("cuts off a chunked registration body at the cap and answers 413 before the client has sent it all", async () => {
    const body = meteredBody(HUGE);
    const res = await SELF.fetch(`${EDGE}/api/v1/nodes/register`, {
      method: "POST",
      headers: { "content-type": "application/json", "cf-connecting-ip": "192.0.2.11" },
      body: body.stream,
    });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ code: "PayloadTooLarge" });
    expect(body.pulled()).toBeLessThan(8 * MIB);
  });
});

describe("a node endpoint checks what it can before it reads the body", () => {
  it("refuses a heartbeat without SigV4 auth with 403 before reading a large body", async () => {
    const { nodeId } = await registerNode();
    const body = meteredBody(HUGE);
    const res = await SELF.fetch(`${EDGE}/api/v1/nodes/${nodeId}/heartbeat`, { method: "POST", body: body.stream });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ code: "AccessDenied" });
    expect(body.pulled()).toBeLessThan(8 * MIB);
  });

  it("refuses a heartbeat signed with the wrong secret with 403 before reading a large body", async () => {
    const { nodeId, creds } = await registerNode();
    const forger = new AwsClient({ accessKeyId: creds.accessKeyId, secretAccessKey: "not-the-secret", service: "icn", region: "icn", retries: 0 });
    // As node-agents sign: the body's hash declared in x-amz-content-sha256.
    const signed = await forger.sign(`${EDGE}/api/v1/nodes/${nodeId}/heartbeat`, {
      method: "POST",
      headers: { "x-amz-content-sha256": await sha256Hex("{}") },
    });
    const body = meteredBody(HUGE);
    const res = await SELF.fetch(signed.url, { method: "POST", headers: signed.headers, body: body.stream });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ code: "SignatureDoesNotMatch" });
    expect(body.pulled()).toBeLessThan(8 * MIB);
  });

  it("cuts off a chunked body at the cap when the signature cannot be checked before reading it", async () => {
    const { nodeId, creds } = await registerNode();
    const forger = new AwsClient({ accessKeyId: creds.accessKeyId, secretAccessKey: "not-the-secret", service: "icn", region: "icn", retries: 0 });
    const signed = await forger.sign(`${EDGE}/api/v1/nodes/${nodeId}/heartbeat`, { method: "POST", body: "{}" });
    const body = meteredBody(HUGE);
    const res = await SELF.fetch(signed.url, { method: "POST", headers: signed.headers, body: body.stream });
    expect(res.status).toBe(413);
    expect(body.pulled()).toBeLessThan(8 * MIB);
  });

  it("answers a body that does not match its signed x-amz-content-sha256 with 400, and records nothing", async () => {
    const { nodeId, client } = await registerNode();
    const beat = JSON.stringify({ totalBytes: 1000, freeBytes: 600, usedBytes: 400, blobCount: 7, healthy: true, agentVersion: "0.1.1" });
    const signed = await client.sign(`${EDGE}/api/v1/nodes/${nodeId}/heartbeat`, { method: "POST", headers: { "x-amz-content-sha256": await sha256Hex(beat) } });
    const res = await SELF.fetch(signed.url, { method: "POST", headers: signed.headers, body: beat.replace("600", "900") });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: "XAmzContentSHA256Mismatch" });
    const listed = (await (await admin("GET", "/nodes")).json()) as { nodes: { id: string; freeBytes: number | null }[] };
    // Registration leaves free space at 0 until the first heartbeat: the refused one changed nothing.
    expect(listed.nodes.find((n) => n.id === nodeId)?.freeBytes).toBe(0);
  });

  it("reads a scrub report above the small cap only when the node signed its hash, so it was verified before reading", async () => {
    const { nodeId, client } = await registerNode();
    // Unknown fields are dropped by the schema: this is an empty report the size of a large one.
    const report = JSON.stringify({ startedAt: Date.now() - 1000, finishedAt: Date.now(), scanned: 0, corrupt: [], missing: [], notes: "x".repeat(200 * 1024) });
    const url = `${EDGE}/api/v1/nodes/${nodeId}/scrub-report`;
    const declared = await SELF.fetch(await client.sign(url, { method: "POST", headers: { "x-amz-content-sha256": await sha256Hex(report) }, body: report }));
    expect(declared.status).toBe(200);
    const undeclared = await SELF.fetch(await client.sign(url, { method: "POST", body: report }));
    expect(undeclared.status).toBe(413);
    expect(await undeclared.json()).toMatchObject({ code: "PayloadTooLarge" });
  });

  it("still accepts a heartbeat whose signed x-amz-content-sha256 matches its body", async () => {
    const { nodeId, client } = await registerNode();
    const beat = JSON.stringify({ totalBytes: 1000, freeBytes: 600, usedBytes: 400, blobCount: 7, healthy: true, agentVersion: "0.1.1" });
    const res = await SELF.fetch(
      await client.sign(`${EDGE}/api/v1/nodes/${nodeId}/heartbeat`, { method: "POST", headers: { "x-amz-content-sha256": await sha256Hex(beat) }, body: beat }),
    );
    expect(res.status).toBe(200);
    const listed = (await (await admin("GET", "/nodes")).json()) as { nodes: { id: string; freeBytes: number }[] };
    expect(listed.nodes.find((n) => n.id === nodeId)?.freeBytes).toBe(600);
  });
});

// The limits configured in wrangler.toml ([[ratelimits]], period 60 s).
const ANONYMOUS_LIMIT = 60;
const NODE_LIMIT = 120;
const TENANT_LIMIT = 300;
const RATE_PERIOD_MS = 60_000;

/**
 * Runs a burst that must be counted in one rate-limit period (miniflare's windows follow the wall clock): when a
 * period ended during the run, it runs again, with fresh callers, in the next one.
 */
async function inOnePeriod(run: () => Promise<void>): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const period = Math.floor(Date.now() / RATE_PERIOD_MS);
    try {
      await run();
    } catch (error) {
      // A burst that failed its assertions counts only if it stayed within one period: a new period resets the
      // counter halfway, and the request past the limit is then rightly answered. A failure within one stands.
      if (Math.floor(Date.now() / RATE_PERIOD_MS) === period) throw error;
      continue;
    }
    if (Math.floor(Date.now() / RATE_PERIOD_MS) === period) return;
  }
  throw new Error("three bursts in a row crossed a rate-limit period");
}

/** Sends `count` requests, `concurrency` at a time, and returns the set of statuses they got. */
async function burst(count: number, send: () => Promise<Response>, concurrency = 20): Promise<Set<number>> {
  const statuses = new Set<number>();
  for (let sent = 0; sent < count; sent += concurrency) {
    const batch = Array.from({ length: Math.min(concurrency, count - sent) }, async () => {
      const res = await send();
      await res.body?.cancel();
      return res.status;
    });
    for (const status of await Promise.all(batch)) statuses.add(status);
  }
  return statuses;
}

async function expectRateLimited(res: Response): Promise<void> {
  expect(res.status).toBe(429);
  expect(res.headers.get("retry-after")).toBe(String(RATE_PERIOD_MS / 1000));
  expect(await res.json()).toMatchObject({ code: "TooManyRequests" });
}

describe("callers are rate limited per caller", { timeout: 120_000 }, () => {
  it("answers an anonymous caller 429 with Retry-After past its registrations per minute, and not another address", async () => {
    const register = (ip: string) =>
      SELF.fetch(`${EDGE}/api/v1/nodes/register`, { method: "POST", headers: { "content-type": "application/json", "cf-connecting-ip": ip }, body: "{}" });
    await inOnePeriod(async () => {
      const ip = `198.51.100.${Math.floor(Math.random() * 250) + 1}`;
      // Each is a call the edge answers (400: the body is not a registration) and counts.
      expect(await burst(ANONYMOUS_LIMIT, () => register(ip))).toEqual(new Set([400]));
      await expectRateLimited(await register(ip));
    });
    expect((await register("203.0.113.9")).status).toBe(400);
  });

  const heartbeat = async (node: { nodeId: string; client: AwsClient }) =>
    SELF.fetch(await node.client.sign(`${EDGE}/api/v1/nodes/${node.nodeId}/heartbeat`, { method: "POST", body: "{}" }));

  it("answers a node 429 with Retry-After past its calls per minute, and not another node", async () => {
    await inOnePeriod(async () => {
      const node = await registerNode();
      expect(await burst(NODE_LIMIT, () => heartbeat(node))).toEqual(new Set([400]));
      await expectRateLimited(await heartbeat(node));
    });
    expect((await heartbeat(await registerNode())).status).toBe(400);
  });

  it("does not count calls whose signature failed against the node they claim to be", async () => {
    await inOnePeriod(async () => {
      const victim = await registerNode();
      const forger = new AwsClient({ accessKeyId: victim.creds.accessKeyId, secretAccessKey: "not-the-secret", service: "icn", region: "icn", retries: 0 });
      expect(await burst(NODE_LIMIT + 1, () => heartbeat({ nodeId: victim.nodeId, client: forger }))).toEqual(new Set([403]));
      expect((await heartbeat(victim)).status).toBe(400);
    });
  });

  it("answers a tenant's access key 429 with Retry-After past its KMS calls per minute, and not another key", async () => {
    const kmsCall = async (account: TestAccount) => {
      const client = new AwsClient({ accessKeyId: account.accessKeyId, secretAccessKey: account.secretAccessKey, service: "kms", region: "us-east-1", retries: 0 });
      return SELF.fetch(await client.sign(`${EDGE}/api/v1/kms/keys`));
    };
    await inOnePeriod(async () => {
      const tenant = await createAccountWithKey("rate-limited-tenant");
      expect(await burst(TENANT_LIMIT, () => kmsCall(tenant))).toEqual(new Set([200]));
      await expectRateLimited(await kmsCall(tenant));
    });
    expect((await kmsCall(await createAccountWithKey("other-tenant"))).status).toBe(200);
  });
});
