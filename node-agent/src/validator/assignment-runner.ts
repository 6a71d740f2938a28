// What the validator does with each assignment the coordinator sends: check it is genuine, challenge the node,
// judge the proof, sign one attestation and hand it to the session. Checks run cheapest first (Storj's order):
// already attested or in hand, deadline, the edge's signature, then that the assignment is self-consistent (the
// blob id names the piece; the leaf indexes are the ones the seed picks), so a forged or garbled assignment costs
// no request to a node and never produces a verdict.

import type { LocalAccount } from "viem";
import { recoverTypedDataAddress } from "viem";
import {
  assignmentTypedMessage,
  attestationTypedMessage,
  auditTypes,
  evidenceHashOf,
  failureEvidenceHashOf,
  leafIndexesFor,
  pieceIdOf,
  verifyStorageProof,
  type Assignment,
  type Attestation,
  type StorageProof,
} from "../../../src/protocol/audit.ts";
import type { AuditDomainInfo, CoordinatorMessage } from "../../../src/protocol/validator-session.ts";
import type { Logger } from "../logger.ts";
import { type AttestationLedger, type AttestationMessage, challengeKey } from "./attestation-ledger.ts";
import { challengeNode } from "./node-challenge.ts";
import { fabricatedProof, type TestFault } from "./test-faults.ts";

export type AssignmentMessage = Extract<CoordinatorMessage, { type: "assignment" }>;

/** Time kept after the challenge to sign and send the attestation before the deadline. */
export const ATTESTATION_RESERVE_MS = 1_000;
/**
 * Longest a challenge may run whatever its deadline says: the deadline is the edge's clock (which end-to-end tests
 * move forward), so a far deadline must not hold a challenge slot for hours.
 */
export const MAX_CHALLENGE_WINDOW_MS = 120_000;
/** Assignments waiting for a free challenge slot at most; more are refused (and logged) rather than queued unbounded. */
const MAX_QUEUED_ASSIGNMENTS = 10_000;

export interface AssignmentRunnerOptions {
  /** The operational key: signs attestations. */
  account: LocalAccount;
  ledger: AttestationLedger;
  /** Sends on the current session; false when there is none (the ledger re-sends at the next login). */
  send: (message: AttestationMessage) => boolean;
  maxConcurrent: number;
  testFault?: TestFault;
  log: Logger;
  now?: () => number;
  fetch?: typeof globalThis.fetch;
}

export class AssignmentRunner {
  private readonly inHand = new Set<string>();
  private readonly queue: (() => Promise<void>)[] = [];
  private running = 0;
  private readonly stopping = new AbortController();
  private readonly idleWaiters: (() => void)[] = [];
  private readonly now: () => number;
  private readonly options: AssignmentRunnerOptions;

  constructor(options: AssignmentRunnerOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  /** Takes one assignment from the coordinator; returns at once (the challenge runs in the background). */
  accept(message: AssignmentMessage, domain: AuditDomainInfo): void {
    const { assignment } = message;
    const key = challengeKey(assignment.roundId, assignment.pieceId);
    const log = this.options.log.child({ roundId: assignment.roundId, pieceId: assignment.pieceId, nodeId: assignment.nodeId });
    const signed = this.options.ledger.get(assignment.roundId, assignment.pieceId);
    if (signed) {
      // Sent again (a reconnect, a coordinator restart): the same signed answer, never a second verdict.
      log.info("attestation_resent", { verdict: signed.message.attestation.verdict, reason: "assignment repeated" });
      this.options.send(signed.message);
      return;
    }
    if (this.inHand.has(key)) return;
    if (this.queue.length >= MAX_QUEUED_ASSIGNMENTS) {
      log.warn("assignment_dropped", { reason: "too many assignments waiting" });
      return;
    }
    this.inHand.add(key);
    this.queue.push(async () => {
      try {
        await this.run(message, domain, log);
      } catch (error) {
        log.error("assignment_failed", { error });
      } finally {
        this.inHand.delete(key);
      }
    });
    this.pump();
  }

  /** The coordinator recorded an attestation. */
  async acknowledged(roundId: number, pieceId: string): Promise<void> {
    await this.options.ledger.markAcked(roundId, pieceId);
  }

  /** Stops starting challenges and aborts those running; resolves once none runs. */
  async stop(): Promise<void> {
    this.stopping.abort();
    this.queue.length = 0;
    if (this.running === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** Resolves once no challenge runs or waits (tests). */
  idle(): Promise<void> {
    if (this.running === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (this.running < this.options.maxConcurrent && this.queue.length > 0 && !this.stopping.signal.aborted) {
      const task = this.queue.shift()!;
      this.running++;
      void task().finally(() => {
        this.running--;
        this.pump();
        if (this.running === 0 && this.queue.length === 0) for (const wake of this.idleWaiters.splice(0)) wake();
      });
    }
  }

  private async run(message: AssignmentMessage, domain: AuditDomainInfo, log: Logger): Promise<void> {
    const { assignment, signature, blobId, nodeUrl } = message;
    const finishByMs = Math.min(assignment.deadline * 1000 - ATTESTATION_RESERVE_MS, this.now() + MAX_CHALLENGE_WINDOW_MS);
    if (finishByMs <= this.now()) {
      // Too late to ask fairly: missing it costs this validator a little reputation; a verdict would wrong the node.
      log.warn("assignment_expired", { deadline: assignment.deadline });
      return;
    }
    const refusal = await this.refusalOf(message, domain);
    if (refusal !== undefined) {
      log.error("assignment_refused", { reason: refusal });
      return;
    }

    const answer = await challengeNode({
      nodeUrl,
      request: { assignment, signature, blobId },
      finishByMs,
      now: this.now,
      fetch: this.options.fetch,
      signal: this.stopping.signal,
    });
    if (this.stopping.signal.aborted) return;

    let verdict: Attestation["verdict"];
    let evidence: StorageProof | undefined;
    let evidenceHash: `0x${string}`;
    let reason: string | undefined;
    if (this.options.testFault === "attest-pass-always") {
      verdict = "pass";
      evidence = answer.kind === "proof" ? answer.proof : fabricatedProof(assignment);
      evidenceHash = await evidenceHashOf(evidence);
      reason = "test fault attest-pass-always: not checked";
    } else if (answer.kind === "proof") {
      const check = await verifyStorageProof(assignment, answer.proof);
      if (check.ok) {
        verdict = "pass";
        evidence = answer.proof;
        evidenceHash = await evidenceHashOf(answer.proof);
      } else {
        verdict = "fail";
        reason = `invalid proof: ${check.reason}`;
        evidenceHash = await failureEvidenceHashOf(reason);
      }
    } else {
      verdict = "fail";
      reason = answer.reason;
      evidenceHash = await failureEvidenceHashOf(reason);
    }

    const attestation: Attestation = { roundId: assignment.roundId, nodeId: assignment.nodeId, pieceId: assignment.pieceId, verdict, evidenceHash };
    const attestationSignature = await this.options.account.signTypedData({
      domain: domainOf(domain),
      types: auditTypes,
      primaryType: "Attestation",
      message: attestationTypedMessage(attestation),
    });
    // A fail carries its reason: the evidence hash signed is the reason's, so the coordinator can tell a timeout
    // (retried before it counts) from a bad proof.
    const outgoing: AttestationMessage = {
      type: "attestation",
      attestation,
      signature: attestationSignature,
      ...(evidence ? { evidence } : {}),
      ...(verdict === "fail" && reason ? { reason } : {}),
    };
    const entry = await this.options.ledger.record(outgoing, assignment.deadline);
    const sent = this.options.send(entry.message);
    log.info("attested", { verdict, reason, attempts: answer.attempts, sent });
  }

  /** Why this assignment must not be acted on, or undefined when it is genuine and self-consistent. */
  private async refusalOf(message: AssignmentMessage, domain: AuditDomainInfo): Promise<string | undefined> {
    const { assignment, signature, blobId } = message;
    let signer: string;
    try {
      signer = await recoverTypedDataAddress({
        domain: domainOf(domain),
        types: auditTypes,
        primaryType: "ChallengeAssignment",
        message: assignmentTypedMessage(assignment),
        signature: signature as `0x${string}`,
      });
    } catch {
      return "the edge's signature does not parse";
    }
    if (signer.toLowerCase() !== domain.assignmentSigner.toLowerCase()) return `signed by ${signer}, not the edge's assignment signer ${domain.assignmentSigner}`;
    if ((await pieceIdOf(assignment.nodeId, blobId)) !== assignment.pieceId) return "the blob id does not name the assigned piece";
    if (!(await leafIndexesMatchSeed(assignment))) return "the leaf indexes are not the ones the round's seed picks";
    return undefined;
  }
}

async function leafIndexesMatchSeed(a: Assignment): Promise<boolean> {
  const expected = await leafIndexesFor(a.seed as `0x${string}`, a.pieceId as `0x${string}`, a.leafCount, a.leafIndexes.length);
  return expected.length === a.leafIndexes.length && expected.every((index, i) => index === a.leafIndexes[i]);
}

export function domainOf(info: AuditDomainInfo) {
  return { name: info.domain.name, version: info.domain.version, chainId: info.domain.chainId, salt: info.domain.salt as `0x${string}` };
}
