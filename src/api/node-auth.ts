// Authenticates node-agent calls to the control API: SigV4 with the node's own credentials (service "icn"),
// the small JSON body signed in full and read with a hard cap (src/api/guards/signed-body.ts), then counted
// against the node's rate limit.

import { getNodeByAccessKey } from "../db/registry.ts";
import type { Db } from "../db/client.ts";
import type { NodeRow } from "../db/schema.ts";
import type { Env } from "../env.ts";
import { NODE_CONTROL_SERVICE, NODE_SIGV4_REGION } from "../protocol/node-protocol.ts";
import { openSecret } from "../services/secret-box.ts";
import type { z } from "zod";
import { ApiError } from "./errors.ts";
import { MAX_CONTROL_BODY_BYTES } from "./guards/body-limit.ts";
import { parseJsonText } from "./guards/json-body.ts";
import { enforceRateLimit } from "./guards/rate-limit.ts";
import { readSigV4SignedBody } from "./guards/signed-body.ts";

/** Verifies the request came from node `nodeId`, counts it against the node's rate limit, and returns its row with the body text. */
export async function authenticateNode(
  request: Request,
  env: Env,
  db: Db,
  nodeId: string,
  now: Date,
  maxBodyBytes = MAX_CONTROL_BODY_BYTES,
): Promise<{ node: NodeRow; body: string }> {
  let node: NodeRow | undefined;
  const { text } = await readSigV4SignedBody(
    request,
    async (accessKeyId) => {
      node = await getNodeByAccessKey(db, accessKeyId);
      return node ? openSecret(env.KEY_ENCRYPTION_KEY, node.secretEnc) : undefined;
    },
    { now, regions: [NODE_SIGV4_REGION], service: NODE_CONTROL_SERVICE, maxBytes: maxBodyBytes },
  );
  if (!node || node.id !== nodeId) throw new ApiError(403, "AccessDenied", "These credentials do not belong to this node.");
  await enforceRateLimit(env.RATE_LIMIT_NODE, { kind: "node", nodeId: node.id });
  return { node, body: text };
}

/** Authenticates a node's signed JSON call and validates its body with `schema`. */
export async function readSignedNodeJson<T extends z.ZodType>(
  request: Request,
  env: Env,
  db: Db,
  nodeId: string,
  now: Date,
  schema: T,
  maxBodyBytes = MAX_CONTROL_BODY_BYTES,
): Promise<{ node: NodeRow; data: z.infer<T> }> {
  const { node, body } = await authenticateNode(request, env, db, nodeId, now, maxBodyBytes);
  return { node, data: parseJsonText(body, schema) };
}
