// The life of a challenge round, one idempotent step per phase (the Durable Object's alarm runs `advance` until
// it says when to come back):
//
//   open        pick the pieces (every active node at least once per epoch, more often when new, recently
//               failed or holding more), and commit to that list on chain before any seed exists
//   committing  the commitment's block is recorded (a retried step reads it back, never commits twice)
//   seeding     once the block `seedDelayBlocks` later is mined its hash is the seed: leaf indexes follow, the
//               edge signs each challenge's assignment, and stake-weighted validators drawn from the seed get it
//   collecting  attestations arrive over the validators' sockets (attestations.ts); at the half-way mark a
//               validator that has not attested is replaced by the next one the seed drew
//   closing     verdicts by two thirds of the assigned stake, misconduct slashed, reputation applied, containment
//               and coverage updated; the last round of an epoch anchors the epoch's verdict root (epochs.ts)
//
// Which pieces a round challenges is selection.ts.
//
// Steps that talk to the chain or to D1 run outside SQLite transactions; what they learn is written in one
// synchronous transaction together with the phase change, so a crash between the two repeats the step.

import type { Hex } from "viem";
import { listAuditableNodes } from "../../../src/db/audit-targets.ts";
import type { Db } from "../../../src/db/client.ts";
import { leafIndexesFor, validatorOrderFor, type Assignment, type Hex32 } from "../../../src/protocol/audit.ts";
import type { AuditConfig } from "../../../src/config.ts";
import type { AppliedRoundOutcomes, RoundOutcomes } from "../../../src/services/audit-outcomes.ts";
import { decideChallenge, isTimeoutReason, type CountedAttestation } from "../../../src/services/audit-verdicts.ts";
import type { ValidatorOutcome } from "../../../src/services/reputation.ts";
import type { AuditChain, StakedValidator } from "./audit-chain.ts";
import { anchorFinishedEpochs } from "./epochs.ts";
import type { CoordinatorStore, RoundPhase } from "./schema.ts";
import { commitmentOf, pickChallenges } from "./selection.ts";

export interface RoundContext {
  store: CoordinatorStore;
  db: Db;
  chain: AuditChain;
  config: AuditConfig;
  now: number;
  sign(assignment: Assignment): Promise<Hex>;
  /** Sends an assignment to a validator's live session; false when it has none. */
  deliver(validator: string, message: AssignmentDelivery): boolean;
  isConnected(validator: string): boolean;
  /** Applies a closed round's outcomes to reputation (idempotent per round). */
  applyOutcomes(roundId: number, outcomes: RoundOutcomes): Promise<AppliedRoundOutcomes>;
  log(event: string, fields: Record<string, unknown>): void;
}

export interface AssignmentDelivery {
  assignment: Assignment;
  signature: Hex;
  blobId: string;
  nodeUrl: string;
}

export type RoundRow = {
  id: number;
  epoch: number;
  phase: RoundPhase;
  opened_at: number;
  commitment: string;
  commit_tx: string | null;
  commit_block: number | null;
  seed_block: number | null;
  seed: string | null;
  replace_at: number | null;
  deadline: number | null;
  closed_at: number | null;
};

export type ChallengeRow = {
  round_id: number;
  idx: number;
  node_id: string;
  node_url: string;
  blob_id: string;
  piece_id: string;
  merkle_root: string;
  leaf_count: number;
  leaf_indexes: string | null;
  assignment: string | null;
  assignment_signature: string | null;
  verdict: string | null;
  outcome: string | null;
};

export type AssignmentRow = {
  round_id: number;
  idx: number;
  validator: string;
  operator: string;
  stake: string;
  /** assigned -> attested; assigned -> missed (replaced when another validator is left). */
  state: "assigned" | "attested" | "missed";
  /** 1 once the assignment reached the validator's session (0: it is sent when the validator logs in). */
  delivered: number;
  verdict: string | null;
  evidence_hash: string | null;
  signature: string | null;
  reason: string | null;
  received_at: number | null;
};

export function currentRound(store: CoordinatorStore): RoundRow | undefined {
  return store.sql.exec<RoundRow>("SELECT * FROM rounds WHERE phase != 'closed' ORDER BY id LIMIT 1").toArray()[0];
}

export function lastRound(store: CoordinatorStore): RoundRow | undefined {
  return store.sql.exec<RoundRow>("SELECT * FROM rounds ORDER BY id DESC LIMIT 1").toArray()[0];
}

export function challengesOf(store: CoordinatorStore, roundId: number): ChallengeRow[] {
  return store.sql.exec<ChallengeRow>("SELECT * FROM challenges WHERE round_id = ? ORDER BY idx", roundId).toArray();
}

export function assignmentsOf(store: CoordinatorStore, roundId: number): AssignmentRow[] {
  return store.sql.exec<AssignmentRow>("SELECT * FROM assignments WHERE round_id = ? ORDER BY idx, validator", roundId).toArray();
}

/** When the next round is due: one interval after the last one opened (now when there was none). */
export function nextRoundDue(store: CoordinatorStore, config: AuditConfig): number {
  const last = lastRound(store);
  return last ? last.opened_at + config.roundIntervalMs : 0;
}

// ---- open ----

/** Opens a round: picks its pieces and records the commitment to them. Undefined when nothing is auditable. */
export async function openRound(c: RoundContext): Promise<RoundRow | undefined> {
  const last = lastRound(c.store);
  const id = (last?.id ?? 0) + 1;
  const epoch = Math.floor((id - 1) / c.config.roundsPerEpoch) + 1;
  const roundInEpoch = (id - 1) % c.config.roundsPerEpoch;
  const nodes = await listAuditableNodes(c.db);
  if (nodes.length === 0) return undefined;

  const picked = await pickChallenges(c, nodes, epoch, c.config.roundsPerEpoch - roundInEpoch);
  if (picked.length === 0) return undefined;
  const commitment = await commitmentOf(id, picked);
  c.store.transactionSync(() => {
    c.store.sql.exec("INSERT INTO rounds (id, epoch, phase, opened_at, commitment) VALUES (?, ?, 'committing', ?, ?)", id, epoch, c.now, commitment);
    picked.forEach((p, idx) =>
      c.store.sql.exec(
        "INSERT INTO challenges (round_id, idx, node_id, node_url, blob_id, piece_id, merkle_root, leaf_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        id, idx, p.nodeId, p.nodeUrl, p.blobId, p.pieceId, p.merkleRoot, p.leafCount,
      ),
    );
  });
  c.log("audit_round_opened", { roundId: id, epoch, challenges: picked.length });
  return currentRound(c.store);
}

// ---- advance ----

/** Runs the current round's next steps; returns when to be called again (edge ms), or undefined when idle. */
export async function advance(c: RoundContext, round: RoundRow): Promise<number> {
  switch (round.phase) {
    case "committing": {
      const { txHash, blockNumber } = await c.chain.commitRound(round.id, round.commitment as Hex);
      const seedBlock = Number(blockNumber) + Number(c.config.seedDelayBlocks);
      c.store.sql.exec("UPDATE rounds SET commit_tx = ?, commit_block = ?, seed_block = ?, phase = 'seeding' WHERE id = ? AND phase = 'committing'", txHash ?? null, Number(blockNumber), seedBlock, round.id);
      c.log("audit_round_committed", { roundId: round.id, commitTx: txHash, commitBlock: Number(blockNumber), seedBlock });
      return c.now;
    }
    case "seeding":
      return seedAndAssign(c, round);
    case "collecting":
      if (c.now >= (round.deadline ?? 0) || allAttested(c.store, round.id)) {
        c.store.sql.exec("UPDATE rounds SET phase = 'closing' WHERE id = ? AND phase = 'collecting'", round.id);
        return c.now;
      }
      if (c.now >= (round.replace_at ?? 0)) {
        await replaceMissing(c, round);
        return round.deadline!;
      }
      return round.replace_at!;
    case "closing":
      await closeRound(c, round);
      return c.now;
    case "closed":
      return c.now;
  }
}

async function seedAndAssign(c: RoundContext, round: RoundRow): Promise<number> {
  const seedBlock = BigInt(round.seed_block!);
  const head = await c.chain.headBlock();
  if (head < seedBlock) return c.now + 1000;
  const seed = (await c.chain.blockHash(seedBlock)) as Hex32 | undefined;
  if (!seed) return c.now + 1000;
  const validators = await c.chain.validators();
  const deadline = c.now + 2 * c.config.responseMs;
  const challenges = challengesOf(c.store, round.id);
  const prepared: { challenge: ChallengeRow; assignment: Assignment; signature: Hex; chosen: StakedValidator[] }[] = [];
  for (const challenge of challenges) {
    const leafIndexes = await leafIndexesFor(seed, challenge.piece_id as Hex32, challenge.leaf_count, c.config.leavesPerChallenge);
    const assignment: Assignment = {
      roundId: round.id,
      nodeId: challenge.node_id,
      pieceId: challenge.piece_id,
      merkleRoot: challenge.merkle_root,
      leafCount: challenge.leaf_count,
      leafIndexes,
      seed,
      deadline: Math.ceil(deadline / 1000),
    };
    const order = await validatorOrderFor(seed, challenge.piece_id as Hex32, validators);
    prepared.push({ challenge, assignment, signature: await c.sign(assignment), chosen: order });
  }
  c.store.transactionSync(() => {
    c.store.sql.exec("UPDATE rounds SET seed = ?, phase = 'collecting', replace_at = ?, deadline = ? WHERE id = ?", seed, c.now + c.config.responseMs, deadline, round.id);
    for (const p of prepared) {
      c.store.sql.exec(
        "UPDATE challenges SET leaf_indexes = ?, assignment = ?, assignment_signature = ? WHERE round_id = ? AND idx = ?",
        JSON.stringify(p.assignment.leafIndexes), JSON.stringify(p.assignment), p.signature, round.id, p.challenge.idx,
      );
    }
  });
  // The first validators the seed drew that hold a live session are asked; one drawn before them without a session
  // counts as missed. When too few are connected (the edge just restarted, say) the first drawn are assigned all
  // the same and get the assignment as soon as they log in (deliverPending); the half-way mark replaces any that
  // never do.
  for (const p of prepared) {
    const delivery = { assignment: p.assignment, signature: p.signature, blobId: p.challenge.blob_id, nodeUrl: p.challenge.node_url };
    const live = p.chosen.filter((v) => c.isConnected(v.address));
    const wanted = c.config.validatorsPerChallenge;
    const rows: { v: StakedValidator; state: "assigned" | "missed"; delivered: boolean }[] = [];
    if (live.length >= wanted) {
      const last = p.chosen.indexOf(live[wanted - 1]!);
      for (const v of p.chosen.slice(0, last + 1)) rows.push({ v, state: live.includes(v) ? "assigned" : "missed", delivered: false });
    } else {
      const offline = p.chosen.filter((v) => !live.includes(v)).slice(0, wanted - live.length);
      for (const v of p.chosen) if (live.includes(v) || offline.includes(v)) rows.push({ v, state: "assigned", delivered: false });
    }
    for (const row of rows) {
      row.delivered = row.state === "assigned" && c.deliver(row.v.address, delivery);
      c.store.sql.exec(
        "INSERT OR IGNORE INTO assignments (round_id, idx, validator, operator, stake, state, delivered) VALUES (?, ?, ?, ?, ?, ?, ?)",
        round.id, p.challenge.idx, row.v.address.toLowerCase(), row.v.operator.toLowerCase(), row.v.stake.toString(), row.state, row.delivered ? 1 : 0,
      );
    }
  }
  c.log("audit_round_assigned", { roundId: round.id, seed, validators: validators.length });
  return c.now;
}

/** Sends a validator that just logged in the assignments of the collecting round it has not received yet. */
export function deliverPending(store: CoordinatorStore, validator: string, deliver: (message: AssignmentDelivery) => boolean): number {
  const round = store.sql.exec<RoundRow>("SELECT * FROM rounds WHERE phase = 'collecting' ORDER BY id LIMIT 1").toArray()[0];
  if (!round) return 0;
  const pending = store.sql
    .exec<ChallengeRow>(
      "SELECT c.* FROM challenges c JOIN assignments a ON a.round_id = c.round_id AND a.idx = c.idx WHERE a.round_id = ? AND a.validator = ? AND a.state = 'assigned' AND a.delivered = 0",
      round.id, validator,
    )
    .toArray();
  let sent = 0;
  for (const challenge of pending) {
    if (!deliver({ assignment: JSON.parse(challenge.assignment!), signature: challenge.assignment_signature as Hex, blobId: challenge.blob_id, nodeUrl: challenge.node_url })) break;
    store.sql.exec("UPDATE assignments SET delivered = 1 WHERE round_id = ? AND idx = ? AND validator = ?", round.id, challenge.idx, validator);
    sent++;
  }
  return sent;
}

function allAttested(store: CoordinatorStore, roundId: number): boolean {
  const [row] = store.sql.exec<{ open: number; total: number }>("SELECT SUM(state = 'assigned') AS open, COUNT(*) AS total FROM assignments WHERE round_id = ?", roundId).toArray();
  return (row?.total ?? 0) > 0 && (row?.open ?? 0) === 0;
}

/** Validators that have not attested by the half-way mark are marked missed, and the next drawn ones asked. */
async function replaceMissing(c: RoundContext, round: RoundRow): Promise<void> {
  const validators = await c.chain.validators();
  for (const challenge of challengesOf(c.store, round.id)) {
    const rows = c.store.sql.exec<AssignmentRow>("SELECT * FROM assignments WHERE round_id = ? AND idx = ?", round.id, challenge.idx).toArray();
    const late = rows.filter((r) => r.state === "assigned");
    if (late.length === 0) continue;
    c.store.sql.exec("UPDATE assignments SET state = 'missed' WHERE round_id = ? AND idx = ? AND state = 'assigned'", round.id, challenge.idx);
    const used = new Set(rows.map((r) => r.validator));
    const order = (await validatorOrderFor(round.seed as Hex32, challenge.piece_id as Hex32, validators)).filter((v) => !used.has(v.address.toLowerCase()));
    let asked = 0;
    for (const v of order) {
      if (asked === late.length) break;
      const delivered = c.deliver(v.address, { assignment: JSON.parse(challenge.assignment!), signature: challenge.assignment_signature as Hex, blobId: challenge.blob_id, nodeUrl: challenge.node_url });
      if (!delivered) continue;
      c.store.sql.exec(
        "INSERT OR IGNORE INTO assignments (round_id, idx, validator, operator, stake, state, delivered) VALUES (?, ?, ?, ?, ?, 'assigned', 1)",
        round.id, challenge.idx, v.address.toLowerCase(), v.operator.toLowerCase(), v.stake.toString(),
      );
      asked++;
    }
    c.log("audit_validators_replaced", { roundId: round.id, pieceId: challenge.piece_id, missed: late.map((r) => r.validator), replacements: asked });
  }
  c.store.sql.exec("UPDATE rounds SET replace_at = deadline WHERE id = ?", round.id);
}

// ---- close ----

async function closeRound(c: RoundContext, round: RoundRow): Promise<void> {
  const challenges = challengesOf(c.store, round.id);
  const assignments = assignmentsOf(c.store, round.id);
  const misconduct = c.store.sql.exec<{ idx: number; validator: string; kind: string; slash_tx: string | null }>("SELECT idx, validator, kind, slash_tx FROM misconduct WHERE round_id = ?", round.id).toArray();
  const excluded = new Set(misconduct.filter((m) => m.kind === "invalid-pass").map((m) => `${m.idx}/${m.validator}`));

  // Objective misconduct is slashed first, each once (its transaction is recorded before anything else moves).
  for (const m of misconduct.filter((row) => row.slash_tx === null)) {
    const stake = BigInt(assignments.find((a) => a.idx === m.idx && a.validator === m.validator)?.stake ?? "0");
    const amount = (stake * BigInt(c.config.validatorSlashBps)) / 10_000n;
    const tx = amount > 0n ? await c.chain.slashValidator(m.validator, amount, `audit:${m.kind}`) : "none";
    c.store.sql.exec("UPDATE misconduct SET slash_tx = ? WHERE round_id = ? AND idx = ? AND validator = ? AND kind = ?", tx, round.id, m.idx, m.validator, m.kind);
    c.log("audit_validator_slashed", { roundId: round.id, validator: m.validator, kind: m.kind, amount: amount.toString(), tx });
  }

  const outcomes: RoundOutcomes = { challenges: [], validators: [] };
  const perValidator = new Map<string, ValidatorOutcome[]>();
  const decided: { idx: number; verdict: string; outcome: string }[] = [];
  for (const challenge of challenges) {
    const rows = assignments.filter((a) => a.idx === challenge.idx);
    const counted = rows.filter((a) => a.state !== "missed");
    const attested: CountedAttestation[] = counted
      .filter((a) => a.state === "attested" && !excluded.has(`${a.idx}/${a.validator}`))
      .map((a) => ({ validator: a.validator, stake: BigInt(a.stake), verdict: a.verdict as "pass" | "fail", timeout: isTimeoutReason(a.reason ?? undefined) }));
    const assignedStake = counted.reduce((sum, a) => sum + BigInt(a.stake), 0n);
    const decision = decideChallenge(assignedStake, attested);
    decided.push({ idx: challenge.idx, verdict: decision.verdict, outcome: decision.outcome });
    outcomes.challenges.push({ nodeId: challenge.node_id, pieceId: challenge.piece_id, outcome: decision.outcome });
    for (const a of rows) {
      const outcome: ValidatorOutcome =
        a.state !== "attested" ? "missed" : excluded.has(`${a.idx}/${a.validator}`) ? "minority" : decision.verdict === "undecided" ? "undecided" : a.verdict === decision.verdict ? "agreed" : "minority";
      perValidator.set(a.validator, [...(perValidator.get(a.validator) ?? []), outcome]);
    }
  }
  for (const [validator, list] of perValidator) outcomes.validators.push({ validator, outcomes: list });

  // Reputation decides containment: a timed-out piece it wants asked again is challenged in a later round.
  const { rechallenge } = await c.applyOutcomes(round.id, outcomes);

  c.store.transactionSync(() => {
    for (const d of decided) c.store.sql.exec("UPDATE challenges SET verdict = ?, outcome = ? WHERE round_id = ? AND idx = ?", d.verdict, d.outcome, round.id, d.idx);
    for (const challenge of challenges) {
      if (rechallenge.has(challenge.piece_id)) {
        c.store.sql.exec("INSERT OR IGNORE INTO containment (node_id, blob_id) VALUES (?, ?)", challenge.node_id, challenge.blob_id);
      } else {
        c.store.sql.exec("DELETE FROM containment WHERE node_id = ? AND blob_id = ?", challenge.node_id, challenge.blob_id);
      }
      c.store.sql.exec("INSERT INTO coverage (node_id, epoch) VALUES (?, ?) ON CONFLICT (node_id) DO UPDATE SET epoch = max(epoch, excluded.epoch)", challenge.node_id, round.epoch);
    }
    // Evidence of honest passes was checked on arrival; only misconduct keeps its proof (misconduct.detail).
    c.store.sql.exec("UPDATE assignments SET evidence = NULL WHERE round_id = ?", round.id);
    c.store.sql.exec("UPDATE rounds SET phase = 'closed', closed_at = ? WHERE id = ?", c.now, round.id);
  });
  c.log("audit_round_closed", { roundId: round.id, verdicts: decided.map((d) => d.verdict) });
  await anchorFinishedEpochs(c);
}
