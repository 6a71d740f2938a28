// The one root of the edge's errors, in viem's shape (src/errors/base.ts there): a stable machine-readable code,
// a short message a person can act on, and structured details. Each surface maps these to HTTP in one place:
// S3 in src/s3/handler.ts (toS3Error, rendered by src/s3/respond.ts), the JSON API in src/api/error-response.ts.
// It lives in protocol/ because SigV4Error, which node-agent shares, extends it; it imports nothing.

export class EdgeError<Code extends string = string, Details = unknown> extends Error {
  override name = "EdgeError";
  /** Stable, machine-readable; what clients and logs match on. */
  readonly code: Code;
  readonly details: Details;

  constructor(code: Code, message: string, details: Details, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.details = details;
  }
}
