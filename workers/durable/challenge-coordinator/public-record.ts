// The public record of rounds (GET /api/v1/validators/rounds): enough to re-verify every verdict without trusting
// the edge — the commitment transaction, the seed block and seed, each challenge's signed assignment and, once
// the round is closed, every attestation with its signature. Blob ids and node URLs stay private.

import { epochRoot } from "./epochs.ts";
import { assignmentsOf, challengesOf, type RoundRow } from "./rounds.ts";
import type { CoordinatorStore } from "./schema.ts";

export interface PublicAttestation {
  validator: string;
  /** The operational key that signed it (authorized by `validator` in AuditLog). */
  operator: string;
  stake: string;
  verdict: "pass" | "fail";
  evidenceHash: string;
  signature: string;
  /** A fail's reason: its UTF-8 bytes hash to evidenceHash. */
  reason?: string;
}

export interface PublicChallenge {
  nodeId: string;
  pieceId: string;
  merkleRoot: string;
  leafCount: number;
  leafIndexes: number[];
  deadline: number | null;
  assignmentSignature: string | null;
  verdict: "pass" | "fail" | "undecided";
  attestations: PublicAttestation[];
  /** Validators assigned who never attested (replaced, or the round closed without them). */
  missed: string[];
}

export interface PublicRound {
  id: number;
  epoch: number;
  state: "open" | "closed";
  commitment: string;
  commitTx: string | null;
  commitBlock: number | null;
  seedBlock: number | null;
  seed: string | null;
  challenges: PublicChallenge[];
}

export function publicRound(store: CoordinatorStore, round: RoundRow): PublicRound {
  const closed = round.phase === "closed";
  const assignments = assignmentsOf(store, round.id);
  return {
    id: round.id,
    epoch: round.epoch,
    state: closed ? "closed" : "open",
    commitment: round.commitment,
    commitTx: round.commit_tx,
    commitBlock: round.commit_block,
    seedBlock: round.seed_block,
    seed: round.seed,
    challenges: challengesOf(store, round.id).map((c) => {
      const rows = assignments.filter((a) => a.idx === c.idx);
      const assignment = c.assignment ? (JSON.parse(c.assignment) as { deadline: number }) : undefined;
      return {
        nodeId: c.node_id,
        pieceId: c.piece_id,
        merkleRoot: c.merkle_root,
        leafCount: c.leaf_count,
        leafIndexes: c.leaf_indexes ? (JSON.parse(c.leaf_indexes) as number[]) : [],
        deadline: assignment?.deadline ?? null,
        assignmentSignature: c.assignment_signature,
        verdict: ((closed ? c.verdict : null) ?? "undecided") as PublicChallenge["verdict"],
        // Hidden until the round closes, so no validator can copy another's verdict.
        attestations: closed
          ? rows
              .filter((a) => a.state === "attested")
              .map((a) => ({
                validator: a.validator,
                operator: a.operator,
                stake: a.stake,
                verdict: a.verdict as "pass" | "fail",
                evidenceHash: a.evidence_hash!,
                signature: a.signature!,
                ...(a.reason ? { reason: a.reason } : {}),
              }))
          : [],
        missed: closed ? rows.filter((a) => a.state !== "attested").map((a) => a.validator) : [],
      };
    }),
  };
}

export function listPublicRounds(store: CoordinatorStore, limit: number): PublicRound[] {
  return store.sql
    .exec<RoundRow>("SELECT * FROM rounds ORDER BY id DESC LIMIT ?", limit)
    .toArray()
    .map((r) => publicRound(store, r));
}

export function findPublicRound(store: CoordinatorStore, id: number): PublicRound | undefined {
  const round = store.sql.exec<RoundRow>("SELECT * FROM rounds WHERE id = ?", id).toArray()[0];
  return round ? publicRound(store, round) : undefined;
}

export interface PublicEpoch {
  epoch: number;
  root: string | null;
  rounds: number;
  anchorTx: string | null;
  /** The verdict leaves in order ("round|pieceId|nodeId|verdict"), to recompute the root. */
  leaves: string[];
}

export async function publicEpoch(store: CoordinatorStore, epoch: number): Promise<PublicEpoch | undefined> {
  const anchored = store.sql.exec<{ root: string; rounds: number; anchor_tx: string | null }>("SELECT * FROM epochs WHERE epoch = ?", epoch).toArray()[0];
  const { root, rounds, leaves } = await epochRoot(store, epoch);
  if (!anchored && leaves.length === 0) return undefined;
  return { epoch, root: anchored?.root ?? root, rounds: anchored?.rounds ?? rounds, anchorTx: anchored?.anchor_tx ?? null, leaves };
}
