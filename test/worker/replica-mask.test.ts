// Unique replicas in workerd, where the edge masks and unmasks them: a copy masked for one (node, blob) differs from
// every other's in its bytes, unmasks back exactly from any offset (a ranged read starts mid-block), and its Merkle
// root, computed as the bytes stream out in any chunking, is the root a validator computes from the whole file.

import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { Env } from "../../src/env.ts";
import { hex } from "../../src/protocol/crypto.ts";
import { merkleLeafHash, merkleRootOf } from "../../src/protocol/merkle.ts";
import { SHARD_BYTES } from "../../src/protocol/piece-layout.ts";
import { BlobTreeStage } from "../../src/services/blob-tree.ts";
import { maskOf, REPLICA_MASK, ReplicaMask, unmasked } from "../../src/services/replica-mask.ts";

const kek = (env as unknown as Env).KEY_ENCRYPTION_KEY;
const BLOB = `b${"1".repeat(32)}${"2".repeat(32)}`;

function bytes(n: number, seed = 7): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) out[i] = x = (x * 1103515245 + 12345) & 0xff;
  return out;
}

/** `data` cut into chunks of the given sizes (repeating), as a stream would deliver it. */
function* chunked(data: Uint8Array, sizes: number[]): Generator<{ chunk: Uint8Array; offset: number }> {
  for (let at = 0, i = 0; at < data.length; i++) {
    const n = Math.min(sizes[i % sizes.length]!, data.length - at);
    yield { chunk: data.subarray(at, at + n), offset: at };
    at += n;
  }
}

async function maskWhole(mask: ReplicaMask, data: Uint8Array, sizes: number[]): Promise<Uint8Array> {
  const out = new Uint8Array(data.length);
  for (const { chunk, offset } of chunked(data, sizes)) out.set(await mask.apply(chunk, offset), offset);
  return out;
}

describe("replica masks", () => {
  const sealed = bytes(3 * SHARD_BYTES + 1234);

  it("gives each (node, blob) its own bytes, and only its own mask undoes them", async () => {
    const a = await maskWhole(await ReplicaMask.of(kek, "node-a", BLOB), sealed, [sealed.length]);
    const b = await maskWhole(await ReplicaMask.of(kek, "node-b", BLOB), sealed, [sealed.length]);
    const otherBlob = await maskWhole(await ReplicaMask.of(kek, "node-a", `${BLOB.slice(0, -1)}3`), sealed, [sealed.length]);
    for (const copy of [a, b, otherBlob]) expect(hex(copy)).not.toBe(hex(sealed));
    expect(hex(a)).not.toBe(hex(b));
    expect(hex(a)).not.toBe(hex(otherBlob));
    // Differs nearly everywhere, not in a few bytes.
    let same = 0;
    for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
    expect(same).toBeLessThan(a.length / 100);
    expect(hex(await maskWhole(await ReplicaMask.of(kek, "node-a", BLOB), a, [a.length]))).toBe(hex(sealed));
    expect(hex(await maskWhole(await ReplicaMask.of(kek, "node-b", BLOB), a, [a.length]))).not.toBe(hex(sealed));
  });

  it("masks the same whatever the chunking, and unmasks a range that starts mid-block", async () => {
    const mask = await ReplicaMask.of(kek, "node-a", BLOB);
    const whole = await maskWhole(mask, sealed, [sealed.length]);
    expect(hex(await maskWhole(mask, sealed, [4096, 1, 15, 17, 65_552, 3]))).toBe(hex(whole));
    for (const start of [1, 15, 16, 17, SHARD_BYTES - 3, 2 * SHARD_BYTES + 9]) {
      const chunks = [...chunked(whole.subarray(start), [5, 4096, 33])].map((c) => c.chunk);
      const parts: Uint8Array[] = [];
      for await (const part of unmasked(chunks, mask, start)) parts.push(part);
      const plain = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      parts.reduce((at, p) => (plain.set(p, at), at + p.length), 0);
      expect(hex(plain), `from ${start}`).toBe(hex(sealed.subarray(start)));
    }
  });

  it("is applied only to replicas recorded as masked", async () => {
    expect(maskOf(kek, { nodeId: "node-a", blobId: BLOB })).toBeUndefined();
    expect(await maskOf(kek, { nodeId: "node-a", blobId: BLOB, mask: REPLICA_MASK })).toBeInstanceOf(ReplicaMask);
  });
});

describe("a blob's Merkle root computed while it streams", () => {
  for (const size of [1, SHARD_BYTES - 1, SHARD_BYTES, SHARD_BYTES + 1, 5 * SHARD_BYTES + 77]) {
    it(`equals the root over the whole ${size}-byte file in SHARD_BYTES leaves`, async () => {
      const data = bytes(size, size);
      const leaves: Uint8Array[] = [];
      for (let at = 0; at < size; at += SHARD_BYTES) leaves.push(await merkleLeafHash(data.subarray(at, at + SHARD_BYTES)));
      const expected = hex(await merkleRootOf(leaves));
      const tree = new BlobTreeStage();
      for (const { chunk } of chunked(data, [1000, 262_144, 7])) await tree.write(chunk);
      await tree.finish();
      expect(tree.root).toBe(expected);
    });
  }
});
