// Authenticates a tenant's call to the control API (the KMS, access-key and audit routes) with AWS SigV4 and one of
// the tenant's own unrestricted S3 access keys, for any region the edge accepts, then counts it against the tenant's
// rate limit. The small JSON body is signed in full and read with a hard cap (src/api/guards/signed-body.ts): the
// signature is checked against the hash of the body received, or, when the client declared it in
// x-amz-content-sha256, against that hash before the body is read (AWS services other than S3 do not send that
// header, e.g. curl --aws-sigv4 "aws:amz:us-east-1:kms").
// A scoped key (src/s3/key-scope.ts) is refused here whatever it signs: it may never manage KMS keys, mint keys or
// read the account's audit log, as R2's object tokens cannot manage the account.

import type { MiddlewareHandler } from "hono";
import { clockNow } from "../clock.ts";
import { configOf } from "../config.ts";
import { openDb, type Db } from "../db/client.ts";
import type { Env } from "../env.ts";
import { lookupAccessKey, type AccessKey } from "../s3/auth.ts";
import { ApiError } from "./errors.ts";
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
  let key: AccessKey | undefined;
  const { signature, text } = await readSigV4SignedBody(
    request,
    async (accessKeyId) => {
      key = await lookupAccessKey(db, env.KEY_ENCRYPTION_KEY, accessKeyId, options.now);
      return key?.secret;
    },
    { ...options, maxBytes: MAX_CONTROL_BODY_BYTES },
  );
  // Only after the signature verified: nobody learns from this answer what kind of key an id names.
  if (key!.scope !== null) {
    throw new ApiError(403, "AccessDenied", `Access key ${signature.accessKeyId} is a scoped key: the control API accepts only the account's unrestricted keys.`);
  }
  await enforceRateLimit(env.RATE_LIMIT_TENANT, { kind: "tenant", accessKeyId: signature.accessKeyId });
  return { accountId: key!.accountId, accessKeyId: signature.accessKeyId, body: text };
}

/** Middleware that authenticates every request of a tenant's route group and sets `caller`. */
export function accountAuthentication(service: string): MiddlewareHandler<{ Bindings: Env; Variables: { caller: AuthenticatedAccount } }> {
  return async (c, next) => {
    const caller = await authenticateAccount(c.req.raw, c.env, openDb(c.env.DB), { service, regions: configOf(c.env).s3Regions, now: await clockNow(c.env) });
    c.set("caller", caller);
    await next();
  };
}
