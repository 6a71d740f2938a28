// Envelope encryption of segments (FORMAT.md, "Key hierarchy"): every blob gets a fresh data key and nonce
// prefix, and the data key is kept only wrapped, in the object's record, by the object's key-encryption key:
// the bucket key (SSE-S3), a KMS key (SSE-KMS) or the customer's key (SSE-C). Deleting the record destroys it.

import { base64, fromBase64 } from "../protocol/crypto.ts";
import { generateDataKey, unwrapDataKey, type BucketKey } from "./crypto/keys.ts";
import { newNoncePrefix, PREFIX_SIZE } from "./crypto/stream-format.ts";
import { KeyUnwrapError } from "./crypto/errors.ts";
import type { SegmentEncryption } from "./object-model.ts";

/**
 * What wraps an object's data keys. It has a bucket key's shape: an id, the bucket it serves and an AES-256-GCM
 * key; a KMS key or a customer's key is bound to the bucket the same way.
 */
export type KeyEncryptionKey = BucketKey;

/** A segment's data key and nonce prefix, ready to encrypt or decrypt its blob. */
export interface SegmentKey {
  dataKey: CryptoKey;
  prefix: Uint8Array<ArrayBuffer>;
}

/** A fresh data key and nonce prefix for the blob `blobId`, and the record that keeps them (wrapped). */
export async function newSegmentKey(kek: KeyEncryptionKey, blobId: string): Promise<SegmentKey & { encryption: SegmentEncryption }> {
  const { key, wrapped } = await generateDataKey(kek, blobId);
  const prefix = newNoncePrefix();
  return { dataKey: key, prefix, encryption: { wrappedKey: wrapped, noncePrefix: base64(prefix), blobId } };
}

/** Opens a segment's data key; throws KeyUnwrapError when `kek` is not the key that wrapped it. */
export async function openSegmentKey(kek: KeyEncryptionKey, encryption: SegmentEncryption): Promise<SegmentKey> {
  const prefix = fromBase64(encryption.noncePrefix);
  if (prefix.length !== PREFIX_SIZE) throw new KeyUnwrapError("a segment's nonce prefix has the wrong length");
  return { dataKey: await unwrapDataKey(kek, encryption.wrappedKey, encryption.blobId), prefix };
}
