// What placement believes about a node: the edge's own account of the bytes it placed there (idempotent under
// retries), the capacity the operator registered, and the node's word on its health and free space, bounded.

import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { openDb } from "../../src/db/client.ts";
import { placedOnNode, recordPlacedBlobs, releasePlacedBlobs } from "../../src/db/placements.ts";
import { getNode, listPlaceableNodes } from "../../src/db/registry.ts";
import type { Env } from "../../src/env.ts";
import { registerTestNode } from "./helpers.ts";

const workerEnv = env as unknown as Env;
const db = () => openDb(workerEnv.DB);
const beat = { totalBytes: 1000, freeBytes: 600, usedBytes: 400, blobCount: 7, healthy: true, agentVersion: "0.1.1" };
const blob = (n: number) => `b${"c".repeat(32)}${String(n).padStart(32, "0")}`;

async function placeable(nodeId: string): Promise<boolean> {
  const nodes = await listPlaceableNodes(db(), Date.now(), Number(workerEnv.NODE_OFFLINE_AFTER_SECONDS) * 1000);
  return nodes.some((n) => n.id === nodeId);
}

describe("the placement account", () => {
  it("counts each blob on a node once, however often a commit, repair or delete is retried", async () => {
    const { m } = await registerTestNode();
    const placed = [
      { nodeId: m.nodeId, blobId: blob(1), bytes: 1000 },
      { nodeId: m.nodeId, blobId: blob(2), bytes: 234 },
    ];
    await recordPlacedBlobs(db(), placed, Date.now());
    await recordPlacedBlobs(db(), placed, Date.now());
    await recordPlacedBlobs(db(), [placed[0]!], Date.now());
    expect((await getNode(db(), m.nodeId))?.placedBytes).toBe(1234);
    expect([...(await placedOnNode(db(), m.nodeId, [blob(1), blob(2), blob(3)]))].sort()).toEqual([blob(1), blob(2)]);

    await releasePlacedBlobs(db(), [{ nodeId: m.nodeId, blobId: blob(1) }]);
    await releasePlacedBlobs(db(), [{ nodeId: m.nodeId, blobId: blob(1) }, { nodeId: m.nodeId, blobId: blob(9) }]);
    expect((await getNode(db(), m.nodeId))?.placedBytes).toBe(234);
    await releasePlacedBlobs(db(), [{ nodeId: m.nodeId, blobId: blob(2) }]);
    expect((await getNode(db(), m.nodeId))?.placedBytes).toBe(0);
  });

  it("gives no new data to a node whose heartbeat says it is unhealthy, and takes it back once healthy", async () => {
    const { m, send } = await registerTestNode();
    expect((await send("heartbeat", beat)).status).toBe(200);
    expect(await placeable(m.nodeId)).toBe(true);
    expect((await send("heartbeat", { ...beat, healthy: false })).status).toBe(200);
    expect(await placeable(m.nodeId)).toBe(false);
    expect((await send("heartbeat", beat)).status).toBe(200);
    expect(await placeable(m.nodeId)).toBe(true);
  });

  it("refuses a heartbeat claiming more free bytes than its disk has, and keeps the last figures", async () => {
    const { m, send } = await registerTestNode();
    expect((await send("heartbeat", beat)).status).toBe(200);
    const res = await send("heartbeat", { ...beat, freeBytes: 2 ** 53 - 1 });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: "ValidationError" });
    expect((await getNode(db(), m.nodeId))?.freeBytes).toBe(600);
  });
});
