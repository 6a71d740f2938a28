// The agent's one error type and the one table mapping each error code to its HTTP status.
// Handlers throw `AgentError`; the app's onError renders it as the protocol's JSON `ErrorBody`.

import type { SigV4FailureCode } from "../../src/protocol/sigv4.ts";

const STATUS_BY_CODE = {
  InvalidBlobId: 400,
  IncompleteBody: 400,
  XAmzContentSHA256Mismatch: 400,
  InvalidRequest: 400,
  /** A replication source URL this node will not fetch (a private address, userinfo, a fragment). */
  SourceRefused: 400,
  AccessDenied: 403,
  NoSuchBlob: 404,
  NotFound: 404,
  // Storage challenges (POST /audit/challenges), refused in the order they are checked.
  /** The assignment's signature does not recover to the edge's assignment signer. */
  InvalidAssignmentSignature: 403,
  /** The assignment names another node. */
  WrongNode: 403,
  /** The assignment's deadline has passed. */
  ChallengeExpired: 403,
  /** pieceIdOf(this node, blobId) is not the assignment's pieceId. */
  PieceMismatch: 400,
  /** A leaf index at or beyond the assignment's own leaf count. */
  InvalidLeafIndex: 400,
  /** The assignment's leaf count is not the stored blob's. */
  LeafCountMismatch: 409,
  /** This assignment was answered as often as it may be. */
  TooManyAnswers: 429,
  /** This caller sends challenges faster than the node answers them. */
  SlowDown: 429,
  RequestTooLarge: 413,
  /** The edge's audit domain (the assignment signer) could not be fetched. */
  AuditDomainUnavailable: 503,
  InvalidRange: 416,
  /** A replicated blob's bytes did not match the size and SHA-256 the edge asked for. */
  BadDigest: 422,
  InternalError: 500,
  /** The peer a blob was to be replicated from failed, refused, stalled or was unreachable. */
  SourceFailed: 502,
  NotRegistered: 503,
  ShuttingDown: 503,
  InsufficientStorage: 507,
  // Signature failures: the edge is the only caller, so every one of them is a plain refusal.
  AuthorizationHeaderMalformed: 403,
  AuthorizationQueryParametersError: 403,
  InvalidAccessKeyId: 403,
  RequestTimeTooSkewed: 403,
  SignatureDoesNotMatch: 403,
  MissingSecurityHeader: 403,
} as const satisfies Record<SigV4FailureCode, number> & Record<string, number>;

export type AgentErrorCode = keyof typeof STATUS_BY_CODE;

export class AgentError extends Error {
  readonly code: AgentErrorCode;
  readonly status: (typeof STATUS_BY_CODE)[AgentErrorCode];
  readonly details: Record<string, string> | undefined;
  /** Extra response headers, e.g. content-range on 416. */
  readonly headers: Record<string, string>;

  constructor(code: AgentErrorCode, message: string, options: { details?: Record<string, string>; headers?: Record<string, string> } = {}) {
    super(message);
    this.name = "AgentError";
    this.code = code;
    this.status = STATUS_BY_CODE[code];
    this.details = options.details;
    this.headers = options.headers ?? {};
  }
}
