// Where a blob's replicas go: weighted rendezvous (highest-random-weight) hashing over placeable nodes,
// weighted by placeable bytes times reputation. Placeable bytes are what the node reports free on its disk, capped
// by what the edge's own account leaves of the capacity the operator registered (and staked for): a node's word
// about its disk can only lower its share, never raise it past what it signed up for.
// Each node scores weight / -ln(u) with u a hash of (node, blob) in (0,1); the highest scores win, so adding or
// removing a node only moves the blobs whose winner changed. Replicas prefer distinct zones, then distinct
// operators, and fall back to sharing only when there are not enough. A node still in audit vetting weighs a tenth
// (VETTING_PLACEMENT_WEIGHT): it takes a small share of new data while proven nodes can take the rest, yet still
// fills a stripe where there are no more nodes than the stripe needs (Storj gives unvetted nodes a small fraction too).

export interface PlacementCandidate {
  id: string;
  zone: string;
  operatorAddress: string;
  /** Free bytes on its disk, as its last heartbeat said. */
  freeBytes: number;
  /** The capacity the operator registered (and staked for). */
  capacityBytes: number;
  /** Bytes the edge has placed there and not deleted (src/db/placements.ts). */
  placedBytes: number;
  /** 0..1 track record (1 when unknown): weight = free capacity x reputation. */
  reputation?: number;
  /** Audit standing (src/services/reputation.ts); a vetting node weighs VETTING_PLACEMENT_WEIGHT as much. */
  standing?: string;
}

/** Placement weight of a node in audit vetting, relative to a vetted one. */
export const VETTING_PLACEMENT_WEIGHT = 0.1;

/** Bytes kept free on every node beyond the blob itself, so a disk is never filled to the last block. */
export const PLACEMENT_HEADROOM_BYTES = 64 * 1024 * 1024;

/** Replicas that must fsync-acknowledge a write before it succeeds: a majority (2 of 3, 3 of 5). */
export function writeQuorum(replicationFactor: number): number {
  return Math.floor(replicationFactor / 2) + 1;
}

/** Bytes the edge may still place on a node: its reported free space, capped by capacity minus placed bytes. */
export function placeableBytes(node: PlacementCandidate): number {
  return Math.max(0, Math.min(node.freeBytes, node.capacityBytes - node.placedBytes));
}

export function placeReplicas<T extends PlacementCandidate>(candidates: readonly T[], blobKey: string, size: number, count: number): T[] {
  return mostDiverse(rankFor(candidates, blobKey, size), count);
}

/** The candidates with room for `size` bytes, best first for this blob (weighted rendezvous order). */
function rankFor<T extends PlacementCandidate>(candidates: readonly T[], blobKey: string, size: number): T[] {
  return candidates
    .map((node) => ({ node, room: placeableBytes(node) }))
    .filter(({ room }) => room >= size + PLACEMENT_HEADROOM_BYTES)
    .map(({ node, room }) => ({ node, score: rendezvousScore(node.id, blobKey, Math.max(room * (node.reputation ?? 1) * (node.standing === "vetting" ? VETTING_PLACEMENT_WEIGHT : 1), 1)) }))
    .sort((a, b) => b.score - a.score)
    .map((s) => s.node);
}

/**
 * Nodes for the k+m pieces of an erasure-coded segment: like replicas, but no zone gets more than its share
 * (⌈count / zones⌉), so losing one whole zone loses at most that many pieces. Within the cap, distinct operators
 * are preferred; fewer nodes than `count` come back when the cap leaves too few (the write then waits for a quorum).
 */
export function placePieces<T extends PlacementCandidate>(candidates: readonly T[], blobKey: string, size: number, count: number): T[] {
  const ranked = rankFor(candidates, blobKey, size);
  const zones = new Set(ranked.map((n) => n.zone)).size;
  const cap = Math.max(1, Math.ceil(count / Math.max(1, zones)));
  const chosen: T[] = [];
  const perZone = new Map<string, number>();
  const operators = new Set<string>();
  // Two passes: first a new operator in a zone under its cap, then any node in a zone under its cap.
  for (const fresh of [true, false]) {
    for (const node of ranked) {
      if (chosen.length === count) break;
      if (chosen.includes(node) || (perZone.get(node.zone) ?? 0) >= cap || (fresh && operators.has(node.operatorAddress))) continue;
      chosen.push(node);
      perZone.set(node.zone, (perZone.get(node.zone) ?? 0) + 1);
      operators.add(node.operatorAddress);
    }
  }
  return chosen;
}

/**
 * Among the best-ranked candidates, the set of `count` that spans the most zones, then the most operators,
 * preferring higher-ranked nodes on ties (depth-first in rank order, so the first best set found wins).
 * Greedy choice alone can paint itself into a corner (two nodes of one operator left for the last zone).
 */
function mostDiverse<T extends PlacementCandidate>(ranked: T[], count: number): T[] {
  const pool = ranked.slice(0, count <= 3 ? 40 : 20);
  const target = Math.min(count, pool.length);
  const maxZones = Math.min(target, new Set(pool.map((n) => n.zone)).size);
  const maxOperators = Math.min(target, new Set(pool.map((n) => n.operatorAddress)).size);
  let best: T[] = pool.slice(0, target);
  let bestScore = -1;
  const score = (set: T[]) => new Set(set.map((n) => n.zone)).size * 1000 + new Set(set.map((n) => n.operatorAddress)).size;
  const ideal = maxZones * 1000 + maxOperators;
  const chosen: T[] = [];
  const search = (from: number): boolean => {
    if (chosen.length === target) {
      const s = score(chosen);
      if (s > bestScore) {
        bestScore = s;
        best = [...chosen];
      }
      return s === ideal;
    }
    for (let i = from; i <= pool.length - (target - chosen.length); i++) {
      chosen.push(pool[i]!);
      const done = search(i + 1);
      chosen.pop();
      if (done) return true;
    }
    return false;
  };
  search(0);
  return best;
}

function rendezvousScore(nodeId: string, blobKey: string, weight: number): number {
  const u = (fnv1a53(`${nodeId}\u0000${blobKey}`) + 0.5) / 2 ** 53;
  return weight / -Math.log(u);
}

/** FNV-1a folded to 53 bits: a fast, stable, well-spread hash that fits a JS number exactly. */
function fnv1a53(input: string): number {
  let h1 = 0x811c9dc5;
  let h2 = 0x050c5d1f;
  for (let i = 0; i < input.length; i++) {
    const c = input.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x01000193) ^ (h1 >>> 15);
  }
  return (h2 >>> 0) * 2 ** 21 + ((h1 >>> 0) & 0x1fffff);
}
