// Errors of the edge's encryption layer. One base class, so callers can tell "the ciphertext or a wrapped key
// is not what we wrote" (never serve bytes, report the replica) from configuration mistakes.

import { EdgeError } from "../../protocol/errors.ts";

export type EdgeCryptoErrorDetails = Record<string, string | number | undefined>;

export class EdgeCryptoError extends EdgeError<string, EdgeCryptoErrorDetails> {
  override name = "EdgeCryptoError";
  constructor(message: string, details: EdgeCryptoErrorDetails = {}, code = "EdgeCrypto") {
    super(code, message, details);
  }
}

export type CiphertextIntegrityReason = "header" | "tag" | "truncated" | "trailing";

/**
 * The blob does not decrypt to what the edge wrote: a flipped bit, a chunk from another position or object, a
 * swapped header, bytes missing at the end or extra bytes after it. No plaintext of the failing chunk is released.
 */
export class CiphertextIntegrityError extends EdgeCryptoError {
  override name = "CiphertextIntegrityError";
  readonly reason: CiphertextIntegrityReason;
  readonly chunk: number | undefined;
  constructor(reason: CiphertextIntegrityReason, message: string, chunk?: number) {
    super(message, { reason, chunk }, "CiphertextIntegrity");
    this.reason = reason;
    this.chunk = chunk;
  }
}

/** A wrapped key that does not open: unknown key id, wrong bucket/object binding, tampering or bad syntax. */
export class KeyUnwrapError extends EdgeCryptoError {
  override name = "KeyUnwrapError";
  constructor(message: string, details: EdgeCryptoErrorDetails = {}) {
    super(message, details, "KeyUnwrap");
  }
}

/** The master-key secret is malformed (syntax, key length, duplicate ids). Never includes key material. */
export class MasterKeyRingError extends EdgeCryptoError {
  override name = "MasterKeyRingError";
  constructor(message: string, details: EdgeCryptoErrorDetails = {}) {
    super(message, details, "MasterKeyRingInvalid");
  }
}
