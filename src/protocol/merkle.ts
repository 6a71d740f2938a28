// Binary Merkle tree over SHA-256 for erasure-coded pieces: each piece's leaves are its chunks, so a bad chunk is
// named by its own leaf, and the validators challenge a leaf against the piece's root. Runtime-free (Web Crypto).
//
// Byte rules (RFC 6962 §2.1 domain separation, https://www.rfc-editor.org/rfc/rfc6962#section-2.1):
//   leaf hash  = SHA-256(0x00 || leaf bytes)
//   inner node = SHA-256(0x01 || left (32 bytes) || right (32 bytes))
//   Level by level from the leaf hashes, pairs (0,1), (2,3), ... are hashed; an odd last node at a level is
//   promoted unchanged to the next level. The root of one leaf is its leaf hash; zero leaves is an error.
//   This gives the same root as RFC 6962's MTH (split at the largest power of two below n) for every n.
// Proof of leaf i among n: the siblings bottom-up, one 32-byte hash per level where the node has a sibling; a
// level where the node is the promoted odd last node contributes nothing. The verifier therefore needs i and n.
//
// Known answers (hex; checked by test/protocol/merkle-cases.ts; computed independently from RFC 6962's recursive
// MTH with Python's hashlib). Leaf i is the single byte i; L_i = its leaf hash.
//   leaf hash of the empty leaf  6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d
//   root, n = 1 (= L_0)          96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7
//   root, n = 2                  a20bf9a7cc2dc8a08f5f415a71b19f6ac427bab54d24eec868b5d3103449953a
//   root, n = 3                  3b6cccd7e3e023ff393006f030315ee7ad9eb111b022b41fba7e5b7a3973f688
//   root, n = 5                  b855b42d6c30f5b087e05266783fbd6e394f7b926013ccaa67700a8b0c5a596f
//   root, n = 7                  3560191803028444b232018ac047fdb561c09c23a7a6876c85e08b5e4d48e9f3
//   proof of leaf 4 of 7 = [L_5, L_6 (promoted at level 1), root of leaves 0..3]
//     9f1afa4dc124cba73134e82ff50f17c8f7164257c79fed9a13f5943a6acb8e3d
//     40d88127d4d31a3891f41598eeed41174e5bc89b1eb9bbd66a8cbfc09956a3fd
//     9bcd51240af4005168f033121ba85be5a6ed4f0e6a5fac262066729b8fbfdecb

const LEAF_PREFIX = 0x00;
const NODE_PREFIX = 0x01;
export const MERKLE_HASH_BYTES = 32;

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

export async function merkleLeafHash(leaf: Uint8Array): Promise<Uint8Array> {
  const input = new Uint8Array(1 + leaf.length);
  input[0] = LEAF_PREFIX;
  input.set(leaf, 1);
  return sha256(input);
}

export async function merkleNodeHash(left: Uint8Array, right: Uint8Array): Promise<Uint8Array> {
  const input = new Uint8Array(1 + 2 * MERKLE_HASH_BYTES);
  input[0] = NODE_PREFIX;
  input.set(left, 1);
  input.set(right, 1 + MERKLE_HASH_BYTES);
  return sha256(input);
}

function checkHash(hash: Uint8Array, what: string): void {
  if (hash.length !== MERKLE_HASH_BYTES) throw new RangeError(`${what} must be ${MERKLE_HASH_BYTES} bytes, got ${hash.length}`);
}

/** The root over leaf hashes (already `merkleLeafHash`ed), pairing level by level and promoting an odd last node. */
export async function merkleRootOf(leafHashes: readonly Uint8Array[]): Promise<Uint8Array> {
  if (leafHashes.length === 0) throw new RangeError("a Merkle tree needs at least one leaf");
  leafHashes.forEach((h, i) => checkHash(h, `leaf hash ${i}`));
  let level: readonly Uint8Array[] = leafHashes;
  while (level.length > 1) level = await nextLevel(level);
  return level[0]!.slice();
}

async function nextLevel(level: readonly Uint8Array[]): Promise<Uint8Array[]> {
  const parents: Promise<Uint8Array>[] = [];
  for (let i = 0; i + 1 < level.length; i += 2) parents.push(merkleNodeHash(level[i]!, level[i + 1]!));
  const next = await Promise.all(parents);
  if (level.length % 2 === 1) next.push(level[level.length - 1]!);
  return next;
}

/**
 * Streaming builder with O(log n) memory: add leaf hashes in order, then root(). It keeps the roots of the perfect
 * subtrees seen so far (sizes are the binary digits of count); root() folds them right to left, which equals the
 * level-by-level tree with odd nodes promoted. Calls are serialized, so an add need not be awaited before the next.
 */
export class MerkleBuilder {
  /** Roots of complete subtrees, largest (leftmost) first, with their leaf counts. */
  private readonly stack: { hash: Uint8Array; size: number }[] = [];
  private queue: Promise<void> = Promise.resolve();
  private added = 0;

  /** Leaf hashes added so far (counted when add is called). */
  get count(): number {
    return this.added;
  }

  add(leafHash: Uint8Array): Promise<void> {
    checkHash(leafHash, "leaf hash");
    const hash = leafHash.slice();
    this.added++;
    const step = this.queue.then(async () => {
      let node: { hash: Uint8Array; size: number } = { hash, size: 1 };
      while (this.stack.length > 0 && this.stack[this.stack.length - 1]!.size === node.size) {
        const left = this.stack.pop()!;
        node = { hash: await merkleNodeHash(left.hash, node.hash), size: left.size * 2 };
      }
      this.stack.push(node);
    });
    this.queue = step;
    return step;
  }

  async root(): Promise<Uint8Array> {
    await this.queue;
    if (this.stack.length === 0) throw new RangeError("a Merkle tree needs at least one leaf");
    let acc = this.stack[this.stack.length - 1]!.hash;
    for (let i = this.stack.length - 2; i >= 0; i--) acc = await merkleNodeHash(this.stack[i]!.hash, acc);
    return acc.slice();
  }
}

function checkIndex(index: number, leafCount: number): void {
  if (!Number.isInteger(leafCount) || leafCount < 1) throw new RangeError(`a Merkle tree needs at least one leaf, got ${leafCount}`);
  if (!Number.isInteger(index) || index < 0 || index >= leafCount) throw new RangeError(`leaf index ${index} is outside 0..${leafCount - 1}`);
}

/** The sibling path of leaf `index`, bottom-up (see the byte rules at the top of this file). */
export async function merkleProof(leafHashes: readonly Uint8Array[], index: number): Promise<Uint8Array[]> {
  checkIndex(index, leafHashes.length);
  leafHashes.forEach((h, i) => checkHash(h, `leaf hash ${i}`));
  const proof: Uint8Array[] = [];
  let level: readonly Uint8Array[] = leafHashes;
  let i = index;
  while (level.length > 1) {
    const sibling = i ^ 1;
    if (sibling < level.length) proof.push(level[sibling]!.slice());
    level = await nextLevel(level);
    i >>= 1;
  }
  return proof;
}

/** True when `proof` leads from `leafHash` at `index` of a `leafCount`-leaf tree to `root`; false on any mismatch. */
export async function verifyMerkleProof(root: Uint8Array, leafHash: Uint8Array, index: number, leafCount: number, proof: readonly Uint8Array[]): Promise<boolean> {
  if (!Number.isInteger(leafCount) || leafCount < 1 || !Number.isInteger(index) || index < 0 || index >= leafCount) return false;
  if (root.length !== MERKLE_HASH_BYTES || leafHash.length !== MERKLE_HASH_BYTES) return false;
  let hash = leafHash;
  let i = index;
  let width = leafCount;
  let used = 0;
  while (width > 1) {
    if ((i & 1) === 1) {
      const sibling = proof[used++];
      if (sibling === undefined || sibling.length !== MERKLE_HASH_BYTES) return false;
      hash = await merkleNodeHash(sibling, hash);
    } else if (i + 1 < width) {
      const sibling = proof[used++];
      if (sibling === undefined || sibling.length !== MERKLE_HASH_BYTES) return false;
      hash = await merkleNodeHash(hash, sibling);
    }
    i >>= 1;
    width = (width + 1) >> 1;
  }
  if (used !== proof.length) return false;
  let diff = 0;
  for (let b = 0; b < MERKLE_HASH_BYTES; b++) diff |= hash[b]! ^ root[b]!;
  return diff === 0;
}
