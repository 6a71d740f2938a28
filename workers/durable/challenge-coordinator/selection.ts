// Which pieces a round challenges, chosen before its seed exists (and committed to on chain with commitmentOf):
// pieces in containment first, then every node not yet challenged this epoch spread over the epoch's remaining
// rounds, then weighted picks (nodes still vetting, nodes that failed recently and nodes holding more are asked
// more often).

import type { Hex } from "viem";
import { auditableBlob, randomAuditableBlob, type AuditableNode } from "../../../src/db/audit-targets.ts";
import { leafCountOf, pieceIdOf, type Hex32 } from "../../../src/protocol/audit.ts";
import { hex } from "../../../src/protocol/crypto.ts";
import type { RoundContext } from "./rounds.ts";
import type { CoordinatorStore } from "./schema.ts";

export interface PickedChallenge {
  nodeId: string;
  nodeUrl: string;
  blobId: string;
  pieceId: Hex32;
  merkleRoot: string;
  leafCount: number;
}

export async function pickChallenges(c: RoundContext, nodes: AuditableNode[], epoch: number, roundsLeft: number): Promise<PickedChallenge[]> {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const picked: PickedChallenge[] = [];
  const add = async (node: AuditableNode, blobId?: string) => {
    if (picked.some((p) => p.nodeId === node.id)) return;
    const blob = blobId ? await auditableBlob(c.db, node.id, blobId) : await randomAuditableBlob(c.db, node.id);
    if (!blob) return;
    picked.push({
      nodeId: node.id,
      nodeUrl: node.url,
      blobId: blob.blobId,
      pieceId: await pieceIdOf(node.id, blob.blobId),
      merkleRoot: blob.merkleRoot,
      leafCount: leafCountOf(blob.bytes),
    });
  };

  for (const row of c.store.sql.exec<{ node_id: string; blob_id: string }>("SELECT node_id, blob_id FROM containment").toArray()) {
    const node = byId.get(row.node_id);
    if (node) await add(node, row.blob_id);
  }
  const covered = new Map(c.store.sql.exec<{ node_id: string; epoch: number }>("SELECT * FROM coverage").toArray().map((r) => [r.node_id, r.epoch]));
  const uncovered = shuffled(nodes.filter((n) => (covered.get(n.id) ?? 0) < epoch));
  const mustCover = Math.ceil(uncovered.length / Math.max(1, roundsLeft));
  for (const node of uncovered.slice(0, mustCover)) await add(node);

  const failures = recentFailures(c.store);
  const weights = nodes.map((n) => ({ node: n, weight: weightOf(n, failures.get(n.id) ?? 0) }));
  for (let tries = 0; picked.length < Math.min(c.config.challengesPerRound, nodes.length) && tries < 4 * nodes.length; tries++) {
    await add(weightedPick(weights.filter((w) => !picked.some((p) => p.nodeId === w.node.id))));
  }
  return picked;
}

/** Failed or timed-out challenges per node over its last ten closed challenges. */
function recentFailures(store: CoordinatorStore): Map<string, number> {
  const rows = store.sql
    .exec<{ node_id: string; failed: number }>(
      "SELECT node_id, SUM(outcome IN ('fail', 'timeout')) AS failed FROM (SELECT node_id, outcome, ROW_NUMBER() OVER (PARTITION BY node_id ORDER BY round_id DESC) AS n FROM challenges WHERE outcome IS NOT NULL) WHERE n <= 10 GROUP BY node_id",
    )
    .toArray();
  return new Map(rows.map((r) => [r.node_id, r.failed]));
}

const GIB = 1024 ** 3;

/** A node still vetting (it takes little new data meanwhile) is asked more often, so it leaves vetting sooner. */
function weightOf(node: AuditableNode, failures: number): number {
  const vetting = node.standing === "vetting" ? 2 : 0;
  return 1 + vetting + 3 * failures + Math.log2(1 + node.placedBytes / GIB);
}

function weightedPick(weights: { node: AuditableNode; weight: number }[]): AuditableNode {
  const total = weights.reduce((sum, w) => sum + w.weight, 0);
  let draw = Math.random() * total;
  for (const w of weights) if ((draw -= w.weight) < 0) return w.node;
  return weights[weights.length - 1]!.node;
}

function shuffled<T>(items: T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** SHA-256 over the round id and each challenge's node, piece, root and leaf count, in order. */
export async function commitmentOf(roundId: number, picked: PickedChallenge[]): Promise<Hex> {
  const text = [String(roundId), ...picked.map((p) => `${p.nodeId}|${p.pieceId}|${p.merkleRoot}|${p.leafCount}`)].join("\n");
  return `0x${hex(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)))}`;
}
