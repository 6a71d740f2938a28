// A stored blob's Merkle tree over AUDIT_LEAF_BYTES leaves (src/protocol/audit.ts), kept beside the blob as
// `<blobId>.tree`, so answering a storage challenge costs one positional read per leaf and one per tree level of
// its path, whatever the blob's size. It is written while the blob streams in and made durable with it; for a blob
// stored before trees existed it is built from the bytes on first use. Layout (integers big-endian):
//
//   0   8  magic "ICNTREE1"
//   8   4  leaf bytes
//   12  4  leaf count n
//   16  8  blob size
//   24 32  SHA-256 of the blob (the sidecar's): a tree is used only with the blob it was built from
//   56  8  zero
//   64     every level bottom-up (merkle.ts byte rules): n leaf hashes, then ceil(n/2), ..., then the root;
//          32 bytes each, an odd last node repeated on the level above where it is promoted.

import { createHash } from "node:crypto";
import type { FileHandle } from "node:fs/promises";
import { MERKLE_HASH_BYTES } from "../../src/protocol/merkle.ts";
import { LeafHasher, levelWidths, type MerkleLevels } from "./leaf-hasher.ts";

export const TREE_SUFFIX = ".tree";
const MAGIC = Buffer.from("ICNTREE1", "latin1");
const HEADER_BYTES = 64;
/** Positional reads when building a tree from a blob already on disk. */
const BUILD_READ_BYTES = 1024 * 1024;

/** What a tree file is the tree of. */
export interface TreeIdentity {
  leafBytes: number;
  size: number;
  /** Hex SHA-256 of the blob. */
  sha256: string;
}

/** The tree file's bytes: header, then every level. */
export function encodeTree(identity: TreeIdentity, levels: MerkleLevels): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt32BE(identity.leafBytes, 8);
  header.writeUInt32BE(levels[0]!.length / MERKLE_HASH_BYTES, 12);
  header.writeBigUInt64BE(BigInt(identity.size), 16);
  Buffer.from(identity.sha256, "hex").copy(header, 24);
  return Buffer.concat([header, ...levels]);
}

/** Where a proof's Merkle paths come from: the tree file, or a tree just built in memory. */
export interface LeafPaths {
  readonly leafCount: number;
  /** The sibling path of leaf `index`, bottom-up (merkle.ts). */
  pathOf(index: number): Promise<Uint8Array[]>;
  close(): Promise<void>;
}

/** A tree held in memory (built from the blob's bytes just now, when no stored tree could be used). */
export class MemoryTree implements LeafPaths {
  readonly leafCount: number;
  private readonly levels: MerkleLevels;

  constructor(levels: MerkleLevels) {
    this.levels = levels;
    this.leafCount = levels[0]!.length / MERKLE_HASH_BYTES;
  }

  async pathOf(index: number): Promise<Uint8Array[]> {
    checkLeafIndex(index, this.leafCount);
    const path: Uint8Array[] = [];
    let i = index;
    for (const level of this.levels) {
      const sibling = i ^ 1;
      if (sibling < level.length / MERKLE_HASH_BYTES) path.push(new Uint8Array(level.subarray(sibling * MERKLE_HASH_BYTES, (sibling + 1) * MERKLE_HASH_BYTES)));
      i >>= 1;
    }
    return path;
  }

  async close(): Promise<void> {}
}

function checkLeafIndex(index: number, leafCount: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= leafCount) throw new RangeError(`leaf index ${index} is outside 0..${leafCount - 1}`);
}

/** An open tree file whose header matched the blob it is read with. The caller closes it. */
export class PieceTree implements LeafPaths {
  readonly leafCount: number;
  private readonly file: FileHandle;
  /** Byte offset of each level in the file. */
  private readonly offsets: number[];
  private readonly widths: number[];

  private constructor(file: FileHandle, leafCount: number) {
    this.file = file;
    this.leafCount = leafCount;
    this.widths = levelWidths(leafCount);
    this.offsets = [];
    let at = HEADER_BYTES;
    for (const w of this.widths) {
      this.offsets.push(at);
      at += w * MERKLE_HASH_BYTES;
    }
  }

  /** Bytes of a tree file for `leafCount` leaves. */
  static fileBytes(leafCount: number): number {
    return HEADER_BYTES + levelWidths(leafCount).reduce((n, w) => n + w, 0) * MERKLE_HASH_BYTES;
  }

  /**
   * Wraps an open tree file, or answers undefined (the file is left open for the caller to close) when its header
   * or length says it is not the tree of `identity`: a stale tree is never used to answer for other bytes.
   */
  static async check(file: FileHandle, identity: TreeIdentity): Promise<PieceTree | undefined> {
    const header = Buffer.alloc(HEADER_BYTES);
    const { bytesRead } = await file.read(header, 0, HEADER_BYTES, 0);
    if (bytesRead !== HEADER_BYTES || !header.subarray(0, 8).equals(MAGIC)) return undefined;
    const leafCount = header.readUInt32BE(12);
    const matches =
      header.readUInt32BE(8) === identity.leafBytes &&
      leafCount === Math.ceil(identity.size / identity.leafBytes) &&
      header.readBigUInt64BE(16) === BigInt(identity.size) &&
      header.subarray(24, 56).toString("hex") === identity.sha256 &&
      (await file.stat()).size === PieceTree.fileBytes(leafCount);
    return matches && leafCount > 0 ? new PieceTree(file, leafCount) : undefined;
  }

  /** The root as stored (top level). */
  async root(): Promise<Uint8Array> {
    return this.hashAt(this.offsets.at(-1)!);
  }

  /** The sibling path of leaf `index`, bottom-up (merkle.ts): one positional read per level that has a sibling. */
  async pathOf(index: number): Promise<Uint8Array[]> {
    checkLeafIndex(index, this.leafCount);
    const reads: Promise<Uint8Array>[] = [];
    let i = index;
    for (let level = 0; this.widths[level]! > 1; level++, i >>= 1) {
      const sibling = i ^ 1;
      if (sibling < this.widths[level]!) reads.push(this.hashAt(this.offsets[level]! + sibling * MERKLE_HASH_BYTES));
    }
    return Promise.all(reads);
  }

  close(): Promise<void> {
    return this.file.close();
  }

  private async hashAt(position: number): Promise<Uint8Array> {
    const out = new Uint8Array(MERKLE_HASH_BYTES);
    const { bytesRead } = await this.file.read(out, 0, MERKLE_HASH_BYTES, position);
    if (bytesRead !== MERKLE_HASH_BYTES) throw new Error(`the tree file ends before byte ${position + MERKLE_HASH_BYTES}`);
    return out;
  }
}

/** Reads a blob already on disk positionally and builds its tree, with the SHA-256 of the bytes actually read. */
export async function treeOfFile(file: FileHandle, size: number, leafBytes: number): Promise<{ levels: MerkleLevels; sha256: string }> {
  const hasher = new LeafHasher(leafBytes);
  const hash = createHash("sha256");
  const buffer = Buffer.allocUnsafe(BUILD_READ_BYTES);
  let position = 0;
  while (position < size) {
    const { bytesRead } = await file.read(buffer, 0, Math.min(buffer.length, size - position), position);
    if (bytesRead === 0) break;
    const chunk = buffer.subarray(0, bytesRead);
    hasher.update(chunk);
    hash.update(chunk);
    position += bytesRead;
  }
  if (position !== size) throw new Error(`the blob ended after ${position} of ${size} bytes`);
  const levels = hasher.tree();
  if (levels === undefined) throw new RangeError("an empty blob has no tree");
  return { levels, sha256: hash.digest("hex") };
}
