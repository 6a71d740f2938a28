// The Merkle root of a blob cut into fixed-size leaves (src/protocol/merkle.ts), computed while the blob streams
// in: each leaf is hashed as its bytes arrive (never held whole) and folded into a streaming tree.

import { createHash, type Hash } from "node:crypto";
import { MerkleBuilder } from "../../src/protocol/merkle.ts";

export class LeafHasher {
  private readonly leafBytes: number;
  private readonly tree = new MerkleBuilder();
  private leaf: Hash | undefined;
  private filled = 0;

  constructor(leafBytes: number) {
    this.leafBytes = leafBytes;
  }

  async update(chunk: Uint8Array): Promise<void> {
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
      if (this.filled === this.leafBytes) await this.closeLeaf();
    }
  }

  /** The root (hex); a last partial leaf counts as a leaf. An empty blob has no root. */
  async root(): Promise<string | undefined> {
    if (this.leaf !== undefined) await this.closeLeaf();
    if (this.tree.count === 0) return undefined;
    return Buffer.from(await this.tree.root()).toString("hex");
  }

  private async closeLeaf(): Promise<void> {
    const digest = this.leaf!.digest();
    this.leaf = undefined;
    await this.tree.add(new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength));
  }
}

const LEAF_PREFIX = new Uint8Array([0]);
