// Validators on the network `npm start` runs: four staked validators (`icn-node-agent --validator`) hold sessions
// with the edge's challenge coordinator; each round is committed on chain, seeded by a block mined after the
// commitment, and every challenge is judged by stake-weighted validators against the piece's Merkle root.
// Reputation parameters are fast here (lambda 0.9: two failed audits suspend a node, five disqualify it).

import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { AwsClient } from "aws4fetch";
import { createHash, randomBytes } from "node:crypto";
import { copyFile, readdir, readFile, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createPublicClient, http, recoverTypedDataAddress, type Address, type Hex } from "viem";
import { privateKeyToAccount, generatePrivateKey } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { auditLogAbi, nodeStakingAbi } from "../../src/chain/generated/abis.ts";
import { nodeKeyOf } from "../../src/chain/node-stake.ts";
import type { LocalNetwork, NetworkDescription, NodeInfo } from "../../src/localnet/network.ts";
import {
  AUDIT_LEAF_BYTES,
  assignmentTypedMessage,
  attestationTypedMessage,
  auditTypes,
  failureEvidenceHashOf,
  leafIndexesFor,
  loginTypedMessage,
  pieceIdOf,
  type Assignment,
  type Hex32,
} from "../../src/protocol/audit.ts";
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

/** Opens a round through the admin chore route (or moves the open one on); returns its id. */
async function openRound(): Promise<number> {
  const report = await api<{ roundId?: number; skipped?: string }>("/admin/chores/challenge-round/run", { method: "POST", admin: true });
  expect(report.roundId, JSON.stringify(report)).toBeGreaterThan(0);
  return report.roundId!;
}

/** Waits (bounded) until round `id` has closed. */
async function closed(id: number, timeoutMs = 60_000): Promise<PublicRound> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const round = await api<PublicRound>(`/validators/rounds/${id}`);
    if (round.state === "closed") return round;
    if (Date.now() > deadline) throw new Error(`round ${id} did not close within ${timeoutMs} ms: ${JSON.stringify(round).slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function runRound(): Promise<PublicRound> {
  return closed(await openRound());
}

async function nodeBond(nodeId: string): Promise<bigint> {
  const [, bonded] = await chainClient().readContract({ address: d.chain.contracts.nodeStaking, abi: nodeStakingAbi, functionName: "nodeStake", args: [nodeKeyOf(nodeId)] });
  return bonded;
}

async function validatorBond(address: Address): Promise<bigint> {
  const [bond] = await chainClient().readContract({ address: d.chain.contracts.nodeStaking, abi: nodeStakingAbi, functionName: "validatorStake", args: [address] });
  return bond;
}

/** Runs the repair chore until nothing needs repair (bounded). */
async function repairUntilDone(): Promise<void> {
  let status = await api<{ segmentsNeedingRepair: number }>("/admin/repair", { admin: true });
  for (let i = 0; i < 30 && status.segmentsNeedingRepair > 0; i++) {
    await api("/admin/chores/repair/run", { method: "POST", admin: true });
    status = await api("/admin/repair", { admin: true });
  }
  expect(status.segmentsNeedingRepair).toBe(0);
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


/** A raw session with the coordinator, as a validator (or an impostor) opens one. */
async function openSession(): Promise<{ ws: WebSocket; nonce: Hex32; next(): Promise<{ type: string; message?: string }>; closed: Promise<number> }> {
  const ws = new WebSocket(`${d.edgeUrl.replace(/^http/, "ws")}/api/v1/validators/session`);
  const inbox: { type: string; message?: string; nonce?: Hex32 }[] = [];
  const waiters: ((m: { type: string; message?: string }) => void)[] = [];
  ws.on("message", (data) => {
    const m = JSON.parse(String(data)) as { type: string; message?: string; nonce?: Hex32 };
    const waiter = waiters.shift();
    if (waiter) waiter(m);
    else inbox.push(m);
  });
  const closed = new Promise<number>((resolve) => ws.on("close", (code) => resolve(code)));
  const next = () =>
    new Promise<{ type: string; message?: string; nonce?: Hex32 }>((resolve, reject) => {
      const queued = inbox.shift();
      if (queued) return resolve(queued);
      const timer = setTimeout(() => reject(new Error("no message from the coordinator within 10 s")), 10_000);
      waiters.push((m) => {
        clearTimeout(timer);
        resolve(m);
      });
    });
  const hello = await next();
  expect(hello.type).toBe("hello");
  return { ws, nonce: hello.nonce!, next, closed };
}

async function signedLogin(key: Hex, validator: Address, nonce: Hex32) {
  const account = privateKeyToAccount(key);
  const info = auditDomainInfoSchema.parse(await api("/validators/domain"));
  const login = { validator, operator: account.address, nonce, issuedAt: Math.floor(Date.now() / 1000) };
  const signature = await account.signTypedData({ domain: { ...info.domain, salt: info.domain.salt as Hex }, types: auditTypes, primaryType: "ValidatorLogin", message: loginTypedMessage(login) });
  return { type: "login", login, signature };
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


  it("retries a node that is only slow (it timed out) before counting it, and never fails or slashes it", async () => {
    const slow = d.nodes[0]!;
    const bondBefore = await nodeBond(slow.id);
    const before = await reputationOf(slow.id);
    // Frozen for longer than the round's window: every validator's challenge of it times out.
    process.kill(slow.pid, "SIGSTOP");
    let round: PublicRound;
    try {
      round = await runRound();
    } finally {
      process.kill(slow.pid, "SIGCONT");
    }
    const timedOut = round.challenges.find((c) => c.nodeId === slow.id)!;
    expect(timedOut.verdict).toBe("fail");
    expect(timedOut.attestations.every((a) => a.verdict === "fail" && a.reason?.startsWith("timeout"))).toBe(true);
    // Contained, not counted: the same piece is asked again next round, and this time it answers.
    const next = await runRound();
    const retried = next.challenges.find((c) => c.nodeId === slow.id)!;
    expect(retried.pieceId).toBe(timedOut.pieceId);
    expect(retried.verdict).toBe("pass");
    const after = await reputationOf(slow.id);
    expect(after.audits.failed).toBe(before.audits.failed);
    expect(["vetting", "active"]).toContain(after.standing);
    expect(await nodeBond(slow.id)).toBe(bondBefore);
  }, 180_000);

  it("replaces a validator that dropped offline, so the round is still decided by the others", async () => {
    const gone = d.chain.validators[1]!;
    await network.stopValidator(1, "SIGKILL");
    try {
      const round = await runRound();
      for (const c of round.challenges) {
        expect(c.verdict, JSON.stringify(c)).not.toBe("undecided");
        expect(c.attestations.some((a) => a.validator.toLowerCase() === gone.address.toLowerCase())).toBe(false);
        expect(c.attestations.length).toBeGreaterThanOrEqual(2);
      }
      // The seed drew it for most challenges (3 of 4 validators each): it is on the record as having missed them.
      expect(round.challenges.some((c) => c.missed.includes(gone.address.toLowerCase()))).toBe(true);
    } finally {
      await network.startValidator(1);
    }
  }, 180_000);

  it("refuses bad input on the validators' session and records nothing: no login, a forged or unauthorized login, a bad attestation", async () => {
    const v = d.chain.validators[1]!;
    await network.stopValidator(1);
    try {
      const before = (await api<{ rounds: PublicRound[] }>("/validators/rounds?limit=100")).rounds;
      // Not JSON, then an attestation before logging in: refused, and the second closes the socket.
      const a = await openSession();
      a.ws.send("not json");
      expect(await a.next()).toMatchObject({ type: "error", message: "messages are JSON" });
      const fakeAttestation = { roundId: 1, nodeId: d.nodes[0]!.id, pieceId: `0x${"ab".repeat(32)}`, verdict: "fail", evidenceHash: await failureEvidenceHashOf("timeout") };
      a.ws.send(JSON.stringify({ type: "attestation", attestation: fakeAttestation, signature: `0x${"11".repeat(65)}`, reason: "timeout" }));
      expect(await a.next()).toMatchObject({ type: "error", message: "log in first" });
      expect(await a.closed).toBe(1008);
      // A key the validator never authorized, and a login over another session's nonce.
      const b = await openSession();
      b.ws.send(JSON.stringify(await signedLogin(generatePrivateKey(), v.address, b.nonce)));
      expect((await b.next()).message).toMatch(/has not authorized this operational key/);
      const c = await openSession();
      c.ws.send(JSON.stringify(await signedLogin(v.operationalKey, v.address, `0x${"00".repeat(32)}`)));
      expect((await c.next()).message).toMatch(/not over this session's nonce/);
      // A proper login, then attestations that must not count: a closed round, a bad signature.
      const e = await openSession();
      e.ws.send(JSON.stringify(await signedLogin(v.operationalKey, v.address, e.nonce)));
      expect(await e.next()).toMatchObject({ type: "welcome" });
      const closedRound = before.find((r) => r.state === "closed")!;
      const challenge = closedRound.challenges[0]!;
      const late = { roundId: closedRound.id, nodeId: challenge.nodeId, pieceId: challenge.pieceId, verdict: "fail" as const, evidenceHash: await failureEvidenceHashOf("timeout") };
      const account = privateKeyToAccount(v.operationalKey);
      const info = auditDomainInfoSchema.parse(await api("/validators/domain"));
      const signature = await account.signTypedData({ domain: { ...info.domain, salt: info.domain.salt as Hex }, types: auditTypes, primaryType: "Attestation", message: attestationTypedMessage(late) });
      e.ws.send(JSON.stringify({ type: "attestation", attestation: late, signature, reason: "timeout" }));
      expect((await e.next()).message).toMatch(/is not collecting attestations/);
      e.ws.send(JSON.stringify({ type: "attestation", attestation: { ...late, roundId: 9999 }, signature, reason: "timeout" }));
      expect((await e.next()).message).toMatch(/does not exist/);
      e.ws.close();
      // Nothing recorded: the closed round's record is what it was.
      expect(await api<PublicRound>(`/validators/rounds/${closedRound.id}`)).toEqual(closedRound);
    } finally {
      await network.startValidator(1);
    }
  }, 120_000);

  it("completes a round once when the edge (and its Durable Object) restarts in the middle of it", async () => {
    const id = await openRound();
    expect((await api<PublicRound>(`/validators/rounds/${id}`)).state).toBe("open");
    await network.restartEdge();
    // The restarted coordinator resumes from its storage on its own alarm: the same round closes, once.
    const round = await closed(id, 90_000);
    expect(round.challenges.filter((c) => c.verdict === "pass").length).toBeGreaterThan(0);
    const [commitment] = await chainClient().readContract({ address: d.chain.contracts.auditLog, abi: auditLogAbi, functionName: "roundCommitment", args: [BigInt(id)] });
    expect(commitment).toBe(round.commitment);
    const rounds = (await api<{ rounds: PublicRound[] }>("/validators/rounds?limit=100")).rounds;
    expect(rounds.filter((r) => r.id === id)).toHaveLength(1);
    expect(Math.max(...rounds.map((r) => r.id))).toBe(id);
    expect((await runRound()).id).toBe(id + 1);
  }, 240_000);

  it("keeps challenging a node suspended for its audits on the copies repair moved away, so the suspension lifts when it passes again", async () => {
    const node = d.nodes[3]!;
    const files = await blobFiles(node);
    expect(files.length).toBeGreaterThan(0);
    const saved = new Map<string, Buffer>();
    for (const f of files) {
      const bytes = await readFile(f);
      saved.set(f, Buffer.from(bytes));
      for (let at = 0; at < bytes.length; at += AUDIT_LEAF_BYTES) bytes[Math.min(bytes.length - 1, at + 100)]! ^= 0xff;
      await writeFile(f, bytes);
    }
    let standing = "";
    for (let i = 0; i < 4 && standing !== "suspended"; i++) {
      await runRound();
      standing = (await reputationOf(node.id)).standing;
    }
    expect(standing).toBe("suspended");
    // Its operator mends the disk; meanwhile repair rebuilds its pieces elsewhere, but its copies stay with it.
    for (const [f, bytes] of saved) await writeFile(f, bytes);
    await repairUntilDone();
    expect((await blobFiles(node)).length).toBe(files.length);
    await readAllBack();
    // Challenged on what it still holds, it passes, and the suspension lifts by itself.
    for (let i = 0; i < 12 && standing === "suspended"; i++) {
      const round = await runRound();
      expect(round.challenges.find((c) => c.nodeId === node.id)?.verdict).toBe("pass");
      standing = (await reputationOf(node.id)).standing;
    }
    expect(["active", "warned"]).toContain(standing);
  }, 300_000);

  it("catches a node whose pieces rot on disk within an epoch, suspends it, then disqualifies and slashes it, and repairs its data elsewhere", async () => {
    const victim = d.nodes[6]!;
    const files = await blobFiles(victim);
    expect(files.length).toBeGreaterThan(0);
    // One byte flipped in every leaf; every file keeps its size.
    for (const f of files) {
      const bytes = await readFile(f);
      for (let at = 0; at < bytes.length; at += AUDIT_LEAF_BYTES) bytes[Math.min(bytes.length - 1, at + 100)]! ^= 0xff;
      await writeFile(f, bytes);
    }
    const bondBefore = await nodeBond(victim.id);
    const standings: string[] = [];
    for (let i = 0; i < 8 && standings[standings.length - 1] !== "disqualified"; i++) {
      const round = await runRound();
      expect(round.challenges.find((c) => c.nodeId === victim.id)?.verdict).toBe("fail");
      standings.push((await reputationOf(victim.id)).standing);
    }
    // Suspended within one epoch (three rounds), then disqualified.
    expect(standings.slice(0, 3)).toContain("suspended");
    expect(standings[standings.length - 1]).toBe("disqualified");
    expect(await nodeBond(victim.id)).toBeLessThan(bondBefore);
    // Its pieces are rebuilt on the others; every object still reads back byte-identical.
    await repairUntilDone();
    await readAllBack();
    // A disqualified node is not challenged again.
    expect((await runRound()).challenges.some((c) => c.nodeId === victim.id)).toBe(false);
  }, 300_000);
  it("outvotes a validator that attests pass for a missing piece, and slashes it on the evidence", async () => {
    const liar = d.chain.validators[0]!;
    const victim = d.nodes[5]!;
    await network.stopValidator(0);
    await network.startValidator(0, { env: { ICN_VALIDATOR_FAULT: "attest-pass-always" }, args: ["--allow-test-faults"] });
    const bondBefore = await validatorBond(liar.address);
    // The node lost its pieces (files gone): it cannot prove any of them.
    const files = await blobFiles(victim);
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) await unlink(f);
    try {
      let caught: PublicRound | undefined;
      for (let i = 0; i < 4 && !caught; i++) {
        const round = await runRound();
        const c = round.challenges.find((ch) => ch.nodeId === victim.id);
        if (c?.attestations.some((a) => a.validator.toLowerCase() === liar.address.toLowerCase())) caught = round;
      }
      expect(caught, "the lying validator was drawn for the node's challenge within four rounds").toBeDefined();
      const c = caught!.challenges.find((ch) => ch.nodeId === victim.id)!;
      const lie = c.attestations.find((a) => a.validator.toLowerCase() === liar.address.toLowerCase())!;
      expect(lie.verdict).toBe("pass");
      expect(c.verdict).toBe("fail");
      // Slashed on objective evidence: its signed pass carries a proof that does not verify against the root.
      const bondAfter = await validatorBond(liar.address);
      expect(bondAfter).toBe(bondBefore - bondBefore / 10n);
      // 10% of its stake is gone, which leaves it below the validator minimum: it is out of the set.
      expect(await chainClient().readContract({ address: d.chain.contracts.nodeStaking, abi: nodeStakingAbi, functionName: "isValidator", args: [liar.address] })).toBe(false);
    } finally {
      await network.stopValidator(0);
    }
  }, 240_000);

  it("fails a node that lost its replicas and answers from a sibling's copies", async () => {
    // A replicated bucket: three copies of each segment, each unique to its node (masked, with its own root).
    const signer = new AwsClient({ accessKeyId: d.accounts.default.accessKeyId, secretAccessKey: d.accounts.default.secretAccessKey, service: "s3", region: d.region, retries: 0 });
    expect((await fetch(await signer.sign(`${d.edgeUrl}/copies`, { method: "PUT", headers: { "x-icn-erasure-code": "none" } }))).status).toBe(200);
    for (let i = 0; i < 30; i++) await s3.send(new PutObjectCommand({ Bucket: "copies", Key: `r/${i}`, Body: randomBytes(20 * 1024 + i) }));
    const cheat = d.nodes[4]!;
    const sibling = d.nodes.find((n) => n.index !== cheat.index && n.index !== 5 && n.index !== 6)!;
    // Its replicas (blob, sidecar and tree) are replaced by the sibling's files of the same segments.
    const siblingFiles = new Map((await blobFiles(sibling)).map((f) => [f.slice(f.lastIndexOf("/") + 1), f]));
    const swapped: string[] = [];
    for (const file of await blobFiles(cheat)) {
      const blobId = file.slice(file.lastIndexOf("/") + 1);
      const theirs = siblingFiles.get(blobId);
      if (!theirs) continue;
      for (const suffix of ["", ".meta.json", ".tree"]) await copyFile(`${theirs}${suffix}`, `${file}${suffix}`).catch(() => {});
      swapped.push(await pieceIdOf(cheat.id, blobId));
    }
    expect(swapped.length).toBeGreaterThan(0);
    let caught: PublicRound["challenges"][number] | undefined;
    for (let i = 0; i < 8 && !caught; i++) caught = (await runRound()).challenges.find((c) => c.nodeId === cheat.id && swapped.includes(c.pieceId));
    expect(caught, "a swapped replica was challenged within eight rounds").toBeDefined();
    expect(caught!.verdict).toBe("fail");
    expect(caught!.attestations.filter((a) => a.verdict === "fail").every((a) => a.reason?.startsWith("invalid proof"))).toBe(true);
  }, 300_000);
});
