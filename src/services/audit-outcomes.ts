// What a closed challenge round changes outside the coordinator: each node's audit reputation and standing (and
// through it placement, repair and the one slash of a disqualified node), and each validator's reputation and
// its daily counts (what settlement pays validators by). Called once per round by the coordinator's close step,
// and again if that step is retried: every write here is idempotent per round.

import { configOf } from "../config.ts";
import { openDb } from "../db/client.ts";
import { applyNodeRoundOutcomes, applyValidatorRoundOutcomes } from "../db/reputation.ts";
import type { Env } from "../env.ts";
import { settleDisqualificationSlashes } from "./disqualification-slash.ts";
import type { ValidatorOutcome } from "./reputation.ts";

export interface RoundOutcomes {
  /** One per challenge, in challenge order. Undecided challenges change nothing. */
  challenges: { nodeId: string; pieceId: string; outcome: "pass" | "fail" | "timeout" | "undecided" }[];
  /** One per validator assigned in the round: what each of its assignments came to. */
  validators: { validator: string; outcomes: ValidatorOutcome[] }[];
}

export interface AppliedRoundOutcomes {
  /** Pieces (by piece id) whose node timed out and that are to be challenged again (containment). */
  rechallenge: Set<string>;
}

export async function applyRoundOutcomes(env: Env, roundId: number, outcomes: RoundOutcomes, now: number): Promise<AppliedRoundOutcomes> {
  const db = openDb(env.DB);
  const params = configOf(env).reputation;
  const rechallenge = new Set<string>();
  const byNode = new Map<string, { pieceId: string; outcome: "pass" | "fail" | "timeout" }[]>();
  for (const c of outcomes.challenges) {
    if (c.outcome === "undecided") continue;
    byNode.set(c.nodeId, [...(byNode.get(c.nodeId) ?? []), { pieceId: c.pieceId, outcome: c.outcome }]);
  }
  for (const [nodeId, audits] of byNode) {
    const applied = await applyNodeRoundOutcomes(db, { roundId: String(roundId), nodeId, audits, params, now });
    for (const pieceId of applied.rechallenge) rechallenge.add(pieceId);
    if (applied.standing !== applied.previousStanding) {
      console.warn(JSON.stringify({ event: "node_standing_changed", nodeId, roundId, from: applied.previousStanding, to: applied.standing, auditScore: applied.auditScore }));
    }
  }
  for (const v of outcomes.validators) {
    await applyValidatorRoundOutcomes(db, { roundId: String(roundId), validator: v.validator, outcomes: v.outcomes, params, now, periodMinutes: configOf(env).finance.periodMinutes });
  }
  // A node disqualified by this round loses its stake's share now (once; a retry finds the slash recorded).
  const slashes = await settleDisqualificationSlashes(env, db, now);
  if (slashes.slashed.length + slashes.skipped.length + slashes.errors.length > 0) console.warn(JSON.stringify({ event: "disqualification_slashes", roundId, ...slashes }));
  return { rechallenge };
}
