// Chaos on the network `npm start` runs: 6 nodes in 3 zones, buckets at the default erasure code 4+2. 500 objects
// of mixed sizes while two nodes are SIGKILLed mid-upload; then a whole zone goes down; then a piece file is
// corrupted and another deleted. Every acknowledged object must read back byte-identical throughout, writes must
// keep succeeding (erasure-coded while k+1 nodes are up, replicated below that), and afterwards repair restores
// full redundancy (six pieces per erasure-coded segment, three copies per replicated one), as the control API
// reports and the disks show. A seventh node then joins, so a dead node's pieces can be rebuilt elsewhere, its
// leftovers swept as orphans when it returns, and a node drained.

import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { createHash, randomBytes } from "node:crypto";
import { readdir, readFile, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalNetwork, NetworkDescription, NodeInfo } from "../../src/localnet/network.ts";
import { edgeS3Client, startTestNetwork, stopTestNetwork } from "../helpers/test-support.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
const OBJECTS = 500;
const BUCKET = "chaos";

let network: LocalNetwork;
let d: NetworkDescription;
let s3: S3Client;
const stored = new Map<string, string>(); // key -> sha256 of every acknowledged object
const dead = new Set<number>(); // indexes of the nodes this test has killed

function sizeFor(i: number): number {
  if (i % 50 === 0) return 8 * MiB + i; // a few large objects (streamed, verified as they stream)
  if (i % 5 === 0) return 100 * KiB + i * 997; // medium
  return (i * 7919) % (64 * KiB); // small, including 0 bytes
}

async function put(key: string, data: Buffer): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: data }));
  stored.set(key, createHash("sha256").update(data).digest("hex"));
}

async function readAllBack(label: string): Promise<void> {
  const keys = [...stored.keys()];
  let next = 0;
  const failures: string[] = [];
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < keys.length) {
        const key = keys[next++]!;
        try {
          const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
          const sha = createHash("sha256").update(await got.Body!.transformToByteArray()).digest("hex");
          if (sha !== stored.get(key)) failures.push(`${key}: wrong bytes`);
        } catch (error) {
          const requestId = (error as { $metadata?: { requestId?: string } }).$metadata?.requestId;
          failures.push(`${key}: ${(error as Error).name} ${(error as Error).message}${await edgeLogFor(requestId)}`);
        }
      }
    }),
  );
  if (failures.length > 0) failures.push(`nodes: ${d.nodes.map((n) => `${n.id}=${n.zone}${dead.has(n.index) ? " (down)" : ""}`).join(", ")}`);
  expect(failures, `${label}: every acknowledged object reads back`).toEqual([]);
}

/** What the edge logged about a failed request (its storage_unavailable line names the pieces and why), for the report. */
async function edgeLogFor(requestId: string | undefined): Promise<string> {
  if (!requestId) return "";
  const log = await readFile(join(network.options.stateDir, "logs", "worker.log"), "utf8").catch(() => "");
  const lines = log.split("\n").filter((line) => line.includes(requestId));
  return lines.length > 0 ? ` [edge: ${lines.join(" | ").slice(0, 2000)}]` : ` [request ${requestId}: nothing in the edge's log]`;
}

type RepairStatus = { segmentsNeedingRepair: number; faults: number; unusableNodes: string[]; replication: Record<string, { byReplicaCount: Record<string, number>; segments: number }> };

async function repairStatus(): Promise<RepairStatus> {
  return admin<RepairStatus>("GET", "/repair");
}

/**
 * Segments at full redundancy: nothing needs repair, which means k+m pieces for every erasure-coded segment (a
 * segment of c < 4 chunks is c+2: 3, 4 or 5 pieces) and three copies for every replicated one. Returns how many
 * blobs the index references, which is what the disks must hold.
 */
function expectFullRedundancy(status: RepairStatus): number {
  expect(status.segmentsNeedingRepair).toBe(0);
  const counts = status.replication[BUCKET]!.byReplicaCount;
  expect(Object.keys(counts).every((n) => ["3", "4", "5", "6"].includes(n)), JSON.stringify(counts)).toBe(true);
  expect(counts["6"] ?? 0, "large segments are 4+2").toBeGreaterThan(0);
  return Object.entries(counts).reduce((sum, [n, c]) => sum + Number(n) * c, 0);
}

/** Runs the repair chore until nothing needs repair (bounded). */
async function repairUntilDone(): Promise<RepairStatus> {
  let status = await repairStatus();
  for (let round = 0; round < 30 && (status.segmentsNeedingRepair > 0 || status.faults > 0); round++) {
    await admin("POST", "/chores/repair/run");
    status = await repairStatus();
  }
  expect(status.segmentsNeedingRepair).toBe(0);
  return status;
}

async function admin<T>(method: string, path: string): Promise<T> {
  const res = await fetch(`${d.edgeUrl}/api/v1/admin${path}`, { method, headers: { authorization: `Bearer ${d.adminToken}` } });
  expect(res.status, `${method} ${path}`).toBe(200);
  return (await res.json()) as T;
}

/** Blob files (data, not sidecars) of the chaos bucket on a node's disk, verified against their sidecars. */
async function blobsOnDisk(node: NodeInfo, bucketId: string): Promise<{ files: string[]; bad: string[] }> {
  const root = join(node.dataDir, "blobs");
  const files = (await readdir(root, { recursive: true }).catch(() => [] as string[])).filter((f) => new RegExp(`b${bucketId}[0-9a-f]{32}$`).test(f));
  const bad: string[] = [];
  for (const file of files) {
    const meta = JSON.parse(await readFile(join(root, `${file}.meta.json`), "utf8")) as { sha256: string };
    const sha = createHash("sha256").update(await readFile(join(root, file))).digest("hex");
    if (sha !== meta.sha256) bad.push(file);
  }
  return { files, bad };
}

beforeAll(async () => {
  ({ network, d } = await startTestNetwork("icn-chaos-", {
    nodeCount: 6,
    // Fast failure detection so the test does not wait minutes for the grace periods.
    vars: { HEARTBEAT_INTERVAL_SECONDS: "1", NODE_OFFLINE_AFTER_SECONDS: "4", REPAIR_GRACE_SECONDS: "4", ORPHAN_GRACE_SECONDS: "1" },
  }));
  s3 = edgeS3Client(d, { maxAttempts: 3 });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
}, 240_000);

afterAll(() => stopTestNetwork(network), 60_000);

describe("chaos", () => {
  it("loses no acknowledged byte through two crashes, a zone outage, bit rot and a lost piece, then repairs to full redundancy", async () => {
    const zones = new Map<string, NodeInfo[]>();
    for (const n of d.nodes) zones.set(n.zone, [...(zones.get(n.zone) ?? []), n]);
    expect(zones.size).toBe(3);

    // 1. Upload 500 objects; SIGKILL one node a fifth of the way in and one in another zone at two fifths. Any two
    //    nodes may vanish: writes keep succeeding and every object written before still reads.
    const [first, second] = [d.nodes[0]!, d.nodes.find((n) => n.zone !== d.nodes[0]!.zone)!];
    let next = 0;
    const crashes: Promise<unknown>[] = [];
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < OBJECTS) {
          const i = next++;
          for (const [at, victim] of [[OBJECTS / 5, first], [(2 * OBJECTS) / 5, second]] as const) {
            if (i === at && !dead.has(victim.index)) {
              crashes.push(network.stopNode(victim.index, "SIGKILL"));
              dead.add(victim.index);
            }
          }
          await put(`obj/${String(i).padStart(4, "0")}`, randomBytes(sizeFor(i)));
        }
      }),
    );
    await Promise.all(crashes);
    expect(stored.size).toBe(OBJECTS);
    await readAllBack("with two nodes killed");
    for (const index of [...dead]) await network.startNode(index);
    dead.clear();
    d = network.description;
    // Segments written while a node was down lack its piece: repair rebuilds it on the returning node before the
    // next failure (the chore runs every minute; here at once), or a zone's outage would be a third lost piece.
    expect((await repairStatus()).segmentsNeedingRepair).toBeGreaterThan(0);
    expectFullRedundancy(await repairUntilDone());

    // 2. A whole zone goes down. Reads still work, and new writes still succeed on the remaining zones.
    const [zoneName, zoneNodes] = [...zones.entries()][1]!;
    for (const n of zoneNodes) {
      await network.stopNode(n.index, "SIGKILL");
      dead.add(n.index);
    }
    await readAllBack(`with ${zoneName} down`);
    for (let i = 0; i < 20; i++) await put(`during-outage/${i}`, randomBytes(sizeFor(i + 1)));
    for (const index of [...dead]) await network.startNode(index);
    dead.clear();
    d = network.description;
    await new Promise((r) => setTimeout(r, 2000));
    expectFullRedundancy(await repairUntilDone());

    // 3. Bit rot in one piece, a lost piece file on another node: reads go around both, the node's scrub reports
    //    them, and repair rebuilds them.
    const bucketId = await bucketIdOf();
    const [rotNode, lossNode] = [d.nodes[3]!, d.nodes[4]!];
    const rotten = (await blobsOnDisk(rotNode, bucketId)).files[0]!;
    const lost = (await blobsOnDisk(lossNode, bucketId)).files[0]!;
    const rottenPath = join(rotNode.dataDir, "blobs", rotten);
    const bytes = await readFile(rottenPath);
    bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0xff;
    await writeFile(rottenPath, bytes);
    await unlink(join(lossNode.dataDir, "blobs", lost));
    await readAllBack("after corrupting and deleting pieces");
    for (const node of [rotNode, lossNode]) {
      const scrub = await fetch(`${d.edgeUrl}/api/v1/admin/nodes/${node.id}/scrub`, { method: "POST", headers: { authorization: `Bearer ${d.adminToken}` } });
      expect(scrub.status).toBe(202);
    }
    for (let i = 0; i < 60 && (await repairStatus()).faults < 2; i++) await new Promise((r) => setTimeout(r, 500));
    expect((await repairStatus()).faults).toBeGreaterThanOrEqual(2);

    // 4. Repair: pieces written while nodes were down, and the two bad ones, are rebuilt.
    const status = await repairUntilDone();
    const blobs = expectFullRedundancy(status);
    // A write that failed while its nodes died may have left pieces on a node that was down when the edge
    // deleted them: the orphan sweep removes them (ORPHAN_GRACE_SECONDS is 1 s here).
    for (let i = 0; i < 5; i++) await admin("POST", "/chores/orphan-sweep/run");
    let files = 0;
    for (const node of d.nodes) {
      const { files: onDisk, bad } = await blobsOnDisk(node, bucketId);
      expect(bad, `corrupt blobs on ${node.id}`).toEqual([]);
      files += onDisk.length;
    }
    expect(files, "every referenced piece and copy is on disk, and nothing else").toBe(blobs);
    await readAllBack("after repair");
  }, 600_000);

  it("rebuilds a dead node's pieces on a new node, sweeps its leftovers when it returns, and drains a node", async () => {
    const bucketId = await bucketIdOf();
    // A seventh node joins; then one node dies for good (past the grace period): its pieces are rebuilt on the
    // only node that holds no piece of their segments.
    await network.startNode(6);
    const victim = d.nodes.find((n) => n.index === 1)!;
    await network.stopNode(victim.index, "SIGKILL");
    dead.add(victim.index);
    d = network.description;
    await new Promise((r) => setTimeout(r, 5000));
    expect((await repairStatus()).segmentsNeedingRepair).toBeGreaterThan(0);
    expectFullRedundancy(await repairUntilDone());
    await readAllBack("after rebuilding a dead node's pieces");

    // It comes back: everything it holds was rebuilt elsewhere, so it is all orphans now.
    await network.startNode(victim.index);
    dead.clear();
    d = network.description;
    await new Promise((r) => setTimeout(r, 2000));
    expect((await blobsOnDisk(victim, bucketId)).files.length).toBeGreaterThan(0);
    for (let i = 0; i < 10; i++) await admin("POST", "/chores/orphan-sweep/run");
    expect((await blobsOnDisk(victim, bucketId)).files, "only referenced pieces remain").toEqual([]);
    const blobs = expectFullRedundancy(await repairStatus());
    const all = (await Promise.all(d.nodes.map((n) => blobsOnDisk(n, bucketId)))).reduce((sum, b) => sum + b.files.length, 0);
    expect(all).toBe(blobs);
    await readAllBack("after the orphan sweep");

    // Drain one node: it gets no new data, repair moves its pieces to the node that now holds none, then it is
    // safe to remove.
    const draining = d.nodes.find((n) => n.index === 2)!;
    const put = await fetch(`${d.edgeUrl}/api/v1/admin/nodes/${draining.id}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${d.adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ status: "draining" }),
    });
    expect(put.status).toBe(200);
    let drain = await admin<{ remainingReplicas: number; safeToRemove: boolean }>("GET", `/nodes/${draining.id}/drain`);
    expect(drain.remainingReplicas).toBeGreaterThan(0);
    expect(drain.safeToRemove).toBe(false);
    await repairUntilDone();
    drain = await admin("GET", `/nodes/${draining.id}/drain`);
    expect(drain).toMatchObject({ remainingReplicas: 0, safeToRemove: true });
    await readAllBack("after draining");
  }, 600_000);
});

/** The chaos bucket's id: its blob ids start with it (read from the blob names on any node). */
async function bucketIdOf(): Promise<string> {
  for (const node of d.nodes) {
    const files = await readdir(join(node.dataDir, "blobs"), { recursive: true }).catch(() => [] as string[]);
    const m = files.map((f) => /b([0-9a-f]{32})[0-9a-f]{32}$/.exec(f)).find(Boolean);
    if (m) return m[1]!;
  }
  throw new Error("no blob of the chaos bucket on any node");
}
