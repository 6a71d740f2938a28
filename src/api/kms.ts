// The KMS control API (/api/v1/kms): a tenant manages its OWN keys for SSE-KMS, signing with AWS SigV4 and its S3
// access key, service "kms", any region the edge accepts. Responses carry key metadata only, never material.
//
//   curl --aws-sigv4 "aws:amz:us-east-1:kms" --user "$AKID:$SECRET" \
//     -H 'content-type: application/json' -d '{"alias":"alias/backups"}' http://127.0.0.1:8787/api/v1/kms/keys
//   curl --aws-sigv4 "aws:amz:us-east-1:kms" --user "$AKID:$SECRET" http://127.0.0.1:8787/api/v1/kms/keys/alias/backups
//
// `:ref` is a key id, an alias or either ARN, written as is: alias/a/b keeps its slashes. The edge checks the path
// as S3 signs it (URI-encoded once), while SDK signers of other services encode it twice; so never percent-encode a
// ref, except an ARN's ':' for curl, which signs the path as typed (.../keys/arn%3Aaws%3Akms%3A...).
// Another account's key answers exactly like a key that does not exist.

import { clockMs, clockNow } from "../clock.ts";
import { configOf } from "../config.ts";
import { Hono } from "hono";
import { z } from "zod";
import { openDb } from "../db/client.ts";
import type { Env } from "../env.ts";
import { parseMasterKeyRing } from "../services/crypto/keys.ts";
import {
  cancelKmsKeyDeletion,
  createKmsKey,
  describeKmsKey,
  disableKmsKey,
  enableKmsKey,
  findOwnKmsKey,
  KMS_ALIAS_PATTERN,
  listKmsKeys,
  MAX_PENDING_WINDOW_DAYS,
  MIN_PENDING_WINDOW_DAYS,
  parseKmsKeyRef,
  removeKmsKeyAlias,
  RESERVED_ALIAS_PREFIX,
  scheduleKmsKeyDeletion,
  setKmsKeyAliasFor,
} from "../services/kms.ts";
import { authenticateAccount, type AuthenticatedAccount } from "./account-auth.ts";
import { ApiError, parseWith } from "./errors.ts";
import { describeRetained, retainedVersionsOf } from "../services/retained-versions.ts";
import { parseJsonText } from "./guards/json-body.ts";

/** SigV4 service name of this API (the credential scope's service). */
export const KMS_SIGV4_SERVICE = "kms";

export const kmsAliasSchema = z
  .string()
  .regex(KMS_ALIAS_PATTERN, "an alias is 'alias/' followed by 1-250 of A-Z a-z 0-9 / _ -")
  .refine((alias) => !alias.startsWith(RESERVED_ALIAS_PREFIX), `aliases beginning with ${RESERVED_ALIAS_PREFIX} are reserved for AWS managed keys`);

export const createKmsKeyRequestSchema = z.object({
  description: z.string().max(8192).optional(),
  alias: kmsAliasSchema.optional(),
});

export const scheduleKmsKeyDeletionRequestSchema = z.object({
  pendingWindowInDays: z.number().int().min(MIN_PENDING_WINDOW_DAYS).max(MAX_PENDING_WINDOW_DAYS).default(MAX_PENDING_WINDOW_DAYS),
});

export const setKmsKeyAliasRequestSchema = z.object({ alias: kmsAliasSchema });

const keyRefParam = z.string().refine((ref) => parseKmsKeyRef(ref) !== undefined, "must be a key id (UUID), an alias (alias/name), a key ARN or an alias ARN");

export const kmsApi = new Hono<{ Bindings: Env; Variables: { caller: AuthenticatedAccount } }>();

kmsApi.use("*", async (c, next) => {
  const caller = await authenticateAccount(c.req.raw, c.env, openDb(c.env.DB), {
    service: KMS_SIGV4_SERVICE,
    regions: edgeRegions(c.env),
    now: await clockNow(c.env),
  });
  c.set("caller", caller);
  await next();
});

kmsApi.post("/keys", async (c) => {
  const { accountId, body } = c.get("caller");
  const request = parseSignedJson(body, createKmsKeyRequestSchema);
  const ring = await parseMasterKeyRing(c.env.MASTER_KEYS);
  const key = await createKmsKey(openDb(c.env.DB), ring, accountId, request, keyRegion(c.env), await clockMs(c.env));
  return c.json(key, 201);
});

kmsApi.get("/keys", async (c) => {
  const { accountId } = c.get("caller");
  return c.json({ keys: await listKmsKeys(openDb(c.env.DB), accountId, keyRegion(c.env)) });
});

// The action routes come before the catch-all describe route; `{.+}` lets a ref keep its slashes.
kmsApi.post("/keys/:ref{.+}/disable", async (c) => {
  const { accountId } = c.get("caller");
  return c.json(await disableKmsKey(openDb(c.env.DB), accountId, refParam(c.req.param("ref")), keyRegion(c.env), await clockMs(c.env)));
});

kmsApi.post("/keys/:ref{.+}/enable", async (c) => {
  const { accountId } = c.get("caller");
  return c.json(await enableKmsKey(openDb(c.env.DB), accountId, refParam(c.req.param("ref")), keyRegion(c.env), await clockMs(c.env)));
});

kmsApi.post("/keys/:ref{.+}/schedule-deletion", async (c) => {
  const { accountId, body } = c.get("caller");
  const ref = refParam(c.req.param("ref"));
  const { pendingWindowInDays } = parseSignedJson(body, scheduleKmsKeyDeletionRequestSchema);
  const db = openDb(c.env.DB);
  const now = await clockMs(c.env);
  // Destroying the key would erase every SSE-KMS version under it, including ones Object Lock must keep.
  const key = await findOwnKmsKey(db, accountId, ref, keyRegion(c.env));
  const retained = await retainedVersionsOf(c.env, db, accountId, now, key.id);
  if (retained.length > 0) {
    throw new ApiError(409, "ObjectLockRetention", describeRetained(retained, "The key cannot be scheduled for deletion"), retained.map(({ bucket, count }) => ({ bucket, lockedVersions: count })));
  }
  return c.json(await scheduleKmsKeyDeletion(db, accountId, ref, keyRegion(c.env), pendingWindowInDays, now));
});

kmsApi.post("/keys/:ref{.+}/cancel-deletion", async (c) => {
  const { accountId } = c.get("caller");
  return c.json(await cancelKmsKeyDeletion(openDb(c.env.DB), accountId, refParam(c.req.param("ref")), keyRegion(c.env), await clockMs(c.env)));
});

kmsApi.put("/keys/:ref{.+}/alias", async (c) => {
  const { accountId, body } = c.get("caller");
  const ref = refParam(c.req.param("ref"));
  const { alias } = parseSignedJson(body, setKmsKeyAliasRequestSchema);
  return c.json(await setKmsKeyAliasFor(openDb(c.env.DB), accountId, ref, alias, keyRegion(c.env), await clockMs(c.env)));
});

kmsApi.delete("/keys/:ref{.+}/alias", async (c) => {
  const { accountId } = c.get("caller");
  return c.json(await removeKmsKeyAlias(openDb(c.env.DB), accountId, refParam(c.req.param("ref")), keyRegion(c.env), await clockMs(c.env)));
});

kmsApi.get("/keys/:ref{.+}", async (c) => {
  const { accountId } = c.get("caller");
  return c.json(await describeKmsKey(openDb(c.env.DB), accountId, refParam(c.req.param("ref")), keyRegion(c.env)));
});

function edgeRegions(env: Env): string[] {
  return configOf(env).s3Regions;
}

/** The region in key ARNs: the edge's own (the first of S3_REGIONS), whatever region a request was signed for. */
function keyRegion(env: Env): string {
  return edgeRegions(env)[0]!;
}

function refParam(ref: string): string {
  return parseWith(keyRefParam, ref);
}

/** The signed body as JSON; an empty body is an empty object (every field of these requests is optional or checked). */
function parseSignedJson<T extends z.ZodType>(body: string, schema: T): z.infer<T> {
  return body.trim() === "" ? parseWith(schema, {}) : parseJsonText(body, schema);
}
