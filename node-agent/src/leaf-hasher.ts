// The Merkle tree of a blob cut into fixed-size leaves (src/protocol/merkle.ts), computed while the blob streams
// in: each leaf is hashed as its bytes arrive (never held whole); only the 32-byte leaf hashes are kept (1/2048 of
// the blob at 64 KiB leaves), and at the end every level is built from them, so the tree can be stored beside the
// blob and a storage proof's path read from it (node-agent/src/piece-tree.ts).

import { createHash, type Hash } from "node:crypto";
import { MERKLE_HASH_BYTES } from "../../src/protocol/merkle.ts";

/** Every level of a tree, bottom-up: level 0 the leaf hashes, the last level the root, each 32-byte hashes back to back. */
export type MerkleLevels = Buffer[];

export class LeafHasher {
  readonly leafBytes: number;
  private readonly leafHashes: Buffer[] = [];
  private leaf: Hash | undefined;
  private filled = 0;
  private levels: MerkleLevels | undefined;

  constructor(leafBytes: number) {
    this.leafBytes = leafBytes;
  }

  update(chunk: Uint8Array): void {
    if (this.levels !== undefined) throw new Error("the tree is already finished");
    let offset = 0;
    while (offset < chunk.length) {
      if (this.leaf === undefined) {
        // RFC 6962 leaf hash: SHA-256(0x00 || leaf).
        this.leaf = createHash("sha256").update(LEAF_PREFIX);
        this.filled = 0;
      }
      const take = Math.min(this.leafBytes - this.filled, chunk.length - offset);
      this.leaf.update(chunk.subarray(offset, offset + take));
      this.filled += take;
      offset += take;
      if (this.filled === this.leafBytes) this.closeLeaf();
    }
  }

  /** Every level of the tree; a last partial leaf counts as a leaf. An empty blob has no tree. */
  tree(): MerkleLevels | undefined {
    if (this.levels === undefined) {
      if (this.leaf !== undefined) this.closeLeaf();
      if (this.leafHashes.length === 0) return undefined;
      this.levels = levelsOf(Buffer.concat(this.leafHashes));
    }
    return this.levels;
  }

  /** The root (hex), or undefined for an empty blob. */
  root(): string | undefined {
    return this.tree()?.at(-1)!.toString("hex");
  }

  private closeLeaf(): void {
    this.leafHashes.push(this.leaf!.digest());
    this.leaf = undefined;
  }
}

/** The number of hashes on each level of an n-leaf tree, bottom-up (an odd last node is promoted, merkle.ts). */
export function levelWidths(leafCount: number): number[] {
  const widths = [leafCount];
  for (let w = leafCount; w > 1; ) widths.push((w = (w + 1) >> 1));
  return widths;
}

/** Builds every level over the leaf hashes with the byte rules of src/protocol/merkle.ts. */
function levelsOf(leafHashes: Buffer): MerkleLevels {
  const levels = [leafHashes];
  for (let below = leafHashes; below.length > MERKLE_HASH_BYTES; ) {
    const width = below.length / MERKLE_HASH_BYTES;
    const level = Buffer.allocUnsafe(((width + 1) >> 1) * MERKLE_HASH_BYTES);
    for (let i = 0; i + 1 < width; i += 2) {
      createHash("sha256")
        .update(NODE_PREFIX)
        .update(below.subarray(i * MERKLE_HASH_BYTES, (i + 2) * MERKLE_HASH_BYTES))
        .digest()
        .copy(level, (i >> 1) * MERKLE_HASH_BYTES);
    }
    if (width % 2 === 1) below.copy(level, level.length - MERKLE_HASH_BYTES, below.length - MERKLE_HASH_BYTES);
    levels.push(level);
    below = level;
  }
  return levels;
}

const LEAF_PREFIX = new Uint8Array([0]);
const NODE_PREFIX = new Uint8Array([1]);
