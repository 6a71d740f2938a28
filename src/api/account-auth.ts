// Authenticates a tenant's call to the control API (today: the KMS API) with AWS SigV4 and the tenant's own S3
// access key, for any region the edge accepts. The small JSON body is signed in full: the signature is checked
// against the hash of the body received, whatever x-amz-content-sha256 says (AWS services other than S3 do not
// send that header, e.g. curl --aws-sigv4 "aws:amz:us-east-1:kms").

import type { Db } from "../db/client.ts";
import { sha256Hex } from "../protocol/crypto.ts";
import { headersAsSigned, rawPathAndQuery, SigV4Error, verifySigV4 } from "../protocol/sigv4.ts";
import { lookupAccessKey } from "../s3/auth.ts";
import { ApiError } from "./errors.ts";

/** Control-API bodies are small JSON documents; anything larger is refused before it is hashed. */
export const MAX_SIGNED_BODY_BYTES = 64 * 1024;

export interface AuthenticatedAccount {
  accountId: string;
  accessKeyId: string;
  /** The request body as signed (empty for GET). */
  body: string;
}

export async function authenticateAccount(
  request: Request,
  db: Db,
  kek: string,
  options: { service: string; regions: readonly string[]; now: Date },
): Promise<AuthenticatedAccount> {
  // Only the Authorization header: a presigned URL would sign no body, and this API changes state.
  if (request.headers.get("authorization") === null) {
    throw new ApiError(403, "AccessDenied", `This API requires requests signed with AWS SigV4 (service '${options.service}') in the Authorization header.`);
  }
  const declaredLength = Number(request.headers.get("content-length") ?? "0");
  if (declaredLength > MAX_SIGNED_BODY_BYTES) throw bodyTooLarge();
  const body = await request.text();
  if (body.length > MAX_SIGNED_BODY_BYTES) throw bodyTooLarge();

  let accountId: string | undefined;
  try {
    const signature = await verifySigV4(
      { method: request.method, ...rawPathAndQuery(request.url), headers: headersAsSigned(request) },
      async (accessKeyId) => {
        const key = await lookupAccessKey(db, kek, accessKeyId, options.now);
        accountId = key?.accountId;
        return key?.secret;
      },
      { now: options.now, regions: options.regions, service: options.service, payloadHash: await sha256Hex(body) },
    );
    return { accountId: accountId!, accessKeyId: signature.accessKeyId, body };
  } catch (error) {
    // As for node calls, the failure's details (our canonical request) stay out of the response.
    if (error instanceof SigV4Error) throw new ApiError(403, error.code, error.message);
    throw error;
  }
}

function bodyTooLarge(): ApiError {
  return new ApiError(413, "PayloadTooLarge", `The request body may be at most ${MAX_SIGNED_BODY_BYTES} bytes.`);
}
