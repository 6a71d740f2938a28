// The node's side of a proof of storage (POST /audit/challenges, src/protocol/audit.ts): a validator brings an
// assignment the edge signed and the blob id it names; the node checks it and answers each assigned leaf's bytes,
// read from disk now, with the leaf's Merkle path from the blob's stored tree. Checks run cheapest first, the way
// Storj orders its verifications (cheap guards, trusted signer, signature, replay bound), and a refusal does
// nothing else: no disk read, no answer counted.

import { recoverTypedDataAddress } from "viem";
import {
  AUDIT_LEAF_BYTES,
  assignmentTypedMessage,
  auditTypes,
  leafCountOf,
  pieceIdOf,
  proofLeaf,
  type Assignment,
  type ChallengeRequest,
  type StorageProof,
} from "../../src/protocol/audit.ts";
import type { AuditDomainInfo } from "../../src/protocol/validator-session.ts";
import type { AuditDomainCache } from "./audit-domain.ts";
import type { BlobStore } from "./blob-store.ts";
import { AgentError } from "./errors.ts";
import { silentLogger, type Logger } from "./logger.ts";

/** How late (seconds) a challenge may arrive after its deadline by this node's clock: clocks differ a little. */
export const DEADLINE_SKEW_SECONDS = 5;
/** Times one assignment may be answered: once per validator it went to, and a few retries. */
export const DEFAULT_ANSWERS_PER_ASSIGNMENT = 16;

export interface ChallengeResponderOptions {
  store: BlobStore;
  nodeId: string;
  domain: AuditDomainCache;
  answersPerAssignment?: number;
  now?: () => Date;
  log?: Logger;
}

export class ChallengeResponder {
  private readonly store: BlobStore;
  private readonly nodeId: string;
  private readonly domain: AuditDomainCache;
  private readonly answersPerAssignment: number;
  private readonly now: () => Date;
  private readonly log: Logger;
  /** Answers given per (roundId, pieceId), with the deadline after which the entry can be forgotten. */
  private readonly answered = new Map<string, { count: number; deadline: number }>();

  constructor(options: ChallengeResponderOptions) {
    this.store = options.store;
    this.nodeId = options.nodeId;
    this.domain = options.domain;
    this.answersPerAssignment = options.answersPerAssignment ?? DEFAULT_ANSWERS_PER_ASSIGNMENT;
    this.now = options.now ?? (() => new Date());
    this.log = options.log ?? silentLogger;
  }

  /** Checks a challenge and answers its proof. Throws AgentError with the refusal. */
  async answer(request: ChallengeRequest): Promise<StorageProof> {
    const { assignment, signature, blobId } = request;
    if (assignment.nodeId !== this.nodeId) {
      throw new AgentError("WrongNode", `The assignment names node ${assignment.nodeId}; this is ${this.nodeId}.`);
    }
    const nowSeconds = Math.floor(this.now().getTime() / 1000);
    if (nowSeconds > assignment.deadline + DEADLINE_SKEW_SECONDS) {
      throw new AgentError("ChallengeExpired", `The assignment's deadline (${assignment.deadline}) has passed; it is ${nowSeconds}.`);
    }
    for (const index of assignment.leafIndexes) {
      if (index >= assignment.leafCount) {
        throw new AgentError("InvalidLeafIndex", `Leaf index ${index} is outside the assignment's ${assignment.leafCount} leaves.`);
      }
    }
    if ((await pieceIdOf(this.nodeId, blobId)) !== assignment.pieceId) {
      throw new AgentError("PieceMismatch", "The blob id does not belong to the assignment's piece id on this node.");
    }
    await this.checkSignature(assignment, signature);

    const key = `${assignment.roundId}:${assignment.pieceId}`;
    const opened = await this.store.openForProof(blobId);
    if (opened === undefined) throw new AgentError("NoSuchBlob", "The blob does not exist on this node.");
    const { record, file, tree } = opened;
    try {
      const leafCount = record.size === 0 ? 0 : leafCountOf(record.size);
      if (tree === undefined || assignment.leafCount !== leafCount) {
        throw new AgentError("LeafCountMismatch", `The assignment names ${assignment.leafCount} leaves; the stored blob has ${leafCount}.`);
      }
      this.countAnswer(key, assignment.deadline);
      const leaves = await Promise.all(
        assignment.leafIndexes.map(async (index) => {
          const position = index * AUDIT_LEAF_BYTES;
          const data = new Uint8Array(Math.min(AUDIT_LEAF_BYTES, record.size - position));
          // Read now, positionally: the proof shows what is on disk, not what was written.
          const { bytesRead } = await file.read(data, 0, data.length, position);
          return proofLeaf(index, data.subarray(0, bytesRead), await tree.pathOf(index));
        }),
      );
      return { pieceId: assignment.pieceId, leaves };
    } finally {
      await Promise.all([file.close(), tree?.close()]);
    }
  }

  /** The EIP-712 signature must recover to the edge's assignment signer (refetched once if it does not). */
  private async checkSignature(assignment: Assignment, signature: string): Promise<void> {
    let info: AuditDomainInfo;
    try {
      info = await this.domain.get();
    } catch (error) {
      this.log.warn("audit_domain_unavailable", { error });
      throw new AgentError("AuditDomainUnavailable", "This node cannot learn the edge's assignment signer right now; try again later.");
    }
    if (await signedBy(info, assignment, signature)) return;
    const fresh = await this.domain.refetch(info).catch((error: unknown) => {
      this.log.warn("audit_domain_unavailable", { error });
      return undefined;
    });
    if (fresh !== undefined && (await signedBy(fresh, assignment, signature))) return;
    throw new AgentError("InvalidAssignmentSignature", "The assignment is not signed by the edge's assignment signer.");
  }

  /** Counts one answer to an assignment, refusing past the bound; entries past their deadline are forgotten. */
  private countAnswer(key: string, deadline: number): void {
    const entry = this.answered.get(key) ?? { count: 0, deadline };
    if (entry.count >= this.answersPerAssignment) {
      throw new AgentError("TooManyAnswers", `This assignment was already answered ${entry.count} times.`);
    }
    entry.count++;
    this.answered.set(key, entry);
    const cutoff = Math.floor(this.now().getTime() / 1000) - DEADLINE_SKEW_SECONDS;
    for (const [k, e] of this.answered) if (e.deadline < cutoff) this.answered.delete(k);
  }
}

async function signedBy(info: AuditDomainInfo, assignment: Assignment, signature: string): Promise<boolean> {
  try {
    const signer = await recoverTypedDataAddress({
      domain: { ...info.domain, salt: info.domain.salt as `0x${string}` },
      types: auditTypes,
      primaryType: "ChallengeAssignment",
      message: assignmentTypedMessage(assignment),
      signature: signature as `0x${string}`,
    });
    return signer.toLowerCase() === info.assignmentSigner.toLowerCase();
  } catch {
    return false; // not a signature at all (bad v, s out of range): recovers to nobody
  }
}
