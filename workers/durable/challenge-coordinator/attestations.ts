// An attestation arriving over a validator's session. It is recorded only when everything about it checks out:
// the round is collecting, the validator was assigned this challenge, the signature recovers to the
// operational key the validator logged in with, and the evidence hashes to what was signed (a pass carries the
// node's proof, a fail its reason). Anything else is refused and nothing is recorded.
//
// Two kinds of signed statement are objective misconduct, kept as evidence for slashing: a pass whose proof
// does not verify against the assigned root, and a second attestation for the same challenge that differs from
// the first. Neither depends on what the node did, so a node cannot get an honest validator slashed.

import { recoverTypedDataAddress, type Hex } from "viem";
import {
  assignmentSchema,
  attestationTypedMessage,
  auditTypes,
  evidenceHashOf,
  failureEvidenceHashOf,
  verifyStorageProof,
  type Attestation,
  type StorageProof,
} from "../../../src/protocol/audit.ts";
import type { AssignmentRow, ChallengeRow, RoundRow } from "./rounds.ts";
import type { CoordinatorStore } from "./schema.ts";

export interface AttestationInput {
  attestation: Attestation;
  signature: string;
  evidence?: StorageProof;
  reason?: string;
}

export type AttestationResult = { ok: true; duplicate?: boolean; misconduct?: string } | { ok: false; error: string };

type Domain = Awaited<ReturnType<typeof import("../../../src/protocol/node-protocol.ts").registrationDomain>>;

export async function receiveAttestation(
  store: CoordinatorStore,
  domain: Domain,
  session: { validator: string; operator: string },
  input: AttestationInput,
  now: number,
): Promise<AttestationResult> {
  const { attestation, signature } = input;
  const round = store.sql.exec<RoundRow>("SELECT * FROM rounds WHERE id = ?", attestation.roundId).toArray()[0];
  if (!round) return { ok: false, error: `round ${attestation.roundId} does not exist` };
  if (round.phase !== "collecting") return { ok: false, error: `round ${attestation.roundId} is not collecting attestations (${round.phase})` };
  const challenge = store.sql.exec<ChallengeRow>("SELECT * FROM challenges WHERE round_id = ? AND piece_id = ?", round.id, attestation.pieceId).toArray()[0];
  if (!challenge || challenge.node_id !== attestation.nodeId) return { ok: false, error: "no such challenge in this round" };
  const assignment = store.sql
    .exec<AssignmentRow>("SELECT * FROM assignments WHERE round_id = ? AND idx = ? AND validator = ?", round.id, challenge.idx, session.validator)
    .toArray()[0];
  if (!assignment) return { ok: false, error: "this validator was not assigned this challenge" };

  let signer: string;
  try {
    signer = await recoverTypedDataAddress({ domain, types: auditTypes, primaryType: "Attestation", message: attestationTypedMessage(attestation), signature: signature as Hex });
  } catch {
    return { ok: false, error: "the attestation's signature is malformed" };
  }
  if (signer.toLowerCase() !== session.operator || assignment.operator !== session.operator) return { ok: false, error: "the attestation is not signed by this validator's operational key" };

  // The evidence must be what was signed: the proof for a pass, the reason for a fail.
  if (attestation.verdict === "pass") {
    if (!input.evidence) return { ok: false, error: "a pass attestation must carry the node's proof as evidence" };
    if ((await evidenceHashOf(input.evidence)) !== attestation.evidenceHash) return { ok: false, error: "the evidence does not hash to the signed evidenceHash" };
  } else {
    if (!input.reason) return { ok: false, error: "a fail attestation must carry its reason" };
    if ((await failureEvidenceHashOf(input.reason)) !== attestation.evidenceHash) return { ok: false, error: "the reason does not hash to the signed evidenceHash" };
  }

  if (assignment.state === "attested") {
    if (assignment.signature === signature) return { ok: true, duplicate: true };
    const same = assignment.verdict === attestation.verdict && assignment.evidence_hash === attestation.evidenceHash;
    if (same) return { ok: true, duplicate: true };
    // Two different signed statements about one challenge: both are kept as evidence.
    recordMisconduct(store, round.id, challenge.idx, session.validator, "conflicting", {
      first: { verdict: assignment.verdict, evidenceHash: assignment.evidence_hash, signature: assignment.signature },
      second: { ...attestation, signature },
    });
    return { ok: false, error: "a different attestation for this challenge was already recorded: both are kept as misconduct evidence" };
  }
  if (assignment.state !== "assigned") return { ok: false, error: "this assignment was given to another validator after its deadline" };

  let misconduct: string | undefined;
  if (attestation.verdict === "pass") {
    const check = await verifyStorageProof(assignmentSchema.parse(JSON.parse(challenge.assignment!)), input.evidence!);
    if (!check.ok) {
      misconduct = "invalid-pass";
      recordMisconduct(store, round.id, challenge.idx, session.validator, "invalid-pass", { attestation, signature, evidence: input.evidence, why: check.reason });
    }
  }
  store.sql.exec(
    "UPDATE assignments SET state = 'attested', verdict = ?, evidence_hash = ?, signature = ?, reason = ?, received_at = ? WHERE round_id = ? AND idx = ? AND validator = ? AND state = 'assigned'",
    attestation.verdict, attestation.evidenceHash, signature, input.reason ?? null, now, round.id, challenge.idx, session.validator,
  );
  return { ok: true, misconduct };
}

function recordMisconduct(store: CoordinatorStore, roundId: number, idx: number, validator: string, kind: string, detail: unknown): void {
  store.sql.exec("INSERT OR IGNORE INTO misconduct (round_id, idx, validator, kind, detail) VALUES (?, ?, ?, ?, ?)", roundId, idx, validator, kind, JSON.stringify(detail));
}
