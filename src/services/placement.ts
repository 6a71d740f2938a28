// Where a blob's replicas go: weighted rendezvous (highest-random-weight) hashing over placeable nodes.
// Each node scores weight / -ln(u) with u a hash of (node, blob) in (0,1); the highest scores win, so adding or
// removing a node only moves the blobs whose winner changed. Replicas prefer distinct zones, then distinct
// operators, and fall back to sharing only when there are not enough.

export interface PlacementCandidate {
  id: string;
  zone: string;
  operatorAddress: string;
  freeBytes: number;
}

/** Bytes kept free on every node beyond the blob itself, so a disk is never filled to the last block. */
export const PLACEMENT_HEADROOM_BYTES = 64 * 1024 * 1024;

/** Replicas that must fsync-acknowledge a write before it succeeds: a majority (2 of 3, 3 of 5). */
export function writeQuorum(replicationFactor: number): number {
  return Math.floor(replicationFactor / 2) + 1;
}

export function placeReplicas<T extends PlacementCandidate>(candidates: readonly T[], blobKey: string, size: number, count: number): T[] {
  const scored = candidates
    .filter((n) => n.freeBytes >= size + PLACEMENT_HEADROOM_BYTES)
    .map((node) => ({ node, score: rendezvousScore(node.id, blobKey, Math.max(node.freeBytes, 1)) }))
    .sort((a, b) => b.score - a.score)
    .map((s) => s.node);

  const chosen: T[] = [];
  const take = (accept: (n: T) => boolean) => {
    for (const node of scored) {
      if (chosen.length >= count) return;
      if (!chosen.includes(node) && accept(node)) chosen.push(node);
    }
  };
  take((n) => !chosen.some((c) => c.zone === n.zone || c.operatorAddress === n.operatorAddress));
  take((n) => !chosen.some((c) => c.zone === n.zone));
  take(() => true);
  return chosen;
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
