// A validator doing its job: it logs in to the coordinator with its operational key, challenges the node each
// edge-signed assignment names, and signs one verdict per challenge that anyone can re-check (a pass carries the
// proof it hashed; a fail the hash of its reason). Runs the validator in this process against the protocol's other
// two parties over real sockets: a coordinator speaking the documented WebSocket messages and a node answering
// proofs from real bytes.

import { rm } from "node:fs/promises";
import { recoverTypedDataAddress } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterEach, describe, expect, it } from "vitest";
import {
  AUDIT_LEAF_BYTES,
  attestationTypedMessage,
  auditTypes,
  evidenceHashOf,
  failureEvidenceHashOf,
  loginTypedMessage,
  verifyStorageProof,
  type Assignment,
} from "../../src/protocol/audit.ts";
import { createJsonLogger } from "../../node-agent/src/logger.ts";
import { domainOf } from "../../node-agent/src/validator/assignment-runner.ts";
import { startValidator, type RunningValidator } from "../../node-agent/src/validator/validator.ts";
import type { TestFault } from "../../node-agent/src/validator/test-faults.ts";
import { FAKE_AUDIT_KEY, startFakeCoordinator, type FakeCoordinator, type RecordedAttestation } from "./support/fake-coordinator.ts";
import { makeDataDir, newBlobId, waitUntil } from "./support/in-process-agent.ts";
import { assignmentFor, startProvingNode, type NodeBehaviour, type ProvingNode, type StoredPiece } from "./support/proving-node.ts";

const STAKE_ADDRESS = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc";
const OPERATIONAL_KEY = generatePrivateKey();
const OPERATOR = privateKeyToAccount(OPERATIONAL_KEY).address;
/** A piece of 5 full leaves and a short last one, so the short-leaf rule is exercised too. */
const PIECE_BYTES = 5 * AUDIT_LEAF_BYTES + 1234;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Harness {
  coordinator: FakeCoordinator;
  node: ProvingNode;
  logs: string[];
  validator: RunningValidator;
  /** Stores a piece on the node and sends its assignment; the deadline is `seconds` from now. */
  assign(behaviour: NodeBehaviour, options?: { roundId?: number; seconds?: number; signingKey?: `0x${string}` }): Promise<{ piece: StoredPiece; assignment: Assignment }>;
  attestationsFor(assignment: Assignment): RecordedAttestation[];
  restartValidator(): Promise<void>;
}

let nextRound = 1;

async function harness(options: { dataDir?: string; testFault?: TestFault } = {}): Promise<Harness> {
  const coordinator = await startFakeCoordinator();
  cleanups.push(() => coordinator.close());
  const node = await startProvingNode();
  cleanups.push(() => node.close());
  const logs: string[] = [];
  const start = () =>
    startValidator({
      edgeUrl: coordinator.url,
      validatorAddress: STAKE_ADDRESS,
      account: privateKeyToAccount(OPERATIONAL_KEY),
      dataDir: options.dataDir,
      maxConcurrentChallenges: 8,
      testFault: options.testFault,
      log: createJsonLogger((line) => logs.push(line)),
      backoff: { baseMs: 50, capMs: 400 },
      ackWaitMs: 300,
    });
  const h: Harness = {
    coordinator,
    node,
    logs,
    validator: await start(),
    assign: async (behaviour, { roundId = nextRound++, seconds = 10, signingKey } = {}) => {
      const piece = await node.store(newBlobId(), PIECE_BYTES, behaviour);
      const assignment = await assignmentFor(piece, roundId, Math.floor(Date.now() / 1000) + seconds);
      const signature = await coordinator.signAssignment(assignment, signingKey);
      coordinator.send({ type: "assignment", assignment, signature, blobId: piece.blobId, nodeUrl: node.url });
      return { piece, assignment };
    },
    attestationsFor: (a) => coordinator.attestations.filter((r) => r.attestation.roundId === a.roundId && r.attestation.pieceId === a.pieceId),
    restartValidator: async () => {
      await h.validator.stop();
      h.validator = await start();
    },
  };
  cleanups.push(() => h.validator.stop());
  await waitUntil(() => coordinator.loggedIn() === 1, 10_000, "the validator to log in");
  return h;
}

async function oneAttestation(h: Harness, assignment: Assignment, timeoutMs = 15_000): Promise<RecordedAttestation> {
  await waitUntil(() => h.attestationsFor(assignment).length > 0, timeoutMs, `an attestation for round ${assignment.roundId}`);
  return h.attestationsFor(assignment)[0]!;
}

describe("a validator's session with the coordinator", () => {
  it("logs in with an EIP-712 signature by its operational key over the coordinator's nonce, naming its stake address", async () => {
    const h = await harness();
    expect(h.coordinator.logins).toHaveLength(1);
    const { login, signer, nonce, signature } = h.coordinator.logins[0]!;
    expect(login.validator).toBe(STAKE_ADDRESS);
    expect(login.operator).toBe(OPERATOR);
    expect(login.nonce).toBe(nonce);
    expect(signer).toBe(OPERATOR);
    expect(Math.abs(login.issuedAt - Date.now() / 1000)).toBeLessThan(60);
    // Anyone holding the public domain document can check it: it is the domain the edge publishes.
    expect(
      await recoverTypedDataAddress({ domain: domainOf(h.coordinator.info), types: auditTypes, primaryType: "ValidatorLogin", message: loginTypedMessage(login), signature: signature as `0x${string}` }),
    ).toBe(OPERATOR);
    expect(h.coordinator.refused).toEqual([]);
  });

  it("logs in again after the coordinator drops the socket, and carries assignments on the new session", async () => {
    const h = await harness();
    h.coordinator.dropAll();
    await waitUntil(() => h.coordinator.logins.length === 2 && h.coordinator.loggedIn() === 1, 10_000, "a second login");
    const [first, second] = h.coordinator.logins;
    expect(second!.nonce).not.toBe(first!.nonce);
    expect(second!.signer).toBe(OPERATOR);

    const { assignment } = await h.assign({ kind: "honest" });
    const recorded = await oneAttestation(h, assignment);
    expect(recorded.attestation.verdict).toBe("pass");
    expect(recorded.connection).toBe(1);
    // The drop was logged once as a state change, and so was the recovery.
    const states = h.logs.map((l) => JSON.parse(l) as { event: string; state?: string }).filter((l) => l.event === "coordinator_session").map((l) => l.state);
    expect(states).toEqual(["logged_in", "disconnected", "logged_in"]);
  });

  it("keeps trying while the edge is down, logging that once, and logs in when it comes up", async () => {
    const probe = await startFakeCoordinator();
    const { port } = new URL(probe.url);
    await probe.close();
    const logs: string[] = [];
    const validator = await startValidator({
      edgeUrl: probe.url,
      validatorAddress: STAKE_ADDRESS,
      account: privateKeyToAccount(OPERATIONAL_KEY),
      dataDir: undefined,
      maxConcurrentChallenges: 8,
      testFault: undefined,
      log: createJsonLogger((line) => logs.push(line)),
      backoff: { baseMs: 50, capMs: 200 },
    });
    cleanups.push(() => validator.stop());
    await new Promise((resolve) => setTimeout(resolve, 1_500)); // several attempts at 50..200 ms apart
    const coordinator = await startFakeCoordinator(Number(port));
    cleanups.push(() => coordinator.close());
    const states = () => logs.map((l) => JSON.parse(l) as { event: string; state?: string }).filter((l) => l.event === "coordinator_session").map((l) => l.state);
    await waitUntil(() => states().includes("logged_in"), 10_000, "the login once the edge is up");
    expect(coordinator.logins.map((l) => l.signer)).toEqual([OPERATOR]);
    expect(states()).toEqual(["edge_unreachable", "logged_in"]);
  });
});

describe("a validator's verdicts", () => {
  it("attests pass for an honest proof: the evidence is the proof, its hash is evidenceHashOf(proof), and the signature recovers to the operational key", async () => {
    const h = await harness();
    const { piece, assignment } = await h.assign({ kind: "honest" });
    const recorded = await oneAttestation(h, assignment);

    expect(recorded.attestation).toEqual({ roundId: assignment.roundId, nodeId: piece.nodeId, pieceId: piece.pieceId, verdict: "pass", evidenceHash: recorded.attestation.evidenceHash });
    expect(recorded.evidence).toEqual(await h.node.honestProof(piece.blobId, assignment));
    expect(recorded.attestation.evidenceHash).toBe(await evidenceHashOf(recorded.evidence!));
    expect(await verifyStorageProof(assignment, recorded.evidence!)).toEqual({ ok: true });
    expect(recorded.signer).toBe(OPERATOR);
    expect(
      await recoverTypedDataAddress({
        domain: domainOf(h.coordinator.info),
        types: auditTypes,
        primaryType: "Attestation",
        message: attestationTypedMessage(recorded.attestation),
        signature: recorded.signature as `0x${string}`,
      }),
    ).toBe(OPERATOR);
    expect(h.node.requests(piece.blobId)).toBe(1);
  });

  it("attests fail for a proof with a flipped byte, with the hash of the reason as evidence", async () => {
    const h = await harness();
    const { assignment } = await h.assign({ kind: "corrupt" });
    const recorded = await oneAttestation(h, assignment);
    expect(recorded.attestation.verdict).toBe("fail");
    expect(recorded.evidence).toBeUndefined();
    const reason = `invalid proof: leaf ${assignment.leafIndexes[0]} does not prove against the root`;
    expect(recorded.attestation.evidenceHash).toBe(await failureEvidenceHashOf(reason));
    expect(recorded.signer).toBe(OPERATOR);
  });

  it("attests fail with reason 'http status 404' when the node no longer has the piece, asking once", async () => {
    const h = await harness();
    const { piece, assignment } = await h.assign({ kind: "missing" });
    const recorded = await oneAttestation(h, assignment);
    expect(recorded.attestation.verdict).toBe("fail");
    expect(recorded.attestation.evidenceHash).toBe(await failureEvidenceHashOf("http status 404"));
    expect(h.node.requests(piece.blobId)).toBe(1);
  });

  it("does not fail a slow honest node for one slow answer: it asks again beside the slow request and passes on the quick one", async () => {
    const h = await harness();
    // Deadline 8 s away: 7 s of window, so the second request goes out after ~2.3 s, long before the first answers.
    const { piece, assignment } = await h.assign({ kind: "slow-first", delayMs: 6_000 }, { seconds: 8 });
    const recorded = await oneAttestation(h, assignment);
    expect(recorded.attestation.verdict).toBe("pass");
    expect(recorded.attestation.evidenceHash).toBe(await evidenceHashOf(await h.node.honestProof(piece.blobId, assignment)));
    expect(h.node.requests(piece.blobId)).toBe(2);
  });

  it("retries a 503 and passes when the node then answers", async () => {
    const h = await harness();
    const { piece, assignment } = await h.assign({ kind: "error-first", status: 503 });
    const recorded = await oneAttestation(h, assignment);
    expect(recorded.attestation.verdict).toBe("pass");
    expect(h.node.requests(piece.blobId)).toBe(2);
  });

  it("attests fail with reason 'http status 500' when every try within the deadline gets a 500, trying three times", async () => {
    const h = await harness();
    const { piece, assignment } = await h.assign({ kind: "error-first", status: 500, count: 99 });
    const recorded = await oneAttestation(h, assignment);
    expect(recorded.attestation.verdict).toBe("fail");
    expect(recorded.attestation.evidenceHash).toBe(await failureEvidenceHashOf("http status 500"));
    expect(h.node.requests(piece.blobId)).toBe(3);
  });

  it("attests fail with reason 'timeout' before the deadline when the node never answers", async () => {
    const h = await harness();
    const { piece, assignment } = await h.assign({ kind: "hang" }, { seconds: 4 });
    const recorded = await oneAttestation(h, assignment, 10_000);
    expect(Date.now() / 1000).toBeLessThan(assignment.deadline);
    expect(recorded.attestation.verdict).toBe("fail");
    expect(recorded.attestation.evidenceHash).toBe(await failureEvidenceHashOf("timeout"));
    expect(h.node.requests(piece.blobId)).toBe(3);
  });

  it("refuses an assignment the edge did not sign: no challenge reaches the node and nothing is attested", async () => {
    const h = await harness();
    const { piece, assignment } = await h.assign({ kind: "honest" }, { signingKey: generatePrivateKey() });
    await waitUntil(() => h.logs.some((l) => l.includes('"assignment_refused"')), 10_000, "the refusal to be logged");
    await h.validator.idle();
    expect(h.node.requests(piece.blobId)).toBe(0);
    expect(h.attestationsFor(assignment)).toEqual([]);
    // The same assignment signed by the edge is then taken: the refusal did not poison it.
    const signature = await h.coordinator.signAssignment(assignment, FAKE_AUDIT_KEY);
    h.coordinator.send({ type: "assignment", assignment, signature, blobId: piece.blobId, nodeUrl: h.node.url });
    expect((await oneAttestation(h, assignment)).attestation.verdict).toBe("pass");
  });

  it("refuses an assignment whose leaf indexes are not the ones the seed picks", async () => {
    const h = await harness();
    const piece = await h.node.store(newBlobId(), PIECE_BYTES);
    const honest = await assignmentFor(piece, nextRound++, Math.floor(Date.now() / 1000) + 10);
    const chosen = { ...honest, leafIndexes: [0, 1, 2] };
    h.coordinator.send({ type: "assignment", assignment: chosen, signature: await h.coordinator.signAssignment(chosen), blobId: piece.blobId, nodeUrl: h.node.url });
    await waitUntil(() => h.logs.some((l) => l.includes("the leaf indexes are not the ones the round's seed picks")), 10_000, "the refusal");
    await h.validator.idle();
    expect(h.node.totalRequests()).toBe(0);
    expect(h.coordinator.attestations).toEqual([]);
  });
});

describe("one attestation per challenge", () => {
  it("answers a repeated assignment with the same signed attestation, in flight or done, and challenges the node once", async () => {
    const h = await harness();
    const { piece, assignment } = await h.assign({ kind: "slow-first", delayMs: 500 });
    // Repeated while the challenge runs: ignored.
    const signature = await h.coordinator.signAssignment(assignment);
    const again = { type: "assignment" as const, assignment, signature, blobId: piece.blobId, nodeUrl: h.node.url };
    h.coordinator.send(again);
    const first = await oneAttestation(h, assignment);
    // Repeated after it was attested: the same bytes again, not a new verdict.
    h.coordinator.send(again);
    await waitUntil(() => h.attestationsFor(assignment).length >= 2, 10_000, "the attestation sent again");
    await h.validator.idle();
    for (const sent of h.attestationsFor(assignment)) {
      expect(sent.signature).toBe(first.signature);
      expect(sent.attestation).toEqual(first.attestation);
    }
    expect(h.node.requests(piece.blobId)).toBe(1);
  });

  it("sends an unacknowledged attestation again, unchanged, after reconnecting", async () => {
    const h = await harness();
    h.coordinator.autoAck = false;
    const { piece, assignment } = await h.assign({ kind: "honest" });
    const first = await oneAttestation(h, assignment);
    h.coordinator.dropAll();
    await waitUntil(() => h.attestationsFor(assignment).some((r) => r.connection === 1), 10_000, "the attestation on the new session");
    const unacked = h.attestationsFor(assignment).length;
    h.coordinator.autoAck = true;
    for (const resent of h.attestationsFor(assignment)) expect(resent.signature).toBe(first.signature);
    expect(h.node.requests(piece.blobId)).toBe(1);
    // The next copy is acknowledged, and then they stop: none arrives over several resend periods.
    await waitUntil(() => h.attestationsFor(assignment).length > unacked, 5_000, "a copy the coordinator acknowledges");
    await new Promise((resolve) => setTimeout(resolve, 400));
    const count = h.attestationsFor(assignment).length;
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(h.attestationsFor(assignment).length).toBe(count);
  });

  it("remembers what it signed across a restart with a data dir: the same assignment gets the same attestation, no new challenge", async () => {
    const dataDir = await makeDataDir();
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const h = await harness({ dataDir });
    const { piece, assignment } = await h.assign({ kind: "honest" });
    const first = await oneAttestation(h, assignment);
    await h.restartValidator();
    await waitUntil(() => h.coordinator.logins.length === 2 && h.coordinator.loggedIn() === 1, 10_000, "the restarted validator to log in");
    const signature = await h.coordinator.signAssignment(assignment);
    h.coordinator.send({ type: "assignment", assignment, signature, blobId: piece.blobId, nodeUrl: h.node.url });
    await waitUntil(() => h.attestationsFor(assignment).some((r) => r.connection === 1), 10_000, "the remembered attestation");
    await h.validator.idle();
    for (const sent of h.attestationsFor(assignment)) expect(sent.signature).toBe(first.signature);
    expect(h.node.requests(piece.blobId)).toBe(1);
  });

  it("runs challenges side by side, at most 8 at once", async () => {
    const h = await harness();
    const started = Date.now();
    const assigned = await Promise.all(Array.from({ length: 12 }, () => h.assign({ kind: "slow-first", delayMs: 1_500 }, { seconds: 30 })));
    for (const { assignment } of assigned) await oneAttestation(h, assignment, 20_000);
    // One after another this would take 18 s; eight at a time, two waves of 1.5 s.
    expect(Date.now() - started).toBeLessThan(9_000);
    expect(h.node.maxInFlight()).toBe(8);
    expect(h.node.totalRequests()).toBe(12);
    expect(h.coordinator.attestations.map((r) => r.attestation.verdict)).toEqual(Array(12).fill("pass"));
  });
});

describe("the test-only fault", () => {
  it("attest-pass-always attests pass for a missing piece with evidence that does not verify: the grounds to slash it", async () => {
    const h = await harness({ testFault: "attest-pass-always" });
    const { assignment } = await h.assign({ kind: "missing" });
    const recorded = await oneAttestation(h, assignment);
    expect(recorded.attestation.verdict).toBe("pass");
    expect(recorded.evidence).toBeDefined();
    expect(recorded.attestation.evidenceHash).toBe(await evidenceHashOf(recorded.evidence!));
    expect((await verifyStorageProof(assignment, recorded.evidence!)).ok).toBe(false);
    expect(recorded.signer).toBe(OPERATOR);
  });
});
