// The Merkle tree's tests, run in workerd (test/worker/merkle.test.ts) and under Node
// (test/node-agent/merkle.test.ts): the edge builds piece roots, the node-agent proves repaired pieces against them.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MerkleBuilder, merkleLeafHash, merkleProof, merkleRootOf, verifyMerkleProof } from "../../src/protocol/merkle.ts";

const SEED = 0x14_02_14;
const hex = (a: Uint8Array) => Array.from(a, (b) => b.toString(16).padStart(2, "0")).join("");
const fromHex = (s: string) => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));

async function sha256(parts: Uint8Array[]): Promise<Uint8Array> {
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return new Uint8Array(await crypto.subtle.digest("SHA-256", all));
}

/** RFC 6962 §2.1 MTH, written from the RFC's recursive definition (split at the largest power of two below n). */
async function rfc6962Root(leafHashes: Uint8Array[]): Promise<Uint8Array> {
  if (leafHashes.length === 1) return leafHashes[0]!;
  let split = 1;
  while (split * 2 < leafHashes.length) split *= 2;
  return sha256([Uint8Array.of(1), await rfc6962Root(leafHashes.slice(0, split)), await rfc6962Root(leafHashes.slice(split))]);
}

const leavesOf = (n: number) => Promise.all(Array.from({ length: n }, (_, i) => merkleLeafHash(Uint8Array.of(i & 255, i >> 8))));
const singleByteLeaves = (n: number) => Promise.all(Array.from({ length: n }, (_, i) => merkleLeafHash(Uint8Array.of(i))));

/** Which side each sibling of leaf `index` is on, level by level ("-" where the node is promoted). */
function pathShape(index: number, count: number): string {
  let shape = "";
  for (let i = index, width = count; width > 1; i >>= 1, width = (width + 1) >> 1) shape += i & 1 ? "L" : i + 1 < width ? "R" : "-";
  return shape;
}

async function builderRoot(leaves: Uint8Array[]): Promise<Uint8Array> {
  const builder = new MerkleBuilder();
  for (const leaf of leaves) void builder.add(leaf); // adds are queued in order even when not awaited one by one
  expect(builder.count).toBe(leaves.length);
  return builder.root();
}

export function describeMerkleTree(): void {
  describe("Merkle tree over SHA-256 (RFC 6962 domain separation)", () => {
    it("hashes leaves and roots to the published known-answer vectors", async () => {
      expect(hex(await merkleLeafHash(new Uint8Array(0)))).toBe("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
      const roots: Record<number, string> = {
        1: "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        2: "a20bf9a7cc2dc8a08f5f415a71b19f6ac427bab54d24eec868b5d3103449953a",
        3: "3b6cccd7e3e023ff393006f030315ee7ad9eb111b022b41fba7e5b7a3973f688",
        5: "b855b42d6c30f5b087e05266783fbd6e394f7b926013ccaa67700a8b0c5a596f",
        7: "3560191803028444b232018ac047fdb561c09c23a7a6876c85e08b5e4d48e9f3",
      };
      for (const [n, root] of Object.entries(roots)) {
        const leaves = await singleByteLeaves(Number(n));
        expect(hex(await merkleRootOf(leaves)), `n = ${n}`).toBe(root);
        expect(hex(await builderRoot(leaves)), `builder, n = ${n}`).toBe(root);
      }
      const leaves = await singleByteLeaves(7);
      const proof = ["9f1afa4dc124cba73134e82ff50f17c8f7164257c79fed9a13f5943a6acb8e3d", "40d88127d4d31a3891f41598eeed41174e5bc89b1eb9bbd66a8cbfc09956a3fd", "9bcd51240af4005168f033121ba85be5a6ed4f0e6a5fac262066729b8fbfdecb"];
      expect((await merkleProof(leaves, 4)).map(hex)).toEqual(proof);
      expect(await verifyMerkleProof(fromHex(roots[7]!), leaves[4]!, 4, 7, proof.map(fromHex))).toBe(true);
    });

    it("gives the RFC 6962 root, the same from the streaming builder, for every tree of 1 to 70 leaves", async () => {
      const all = await leavesOf(70);
      for (let n = 1; n <= 70; n++) {
        const leaves = all.slice(0, n);
        const expected = hex(await rfc6962Root(leaves));
        expect(hex(await merkleRootOf(leaves)), `n = ${n}`).toBe(expected);
        expect(hex(await builderRoot(leaves)), `builder, n = ${n}`).toBe(expected);
      }
    });

    it("proves every leaf of every tree of 1 to 24 leaves, and refuses a flipped leaf, a wrong index, a wrong count, a bent proof", async () => {
      const all = await leavesOf(24);
      for (let n = 1; n <= 24; n++) {
        const leaves = all.slice(0, n);
        const root = await merkleRootOf(leaves);
        for (let i = 0; i < n; i++) {
          const proof = await merkleProof(leaves, i);
          const context = `leaf ${i} of ${n}`;
          expect(await verifyMerkleProof(root, leaves[i]!, i, n, proof), context).toBe(true);
          const flipped = leaves[i]!.slice();
          flipped[i % 32]! ^= 1;
          expect(await verifyMerkleProof(root, flipped, i, n, proof), `flipped ${context}`).toBe(false);
          if (n > 1) {
            expect(await verifyMerkleProof(root, leaves[i]!, (i + 1) % n, n, proof), `wrong index, ${context}`).toBe(false);
            expect(await verifyMerkleProof(root, leaves[(i + 1) % n]!, i, n, proof), `another leaf, ${context}`).toBe(false);
            const bent = proof.map((p) => p.slice());
            bent[0]![0]! ^= 0x80;
            expect(await verifyMerkleProof(root, leaves[i]!, i, n, bent), `bent proof, ${context}`).toBe(false);
            expect(await verifyMerkleProof(root, leaves[i]!, i, n, proof.slice(1)), `short proof, ${context}`).toBe(false);
          }
          // The root does not commit to the leaf count (a one-leaf root is its leaf hash), so a wrong count fails
          // exactly when it changes the path (a sibling more or less, or on the other side); callers take the count
          // from the piece's recorded size, never from the prover.
          for (let count = i + 1; count <= 2 * n + 2; count++) {
            if (count === n) continue;
            const same = pathShape(i, count) === pathShape(i, n);
            expect(await verifyMerkleProof(root, leaves[i]!, i, count, proof), `count ${count}, ${context}`).toBe(same);
          }
          if (n === 5 && i === 4) expect(await verifyMerkleProof(root, leaves[i]!, i, 6, proof), "leaf 4 of 5 as of 6").toBe(false);
          expect(await verifyMerkleProof(root, leaves[i]!, i, n, [...proof, leaves[i]!]), `long proof, ${context}`).toBe(false);
          expect(await verifyMerkleProof(root, leaves[i]!, -1, n, proof)).toBe(false);
          expect(await verifyMerkleProof(root, leaves[i]!, n, n, proof)).toBe(false);
        }
      }
    });

    it("proves random leaves of random large trees, and a wrong root fails (property-based)", async () => {
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 1, max: 600 }), fc.nat(), async (n, pick) => {
          const leaves = await leavesOf(n);
          const i = pick % n;
          const root = await merkleRootOf(leaves);
          const proof = await merkleProof(leaves, i);
          expect(proof.length).toBeLessThanOrEqual(Math.ceil(Math.log2(n)));
          expect(await verifyMerkleProof(root, leaves[i]!, i, n, proof)).toBe(true);
          const otherRoot = root.slice();
          otherRoot[31]! ^= 1;
          expect(await verifyMerkleProof(otherRoot, leaves[i]!, i, n, proof)).toBe(false);
        }),
        { seed: SEED, numRuns: 25 },
      );
    });

    it("refuses zero leaves and hashes that are not 32 bytes", async () => {
      await expect(merkleRootOf([])).rejects.toThrow(/at least one leaf/);
      await expect(new MerkleBuilder().root()).rejects.toThrow(/at least one leaf/);
      await expect(merkleProof([], 0)).rejects.toThrow(/at least one leaf/);
      await expect(merkleRootOf([new Uint8Array(31)])).rejects.toThrow(/32 bytes/);
      expect(() => new MerkleBuilder().add(new Uint8Array(33))).toThrow(/32 bytes/);
      const leaves = await leavesOf(3);
      await expect(merkleProof(leaves, 3)).rejects.toThrow(/outside/);
      expect(await verifyMerkleProof(await merkleRootOf(leaves), leaves[0]!, 0, 0, [])).toBe(false);
    });
  });
}
