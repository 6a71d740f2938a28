// Authenticates node-agent calls to the control API: SigV4 with the node's own credentials (service "icn"),
// the small JSON body signed in full.

import { getNodeByAccessKey } from "../db/registry.ts";
import type { Db } from "../db/client.ts";
import type { NodeRow } from "../db/schema.ts";
import { sha256Hex } from "../protocol/crypto.ts";
import { NODE_CONTROL_SERVICE, NODE_SIGV4_REGION } from "../protocol/node-protocol.ts";
import { headersAsSigned, rawPathAndQuery, SigV4Error, verifySigV4 } from "../protocol/sigv4.ts";
import { openSecret } from "../services/secret-box.ts";
import type { z } from "zod";
import { ApiError, parseWith } from "./errors.ts";

/** Verifies the request came from node `nodeId` and returns its row with the body text. */
export async function authenticateNode(request: Request, db: Db, kek: string, nodeId: string, now: Date): Promise<{ node: NodeRow; body: string }> {
  const body = await request.text();
  let node: NodeRow | undefined;
  try {
    await verifySigV4(
      { method: request.method, ...rawPathAndQuery(request.url), headers: headersAsSigned(request) },
      async (accessKeyId) => {
        node = await getNodeByAccessKey(db, accessKeyId);
        return node ? openSecret(kek, node.secretEnc) : undefined;
      },
      { now, regions: [NODE_SIGV4_REGION], service: NODE_CONTROL_SERVICE, payloadHash: await sha256Hex(body) },
    );
  } catch (error) {
    if (error instanceof SigV4Error) throw new ApiError(403, error.code, error.message);
    throw error;
  }
  if (!node || node.id !== nodeId) throw new ApiError(403, "AccessDenied", "These credentials do not belong to this node.");
  return { node, body };
}

/** Authenticates a node's signed JSON call and validates its body with `schema`. */
export async function readSignedNodeJson<T extends z.ZodType>(
  request: Request,
  db: Db,
  kek: string,
  nodeId: string,
  now: Date,
  schema: T,
): Promise<{ node: NodeRow; data: z.infer<T> }> {
  const { node, body } = await authenticateNode(request, db, kek, nodeId, now);
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new ApiError(400, "InvalidJson", "The request body is not valid JSON.");
  }
  return { node, data: parseWith(schema, json) };
}
