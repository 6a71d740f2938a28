// The node's id: generated on first start and kept in DATA_DIR/node.json, because the edge's object
// records point at it and a node that came back under a new id would orphan every blob it holds.

import { randomBytes } from "node:crypto";
import { readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { nodeIdSchema } from "../../src/protocol/node-protocol.ts";
import { fsyncDirectory, writeFileDurably } from "./durable-fs.ts";

const nodeIdentitySchema = z.object({ nodeId: nodeIdSchema, createdAt: z.string() });
export type NodeIdentity = z.infer<typeof nodeIdentitySchema>;

export const NODE_IDENTITY_FILE = "node.json";

export async function loadOrCreateNodeIdentity(dataDir: string, now: Date = new Date()): Promise<NodeIdentity> {
  const path = join(dataDir, NODE_IDENTITY_FILE);
  let text: string | undefined;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  if (text !== undefined) {
    const parsed = nodeIdentitySchema.safeParse(safeJson(text));
    // Never silently replace a damaged identity: a new id would strand every blob the edge placed here.
    if (!parsed.success) throw new Error(`${path} is not a valid node identity; fix or remove it by hand`);
    return parsed.data;
  }

  const identity: NodeIdentity = { nodeId: `node_${randomBytes(8).toString("hex")}`, createdAt: now.toISOString() };
  const tmp = `${path}.tmp`;
  await rm(tmp, { force: true });
  await writeFileDurably(tmp, `${JSON.stringify(identity, null, 2)}\n`);
  await rename(tmp, path);
  await fsyncDirectory(dataDir);
  return identity;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
