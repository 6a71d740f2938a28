// What a challenge's attestations decide. A verdict stands when validators holding at least two thirds of the
// stake assigned to the challenge agree; otherwise it is undecided and costs the node nothing. A failing verdict
// whose validators mostly saw no answer in time is a timeout: the piece is challenged again (containment) before
// it counts against the node, so a slow disk is not taken for a lying one.

import type { Verdict } from "../protocol/audit.ts";

export interface CountedAttestation {
  validator: string;
  stake: bigint;
  verdict: Verdict;
  /** The validator saw no answer within the deadline (its signed reason starts with "timeout"). */
  timeout: boolean;
}

export type ChallengeOutcome = "pass" | "fail" | "timeout" | "undecided";

export interface ChallengeDecision {
  verdict: Verdict | "undecided";
  outcome: ChallengeOutcome;
}

/**
 * `assignedStake` is the stake of every validator whose assignment counts (one that missed and was replaced
 * does not; its replacement does).
 */
export function decideChallenge(assignedStake: bigint, attestations: readonly CountedAttestation[]): ChallengeDecision {
  const stakeOf = (verdict: Verdict) => attestations.filter((a) => a.verdict === verdict).reduce((sum, a) => sum + a.stake, 0n);
  const quorum = (stake: bigint) => assignedStake > 0n && 3n * stake >= 2n * assignedStake;
  if (quorum(stakeOf("pass"))) return { verdict: "pass", outcome: "pass" };
  const failing = attestations.filter((a) => a.verdict === "fail");
  if (quorum(stakeOf("fail"))) {
    const timedOut = failing.filter((a) => a.timeout).reduce((sum, a) => sum + a.stake, 0n);
    // Most of the failing stake saw silence: retry the piece rather than count it (containment).
    return { verdict: "fail", outcome: 2n * timedOut > stakeOf("fail") ? "timeout" : "fail" };
  }
  return { verdict: "undecided", outcome: "undecided" };
}

/** True when a fail attestation's signed reason says the node did not answer in time. */
export function isTimeoutReason(reason: string | undefined): boolean {
  return reason !== undefined && reason.startsWith("timeout");
}
