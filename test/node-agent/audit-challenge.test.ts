// A node answering storage challenges (POST /audit/challenges) over real HTTP, as a validator would bring them:
// an honest node's answers verify against the root the edge recorded, damaged bytes on disk give answers that do
// not, and every challenge the node must not answer is refused with its own status and code, doing nothing else.

import { randomBytes } from "node:crypto";
import { readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AUDIT_LEAF_BYTES,
  assignmentTypedMessage,
  auditTypes,
  leafCountOf,
  leafIndexesFor,
  NODE_CHALLENGE_PATH,
  pieceIdOf,
  storageProofSchema,
  verifyStorageProof,
  type Assignment,
  type ChallengeRequest,
  type Hex32,
} from "../../src/protocol/audit.ts";
import { merkleLeafHash, merkleRootOf } from "../../src/protocol/merkle.ts";
import { MERKLE_LEAF_BYTES_HEADER, registrationDomain } from "../../src/protocol/node-protocol.ts";
import { VALIDATOR_DOMAIN_PATH, type AuditDomainInfo } from "../../src/protocol/validator-session.ts";
import { ChallengeResponder } from "../../node-agent/src/audit-challenge.ts";
import { AuditDomainCache } from "../../node-agent/src/audit-domain.ts";
import { EdgeClient } from "../../node-agent/src/edge-client.ts";
import { PerCallerLimiter } from "../../node-agent/src/rate-limiter.ts";
import { TEST_WALLET_KEY } from "./support/agent-process.ts";
import { newBlobId, startInProcessAgent, type InProcessAgent } from "./support/in-process-agent.ts";

// Anvil's well-known test keys (accounts 2 and 3): never hold real funds.
const EDGE_AUDIT_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";
const OTHER_KEY = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6";
const edgeAudit = privateKeyToAccount(EDGE_AUDIT_KEY);
const other = privateKeyToAccount(OTHER_KEY);
const EDGE_ID = "fake-edge";
const domain = await registrationDomain(31337, EDGE_ID);

/** The edge's GET /api/v1/validators/domain, as a tiny local server whose signer a test can rotate. */
interface DomainServer {
  url: string;
  signer: `0x${string}`;
  fetches: number;
  close(): Promise<void>;
}

async function startDomainServer(): Promise<DomainServer> {
  const state = { signer: edgeAudit.address as `0x${string}`, fetches: 0 };
  const server: Server = createServer((req, res) => {
    if (req.method !== "GET" || req.url !== VALIDATOR_DOMAIN_PATH) return void res.writeHead(404).end();
    state.fetches++;
    const info: AuditDomainInfo = {
      domain: { ...domain },
      assignmentSigner: state.signer,
      auditLog: `0x${"a0".repeat(20)}`,
      nodeStaking: `0x${"b0".repeat(20)}`,
      chainId: 31337,
      seedDelayBlocks: 2,
    };
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(info));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return Object.assign(state, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

let edge: DomainServer;
let agent: InProcessAgent;

function auditFor(options: { callers?: PerCallerLimiter } = {}) {
  const client = new EdgeClient({ edgeUrl: edge.url, account: privateKeyToAccount(TEST_WALLET_KEY), chainId: 31337 });
  return (store: ConstructorParameters<typeof ChallengeResponder>[0]["store"], nodeId: string) => ({
    // Refetching at once lets a test rotate the signer; the agent's default waits 30 s between refetches.
    responder: new ChallengeResponder({ store, nodeId, domain: new AuditDomainCache((s) => client.auditDomain(s), { minRefetchMs: 0 }) }),
    ...(options.callers ? { callers: options.callers } : {}),
  });
}

beforeAll(async () => {
  edge = await startDomainServer();
  agent = await startInProcessAgent({ audit: auditFor() });
});
afterAll(async () => {
  await agent?.stop();
  await edge?.close();
});

/** Stores `bytes` as the edge does: with the audit leaf size header for an erasure piece. */
async function putBlob(bytes: Uint8Array<ArrayBuffer>, asPiece: boolean): Promise<string> {
  const blobId = newBlobId();
  const headers: Record<string, string> = { "content-length": String(bytes.length) };
  if (asPiece) headers[MERKLE_LEAF_BYTES_HEADER] = String(AUDIT_LEAF_BYTES);
  const res = await agent.edgeFetch(`/blobs/${blobId}`, { method: "PUT", body: bytes, headers });
  expect(res.status).toBe(201);
  if (asPiece) expect(((await res.json()) as { merkleRoot: string }).merkleRoot).toBe((await rootOf(bytes)).slice(2));
  return blobId;
}

/** The root the edge records, computed here from the bytes with the protocol's own Merkle code. */
async function rootOf(bytes: Uint8Array): Promise<Hex32> {
  const hashes = [];
  for (let at = 0; at < bytes.length; at += AUDIT_LEAF_BYTES) hashes.push(await merkleLeafHash(bytes.subarray(at, at + AUDIT_LEAF_BYTES)));
  return `0x${Buffer.from(await merkleRootOf(hashes)).toString("hex")}`;
}

/** The assignment the edge would sign for this blob on this node in round `roundId`. */
async function assignmentFor(blobId: string, bytes: Uint8Array, roundId = 1, overrides: Partial<Assignment> = {}): Promise<Assignment> {
  const pieceId = await pieceIdOf(agent.nodeId, blobId);
  const seed = `0x${randomBytes(32).toString("hex")}` as Hex32;
  const leafCount = leafCountOf(bytes.length);
  return {
    roundId,
    nodeId: agent.nodeId,
    pieceId,
    merkleRoot: await rootOf(bytes),
    leafCount,
    leafIndexes: await leafIndexesFor(seed, pieceId, leafCount, 16),
    seed,
    deadline: Math.floor(Date.now() / 1000) + 60,
    ...overrides,
  };
}

async function signed(assignment: Assignment, blobId: string, signer = edgeAudit): Promise<ChallengeRequest> {
  const signature = await signer.signTypedData({ domain, types: auditTypes, primaryType: "ChallengeAssignment", message: assignmentTypedMessage(assignment) });
  return { assignment, signature, blobId };
}

async function challenge(request: ChallengeRequest | string, target = agent): Promise<Response> {
  return fetch(`${target.url}${NODE_CHALLENGE_PATH}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof request === "string" ? request : JSON.stringify(request),
  });
}

/** Challenges the blob and checks the answer the way a validator does. */
async function proveAndVerify(blobId: string, bytes: Uint8Array, roundId = 1) {
  const assignment = await assignmentFor(blobId, bytes, roundId);
  const res = await challenge(await signed(assignment, blobId));
  expect(res.status).toBe(200);
  const proof = storageProofSchema.parse(await res.json());
  return { assignment, proof, check: await verifyStorageProof(assignment, proof) };
}

const blobPath = (blobId: string) => join(agent.dataDir, "blobs", blobId.slice(-2), blobId);

/** Every file the agent keeps, with its bytes' size and mtime: the "nothing else was done" oracle. */
async function diskState(): Promise<string[]> {
  const files = await agent.listFiles();
  return Promise.all(files.map(async (f) => (f.endsWith("/") ? f : `${f} ${(await stat(join(agent.dataDir, f))).mtimeMs}`)));
}

describe("an honest node answers storage challenges", () => {
  it("proves 16 leaves of an erasure-sized piece against the root the edge recorded", async () => {
    const bytes = randomBytes(40 * AUDIT_LEAF_BYTES);
    const blobId = await putBlob(bytes, true);
    const { proof, check } = await proveAndVerify(blobId, bytes);
    expect(check).toEqual({ ok: true });
    expect(proof.leaves).toHaveLength(16);
  });

  it("proves a tiny one-leaf blob, stored without asking for a root", async () => {
    const bytes = randomBytes(10);
    const blobId = await putBlob(bytes, false);
    const { proof, check } = await proveAndVerify(blobId, bytes);
    expect(check).toEqual({ ok: true });
    expect(proof.leaves).toEqual([{ index: 0, data: bytes.toString("base64"), path: [] }]);
  });

  it("proves a blob stored before trees existed, and keeps the tree it builds", async () => {
    const bytes = randomBytes(5 * AUDIT_LEAF_BYTES + 123);
    const blobId = await putBlob(bytes, true);
    const tree = `${blobPath(blobId)}.tree`;
    const original = await readFile(tree);
    await rm(tree);
    expect((await proveAndVerify(blobId, bytes)).check).toEqual({ ok: true });
    expect((await readFile(tree)).equals(original)).toBe(true);
    expect((await proveAndVerify(blobId, bytes, 2)).check).toEqual({ ok: true });
  });

  it("refetches the assignment signer once when the edge has rotated its audit key", async () => {
    const bytes = randomBytes(100);
    const blobId = await putBlob(bytes, false);
    expect((await proveAndVerify(blobId, bytes)).check).toEqual({ ok: true });
    const fetches = edge.fetches;
    edge.signer = other.address;
    try {
      const res = await challenge(await signed(await assignmentFor(blobId, bytes, 3), blobId, other));
      expect(res.status).toBe(200);
      expect(edge.fetches).toBe(fetches + 1);
    } finally {
      edge.signer = edgeAudit.address;
    }
  });
});

describe("a node whose bytes changed on disk cannot prove them", () => {
  for (const withTree of [true, false]) {
    it(`answers with the damaged bytes, which do not verify (${withTree ? "tree kept from the write" : "no tree: built from the damaged bytes"})`, async () => {
      const bytes = randomBytes(8 * AUDIT_LEAF_BYTES);
      const blobId = await putBlob(bytes, true);
      const assignment = await assignmentFor(blobId, bytes);
      // Flip one byte in the first challenged leaf, keeping the size (what the scrub has not found yet).
      const damaged = Buffer.from(bytes);
      damaged[assignment.leafIndexes[0]! * AUDIT_LEAF_BYTES + 77]! ^= 0x40;
      await writeFile(blobPath(blobId), damaged);
      if (!withTree) await rm(`${blobPath(blobId)}.tree`);

      const res = await challenge(await signed(assignment, blobId));
      expect(res.status).toBe(200);
      const proof = storageProofSchema.parse(await res.json());
      expect(Buffer.from(proof.leaves[0]!.data, "base64").equals(damaged.subarray(assignment.leafIndexes[0]! * AUDIT_LEAF_BYTES, (assignment.leafIndexes[0]! + 1) * AUDIT_LEAF_BYTES))).toBe(true);
      expect((await verifyStorageProof(assignment, proof)).ok).toBe(false);
    });
  }

  it("answers 404 for a deleted blob", async () => {
    const bytes = randomBytes(1000);
    const blobId = await putBlob(bytes, false);
    expect((await agent.edgeFetch(`/blobs/${blobId}`, { method: "DELETE" })).status).toBe(204);
    const res = await challenge(await signed(await assignmentFor(blobId, bytes), blobId));
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: "NoSuchBlob" });
  });
});

describe("challenges the node must not answer", () => {
  let blobId: string;
  let bytes: Buffer<ArrayBuffer>;
  beforeAll(async () => {
    bytes = randomBytes(3 * AUDIT_LEAF_BYTES);
    blobId = await putBlob(bytes, true);
  });

  const refusals: [string, () => Promise<ChallengeRequest | string>, number, string][] = [
    ["signed by another key", async () => signed(await assignmentFor(blobId, bytes), blobId, other), 403, "InvalidAssignmentSignature"],
    ["for another node", async () => signed(await assignmentFor(blobId, bytes, 1, { nodeId: "node_ffffffffffffffff" }), blobId), 403, "WrongNode"],
    ["whose piece id is not this blob's", async () => signed(await assignmentFor(blobId, bytes, 1, { pieceId: await pieceIdOf(agent.nodeId, newBlobId()) }), blobId), 400, "PieceMismatch"],
    ["past its deadline", async () => signed(await assignmentFor(blobId, bytes, 1, { deadline: Math.floor(Date.now() / 1000) - 60 }), blobId), 403, "ChallengeExpired"],
    ["with another leaf count", async () => signed(await assignmentFor(blobId, bytes, 1, { leafCount: 4, leafIndexes: [3, 0] }), blobId), 409, "LeafCountMismatch"],
    ["with a leaf index beyond its own leaf count", async () => signed(await assignmentFor(blobId, bytes, 1, { leafIndexes: [1, 3] }), blobId), 400, "InvalidLeafIndex"],
    ["that is not a challenge at all", async () => JSON.stringify({ assignment: {}, blobId }), 400, "InvalidRequest"],
    ["that is too large to be one", async () => JSON.stringify({ padding: "x".repeat(100_000) }), 413, "RequestTooLarge"],
  ];
  for (const [what, make, status, code] of refusals) {
    it(`refuses a challenge ${what} with ${status} ${code}, doing nothing else`, async () => {
      const before = await diskState();
      const res = await challenge(await make());
      expect(res.status).toBe(status);
      expect(await res.json()).toMatchObject({ code });
      expect(await diskState()).toEqual(before);
    });
  }

  it("answers one assignment at most 16 times, and the next round's assignment again", async () => {
    const request = await signed(await assignmentFor(blobId, bytes, 41), blobId);
    for (let i = 0; i < 16; i++) expect((await challenge(request)).status, `answer ${i + 1}`).toBe(200);
    const refused = await challenge(request);
    expect(refused.status).toBe(429);
    expect(await refused.json()).toMatchObject({ code: "TooManyAnswers" });
    expect((await challenge(await signed(await assignmentFor(blobId, bytes, 42), blobId))).status).toBe(200);
  });

  it("makes a caller that sends too many challenges at once slow down", async () => {
    // 2 per second with at most 0.6 s of waiting: the first waits its turn, the rest of a burst is refused.
    const paced = await startInProcessAgent({ audit: auditFor({ callers: new PerCallerLimiter(2, 600) }) });
    try {
      const body = randomBytes(64);
      const id = newBlobId();
      expect((await paced.edgeFetch(`/blobs/${id}`, { method: "PUT", body, headers: { "content-length": "64" } })).status).toBe(201);
      const pieceId = await pieceIdOf(paced.nodeId, id);
      const request = await signed({ ...(await assignmentFor(id, body)), nodeId: paced.nodeId, pieceId, leafIndexes: [0] }, id);
      const statuses = (await Promise.all([1, 2, 3].map(() => challenge(request, paced)))).map((r) => r.status);
      expect(statuses.sort()).toEqual([200, 429, 429]);
    } finally {
      await paced.stop();
    }
  });
});
