// Unique replicas: every node's copy of a replicated segment is the sealed ciphertext XORed with an AES-256-CTR
// keystream (NIST SP 800-38A §6.5) whose key only the edge can derive, from its KEY_ENCRYPTION_KEY and the
// (node, blob) pair (HKDF-SHA256, RFC 5869). Siblings' copies then differ in every byte, each has its own Merkle
// root, and a node that lost its copy cannot rebuild it from a sibling's without the edge: it fails its storage
// challenges. The mask hides nothing the GCM seal does not already hide; it only makes copies distinct. Reads
// unmask before the chunks are authenticated; the keystream is addressable by byte offset, so ranges unmask alone.
// The key does not depend on the object's key (SSE-C objects are repaired without the customer's key).

import { fromBase64 } from "../protocol/crypto.ts";

/** The one mask scheme: recorded on each masked replica (BlobReplica.mask); replicas without it are stored as sealed. */
export const REPLICA_MASK = "aes-ctr-v1" as const;
export type ReplicaMaskScheme = typeof REPLICA_MASK;

const AES_BLOCK = 16;
const encoder = new TextEncoder();
const SALT = encoder.encode("icn-edge/replica-mask/v1");

let base: { kek: string; key: Promise<CryptoKey> } | undefined;

/** The HKDF input key for `kek` (base64 of 32 bytes), imported once per isolate. */
function baseKeyFor(kek: string): Promise<CryptoKey> {
  if (base?.kek !== kek) base = { kek, key: crypto.subtle.importKey("raw", fromBase64(kek), "HKDF", false, ["deriveKey"]) };
  return base.key;
}

/** XORs bytes at any offset of one replica with its keystream; masking and unmasking are the same operation. */
export class ReplicaMask {
  private readonly key: CryptoKey;

  private constructor(key: CryptoKey) {
    this.key = key;
  }

  /** The mask of the copy of `blobId` on `nodeId`. */
  static async of(kek: string, nodeId: string, blobId: string): Promise<ReplicaMask> {
    const key = await crypto.subtle.deriveKey(
      { name: "HKDF", hash: "SHA-256", salt: SALT, info: encoder.encode(`${nodeId}\u0000${blobId}`) },
      await baseKeyFor(kek),
      { name: "AES-CTR", length: 256 },
      false,
      ["encrypt"],
    );
    return new ReplicaMask(key);
  }

  /** `bytes` (which start at byte `offset` of the blob) XORed with the keystream there, in a new buffer. */
  async apply(bytes: Uint8Array, offset: number): Promise<Uint8Array> {
    if (bytes.byteLength === 0) return new Uint8Array(0);
    // Counter block = 64 zero bits || the block index (big-endian), incremented over the low 64 bits: the key is
    // unique per (node, blob), so the counter need not carry a nonce.
    const skip = offset % AES_BLOCK;
    const counter = new Uint8Array(AES_BLOCK);
    new DataView(counter.buffer).setBigUint64(8, BigInt((offset - skip) / AES_BLOCK));
    let input = bytes as Uint8Array<ArrayBuffer>;
    if (skip !== 0) {
      // Mid-block: pad the front so the keystream lines up, then drop the pad.
      input = new Uint8Array(skip + bytes.byteLength);
      input.set(bytes, skip);
    }
    const out = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-CTR", counter, length: 64 }, this.key, input));
    return skip === 0 ? out : out.subarray(skip);
  }
}

/** The chunks of a replica read from byte `offset` on, unmasked when the replica is masked. */
export async function* unmasked(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, mask: ReplicaMask | undefined, offset: number): AsyncGenerator<Uint8Array> {
  if (!mask) {
    yield* chunks;
    return;
  }
  let at = offset;
  for await (const chunk of chunks) {
    const plain = await mask.apply(chunk, at);
    at += chunk.byteLength;
    yield plain;
  }
}

/** The mask a replica was stored under, if any. */
export function maskOf(kek: string, replica: { nodeId: string; blobId: string; mask?: ReplicaMaskScheme }): Promise<ReplicaMask> | undefined {
  return replica.mask === REPLICA_MASK ? ReplicaMask.of(kek, replica.nodeId, replica.blobId) : undefined;
}
