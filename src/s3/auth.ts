// Authenticates an S3 request: SigV4 (header or presigned query) against the account's access keys in D1.
// A request without any signature is anonymous; only public-read buckets answer those (bucket-access.ts).

import { findActiveAccessKey } from "../db/accounts.ts";
import type { Db } from "../db/client.ts";
import { hasSigV4, SigV4Error, verifySigV4, type SignedRequestParts } from "../protocol/sigv4.ts";
import { openSecret } from "../services/secret-box.ts";
import { S3Error } from "./errors.ts";
import { ANONYMOUS, type Principal } from "./context.ts";
import { TtlCache } from "../services/ttl-cache.ts";

/**
 * Decrypted secrets of active keys, per isolate. A key disabled or deleted keeps working here for at most
 * this long, the price of not reading D1 and decrypting on every request.
 */
const KEY_CACHE_TTL_MS = 30_000;
const keys = new TtlCache<string, { accountId: string; secret: string }>(KEY_CACHE_TTL_MS);

/** An active access key's account and decrypted secret (cached); also authenticates the KMS control API. */
export async function lookupAccessKey(db: Db, kek: string, accessKeyId: string, now: Date): Promise<{ accountId: string; secret: string } | undefined> {
  return keys.get(accessKeyId, now.getTime(), async () => {
    const row = await findActiveAccessKey(db, accessKeyId);
    return row ? { accountId: row.accountId, secret: await openSecret(kek, row.secretEnc) } : undefined;
  });
}

/** The secret of an active access key (for signatures verified outside verifySigV4, e.g. POST policies). */
export async function lookupKeySecret(db: Db, kek: string, accessKeyId: string, now: Date): Promise<string | undefined> {
  return (await lookupAccessKey(db, kek, accessKeyId, now))?.secret;
}

export async function lookupKeyAccount(db: Db, kek: string, accessKeyId: string, now: Date): Promise<string | undefined> {
  return (await lookupAccessKey(db, kek, accessKeyId, now))?.accountId;
}

export async function authenticateS3(
  parts: SignedRequestParts,
  db: Db,
  kek: string,
  regions: readonly string[],
  now: Date,
): Promise<Principal> {
  if (!hasSigV4(parts)) return ANONYMOUS;
  let accountId: string | undefined;
  try {
    const signature = await verifySigV4(
      parts,
      async (accessKeyId) => {
        const key = await lookupAccessKey(db, kek, accessKeyId, now);
        accountId = key?.accountId;
        return key?.secret;
      },
      { now, regions, service: "s3" },
    );
    if (!signature.presigned && signature.payloadHash === "") {
      throw new S3Error("InvalidRequest", "Missing required header for this request: x-amz-content-sha256");
    }
    return { accountId: accountId!, accessKeyId: signature.accessKeyId, signature };
  } catch (error) {
    if (error instanceof SigV4Error) throw new S3Error(error.code, error.message, error.details);
    throw error;
  }
}
