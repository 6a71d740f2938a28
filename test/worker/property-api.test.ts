// Property-based tests of the JSON control API with bad input (issue 13, "Bad input"): node registration and
// heartbeats, admin and KMS endpoints get bodies that no schema accepts (wrong types, missing fields, huge numbers,
// deep nesting, broken JSON). Every answer must be JSON `{ code, message }` with a 4xx status, never a 500, and the
// registry, accounts and keys must read back unchanged. Unknown /api/v1 routes must be JSON 404s, never S3.

import { SELF } from "cloudflare:test";
import { AwsClient } from "aws4fetch";
import fc from "fast-check";
import { privateKeyToAccount } from "viem/accounts";
import { beforeAll, describe, expect, it } from "vitest";
import { registrationDomain, registrationTypedMessage, registrationTypes, type RegistrationResponse } from "../../src/protocol/node-protocol.ts";
import { admin, ADMIN_TOKEN, createAccountWithKey, EDGE, registrationMessage, TEST_EDGE_ID, type TestAccount } from "./helpers.ts";
import { expectJsonError, PROPERTY_SEED } from "./property-support.ts";

const RUNS = { seed: PROPERTY_SEED, numRuns: 100, endOnFailure: false } as const;
const operator = privateKeyToAccount("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");

let tenant: TestAccount;
let node: { nodeId: string; client: AwsClient };

beforeAll(async () => {
  tenant = await createAccountWithKey("property-api-tenant");
  expect((await admin("PUT", `/operators/${operator.address}`, { status: "approved" })).status).toBe(200);
  const m = registrationMessage();
  const signature = await operator.signTypedData({ domain: await registrationDomain(31337, TEST_EDGE_ID), types: registrationTypes, primaryType: "NodeRegistration", message: registrationTypedMessage(m) });
  const res = await SELF.fetch(`${EDGE}/api/v1/nodes/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ operator: operator.address, message: m, signature }),
  });
  expect(res.status).toBe(200);
  const creds = (await res.json()) as RegistrationResponse;
  node = { nodeId: m.nodeId, client: new AwsClient({ accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey, service: "icn", region: "icn", retries: 0 }) };
});

/** What the control API has stored, as admins and the tenant read it back. */
async function snapshot(): Promise<string[]> {
  const reads = [admin("GET", "/accounts"), admin("GET", "/operators"), admin("GET", "/nodes"), kms("GET", "/keys")];
  // Heartbeat times move only when a heartbeat is accepted, so they belong in the snapshot too.
  return Promise.all(reads.map(async (r) => (await r).text()));
}

async function kms(method: string, path: string, body?: string): Promise<Response> {
  const client = new AwsClient({ accessKeyId: tenant.accessKeyId, secretAccessKey: tenant.secretAccessKey, service: "kms", region: "us-east-1", retries: 0 });
  return SELF.fetch(await client.sign(`${EDGE}/api/v1/kms${path}`, { method, headers: body === undefined ? {} : { "content-type": "application/json" }, body }));
}

// ---- Bodies no schema accepts, derived from a valid one.

/** A JSON value of the wrong kind for a field (never a string, which several fields accept). */
const wrongType: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 1.5, 2 ** 53 + 2, -(2 ** 63), 1e308, [], {}, [1, 2], { nested: { deeper: [] } }),
  fc.integer({ min: 1, max: 5_000 }).map((depth) => JSON.parse("[".repeat(depth) + "]".repeat(depth)) as unknown),
);

type BodyBreak =
  | { kind: "wrongType"; field: number; value: unknown }
  | { kind: "dropField"; field: number }
  | { kind: "rawText"; text: string }
  | { kind: "truncate"; at: number }
  | { kind: "hugeNumber"; field: number; digits: number }
  | { kind: "deepNesting"; field: number; depth: number }
  | { kind: "topLevel"; value: unknown };

const bodyBreak: fc.Arbitrary<BodyBreak> = fc.oneof(
  fc.record({ kind: fc.constant("wrongType" as const), field: fc.nat(), value: wrongType }),
  fc.record({ kind: fc.constant("dropField" as const), field: fc.nat() }),
  fc.record({ kind: fc.constant("rawText" as const), text: fc.constantFrom("", " ", "{", "}", "{\"a\":}", "nul", "\uFEFF{}x", "{'a':1}", "[1,]", "NaN", "Infinity", "{\"a\":1}{\"b\":2}", "\u0000") }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("hugeNumber" as const), field: fc.nat(), digits: fc.integer({ min: 20, max: 400 }) }),
  fc.record({ kind: fc.constant("deepNesting" as const), field: fc.nat(), depth: fc.integer({ min: 1, max: 100_000 }) }),
  fc.record({ kind: fc.constant("topLevel" as const), value: fc.constantFrom(null, 1, "s", [], true) }),
);

/** Breaks a valid body on `required` fields (dotted paths) so that it no longer validates. */
function breakBody(valid: Record<string, unknown>, required: string[], b: BodyBreak): string {
  const clone = structuredClone(valid);
  const at = (path: string): [Record<string, unknown>, string] => {
    const parts = path.split(".");
    let obj = clone;
    for (const p of parts.slice(0, -1)) obj = obj[p] as Record<string, unknown>;
    return [obj, parts[parts.length - 1]!];
  };
  switch (b.kind) {
    case "wrongType": {
      const [obj, name] = at(required[b.field % required.length]!);
      obj[name] = b.value;
      return JSON.stringify(clone);
    }
    case "dropField": {
      const [obj, name] = at(required[b.field % required.length]!);
      delete obj[name];
      return JSON.stringify(clone);
    }
    case "rawText":
      return b.text;
    case "truncate": {
      const text = JSON.stringify(valid);
      return text.slice(0, b.at % text.length);
    }
    case "hugeNumber": {
      // A number literal with hundreds of digits: JSON.parse gives a float far past 2^53, or Infinity.
      const [obj, name] = at(required[b.field % required.length]!);
      obj[name] = "__HUGE__";
      return JSON.stringify(clone).replace('"__HUGE__"', "9".repeat(b.digits));
    }
    case "deepNesting": {
      const [obj, name] = at(required[b.field % required.length]!);
      obj[name] = "__DEEP__";
      return JSON.stringify(clone).replace('"__DEEP__"', `${'{"a":'.repeat(b.depth)}1${"}".repeat(b.depth)}`);
    }
    case "topLevel":
      return JSON.stringify(b.value);
  }
}

interface JsonTarget {
  name: string;
  send(body: string): Promise<Response>;
  valid: () => Record<string, unknown>;
  required: string[];
}

const adminSend = (method: string, path: string) => (body: string) =>
  SELF.fetch(`${EDGE}/api/v1/admin${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" }, body });

const TARGETS: JsonTarget[] = [
  { name: "admin create account", send: adminSend("POST", "/accounts"), valid: () => ({ name: "someone" }), required: ["name"] },
  { name: "admin approve operator", send: adminSend("PUT", `/operators/0x${"ab".repeat(20)}`), valid: () => ({ status: "approved" }), required: ["status"] },
  { name: "admin set node status", send: adminSend("PUT", "/nodes/node_00000000000000ff"), valid: () => ({ status: "draining" }), required: ["status"] },
  { name: "admin slash node", send: adminSend("POST", "/nodes/node_00000000000000ff/slash"), valid: () => ({ amount: "1", reason: "x" }), required: ["amount", "reason"] },
  { name: "admin crypto diagnostics", send: adminSend("POST", "/diagnostics/crypto"), valid: () => ({ mode: "small", count: 1 }), required: ["mode", "count"] },
  {
    name: "node register",
    send: (body) => SELF.fetch(`${EDGE}/api/v1/nodes/register`, { method: "POST", headers: { "content-type": "application/json" }, body }),
    valid: () => ({ operator: operator.address, message: registrationMessage(), signature: `0x${"11".repeat(65)}` }),
    required: ["operator", "signature", "message", "message.nodeId", "message.url", "message.zone", "message.capacityBytes", "message.agentVersion", "message.nonce", "message.expiry"],
  },
  {
    name: "node heartbeat",
    send: async (body) => SELF.fetch(await node.client.sign(`${EDGE}/api/v1/nodes/${node.nodeId}/heartbeat`, { method: "POST", body })),
    valid: () => ({ totalBytes: 1000, freeBytes: 600, usedBytes: 400, blobCount: 7, healthy: true, agentVersion: "0.1.1" }),
    required: ["totalBytes", "freeBytes", "usedBytes", "blobCount", "agentVersion"],
  },
  { name: "kms create key", send: (body) => kms("POST", "/keys", body), valid: () => ({ description: "d", alias: "alias/prop" }), required: ["description", "alias"] },
  {
    name: "kms schedule deletion",
    send: (body) => kms("POST", "/keys/00000000-0000-4000-8000-000000000000/schedule-deletion", body),
    valid: () => ({ pendingWindowInDays: 7 }),
    required: ["pendingWindowInDays"],
  },
  { name: "kms set alias", send: (body) => kms("PUT", "/keys/00000000-0000-4000-8000-000000000000/alias", body), valid: () => ({ alias: "alias/other" }), required: ["alias"] },
];

describe("control API with bad input (property-based)", () => {
  it("answers every body its schema refuses with a JSON 4xx error, and changes nothing stored", { timeout: 60_000 }, async () => {
    const before = await snapshot();
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...TARGETS.map((t) => t.name)), bodyBreak, async (name, b) => {
        const target = TARGETS.find((t) => t.name === name)!;
        const body = breakBody(target.valid(), target.required, b);
        // "kms create key" makes both fields optional: dropping one leaves a valid body, which is not bad input.
        fc.pre(!(target.name === "kms create key" && b.kind === "dropField"));
        const context = `${target.name} with ${JSON.stringify(b).slice(0, 200)}: ${JSON.stringify(body.slice(0, 300))}`;
        await expectJsonError(await target.send(body), context);
      }),
      RUNS,
    );
    expect(await snapshot()).toEqual(before);
  });

  // Issue 13: "/api/v1/<typo> is routed to S3 as a bucket named api; unknown control-API routes must be a JSON 404".
  it("answers any unknown /api/v1 route with a JSON 404, never an S3 answer", { timeout: 60_000 }, async () => {
    const segment = fc.stringMatching(/^[A-Za-z0-9._~-]{1,16}$/).filter((s) => !["nodes", "admin", "kms", "openapi.json", ".", ".."].includes(s));
    await fc.assert(
      fc.asyncProperty(segment, fc.array(fc.stringMatching(/^[A-Za-z0-9._~-]{1,12}$/), { maxLength: 3 }), fc.constantFrom("GET", "PUT", "POST", "DELETE"), async (first, rest, method) => {
        const path = `/api/v1/${[first, ...rest].join("/")}`;
        const res = await SELF.fetch(`${EDGE}${path}`, { method });
        expect(await expectJsonError(res, `${method} ${path}`)).toBe("NotFound");
        expect(res.status).toBe(404);
      }),
      { ...RUNS, numRuns: 50 },
    );
  });
});
