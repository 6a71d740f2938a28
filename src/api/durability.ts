// Admin view of durability: the repair backlog, whether a draining node is safe to remove, and running a
// chore now (operators use it; so do the chaos tests). Mounted under /api/v1/admin (bearer token).

import { clockMs, clockNow } from "../clock.ts";
import { configOf } from "../config.ts";
import { bucketIndexFor } from "../services/bucket-indexes.ts";
import { Hono } from "hono";
import { listAllBuckets } from "../db/accounts.ts";
import { openDb } from "../db/client.ts";
import { countBlobFaults, listBlobFaults } from "../db/faults.ts";
import { getNode, listNodes } from "../db/registry.ts";
import type { Env } from "../env.ts";
import { nodeIdSchema } from "../protocol/node-protocol.ts";
import { requestScrub } from "../services/node-client.ts";
import { CHORES } from "../../workers/cron/chores.ts";
import { unusableNodes } from "../../workers/cron/repair.ts";
import { ApiError, parseWith } from "./errors.ts";

export const durabilityApi = new Hono<{ Bindings: Env }>();

/** The repair backlog: unusable nodes, reported faults, and segments below their replication factor. */
durabilityApi.get("/repair", async (c) => {
  const db = openDb(c.env.DB);
  const now = await clockMs(c.env);
  const bad = unusableNodes(await listNodes(db), now, configOf(c.env).repairGraceMs);
  const faults = await listBlobFaults(db, 10_000);
  let segmentsNeedingRepair = 0;
  const replication: Record<string, { replicationFactor: number; segments: number; byReplicaCount: Record<string, number> }> = {};
  for (const bucket of await listAllBuckets(db)) {
    const index = bucketIndexFor(c.env, bucket.id);
    segmentsNeedingRepair += (await index.findRepairWork([...bad], faults, bucket.replicationFactor, 10_000)).length;
    const summary = await index.replicationSummary();
    replication[bucket.name] = { replicationFactor: bucket.replicationFactor, segments: summary.segments, byReplicaCount: summary.byCount };
  }
  return c.json({ unusableNodes: [...bad], faults: await countBlobFaults(db), segmentsNeedingRepair, replication });
});

/** Drain progress: a draining node is safe to remove once no replica lives on it. */
durabilityApi.get("/nodes/:id/drain", async (c) => {
  const id = parseWith(nodeIdSchema, c.req.param("id"));
  const db = openDb(c.env.DB);
  const node = await getNode(db, id);
  if (!node) throw new ApiError(404, "NoSuchNode", `Node ${id} does not exist.`);
  let remainingReplicas = 0;
  for (const bucket of await listAllBuckets(db)) {
    remainingReplicas += await bucketIndexFor(c.env, bucket.id).countReplicasOn(id);
  }
  return c.json({ nodeId: id, status: node.status, remainingReplicas, safeToRemove: node.status === "draining" && remainingReplicas === 0 });
});

/** Starts a scrub pass on a node now; its findings arrive as a scrub report. */
durabilityApi.post("/nodes/:id/scrub", async (c) => {
  const id = parseWith(nodeIdSchema, c.req.param("id"));
  const node = await getNode(openDb(c.env.DB), id);
  if (!node) throw new ApiError(404, "NoSuchNode", `Node ${id} does not exist.`);
  try {
    await requestScrub(node, c.env.KEY_ENCRYPTION_KEY);
  } catch (error) {
    throw new ApiError(502, "NodeUnavailable", `Node ${id} did not start a scrub: ${String(error)}`);
  }
  return c.json({ nodeId: id, scrubbing: true }, 202);
});

durabilityApi.post("/chores/:name/run", async (c) => {
  const chore = CHORES.find((ch) => ch.name === c.req.param("name"));
  if (!chore) throw new ApiError(404, "NoSuchChore", `No chore named ${c.req.param("name")}; chores: ${CHORES.map((ch) => ch.name).join(", ")}.`);
  return c.json(await (chore.runNow ?? chore.runOnce)(c.env, await clockNow(c.env)));
});
