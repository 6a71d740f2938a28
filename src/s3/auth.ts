// Authenticates an S3 request: SigV4 or, for older clients, Signature V2 (sigv2.ts), each in the Authorization
// header or a presigned query, against the account's access keys in D1. A request without any signature is
// anonymous; only public-read buckets answer those (bucket-access.ts).
// Every x-amz-* header of a signed request must be signed: the router and the operations act on them
// (x-amz-copy-source turns PutObject into CopyObject), and whoever holds a presigned URL must not be able to
// add any.

import { findActiveAccessKey, isAccessKeyActive } from "../db/accounts.ts";
import type { Db } from "../db/client.ts";
import { hasSigV4, verifySigV4, type SignedRequestParts } from "../protocol/sigv4.ts";
import { openSecret } from "../services/secret-box.ts";
import { S3Error } from "./errors.ts";
import { ANONYMOUS, type Principal } from "./context.ts";
import { virtualHostedBucket } from "./router.ts";
import { parseStoredScope, type KeyScope } from "./key-scope.ts";
import { hasSigV2, verifySigV2, type S3Signature } from "./sigv2.ts";
import { TtlCache } from "../services/ttl-cache.ts";

/** An active access key as a request uses it: its account, decrypted secret and, for a scoped key, its scope. */
export interface AccessKey {
  accountId: string;
  secret: string;
  /** null for an unrestricted key. */
  scope: KeyScope | null;
  /** ms since the epoch, or null for a key that does not expire. */
  expiresAt: number | null;
}

/**
 * Active keys with their decrypted secrets, per isolate. What may change about a key is only its status (revoked,
 * disabled, its account suspended): scope and expiry are fixed when it is minted. So the cached row serves every
 * check but that one, and expiry is compared with each request's clock, never with when the row was cached.
 * Revocation: a scoped key's status is read from D1 on every request it signs (one indexed read), so revoking it
 * takes effect on the next request in every isolate; an unrestricted key keeps working in another isolate for at
 * most this long after it is revoked (in the isolate that revoked it, at once), the price of not reading D1 on
 * every request of the hot path.
 */
const KEY_CACHE_TTL_MS = 30_000;
const keys = new TtlCache<string, AccessKey>(KEY_CACHE_TTL_MS);

/** An active, unexpired access key at `now`; also authenticates the control API and browser form uploads' policies. */
export async function lookupAccessKey(db: Db, kek: string, accessKeyId: string, now: Date): Promise<AccessKey | undefined> {
  let loaded = false;
  const key = await keys.get(accessKeyId, now.getTime(), async () => {
    loaded = true;
    const row = await findActiveAccessKey(db, accessKeyId);
    if (!row) return undefined;
    return { accountId: row.accountId, secret: await openSecret(kek, row.secretEnc), scope: parseStoredScope(row.scope), expiresAt: row.expiresAt };
  });
  if (!key) return undefined;
  if (key.expiresAt !== null && now.getTime() >= key.expiresAt) return undefined;
  if (key.scope !== null && !loaded && !(await isAccessKeyActive(db, accessKeyId))) {
    keys.delete(accessKeyId);
    return undefined;
  }
  return key;
}

/** Drops a key from this isolate's cache (after revoking it), so this isolate refuses it from the next request. */
export function forgetAccessKey(accessKeyId: string): void {
  keys.delete(accessKeyId);
}

export async function authenticateS3(
  parts: SignedRequestParts,
  db: Db,
  kek: string,
  regions: readonly string[],
  baseDomains: readonly string[],
  now: Date,
): Promise<Principal> {
  const v2 = hasSigV2(parts);
  if (!v2 && !hasSigV4(parts)) return ANONYMOUS;
  let key: AccessKey | undefined;
  const lookupSecret = async (accessKeyId: string) => {
    key = await lookupAccessKey(db, kek, accessKeyId, now);
    return key?.secret;
  };
  if (v2) {
    const host = parts.headers.get("host") ?? "";
    const signature = await verifySigV2(parts, lookupSecret, { now, virtualHostedBucket: virtualHostedBucket(host, baseDomains) });
    // V2 signs every x-amz-* header the request carries: none is ever unsigned.
    return principalOf(key!, signature.accessKeyId, signature);
  }
  // A SigV4Error becomes its S3 error in the handler (toS3Error), the one place S3 failures are mapped.
  const signature = await verifySigV4(parts, lookupSecret, { now, regions, service: "s3" });
  if (!signature.presigned && signature.payloadHash === "") {
    throw new S3Error("InvalidRequest", "Missing required header for this request: x-amz-content-sha256");
  }
  refuseUnsignedAmzHeaders(parts.headers, signature.signedHeaders);
  return principalOf(key!, signature.accessKeyId, signature);
}

function principalOf(key: AccessKey, accessKeyId: string, signature: S3Signature): Principal {
  return key.scope === null ? { accountId: key.accountId, accessKeyId, signature } : { accountId: key.accountId, accessKeyId, signature, scope: key.scope };
}

/**
 * S3 refuses a signed request that carries an x-amz-* header its signature does not cover, whether signed in
 * the Authorization header (SignedHeaders) or presigned (X-Amz-SignedHeaders): "Any x-amz-* headers that you
 * plan to add to the request must also be added to the signed headers"
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html). The SDKs sign every
 * x-amz-* header they send, including x-amz-content-sha256, x-amz-decoded-content-length and x-amz-trailer.
 * Requests without a signature (anonymous reads, browser form uploads) have their own rules in handler.ts.
 */
export function refuseUnsignedAmzHeaders(headers: Headers, signedHeaders: readonly string[]): void {
  const signed = new Set(signedHeaders);
  const unsigned: string[] = [];
  headers.forEach((_, name) => {
    if (name.startsWith("x-amz-") && !signed.has(name)) unsigned.push(name);
  });
  if (unsigned.length > 0) {
    throw new S3Error("AccessDenied", "There were headers present in the request which were not signed", { HeadersNotSigned: unsigned.join(", ") });
  }
}
