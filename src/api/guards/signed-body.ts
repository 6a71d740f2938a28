// A control-API request signed with SigV4 over its whole (small) body: node-agent calls (service "icn") and
// tenants' KMS calls (service "kms"). What can be checked without the body is checked first, so a caller who is
// not who it claims costs the edge no body read:
//   1. an Authorization header of the SigV4 shape (a presigned URL signs no body, and these calls change state);
//   2. a declared Content-Length within the cap;
//   3. when the client declared the body's SHA-256 in x-amz-content-sha256 (node-agents always do; AWS SDKs of
//      services other than S3 do not), the signature over that hash, before the body is read; then the body,
//      capped, must hash to it;
//   otherwise the body is read, capped at the small default whatever the route allows, and the signature is
//   checked over its hash: an unauthenticated caller never makes the edge hold more than that.

import { sha256Hex } from "../../protocol/crypto.ts";
import { ALGORITHM, headersAsSigned, rawPathAndQuery, verifySigV4, type SecretLookup, type VerifiedSignature } from "../../protocol/sigv4.ts";
import { ApiError } from "../errors.ts";
import { assertDeclaredLengthWithin, MAX_CONTROL_BODY_BYTES, readBodyWithLimit } from "./body-limit.ts";

const SHA256_HEX = /^[0-9a-f]{64}$/;

export interface SignedBodyOptions {
  now: Date;
  /** Regions a credential scope may name. */
  regions: readonly string[];
  /** The scope's service: "icn" for nodes, "kms" for the KMS API. */
  service: string;
  /** The route's cap once the signature verified; before that, at most MAX_CONTROL_BODY_BYTES. */
  maxBytes: number;
}

export interface SignedBody {
  signature: VerifiedSignature;
  /** The body as signed, UTF-8 (empty for a bodiless request). */
  text: string;
}

export async function readSigV4SignedBody(request: Request, lookupSecret: SecretLookup, options: SignedBodyOptions): Promise<SignedBody> {
  const authorization = request.headers.get("authorization");
  if (authorization === null || !authorization.startsWith(`${ALGORITHM} `)) {
    throw new ApiError(403, "AccessDenied", `This API requires requests signed with AWS SigV4 (service '${options.service}') in the Authorization header.`);
  }
  assertDeclaredLengthWithin(request, options.maxBytes);

  const parts = { method: request.method, ...rawPathAndQuery(request.url), headers: headersAsSigned(request) };
  const declaredHash = request.headers.get("x-amz-content-sha256")?.toLowerCase();
  if (declaredHash !== undefined && SHA256_HEX.test(declaredHash)) {
    const signature = await verifySigV4(parts, lookupSecret, { ...options, payloadHash: declaredHash });
    const body = await readBodyWithLimit(request, options.maxBytes);
    if ((await sha256Hex(body)) !== declaredHash) {
      throw new ApiError(400, "XAmzContentSHA256Mismatch", "The body does not match the x-amz-content-sha256 the request was signed with.");
    }
    return { signature, text: new TextDecoder().decode(body) };
  }
  const body = await readBodyWithLimit(request, Math.min(options.maxBytes, MAX_CONTROL_BODY_BYTES));
  const signature = await verifySigV4(parts, lookupSecret, { ...options, payloadHash: await sha256Hex(body) });
  return { signature, text: new TextDecoder().decode(body) };
}
