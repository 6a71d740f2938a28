// The account's own S3 access keys (/api/v1/access-keys), as R2's API tokens: an account mints keys, unrestricted or
// scoped to some buckets or bucket/prefix pairs, read-only or read-write, with an optional expiry; lists them; and
// revokes them. Signed with AWS SigV4 and one of the account's unrestricted keys, service "iam" (a scoped key is
// refused: account-auth.ts); every creation and revocation is written to the access audit log in the same batch.
//
//   curl --aws-sigv4 "aws:amz:us-east-1:iam" --user "$AKID:$SECRET" -H 'content-type: application/json' \
//     -d '{"name":"ci","permission":"read-only","buckets":[{"bucket":"logs","prefix":"ci/"}],"expiresAt":"2027-01-01T00:00:00Z"}' \
//     http://127.0.0.1:8787/api/v1/access-keys

import { Hono } from "hono";
import { z } from "zod";
import { clockMs } from "../clock.ts";
import { accessChangeInsert, type AccessChange } from "../db/access-audit.ts";
import { accessKeyInsert, accessKeyRevocation, countUnrestrictedKeys, getAccountAccessKey, listAccessKeys, type AccessKeyView } from "../db/accounts.ts";
import { openDb, type Db } from "../db/client.ts";
import type { Env } from "../env.ts";
import { randomHex, randomSecret } from "../protocol/crypto.ts";
import { forgetAccessKey } from "../s3/auth.ts";
import { KEY_PERMISSIONS, keyScopeSchema, parseStoredScope, type KeyScope } from "../s3/key-scope.ts";
import { sealSecret } from "../services/secret-box.ts";
import { accountAuthentication, type AuthenticatedAccount } from "./account-auth.ts";
import { ApiError, parseWith } from "./errors.ts";
import { parseJsonText } from "./guards/json-body.ts";

/** SigV4 service name of the account's key and audit routes (the credential scope's service), as IAM's. */
export const ACCOUNT_SIGV4_SERVICE = "iam";

export const createAccessKeyRequestSchema = z
  .object({
    name: z.string().min(1).max(128).optional(),
    /** With `buckets`, a scoped key; without both, an unrestricted one. */
    permission: z.enum(KEY_PERMISSIONS).optional(),
    buckets: keyScopeSchema.shape.buckets.optional(),
    /** RFC 3339; from then on the key is refused. */
    expiresAt: z.iso.datetime({ offset: true }).optional(),
  })
  .strict()
  .refine((r) => (r.permission === undefined) === (r.buckets === undefined), {
    message: "a scoped key needs both permission and buckets; an unrestricted key has neither",
    path: ["permission"],
  });

const accessKeyIdParam = z.string().regex(/^[A-Z0-9]{16,32}$/, "must be an access key id");

/** An access key as its account sees it (never its secret). */
export function accessKeyView(row: AccessKeyView, now: number) {
  const expired = row.expiresAt !== null && now >= row.expiresAt;
  return {
    accessKeyId: row.accessKeyId,
    name: row.name,
    status: row.status === "active" && expired ? ("expired" as const) : row.status,
    scope: parseStoredScope(row.scope),
    expiresAt: row.expiresAt === null ? null : new Date(row.expiresAt).toISOString(),
    createdAt: new Date(row.createdAt).toISOString(),
    createdBy: row.createdBy,
    revokedAt: row.revokedAt === null ? null : new Date(row.revokedAt).toISOString(),
  };
}

const keyTarget = (accessKeyId: string) => `access-key/${accessKeyId}`;

/**
 * Mints an access key for the account and records it in the audit log, in one batch. `actor` null is the edge admin.
 * The secret is in the answer only; it is stored sealed under KEY_ENCRYPTION_KEY.
 */
export async function mintAccessKey(
  env: Env,
  db: Db,
  request: { accountId: string; actor: AccessChange["actor"]; name?: string; scope?: KeyScope; expiresAt?: number; now: number; requestId?: string },
) {
  const accessKeyId = `ICN${randomHex(9).toUpperCase().slice(0, 17)}`;
  const secretAccessKey = randomSecret();
  const fields = { scope: request.scope ? JSON.stringify(request.scope) : null, name: request.name ?? null, expiresAt: request.expiresAt ?? null, createdBy: request.actor?.accessKeyId ?? null };
  const row: AccessKeyView = { accessKeyId, accountId: request.accountId, status: "active", createdAt: request.now, revokedAt: null, ...fields };
  const view = accessKeyView(row, request.now);
  await db.batch([
    accessKeyInsert(db, accessKeyId, request.accountId, await sealSecret(env.KEY_ENCRYPTION_KEY, secretAccessKey), request.now, fields),
    accessChangeInsert(db, { accountId: request.accountId, actor: request.actor, action: "CreateAccessKey", target: keyTarget(accessKeyId), before: null, after: view, at: request.now, requestId: request.requestId }),
  ]);
  return { ...view, accountId: request.accountId, secretAccessKey };
}

export const accessKeysApi = new Hono<{ Bindings: Env; Variables: { caller: AuthenticatedAccount } }>();

accessKeysApi.use("*", accountAuthentication(ACCOUNT_SIGV4_SERVICE));

accessKeysApi.post("/", async (c) => {
  const { accountId, accessKeyId, body } = c.get("caller");
  const request = body.trim() === "" ? parseWith(createAccessKeyRequestSchema, {}) : parseJsonText(body, createAccessKeyRequestSchema);
  const now = await clockMs(c.env);
  const expiresAt = request.expiresAt === undefined ? undefined : Date.parse(request.expiresAt);
  if (expiresAt !== undefined && expiresAt <= now) {
    throw new ApiError(400, "ValidationError", "expiresAt must be in the future", [{ path: "expiresAt", message: "must be in the future" }]);
  }
  const scope = request.buckets && request.permission ? keyScopeSchema.parse({ permission: request.permission, buckets: request.buckets }) : undefined;
  const key = await mintAccessKey(c.env, openDb(c.env.DB), { accountId, actor: { accountId, accessKeyId }, name: request.name, scope, expiresAt, now });
  return c.json(key, 201);
});

accessKeysApi.get("/", async (c) => {
  const { accountId } = c.get("caller");
  const now = await clockMs(c.env);
  return c.json({ keys: (await listAccessKeys(openDb(c.env.DB), accountId)).map((k) => accessKeyView(k, now)) });
});

accessKeysApi.get("/:id", async (c) => {
  const { accountId } = c.get("caller");
  const key = await accountKey(openDb(c.env.DB), accountId, c.req.param("id"));
  return c.json(accessKeyView(key, await clockMs(c.env)));
});

/**
 * Revokes a key for good: from the next request it signs it is refused (a scoped key in every isolate; an unrestricted
 * one here at once and elsewhere within the key cache's 30 s, src/s3/auth.ts). Revoking a revoked key changes nothing.
 * The account's last working unrestricted key is kept, or nobody could sign for the account any more.
 */
accessKeysApi.delete("/:id", async (c) => {
  const { accountId, accessKeyId: actorKeyId } = c.get("caller");
  const db = openDb(c.env.DB);
  const now = await clockMs(c.env);
  const key = await accountKey(db, accountId, c.req.param("id"));
  if (key.status === "revoked") return c.json(accessKeyView(key, now));
  const working = key.status === "active" && (key.expiresAt === null || now < key.expiresAt);
  if (key.scope === null && working && (await countUnrestrictedKeys(db, accountId, now)) <= 1) {
    throw new ApiError(409, "LastUnrestrictedKey", `Access key ${key.accessKeyId} is the account's last working unrestricted key; mint another before revoking it.`);
  }
  const revoked: AccessKeyView = { ...key, status: "revoked", revokedAt: now };
  await db.batch([
    accessKeyRevocation(db, accountId, key.accessKeyId, now),
    accessChangeInsert(db, {
      accountId,
      actor: { accountId, accessKeyId: actorKeyId },
      action: "RevokeAccessKey",
      target: keyTarget(key.accessKeyId),
      before: accessKeyView(key, now),
      after: accessKeyView(revoked, now),
      at: now,
    }),
  ]);
  forgetAccessKey(key.accessKeyId);
  return c.json(accessKeyView(revoked, now));
});

async function accountKey(db: Db, accountId: string, id: string): Promise<AccessKeyView> {
  const key = await getAccountAccessKey(db, accountId, parseWith(accessKeyIdParam, id));
  if (!key) throw new ApiError(404, "NoSuchAccessKey", `The account has no access key ${id}.`);
  return key;
}
