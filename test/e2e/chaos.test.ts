// Chaos on the real local network: 6 nodes in 3 zones, 500 objects of mixed sizes at RF=3, while a node is
// SIGKILLed mid-upload, a replica file is corrupted, another deleted, and a whole zone goes down. Every
// acknowledged object must read back byte-identical throughout, writes must keep succeeding while a quorum
// exists, and after repair every object is back at RF=3, as the control API reports and the disks show.

import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { createHash, randomBytes } from "node:crypto";
import { readdir, readFile, stat, unlink, writeFile } from "node:fs/promises";
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
          failures.push(`${key}: ${(error as Error).name} ${(error as Error).message}`);
        }
      }
    }),
  );
  expect(failures, `${label}: every acknowledged object reads back`).toEqual([]);
}

type RepairStatus = { segmentsNeedingRepair: number; faults: number; unusableNodes: string[]; replication: Record<string, { byReplicaCount: Record<string, number>; segments: number }> };

async function repairStatus(): Promise<RepairStatus> {
  return admin<RepairStatus>("GET", "/repair");
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
  it("loses no acknowledged byte through a crash, bit rot, a lost file and a zone outage, then repairs to RF=3", async () => {
    const zones = new Map<string, NodeInfo[]>();
    for (const n of d.nodes) zones.set(n.zone, [...(zones.get(n.zone) ?? []), n]);
    expect(zones.size).toBe(3);

    // 1. Upload 500 objects; SIGKILL one node a fifth of the way in. Writes keep succeeding on the quorum.
    const crashVictim = d.nodes[0]!;
    let next = 0;
    let crashed: Promise<unknown> | undefined;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < OBJECTS) {
          const i = next++;
          if (i === OBJECTS / 5 && !crashed) {
            crashed = network.stopNode(crashVictim.index, "SIGKILL");
            dead.add(crashVictim.index);
          }
          await put(`obj/${String(i).padStart(4, "0")}`, randomBytes(sizeFor(i)));
        }
      }),
    );
    await crashed;
    expect(stored.size).toBe(OBJECTS);
    await readAllBack("after the crash");

    // 2. A whole zone goes down. Reads still work, and new writes still succeed on the remaining zones.
    const [zoneName, zoneNodes] = [...zones.entries()].find(([, nodes]) => nodes.every((n) => !dead.has(n.index)))!;
    for (const n of zoneNodes) {
      await network.stopNode(n.index, "SIGKILL");
      dead.add(n.index);
    }
    await readAllBack(`with ${zoneName} down`);
    for (let i = 0; i < 20; i++) await put(`during-outage/${i}`, randomBytes(sizeFor(i + 1)));

    // 3. Repair: once the grace period passes, every segment goes back to three replicas on live nodes.
    await new Promise((r) => setTimeout(r, 5000));
    let status = await repairStatus();
    expect(status.unusableNodes.length).toBe(3);
    expect(status.segmentsNeedingRepair).toBeGreaterThan(0);
    status = await repairUntilDone();
    expect(status.replication[BUCKET]!.byReplicaCount).toEqual({ "3": status.replication[BUCKET]!.segments });
    await readAllBack("after repairing the outage");

    // 4. Bit rot on one replica, a lost file on another: reads fail over to good replicas and report both,
    //    and the next repair replaces them in place.
    const bucketId = await bucketIdOf();
    const live = d.nodes.filter((n) => !dead.has(n.index));
    const root = join(live[0]!.dataDir, "blobs");
    // Small blobs: their reads are verified before the first byte goes out (large ones abort instead).
    const small: string[] = [];
    for (const f of (await blobsOnDisk(live[0]!, bucketId)).files) {
      if ((await stat(join(root, f))).size > 1000 && (await stat(join(root, f))).size < MiB) small.push(f);
    }
    const [rottenFile, lostFile] = small;
    expect(lostFile).toBeDefined();
    const rotten = await readFile(join(root, rottenFile!));
    rotten[rotten.length >> 1] = rotten[rotten.length >> 1]! ^ 0xff;
    await writeFile(join(root, rottenFile!), rotten);
    await unlink(join(root, lostFile!));
    await readAllBack("after corrupting and deleting replicas");
    // Reads only notice a bad replica they happen to try; the node's scrub finds both and reports them.
    const scrub = await fetch(`${d.edgeUrl}/api/v1/admin/nodes/${live[0]!.id}/scrub`, { method: "POST", headers: { authorization: `Bearer ${d.adminToken}` } });
    expect(scrub.status).toBe(202);
    for (let i = 0; i < 60 && (await repairStatus()).segmentsNeedingRepair < 2; i++) await new Promise((r) => setTimeout(r, 500));
    expect((await repairStatus()).segmentsNeedingRepair).toBeGreaterThanOrEqual(2);
    status = await repairUntilDone();
    const summary = status.replication[BUCKET]!;
    expect(summary.byReplicaCount).toEqual({ "3": summary.segments });

    // On disk: the live nodes hold exactly three verified copies of every segment.
    let copies = 0;
    for (const node of d.nodes.filter((n) => !dead.has(n.index))) {
      const { files, bad } = await blobsOnDisk(node, bucketId);
      expect(bad, `corrupt blobs on ${node.id}`).toEqual([]);
      copies += files.length;
    }
    expect(copies).toBe(summary.segments * 3);
    await readAllBack("after repair");
  }, 600_000);

  it("sweeps the orphans left on returning nodes, and drains a node until it is safe to remove", async () => {
    const bucketId = await bucketIdOf();
    // The nodes that died come back: their old copies were replaced elsewhere, so they are orphans now.
    expect(dead.size).toBe(3);
    for (const index of dead) await network.startNode(index);
    dead.clear();
    d = network.description;
    await new Promise((r) => setTimeout(r, 2000));
    const before = (await Promise.all(d.nodes.map((n) => blobsOnDisk(n, bucketId)))).reduce((sum, b) => sum + b.files.length, 0);
    for (let i = 0; i < 10; i++) await admin("POST", "/chores/orphan-sweep/run");
    const status = await repairStatus();
    const after = (await Promise.all(d.nodes.map((n) => blobsOnDisk(n, bucketId)))).reduce((sum, b) => sum + b.files.length, 0);
    const segments = status.replication[BUCKET]!.segments;
    expect(before).toBeGreaterThan(segments * 3);
    expect(after, "only referenced copies remain").toBe(segments * 3);
    await readAllBack("after the orphan sweep");

    // Drain one node: it gets no new data, repair moves its replicas away, then it is safe to remove.
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
