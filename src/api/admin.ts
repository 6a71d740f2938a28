// Admin API (bearer ADMIN_TOKEN): approve operators, create accounts and access keys, list and steer nodes.

import { clockMs } from "../clock.ts";
import { configOf } from "../config.ts";
import { Hono } from "hono";
import { z } from "zod";
import { edgeChain } from "../chain/edge-chain.ts";
import { protocolSigner } from "../services/protocol-signer.ts";
import { ChainTransactionError } from "../chain/errors.ts";
import { slashNode } from "../chain/slashing.ts";
import { judgeNodeStake } from "../chain/stake-gate.ts";
import { describeRetained, retainedVersionsOf } from "../services/retained-versions.ts";
import { createAccount, deleteAccountRows, getAccount, listAccessKeys, listAccounts } from "../db/accounts.ts";
import { forgetBucket } from "../s3/bucket-access.ts";
import { bucketIndexFor } from "../services/bucket-indexes.ts";
import { destroyAccountKmsKeys } from "../services/kms.ts";
import { openDb } from "../db/client.ts";
import { getNode, listNodes, listOperators, setNodeStatus, upsertOperator } from "../db/registry.ts";
import { NODE_STATUSES, OPERATOR_STATUSES, type NodeRow } from "../db/schema.ts";
import type { Env } from "../env.ts";
import { randomHex, timingSafeEqualHex, sha256Hex } from "../protocol/crypto.ts";
import { nodeIdSchema } from "../protocol/node-protocol.ts";
import { mintAccessKey } from "./access-keys.ts";
import { clockApi } from "./clock.ts";
import { durabilityApi } from "./durability.ts";
import { diagnosticsApi } from "./diagnostics.ts";
import { encryptionApi } from "./encryption.ts";
import { ApiError, parseWith } from "./errors.ts";
import { parseJsonBody } from "./guards/json-body.ts";

export const adminApi = new Hono<{ Bindings: Env }>();

adminApi.use("*", async (c, next) => {
  const header = c.req.header("authorization") ?? "";
  const token = header.startsWith("Bearer ") ? header.slice(7) : "";
  const expected = c.env.ADMIN_TOKEN;
  // Compare digests so the comparison is constant-time whatever the lengths.
  if (!expected || !token || !timingSafeEqualHex(await sha256Hex(token), await sha256Hex(expected))) {
    throw new ApiError(401, "Unauthorized", "A valid admin bearer token is required.");
  }
  await next();
});

const addressParam = z.string().regex(/^0x[0-9a-fA-F]{40}$/, "must be a 0x-prefixed 20-byte address");

adminApi.route("/", durabilityApi);
adminApi.route("/", encryptionApi);
adminApi.route("/", diagnosticsApi);
adminApi.route("/", clockApi);

adminApi.get("/operators", async (c) => c.json({ operators: await listOperators(openDb(c.env.DB)) }));

adminApi.put("/operators/:address", async (c) => {
  const address = parseWith(addressParam, c.req.param("address"));
  const body = await parseJsonBody(c.req.raw, z.object({ status: z.enum(OPERATOR_STATUSES), name: z.string().max(128).optional() }));
  const operator = await upsertOperator(openDb(c.env.DB), address, body.status, body.name, await clockMs(c.env));
  return c.json(operator);
});

adminApi.get("/accounts", async (c) => c.json({ accounts: await listAccounts(openDb(c.env.DB)) }));

adminApi.post("/accounts", async (c) => {
  const body = await parseJsonBody(c.req.raw, z.object({ name: z.string().min(1).max(128) }));
  const account = await createAccount(openDb(c.env.DB), `acc_${randomHex(8)}`, body.name, await clockMs(c.env));
  return c.json(account, 201);
});

/** Creates an access key; the secret is in this response only and stored encrypted. */
adminApi.post("/accounts/:id/keys", async (c) => {
  const db = openDb(c.env.DB);
  const account = await getAccount(db, c.req.param("id"));
  if (!account) throw new ApiError(404, "NoSuchAccount", `Account ${c.req.param("id")} does not exist.`);
  const key = await mintAccessKey(c.env, db, { accountId: account.id, actor: null, now: await clockMs(c.env) });
  return c.json({ accountId: account.id, accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey }, 201);
});

/**
 * Deletes an account and crypto-erases everything it stored: its KMS keys' material and its bucket keys are
 * destroyed at once, then each bucket's index (holding the wrapped data keys) is erased. Blobs left on nodes
 * can no longer be decrypted by anything the edge holds; the orphan sweep deletes them after its grace period.
 * Another isolate may still accept the account's access keys for up to the key cache's 30 s; it finds no buckets.
 * An account holding versions that Object Lock protects is not deleted (409 ObjectLockRetention).
 */
adminApi.delete("/accounts/:id", async (c) => {
  const db = openDb(c.env.DB);
  const account = await getAccount(db, c.req.param("id"));
  if (!account) throw new ApiError(404, "NoSuchAccount", `Account ${c.req.param("id")} does not exist.`);
  // Crypto-erase would destroy what Object Lock promises to keep: refused until every retention ends and every
  // legal hold is lifted.
  const retained = await retainedVersionsOf(c.env, db, account.id, await clockMs(c.env));
  if (retained.length > 0) {
    throw new ApiError(409, "ObjectLockRetention", describeRetained(retained, "The account cannot be deleted"), retained.map(({ bucket, count }) => ({ bucket, lockedVersions: count })));
  }
  const kmsKeysDestroyed = await destroyAccountKmsKeys(db, account.id);
  const deleted = await deleteAccountRows(db, account.id);
  for (const bucket of deleted.buckets) {
    forgetBucket(bucket.name);
    await bucketIndexFor(c.env, bucket.id).erase();
  }
  return c.json({ accountId: account.id, kmsKeysDestroyed, bucketsErased: deleted.buckets.length, accessKeysRevoked: deleted.accessKeys });
});

adminApi.get("/accounts/:id/keys", async (c) => {
  const db = openDb(c.env.DB);
  const account = await getAccount(db, c.req.param("id"));
  if (!account) throw new ApiError(404, "NoSuchAccount", `Account ${c.req.param("id")} does not exist.`);
  return c.json({ keys: await listAccessKeys(db, account.id) });
});

/** A node as admins see it: registry fields without secrets, plus whether it is currently heard from. */
function nodeView(node: NodeRow, now: number, offlineAfterMs: number) {
  const { secretEnc: _secret, ...rest } = node;
  return { ...rest, live: node.lastHeartbeatAt !== null && node.lastHeartbeatAt >= now - offlineAfterMs };
}

adminApi.get("/nodes", async (c) => {
  const now = await clockMs(c.env);
  const offlineAfterMs = configOf(c.env).nodeOfflineAfterMs;
  const nodes = await listNodes(openDb(c.env.DB));
  return c.json({ nodes: nodes.map((n) => nodeView(n, now, offlineAfterMs)) });
});

adminApi.put("/nodes/:id", async (c) => {
  const id = parseWith(nodeIdSchema, c.req.param("id"));
  const body = await parseJsonBody(c.req.raw, z.object({ status: z.enum(NODE_STATUSES) }));
  const db = openDb(c.env.DB);
  if (!(await getNode(db, id))) throw new ApiError(404, "NoSuchNode", `Node ${id} does not exist.`);
  await setNodeStatus(db, id, body.status, await clockMs(c.env));
  return c.json(nodeView((await getNode(db, id))!, await clockMs(c.env), configOf(c.env).nodeOfflineAfterMs));
});

export const slashRequestSchema = z.object({
  /** ICNT base units, as a decimal string (amounts exceed 2^53). */
  amount: z.string().regex(/^[1-9]\d{0,77}$/, "amount must be a positive decimal integer of ICNT base units"),
  reason: z.string().min(1).refine((r) => new TextEncoder().encode(r).length <= 32, "reason must be at most 32 bytes of UTF-8"),
});

/** Slashes with the protocol key (the quorum's decision, carried out by the edge), then re-checks the stake at once. */
adminApi.post("/nodes/:id/slash", async (c) => {
  const id = parseWith(nodeIdSchema, c.req.param("id"));
  const body = await parseJsonBody(c.req.raw, slashRequestSchema);
  const db = openDb(c.env.DB);
  const node = await getNode(db, id);
  if (!node) throw new ApiError(404, "NoSuchNode", `Node ${id} does not exist.`);
  const chain = edgeChain(c.env);
  if (!chain) throw new ApiError(503, "ChainNotConfigured", "CHAIN_RPC_URL is not set: this edge has no chain to slash on.");

  let transactionHash: string;
  try {
    const receipt = await slashNode(protocolSigner(c.env, chain.config), {
      stakingAddress: chain.config.contracts.nodeStaking,
      nodeId: id,
      amount: BigInt(body.amount),
      reason: body.reason,
    });
    transactionHash = receipt.transactionHash;
  } catch (error) {
    if (error instanceof ChainTransactionError) {
      throw new ApiError(422, "SlashRefused", error.shortMessage, { revertReason: error.revertReason ?? null, transactionHash: error.transactionHash ?? null });
    }
    throw error;
  }

  const now = await clockMs(c.env);
  const verdict = await judgeNodeStake(c.env, node, { now, fresh: true });
  if (verdict.kind === "understaked" && node.status === "active") await setNodeStatus(db, id, "suspended", now);
  const stake = verdict.kind === "skipped" ? undefined : verdict.stake;
  return c.json({
    nodeId: id,
    transactionHash,
    bonded: stake?.bonded.toString(),
    required: stake?.required.toString(),
    status: (await getNode(db, id))!.status,
  });
});
