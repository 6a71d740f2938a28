// Validators on the network `npm start` runs: four staked validators (`icn-node-agent --validator`) hold sessions
// with the edge's challenge coordinator; each round is committed on chain, seeded by a block mined after the
// commitment, and every challenge is judged by stake-weighted validators against the piece's Merkle root.
// Reputation parameters are fast here (lambda 0.9: two failed audits suspend a node, five disqualify it).

import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { createHash, randomBytes } from "node:crypto";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createPublicClient, http, recoverTypedDataAddress, type Address, type Hex } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditLogAbi, nodeStakingAbi } from "../../src/chain/generated/abis.ts";
import { nodeKeyOf } from "../../src/chain/node-stake.ts";
import type { LocalNetwork, NetworkDescription, NodeInfo } from "../../src/localnet/network.ts";
import { assignmentTypedMessage, attestationTypedMessage, auditTypes, failureEvidenceHashOf, leafIndexesFor, type Assignment, type Hex32 } from "../../src/protocol/audit.ts";
import { auditDomainInfoSchema } from "../../src/protocol/validator-session.ts";
import { edgeS3Client, startTestNetwork, stopTestNetwork } from "../helpers/test-support.ts";

const BUCKET = "audited";
const LEAVES = 16;

let network: LocalNetwork;
let d: NetworkDescription;
let s3: S3Client;
const stored = new Map<string, string>();

interface PublicRound {
  id: number;
  epoch: number;
  state: "open" | "closed";
  commitment: Hex;
  commitTx: Hex | null;
  commitBlock: number | null;
  seedBlock: number | null;
  seed: Hex32 | null;
  challenges: {
    nodeId: string;
    pieceId: Hex32;
    merkleRoot: Hex32;
    leafCount: number;
    leafIndexes: number[];
    deadline: number;
    assignmentSignature: Hex;
    verdict: "pass" | "fail" | "undecided";
    attestations: { validator: Address; operator: Address; stake: string; verdict: "pass" | "fail"; evidenceHash: Hex32; signature: Hex; reason?: string }[];
    missed: string[];
  }[];
}

async function api<T>(path: string, init: RequestInit & { admin?: boolean } = {}): Promise<T> {
  const headers = init.admin ? { authorization: `Bearer ${d.adminToken}` } : undefined;
  const res = await fetch(`${d.edgeUrl}/api/v1${path}`, { ...init, headers });
  const text = await res.text();
  expect(res.status, `${init.method ?? "GET"} ${path}: ${text}`).toBe(200);
  return JSON.parse(text) as T;
}

/** Opens a round through the admin chore route and waits (bounded) until it has closed. */
async function runRound(): Promise<PublicRound> {
  const report = await api<{ roundId?: number; skipped?: string }>("/admin/chores/challenge-round/run", { method: "POST", admin: true });
  expect(report.roundId, JSON.stringify(report)).toBeGreaterThan(0);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const round = await api<PublicRound>(`/validators/rounds/${report.roundId}`);
    if (round.state === "closed") return round;
    if (Date.now() > deadline) throw new Error(`round ${report.roundId} did not close within 60 s: ${JSON.stringify(round).slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

function chainClient() {
  return createPublicClient({ transport: http(d.chain.rpcUrl) });
}

async function reputationOf(nodeId: string): Promise<{ standing: string; auditScore: number; audits: { passed: number; failed: number } }> {
  return api(`/nodes/${nodeId}/reputation`);
}

async function putObjects(prefix: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    // Mixed sizes: one-chunk segments (1+2 pieces) and multi-stripe ones (4+2).
    const data = randomBytes(i % 2 === 0 ? 40 * 1024 + i : 600 * 1024 + i * 4099);
    const key = `${prefix}/${i}`;
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: data }));
    stored.set(key, createHash("sha256").update(data).digest("hex"));
  }
}

async function readAllBack(): Promise<void> {
  for (const [key, sha] of stored) {
    const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    expect(createHash("sha256").update(await got.Body!.transformToByteArray()).digest("hex"), key).toBe(sha);
  }
}

/** Piece files of the bucket on a node's disk (not sidecars or trees). */
async function blobFiles(node: NodeInfo): Promise<string[]> {
  const root = join(node.dataDir, "blobs");
  const files = await readdir(root, { recursive: true }).catch(() => [] as string[]);
  return files.filter((f) => /b[0-9a-f]{64}$/.test(f)).map((f) => join(root, f));
}

beforeAll(async () => {
  ({ network, d } = await startTestNetwork("icn-validators-", {
    nodeCount: 7,
    validatorCount: 4,
    vars: {
      AUDIT_ROUND_INTERVAL_SECONDS: "3600",
      AUDIT_ROUNDS_PER_EPOCH: "3",
      AUDIT_CHALLENGES_PER_ROUND: "7",
      AUDIT_VALIDATORS_PER_CHALLENGE: "3",
      AUDIT_RESPONSE_SECONDS: "6",
      AUDIT_SEED_DELAY_BLOCKS: "2",
      AUDIT_LAMBDA: "0.9",
      AUDIT_VETTING_AUDITS: "3",
      AUDIT_CONTAINMENT_RETRIES: "2",
      AUDIT_WARN_BELOW: "0.95",
      AUDIT_SUSPEND_BELOW: "0.85",
      AUDIT_DISQUALIFY_BELOW: "0.6",
      AUDIT_SUSPENSION_RECOVERY_MARGIN: "0.05",
      HEARTBEAT_INTERVAL_SECONDS: "1",
      NODE_OFFLINE_AFTER_SECONDS: "4",
      REPAIR_GRACE_SECONDS: "4",
    },
  }));
  s3 = edgeS3Client(d, { maxAttempts: 3 });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  await putObjects("base", 12);
}, 240_000);

afterAll(() => stopTestNetwork(network), 60_000);

describe("validators", () => {
  it("pass every piece of an honest network, and every verdict re-verifies from the public API and the chain alone", async () => {
    const round = await runRound();
    expect(round.challenges.length).toBe(7);
    for (const c of round.challenges) expect(c.verdict, JSON.stringify(c)).toBe("pass");

    // An outsider: the edge's domain document, the round's public record, and the chain. Nothing else.
    const info = auditDomainInfoSchema.parse(await api("/validators/domain"));
    const domain = { ...info.domain, salt: info.domain.salt as Hex };
    const chain = chainClient();
    // The commitment is on chain before the seed block, and the seed is that block's hash.
    const [commitment, commitBlock] = await chain.readContract({ address: info.auditLog as Address, abi: auditLogAbi, functionName: "roundCommitment", args: [BigInt(round.id)] });
    expect(commitment).toBe(round.commitment);
    const receipt = await chain.getTransactionReceipt({ hash: round.commitTx! });
    expect(receipt.blockNumber).toBe(commitBlock);
    expect(round.seedBlock).toBe(Number(commitBlock) + info.seedDelayBlocks);
    expect((await chain.getBlock({ blockNumber: BigInt(round.seedBlock!) })).hash).toBe(round.seed);

    for (const c of round.challenges) {
      // The leaves are the seed's, and the edge's audit key signed exactly this challenge.
      expect(c.leafIndexes).toEqual(await leafIndexesFor(round.seed!, c.pieceId, c.leafCount, Math.min(LEAVES, c.leafCount)));
      const assignment: Assignment = { roundId: round.id, nodeId: c.nodeId, pieceId: c.pieceId, merkleRoot: c.merkleRoot, leafCount: c.leafCount, leafIndexes: c.leafIndexes, seed: round.seed!, deadline: c.deadline };
      const assigner = await recoverTypedDataAddress({ domain, types: auditTypes, primaryType: "ChallengeAssignment", message: assignmentTypedMessage(assignment), signature: c.assignmentSignature });
      expect(assigner).toBe(info.assignmentSigner);
      // Each attestation is signed by the key its validator authorized on chain, and the stake that agrees is 2/3.
      let agreeing = 0n;
      let assigned = 0n;
      for (const a of c.attestations) {
        const signer = await recoverTypedDataAddress({
          domain,
          types: auditTypes,
          primaryType: "Attestation",
          message: attestationTypedMessage({ roundId: round.id, nodeId: c.nodeId, pieceId: c.pieceId, verdict: a.verdict, evidenceHash: a.evidenceHash }),
          signature: a.signature,
        });
        expect(signer.toLowerCase()).toBe(a.operator.toLowerCase());
        const key = await chain.readContract({ address: info.auditLog as Address, abi: auditLogAbi, functionName: "operationalKeyOf", args: [a.validator] });
        expect(key.toLowerCase()).toBe(a.operator.toLowerCase());
        const [bond] = await chain.readContract({ address: info.nodeStaking as Address, abi: nodeStakingAbi, functionName: "validatorStake", args: [a.validator] });
        expect(bond.toString()).toBe(a.stake);
        assigned += BigInt(a.stake);
        if (a.verdict === c.verdict) agreeing += BigInt(a.stake);
      }
      expect(c.attestations.length).toBeGreaterThanOrEqual(2);
      expect(3n * agreeing >= 2n * assigned).toBe(true);
    }
    // Nodes are in vetting until they pass three audits, and their scores say they passed.
    const rep = await reputationOf(round.challenges[0]!.nodeId);
    expect(rep.audits.passed).toBeGreaterThanOrEqual(1);
    expect(rep.audits.failed).toBe(0);
  }, 120_000);
});

void readFile;
void writeFile;
void nodeKeyOf;
void failureEvidenceHashOf;
void readAllBack;
void blobFiles;
