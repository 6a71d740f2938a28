// The proof-of-storage protocol's tests (src/protocol/audit.ts), run in workerd (test/worker/audit-protocol.test.ts),
// where the edge assigns challenges, and under Node (test/node-agent/audit-protocol.test.ts), where nodes answer
// them and validators check the answers: both sides must agree on every index, hash and signature.

import { recoverTypedDataAddress } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { describe, expect, it } from "vitest";
import {
  AUDIT_LEAF_BYTES,
  assignmentTypedMessage,
  attestationTypedMessage,
  auditTypes,
  evidenceHashOf,
  failureEvidenceHashOf,
  leafCountOf,
  leafIndexesFor,
  loginTypedMessage,
  pieceIdOf,
  proofLeaf,
  verifyStorageProof,
  type Assignment,
  type Attestation,
  type Hex32,
  type StorageProof,
  type ValidatorLogin,
} from "../../src/protocol/audit.ts";
import { base64, fromBase64, hex } from "../../src/protocol/crypto.ts";
import { merkleLeafHash, merkleProof, merkleRootOf } from "../../src/protocol/merkle.ts";
import { registrationDomain } from "../../src/protocol/node-protocol.ts";

// Anvil's well-known test keys (accounts 0 and 1): never hold real funds.
const EDGE_AUDIT_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const OTHER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b7690d6";
const NODE_ID = "node_00112233aabbccdd";
const BLOB_ID = "blob-0123456789abcdef01234567";

const SEED_A = `0x${"a1".repeat(32)}` as Hex32;
const SEED_B = `0x${"b2".repeat(32)}` as Hex32;
const PIECE_A = `0x${"0c".repeat(32)}` as Hex32;
const PIECE_B = `0x${"0d".repeat(32)}` as Hex32;

/** Deterministic bytes (xorshift32), so a failure reproduces; workerd caps getRandomValues at 64 KiB per call. */
function bytesOf(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed | 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 255;
  }
  return out;
}

/** A piece of `leafCount` leaves (the last one `lastBytes` long), its root, and an honest proof of `indexes`. */
async function honestCase(leafCount: number, lastBytes: number, indexes: number[]) {
  const piece = bytesOf((leafCount - 1) * AUDIT_LEAF_BYTES + lastBytes, leafCount * 7919 + lastBytes);
  const leaves = Array.from({ length: leafCount }, (_, i) => piece.subarray(i * AUDIT_LEAF_BYTES, Math.min(piece.length, (i + 1) * AUDIT_LEAF_BYTES)));
  const hashes = await Promise.all(leaves.map((l) => merkleLeafHash(l)));
  const pieceId = await pieceIdOf(NODE_ID, BLOB_ID);
  const assignment: Assignment = {
    roundId: 7,
    nodeId: NODE_ID,
    pieceId,
    merkleRoot: `0x${hex(await merkleRootOf(hashes))}`,
    leafCount: leafCountOf(piece.length),
    leafIndexes: indexes,
    seed: SEED_A,
    deadline: 2_000_000_000,
  };
  const proof: StorageProof = { pieceId, leaves: await Promise.all(indexes.map(async (i) => proofLeaf(i, leaves[i]!, await merkleProof(hashes, i)))) };
  return { assignment, proof };
}

const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

/** The same proof with one byte of leaf `leaf`'s data flipped. */
function withFlippedData(proof: StorageProof, leaf: number, at: number): StorageProof {
  const bent = clone(proof);
  const data = fromBase64(bent.leaves[leaf]!.data);
  data[at] = data[at]! ^ 0x01;
  bent.leaves[leaf]!.data = base64(data);
  return bent;
}

/** Independent reading of leafIndexesFor's rule: SHA-256(seed || pieceId || u32 counter), first 8 bytes big-endian, mod n. */
async function firstDraw(seed: Hex32, pieceId: Hex32, leafCount: number): Promise<number> {
  const input = new Uint8Array(68);
  input.set(Uint8Array.from(seed.slice(2).match(/../g)!, (b) => parseInt(b, 16)), 0);
  input.set(Uint8Array.from(pieceId.slice(2).match(/../g)!, (b) => parseInt(b, 16)), 32);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", input));
  const value = digest.slice(0, 8).reduce((acc, b) => (acc << 8n) | BigInt(b), 0n);
  return Number(value % BigInt(leafCount));
}

export function describeAuditProtocol(): void {
  describe("leaf indexes from a round's seed", () => {
    it("are the same for the same seed, piece and count, distinct, and inside the piece", async () => {
      for (const leafCount of [17, 100, 16_381, 2 ** 32 - 1]) {
        const first = await leafIndexesFor(SEED_A, PIECE_A, leafCount, 16);
        expect(await leafIndexesFor(SEED_A, PIECE_A, leafCount, 16)).toEqual(first);
        expect(first).toHaveLength(16);
        expect(new Set(first).size).toBe(16);
        for (const i of first) expect(Number.isInteger(i) && i >= 0 && i < leafCount, `${i} of ${leafCount}`).toBe(true);
        expect(first[0]).toBe(await firstDraw(SEED_A, PIECE_A, leafCount));
      }
    });

    it("pick every leaf of a piece with no more leaves than asked for", async () => {
      for (const leafCount of [1, 2, 15, 16]) {
        const picked = await leafIndexesFor(SEED_A, PIECE_A, leafCount, 16);
        expect([...picked].sort((a, b) => a - b)).toEqual(Array.from({ length: leafCount }, (_, i) => i));
      }
    });

    it("differ between seeds and between pieces", async () => {
      const base = await leafIndexesFor(SEED_A, PIECE_A, 16_381, 16);
      expect(await leafIndexesFor(SEED_B, PIECE_A, 16_381, 16)).not.toEqual(base);
      expect(await leafIndexesFor(SEED_A, PIECE_B, 16_381, 16)).not.toEqual(base);
    });

    it("refuse a piece without leaves", async () => {
      await expect(leafIndexesFor(SEED_A, PIECE_A, 0, 16)).rejects.toThrow(RangeError);
      expect(() => leafCountOf(0)).toThrow(RangeError);
      expect(leafCountOf(1)).toBe(1);
      expect(leafCountOf(AUDIT_LEAF_BYTES)).toBe(1);
      expect(leafCountOf(AUDIT_LEAF_BYTES + 1)).toBe(2);
    });
  });

  describe("checking a storage proof", () => {
    it("accepts an honest proof, including a short last leaf and a one-leaf piece", async () => {
      const { assignment, proof } = await honestCase(5, 1000, [3, 0, 4]);
      expect(await verifyStorageProof(assignment, proof)).toEqual({ ok: true });
      const tiny = await honestCase(1, 10, [0]);
      expect(tiny.proof.leaves[0]!.path).toEqual([]);
      expect(await verifyStorageProof(tiny.assignment, tiny.proof)).toEqual({ ok: true });
    });

    it("carries each leaf as standard base64 of its exact bytes, whatever its length", async () => {
      for (const length of [1, 2, 3, 4095, 4096, 4097, 8193, AUDIT_LEAF_BYTES]) {
        const data = bytesOf(length, length);
        const leaf = proofLeaf(0, data, []);
        expect(leaf.data, `${length} bytes`).toBe(base64(data));
        expect(fromBase64(leaf.data)).toEqual(data);
      }
    });

    it("refuses a flipped leaf byte, anywhere in any leaf", async () => {
      const { assignment, proof } = await honestCase(5, 1000, [3, 0, 4]);
      for (const [leaf, at] of [[0, 0], [1, AUDIT_LEAF_BYTES - 1], [2, 999]] as const) {
        const check = await verifyStorageProof(assignment, withFlippedData(proof, leaf, at));
        expect(check.ok, `leaf ${leaf} byte ${at}`).toBe(false);
      }
    });

    it("refuses the right leaves in the wrong order, a missing leaf and an extra one", async () => {
      const { assignment, proof } = await honestCase(5, 1000, [3, 0, 4]);
      const swapped = clone(proof);
      swapped.leaves = [proof.leaves[1]!, proof.leaves[0]!, proof.leaves[2]!];
      expect(await verifyStorageProof(assignment, swapped)).toMatchObject({ ok: false, reason: expect.stringContaining("expected 3") });
      expect((await verifyStorageProof(assignment, { ...proof, leaves: proof.leaves.slice(0, 2) })).ok).toBe(false);
      expect((await verifyStorageProof(assignment, { ...proof, leaves: [...proof.leaves, proof.leaves[0]!] })).ok).toBe(false);
    });

    it("refuses a shortened leaf that is not the piece's last, even with its own valid path", async () => {
      const { assignment, proof } = await honestCase(5, 1000, [3, 0, 4]);
      const short = clone(proof);
      short.leaves[0]!.data = base64(fromBase64(proof.leaves[0]!.data).subarray(0, 1000));
      expect(await verifyStorageProof(assignment, short)).toMatchObject({ ok: false, reason: "leaf 3 has 1000 bytes" });
    });

    it("refuses a proof for another piece, and one checked against another root", async () => {
      const { assignment, proof } = await honestCase(5, 1000, [3, 0, 4]);
      expect(await verifyStorageProof(assignment, { ...proof, pieceId: PIECE_B })).toMatchObject({ ok: false });
      expect(await verifyStorageProof({ ...assignment, pieceId: PIECE_B }, proof)).toMatchObject({ ok: false });
      expect((await verifyStorageProof({ ...assignment, merkleRoot: `0x${"00".repeat(32)}` }, proof)).ok).toBe(false);
    });

    it("refuses a bent path: a flipped hash, a hash too many, a hash too few", async () => {
      const { assignment, proof } = await honestCase(5, 1000, [3, 0, 4]);
      const flipped = clone(proof);
      const h = flipped.leaves[0]!.path[0]!;
      flipped.leaves[0]!.path[0] = `${h.slice(0, -1)}${h.endsWith("0") ? "1" : "0"}`;
      expect((await verifyStorageProof(assignment, flipped)).ok).toBe(false);
      const longer = clone(proof);
      longer.leaves[1]!.path.push(proof.leaves[1]!.path[0]!);
      expect((await verifyStorageProof(assignment, longer)).ok).toBe(false);
      const shorter = clone(proof);
      shorter.leaves[1]!.path.pop();
      expect((await verifyStorageProof(assignment, shorter)).ok).toBe(false);
    });
  });

  describe("evidence hashes", () => {
    it("are the same for the same answer however it was copied, and differ when any byte differs", async () => {
      const { proof } = await honestCase(3, 500, [2, 0]);
      const hash = await evidenceHashOf(proof);
      expect(hash).toMatch(/^0x[0-9a-f]{64}$/);
      expect(await evidenceHashOf(clone(proof))).toBe(hash);
      const variants: StorageProof[] = [
        withFlippedData(proof, 0, 0),
        withFlippedData(proof, 1, AUDIT_LEAF_BYTES - 1),
        { ...proof, pieceId: PIECE_B },
        { ...proof, leaves: [...proof.leaves].reverse() },
        { ...proof, leaves: [{ ...proof.leaves[0]!, index: 1 }, proof.leaves[1]!] },
        { ...proof, leaves: [{ ...proof.leaves[0]!, path: proof.leaves[0]!.path.slice(1) }, proof.leaves[1]!] },
        { ...proof, leaves: [{ ...proof.leaves[0]!, data: base64(fromBase64(proof.leaves[0]!.data).subarray(1)) }, proof.leaves[1]!] },
      ];
      const bentPath = clone(proof);
      const h = bentPath.leaves[1]!.path[0]!;
      bentPath.leaves[1]!.path[0] = `0x${h.slice(2, 4) === "ff" ? "00" : "ff"}${h.slice(4)}`;
      variants.push(bentPath);
      const hashes = await Promise.all(variants.map((v) => evidenceHashOf(v)));
      expect(new Set([hash, ...hashes]).size).toBe(variants.length + 1);
    });

    it("of a failure differ by reason and never equal a proof's", async () => {
      const timeout = await failureEvidenceHashOf("timeout");
      expect(await failureEvidenceHashOf("timeout")).toBe(timeout);
      expect(await failureEvidenceHashOf("node answered 404")).not.toBe(timeout);
    });
  });

  describe("EIP-712 signatures in the edge's registration domain", () => {
    const edge = privateKeyToAccount(EDGE_AUDIT_KEY);
    const validator = privateKeyToAccount(OTHER_KEY);

    it("round-trip a challenge assignment, and a changed field or another edge's domain recovers someone else", async () => {
      const domain = await registrationDomain(31337, "edge-a");
      const { assignment } = await honestCase(2, 10, [1, 0]);
      const signature = await edge.signTypedData({ domain, types: auditTypes, primaryType: "ChallengeAssignment", message: assignmentTypedMessage(assignment) });
      const recover = (a: Assignment, d: typeof domain) =>
        recoverTypedDataAddress({ domain: d, types: auditTypes, primaryType: "ChallengeAssignment", message: assignmentTypedMessage(a), signature });
      expect(await recover(assignment, domain)).toBe(edge.address);
      expect(await recover({ ...assignment, leafIndexes: [0, 1] }, domain)).not.toBe(edge.address);
      expect(await recover({ ...assignment, deadline: assignment.deadline + 1 }, domain)).not.toBe(edge.address);
      expect(await recover(assignment, await registrationDomain(31337, "edge-b"))).not.toBe(edge.address);
      expect(await recover(assignment, await registrationDomain(1, "edge-a"))).not.toBe(edge.address);
    });

    it("round-trip an attestation, and a flipped verdict recovers someone else", async () => {
      const domain = await registrationDomain(31337, "edge-a");
      const attestation: Attestation = { roundId: 7, nodeId: NODE_ID, pieceId: PIECE_A, verdict: "pass", evidenceHash: `0x${"11".repeat(32)}` };
      const signature = await validator.signTypedData({ domain, types: auditTypes, primaryType: "Attestation", message: attestationTypedMessage(attestation) });
      const recover = (a: Attestation) => recoverTypedDataAddress({ domain, types: auditTypes, primaryType: "Attestation", message: attestationTypedMessage(a), signature });
      expect(await recover(attestation)).toBe(validator.address);
      expect(await recover({ ...attestation, verdict: "fail" })).not.toBe(validator.address);
    });

    it("round-trip a validator login, and another nonce recovers someone else", async () => {
      const domain = await registrationDomain(31337, "edge-a");
      const login: ValidatorLogin = { validator: edge.address, operator: validator.address, nonce: SEED_A, issuedAt: 1_900_000_000 };
      const signature = await validator.signTypedData({ domain, types: auditTypes, primaryType: "ValidatorLogin", message: loginTypedMessage(login) });
      const recover = (l: ValidatorLogin) => recoverTypedDataAddress({ domain, types: auditTypes, primaryType: "ValidatorLogin", message: loginTypedMessage(l), signature });
      expect(await recover(login)).toBe(validator.address);
      expect(await recover({ ...login, nonce: SEED_B })).not.toBe(validator.address);
    });
  });
}
