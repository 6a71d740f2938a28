// Reputation of nodes and validators from audit outcomes: pure functions, no I/O (src/db/reputation.ts stores it).
//
// Audit and online scores are Storj's beta reputation: a success adds the weight w to alpha, a failure adds it to
// beta, and both first decay by the forgetting factor lambda, so old outcomes fade; the score is alpha/(alpha+beta)
// (storj/storj satellite/reputation/calculations.go `UpdateReputation`). Storj's tuned parameters are lambda 0.999,
// a new node starting at alpha = 1/(1-lambda) = 1000, beta 0, and disqualification below 0.96: starting at the
// all-success steady state keeps one early failure from sinking a new node, and from a perfect score it takes
// about 40 failures in a row to reach 0.96 (forum.storj.io/t/tuning-audit-scoring/14084/77). With alpha+beta at
// that steady state, each outcome moves the score by (1-lambda)·w: after n failures in a row it is lambda^n.
//
// Containment (Storj's containment mode): a timeout is not yet a failure. The same piece is challenged again in
// later rounds, up to `containmentRetries` times; only when every try timed out does it count as one failed
// audit. A slow disk is not a lying disk, and a timeout cannot be used to dodge a piece the node lost.

import type { NodeStanding } from "../protocol/node-protocol.ts";

// A node's standing, separate from its operational status in the registry (active/draining/offline/suspended);
// defined with the heartbeat answer that carries it to the node.
export { NODE_STANDINGS, type NodeStanding } from "../protocol/node-protocol.ts";

/** Standings whose node gets no new data and whose pieces the repair chore moves elsewhere. */
export const EXCLUDED_STANDINGS: readonly NodeStanding[] = ["suspended", "disqualified"];

export interface ReputationParams {
  /** Forgetting factor, 0 < lambda <= 1. */
  lambda: number;
  /** Weight of one outcome. */
  weight: number;
  /** alpha of a node or validator with no history (beta starts at 0). */
  initialAlpha: number;
  /** Below this audit score a node is warned. */
  warnBelow: number;
  /** Below this audit score a node is suspended (no new data, pieces repaired away). */
  suspendBelow: number;
  /** Below this audit score a node is disqualified, for good. */
  disqualifyBelow: number;
  /** An audit suspension lifts once the score is back at suspendBelow + this margin (no flapping at the line). */
  suspensionRecoveryMargin: number;
  /** Passed audits before a new node leaves vetting. */
  vettingAudits: number;
  /** Times a timed-out piece is challenged again before the timeouts count as one failed audit. */
  containmentRetries: number;
}

/** A beta reputation: score = alpha / (alpha + beta). */
export interface BetaReputation {
  alpha: number;
  beta: number;
}

export function initialReputation(params: Pick<ReputationParams, "initialAlpha">): BetaReputation {
  return { alpha: params.initialAlpha, beta: 0 };
}

/** One outcome: alpha' = lambda·alpha + w on success (beta' = lambda·beta), the mirror on failure. */
export function updateBeta(r: BetaReputation, success: boolean, params: Pick<ReputationParams, "lambda" | "weight">): BetaReputation {
  const { lambda, weight } = params;
  return success ? { alpha: lambda * r.alpha + weight, beta: lambda * r.beta } : { alpha: lambda * r.alpha, beta: lambda * r.beta + weight };
}

export function scoreOf(r: BetaReputation): number {
  const total = r.alpha + r.beta;
  return total > 0 ? r.alpha / total : 1;
}

// ---- Nodes

export interface NodeReputation {
  standing: NodeStanding;
  audit: BetaReputation;
  online: BetaReputation;
  /** Audits counted as passed / failed (a contained timeout counts as neither until it resolves). */
  passed: number;
  failed: number;
  /** Challenges the node did not answer in time (each one, contained or not). */
  timeouts: number;
}

export function newNodeReputation(params: ReputationParams): NodeReputation {
  return { standing: "vetting", audit: initialReputation(params), online: initialReputation(params), passed: 0, failed: 0, timeouts: 0 };
}

/**
 * What validators concluded about one challenge: "pass" (a proof that verifies), "fail" (an answer that does not
 * verify, or a refusal), "timeout" (no answer before the deadline). An undecided challenge (no 2/3 quorum) is not
 * an outcome: the coordinator does not pass it here.
 */
export type AuditOutcome = "pass" | "fail" | "timeout";

export interface AuditResult {
  outcome: AuditOutcome;
  /** Earlier consecutive timeouts on this same piece still under containment (0 when none). */
  containedTimeouts: number;
}

export interface AppliedAudit {
  reputation: NodeReputation;
  /** How the audit counted: a contained timeout counts as neither pass nor fail yet. */
  counted: "pass" | "fail" | "contained";
  /** Consecutive timeouts to keep on record for this piece; 0 clears its containment. */
  containedTimeouts: number;
  /** True when the coordinator must challenge this same piece again in a later round. */
  rechallenge: boolean;
}

/** Applies one audit's outcome to a node's scores and counts (the standing is re-judged by judgeStanding). */
export function applyAudit(rep: NodeReputation, result: AuditResult, params: ReputationParams): AppliedAudit {
  // Answering at all, right or wrong, is being online; only a timeout is not.
  const online = updateBeta(rep.online, result.outcome !== "timeout", params);
  if (result.outcome === "timeout") {
    const timeouts = result.containedTimeouts + 1;
    if (timeouts <= params.containmentRetries) {
      return { reputation: { ...rep, online, timeouts: rep.timeouts + 1 }, counted: "contained", containedTimeouts: timeouts, rechallenge: true };
    }
    const audit = updateBeta(rep.audit, false, params);
    return { reputation: { ...rep, online, audit, failed: rep.failed + 1, timeouts: rep.timeouts + 1 }, counted: "fail", containedTimeouts: 0, rechallenge: false };
  }
  const pass = result.outcome === "pass";
  const audit = updateBeta(rep.audit, pass, params);
  const reputation = { ...rep, online, audit, passed: rep.passed + (pass ? 1 : 0), failed: rep.failed + (pass ? 0 : 1) };
  return { reputation, counted: pass ? "pass" : "fail", containedTimeouts: 0, rechallenge: false };
}

/**
 * The standing the scores call for, from the one before. Disqualified is final. A suspension for audits lifts
 * only once the score is back at suspendBelow + margin. Below that, warned when under warnBelow, vetting until
 * `vettingAudits` passed audits, else active. (An admin's suspension is the registry status, not a standing: it is
 * neither set nor lifted here.)
 */
export function judgeStanding(previous: NodeStanding, rep: Pick<NodeReputation, "audit" | "passed">, params: ReputationParams): NodeStanding {
  if (previous === "disqualified") return "disqualified";
  const score = scoreOf(rep.audit);
  if (score < params.disqualifyBelow) return "disqualified";
  if (previous === "suspended" ? score < params.suspendBelow + params.suspensionRecoveryMargin : score < params.suspendBelow) return "suspended";
  if (score < params.warnBelow) return "warned";
  return rep.passed < params.vettingAudits ? "vetting" : "active";
}

export interface NodeRoundResult {
  reputation: NodeReputation;
  /** Per challenged piece, in the order given: how it counted and whether to challenge it again. */
  audits: (AppliedAudit & { pieceId: string })[];
  /** The standing before this round, to tell a change (and a fresh disqualification) from none. */
  previousStanding: NodeStanding;
}

/** Applies all of one round's audits of one node in order, then re-judges its standing once. */
export function applyNodeRound(
  rep: NodeReputation,
  audits: readonly (AuditResult & { pieceId: string })[],
  params: ReputationParams,
): NodeRoundResult {
  let current = rep;
  const applied: NodeRoundResult["audits"] = [];
  for (const audit of audits) {
    const step = applyAudit(current, audit, params);
    current = step.reputation;
    applied.push({ ...step, pieceId: audit.pieceId });
  }
  return { reputation: { ...current, standing: judgeStanding(rep.standing, current, params) }, audits: applied, previousStanding: rep.standing };
}

// ---- Validators: reputation only, never stake (slashing needs objective evidence; see the coordinator).

/**
 * One assignment's outcome for a validator: "agreed" (its attestation matched the verdict), "minority" (it attested
 * against the verdict), "missed" (no valid attestation by the deadline), "undecided" (it attested but no verdict
 * reached a quorum: completed, neither right nor wrong).
 */
export type ValidatorOutcome = "agreed" | "minority" | "missed" | "undecided";

export interface ValidatorReputation {
  score: BetaReputation;
  completed: number;
  agreed: number;
  minority: number;
  missed: number;
}

export function newValidatorReputation(params: ReputationParams): ValidatorReputation {
  return { score: initialReputation(params), completed: 0, agreed: 0, minority: 0, missed: 0 };
}

export function applyValidatorOutcome(rep: ValidatorReputation, outcome: ValidatorOutcome, params: ReputationParams): ValidatorReputation {
  switch (outcome) {
    case "agreed":
      return { ...rep, score: updateBeta(rep.score, true, params), completed: rep.completed + 1, agreed: rep.agreed + 1 };
    case "minority":
      return { ...rep, score: updateBeta(rep.score, false, params), completed: rep.completed + 1, minority: rep.minority + 1 };
    case "missed":
      return { ...rep, score: updateBeta(rep.score, false, params), missed: rep.missed + 1 };
    case "undecided":
      return { ...rep, completed: rep.completed + 1 };
  }
}
