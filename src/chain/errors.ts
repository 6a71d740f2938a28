// Errors of the chain layer, in viem's shape: one base class with a short message and details, so a caller can
// tell a refused transaction from a missing configuration without parsing strings.

import { EdgeError } from "../protocol/errors.ts";

export type ChainErrorCode = "ChainUnavailable" | "ChainConfigInvalid" | "ChainTransactionRefused";

export class ChainError extends EdgeError<ChainErrorCode, string | undefined> {
  override name = "ChainError";
  /** One line a person can act on. */
  readonly shortMessage: string;

  constructor(shortMessage: string, options: { details?: string; cause?: unknown; code?: ChainErrorCode } = {}) {
    super(options.code ?? "ChainUnavailable", options.details ? `${shortMessage}\n\nDetails: ${options.details}` : shortMessage, options.details, { cause: options.cause });
    this.shortMessage = shortMessage;
  }
}

/** The chain vars are present but wrong (a missing or malformed contract address, a bad chain id). */
export class ChainConfigError extends ChainError {
  override name = "ChainConfigError";
  constructor(shortMessage: string, options: { details?: string; cause?: unknown } = {}) {
    super(shortMessage, { ...options, code: "ChainConfigInvalid" });
  }
}

/** A transaction was refused: by simulation before it was sent, or by the chain after it was mined. */
export class ChainTransactionError extends ChainError {
  override name = "ChainTransactionError";
  readonly functionName: string;
  /** The contract's custom error or revert string, e.g. `SlashTooLarge(…)`, when one could be decoded. */
  readonly revertReason: string | undefined;
  /** Set when the transaction was mined and reverted. */
  readonly transactionHash: `0x${string}` | undefined;

  constructor(
    shortMessage: string,
    options: { functionName: string; revertReason?: string; transactionHash?: `0x${string}`; details?: string; cause?: unknown },
  ) {
    super(shortMessage, { ...options, code: "ChainTransactionRefused" });
    this.functionName = options.functionName;
    this.revertReason = options.revertReason;
    this.transactionHash = options.transactionHash;
  }
}
