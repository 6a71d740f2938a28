// The Merkle root of a blob as its node stores it, computed by the edge while the blob streams out: the bytes cut
// into AUDIT_LEAF_BYTES leaves (the last may be shorter), leaf and inner hashes as src/protocol/merkle.ts says.
// A node asked for the root at the same leaf size (MERKLE_LEAF_BYTES_HEADER) computes the same one from what it
// wrote; the two agree only when it stored exactly what was sent. Holds one leaf, never the blob.

import { hex } from "../protocol/crypto.ts";
import { AUDIT_LEAF_BYTES } from "../protocol/audit.ts";
import { MerkleBuilder } from "../protocol/merkle.ts";
import type { BodyStage } from "./pipeline.ts";

export class BlobTreeStage implements BodyStage {
  private readonly tree = new MerkleBuilder();
  private readonly leafBytes: number;
  /** 0x00 (RFC 6962 leaf prefix) then the leaf's bytes, hashed in place when full. */
  private leaf: Uint8Array<ArrayBuffer>;
  private filled = 0;
  private rootHex?: string;

  constructor(leafBytes = AUDIT_LEAF_BYTES) {
    this.leafBytes = leafBytes;
    this.leaf = new Uint8Array(1 + leafBytes);
  }

  async write(chunk: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < chunk.byteLength) {
      const take = Math.min(this.leafBytes - this.filled, chunk.byteLength - offset);
      this.leaf.set(chunk.subarray(offset, offset + take), 1 + this.filled);
      this.filled += take;
      offset += take;
      if (this.filled === this.leafBytes) await this.closeLeaf();
    }
  }

  async finish(): Promise<void> {
    if (this.filled > 0) await this.closeLeaf();
    this.rootHex = hex(await this.tree.root());
  }

  /** Hex root; only valid after `finish`. */
  get root(): string {
    if (this.rootHex === undefined) throw new Error("the blob's tree is not finished");
    return this.rootHex;
  }

  private async closeLeaf(): Promise<void> {
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", this.leaf.subarray(0, 1 + this.filled)));
    this.filled = 0;
    await this.tree.add(digest);
  }
}
