// Epochs: every AUDIT_ROUNDS_PER_EPOCH rounds, the Merkle root of the epoch's verdicts (one leaf per challenge,
// "round|pieceId|nodeId|verdict" in order) is anchored in AuditLog, so the audit history cannot be rewritten.

import type { Hex } from "viem";
import { hex } from "../../../src/protocol/crypto.ts";
import { merkleLeafHash, merkleRootOf } from "../../../src/protocol/merkle.ts";
import type { RoundContext } from "./rounds.ts";
import type { CoordinatorStore } from "./schema.ts";

/** The leaf of one verdict in its epoch's tree: round, piece, node and verdict, as UTF-8. */
export function verdictLeaf(roundId: number, pieceId: string, nodeId: string, verdict: string): string {
  return `${roundId}|${pieceId}|${nodeId}|${verdict}`;
}

export async function epochRoot(store: CoordinatorStore, epoch: number): Promise<{ root: Hex; rounds: number; leaves: string[] }> {
  const rows = store.sql
    .exec<{ round_id: number; piece_id: string; node_id: string; verdict: string }>(
      "SELECT c.round_id, c.piece_id, c.node_id, c.verdict FROM challenges c JOIN rounds r ON r.id = c.round_id WHERE r.epoch = ? AND r.phase = 'closed' ORDER BY c.round_id, c.idx",
      epoch,
    )
    .toArray();
  const leaves = rows.map((r) => verdictLeaf(r.round_id, r.piece_id, r.node_id, r.verdict));
  const rounds = new Set(rows.map((r) => r.round_id)).size;
  if (leaves.length === 0) return { root: `0x${"0".repeat(64)}`, rounds, leaves };
  const hashes = await Promise.all(leaves.map((l) => merkleLeafHash(new TextEncoder().encode(l))));
  return { root: `0x${hex(await merkleRootOf(hashes))}`, rounds, leaves };
}

/** Anchors every epoch whose last round has closed and that is not anchored yet (a failed anchor is retried). */
export async function anchorFinishedEpochs(c: RoundContext): Promise<void> {
  const finished = c.store.sql
    .exec<{ epoch: number }>(
      "SELECT DISTINCT r.epoch FROM rounds r WHERE r.phase = 'closed' AND r.id % ? = 0 AND NOT EXISTS (SELECT 1 FROM epochs e WHERE e.epoch = r.epoch AND e.anchor_tx IS NOT NULL) ORDER BY r.epoch",
      c.config.roundsPerEpoch,
    )
    .toArray();
  for (const { epoch } of finished) await anchorEpoch(c, epoch);
}

/** Anchors a finished epoch's verdict root on chain, once (a retry finds the anchor recorded). */
async function anchorEpoch(c: RoundContext, epoch: number): Promise<void> {
  const done = c.store.sql.exec<{ anchor_tx: string | null }>("SELECT anchor_tx FROM epochs WHERE epoch = ?", epoch).toArray()[0];
  if (done?.anchor_tx) return;
  const { root, rounds } = await epochRoot(c.store, epoch);
  c.store.sql.exec("INSERT INTO epochs (epoch, root, rounds) VALUES (?, ?, ?) ON CONFLICT (epoch) DO NOTHING", epoch, root, rounds);
  const tx = await c.chain.anchorEpoch(epoch, root, rounds);
  c.store.sql.exec("UPDATE epochs SET anchor_tx = ? WHERE epoch = ?", tx ?? "already-anchored", epoch);
  c.log("audit_epoch_anchored", { epoch, root, rounds, tx });
}
