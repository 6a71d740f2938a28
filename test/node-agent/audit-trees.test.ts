// The Merkle tree a node keeps beside each blob for storage proofs (<blobId>.tree): its root and every path are the
// protocol's (src/protocol/merkle.ts), it lives and dies with its blob, and a tree that is not its blob's is never used.

import { randomBytes } from "node:crypto";
import { copyFile, mkdtemp, readdir, readFile, rm, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AUDIT_LEAF_BYTES } from "../../src/protocol/audit.ts";
import { merkleLeafHash, merkleProof, merkleRootOf } from "../../src/protocol/merkle.ts";
import { BlobStore } from "../../node-agent/src/blob-store.ts";
import { newBlobId } from "./support/in-process-agent.ts";

let dataDir: string;
let store: BlobStore;
beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "icn-audit-trees-"));
  store = await BlobStore.open(dataDir);
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

const fileOf = (blobId: string) => join(dataDir, "blobs", blobId.slice(-2), blobId);

async function leafHashesOf(bytes: Uint8Array, leafBytes = AUDIT_LEAF_BYTES): Promise<Uint8Array[]> {
  const out = [];
  for (let at = 0; at < bytes.length; at += leafBytes) out.push(await merkleLeafHash(bytes.subarray(at, at + leafBytes)));
  return out;
}

/** Asserts the store's tree of `blobId` gives the protocol's path for every leaf of `bytes`. */
async function expectProtocolTree(blobId: string, bytes: Uint8Array): Promise<void> {
  const hashes = await leafHashesOf(bytes);
  const opened = (await store.openForProof(blobId))!;
  try {
    expect(opened.tree!.leafCount).toBe(hashes.length);
    for (let i = 0; i < hashes.length; i++) {
      expect((await opened.tree!.pathOf(i)).map((h) => Buffer.from(h).toString("hex")), `leaf ${i} of ${hashes.length}`).toEqual(
        (await merkleProof(hashes, i)).map((h) => Buffer.from(h).toString("hex")),
      );
    }
  } finally {
    await Promise.all([opened.file.close(), opened.tree?.close()]);
  }
}

describe("the tree kept beside each blob", () => {
  for (const size of [1, AUDIT_LEAF_BYTES - 1, AUDIT_LEAF_BYTES, AUDIT_LEAF_BYTES + 1, 7 * AUDIT_LEAF_BYTES + 5]) {
    it(`has the protocol's root and every leaf's path for a ${size}-byte blob`, async () => {
      const bytes = randomBytes(size);
      const blobId = newBlobId();
      const record = await store.put(blobId, [bytes], { merkleLeafBytes: AUDIT_LEAF_BYTES });
      expect(record.merkleRoot).toBe(Buffer.from(await merkleRootOf(await leafHashesOf(bytes))).toString("hex"));
      await expectProtocolTree(blobId, bytes);
    });
  }

  it("is kept at the audit leaf size when the writer asked for a root at another leaf size", async () => {
    const bytes = randomBytes(5000);
    const blobId = newBlobId();
    const record = await store.put(blobId, [bytes.subarray(0, 1234), bytes.subarray(1234)], { merkleLeafBytes: 1000 });
    expect(record.merkleRoot).toBe(Buffer.from(await merkleRootOf(await leafHashesOf(bytes, 1000))).toString("hex"));
    await expectProtocolTree(blobId, bytes);
  });

  it("does not exist for an empty blob, which has no leaves", async () => {
    const blobId = newBlobId();
    await store.put(blobId, []);
    expect((await readdir(join(dataDir, "blobs", blobId.slice(-2)))).sort()).toEqual([blobId, `${blobId}.meta.json`]);
    const opened = (await store.openForProof(blobId))!;
    expect(opened.tree).toBeUndefined();
    await opened.file.close();
  });

  it("is replaced with its blob, and never used for other bytes: a tree copied from another blob is rebuilt", async () => {
    const first = randomBytes(3 * AUDIT_LEAF_BYTES);
    const second = randomBytes(3 * AUDIT_LEAF_BYTES);
    const [a, b] = [newBlobId(), newBlobId()];
    await store.put(a, [first]);
    await store.put(b, [second]);
    const ownTree = await readFile(`${fileOf(b)}.tree`);
    await copyFile(`${fileOf(a)}.tree`, `${fileOf(b)}.tree`);
    await expectProtocolTree(b, second);
    expect((await readFile(`${fileOf(b)}.tree`)).equals(ownTree)).toBe(true);

    await store.put(b, [first]);
    // Rewritten with the first blob's bytes, it has exactly the first blob's tree.
    expect((await readFile(`${fileOf(b)}.tree`)).equals(await readFile(`${fileOf(a)}.tree`))).toBe(true);
    await expectProtocolTree(b, first);
  });

  it("is not a blob: not counted or listed, and removed at start when its blob is gone", async () => {
    const [kept, lost] = [newBlobId(), newBlobId()];
    await store.put(kept, [randomBytes(100)]);
    await store.put(lost, [randomBytes(100)]);
    await unlink(fileOf(lost));
    await unlink(`${fileOf(lost)}.meta.json`);
    const reopened = await BlobStore.open(dataDir);
    expect(reopened.stats).toEqual({ usedBytes: 100, blobCount: 1 });
    expect((await reopened.listBlobs(undefined, 10)).blobs.map((r) => r.blobId)).toEqual([kept]);
    const ids = [];
    for await (const id of reopened.blobIds()) ids.push(id);
    expect(ids).toEqual([kept]);
    await expect(readFile(`${fileOf(lost)}.tree`)).rejects.toMatchObject({ code: "ENOENT" });
    await expect(readFile(`${fileOf(kept)}.tree`)).resolves.toBeInstanceOf(Buffer);
  });

  it("goes with its blob on delete, and is not kept in quarantine with a corrupt one", async () => {
    const [deleted, corrupt] = [newBlobId(), newBlobId()];
    await store.put(deleted, [randomBytes(100)]);
    await store.put(corrupt, [randomBytes(100)]);
    expect(await store.delete(deleted)).toBe(true);
    await expect(readFile(`${fileOf(deleted)}.tree`)).rejects.toMatchObject({ code: "ENOENT" });

    const bytes = await readFile(fileOf(corrupt));
    bytes[3]! ^= 1;
    await writeFile(fileOf(corrupt), bytes);
    expect(await store.scrubBlob(corrupt, { consume: async () => {}, danglingGraceMs: 0 })).toMatchObject({ kind: "corrupt" });
    await expect(readFile(`${fileOf(corrupt)}.tree`)).rejects.toMatchObject({ code: "ENOENT" });
    expect((await readdir(store.quarantineDir)).filter((name) => name.endsWith(".tree"))).toEqual([]);
  });
});
