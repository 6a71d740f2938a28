// Authenticates a tenant's call to the control API (today: the KMS API) with AWS SigV4 and the tenant's own S3
// access key, for any region the edge accepts, then counts it against the tenant's rate limit. The small JSON body
// is signed in full and read with a hard cap (src/api/guards/signed-body.ts): the signature is checked against the
// hash of the body received, or, when the client declared it in x-amz-content-sha256, against that hash before the
// body is read (AWS services other than S3 do not send that header, e.g. curl --aws-sigv4 "aws:amz:us-east-1:kms").

import type { Db } from "../db/client.ts";
import type { Env } from "../env.ts";
import { lookupAccessKey } from "../s3/auth.ts";
import { MAX_CONTROL_BODY_BYTES } from "./guards/body-limit.ts";
import { enforceRateLimit } from "./guards/rate-limit.ts";
import { readSigV4SignedBody } from "./guards/signed-body.ts";

export interface AuthenticatedAccount {
  accountId: string;
  accessKeyId: string;
  /** The request body as signed (empty for GET). */
  body: string;
}

export async function authenticateAccount(
  request: Request,
  env: Env,
  db: Db,
  options: { service: string; regions: readonly string[]; now: Date },
): Promise<AuthenticatedAccount> {
  let accountId: string | undefined;
  const { signature, text } = await readSigV4SignedBody(
    request,
    async (accessKeyId) => {
      const key = await lookupAccessKey(db, env.KEY_ENCRYPTION_KEY, accessKeyId, options.now);
      accountId = key?.accountId;
      return key?.secret;
    },
    { ...options, maxBytes: MAX_CONTROL_BODY_BYTES },
  );
  await enforceRateLimit(env.RATE_LIMIT_TENANT, { kind: "tenant", accessKeyId: signature.accessKeyId });
  return { accountId: accountId!, accessKeyId: signature.accessKeyId, body: text };
}
