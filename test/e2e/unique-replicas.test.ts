// Unique replicas on the real local network (4 nodes, a bucket created with x-icn-erasure-code: none): every node's
// copy of a segment differs from its siblings' in its bytes on disk, and each proves against the Merkle root the
// edge recorded for that node alone, so a node that lost its copy cannot stand in a sibling's. Objects still read
// back byte for byte (whole, ranges, multipart); repair makes a fresh unique copy; replicas stored before this
// (the same sealed bytes on every node) still read, and the audit-roots chore rewrites them as unique ones with roots.

import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { AwsClient } from "aws4fetch";
import { createHash, randomBytes } from "node:crypto";
import { copyFile, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalNetwork, NetworkDescription, NodeInfo } from "../../src/localnet/network.ts";
import { hex } from "../../src/protocol/crypto.ts";
import { merkleLeafHash, merkleRootOf } from "../../src/protocol/merkle.ts";
import { SHARD_BYTES } from "../../src/protocol/piece-layout.ts";
import type { ObjectSegment, ObjectVersion } from "../../src/services/object-model.ts";
import { maskOf } from "../../src/services/replica-mask.ts";
import * as edgeState from "../helpers/edge-state.ts";
import { edgeS3Client, startTestNetwork, stopTestNetwork } from "../helpers/test-support.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
const BUCKET = "uniq";

let network: LocalNetwork;
let d: NetworkDescription;
let s3: S3Client;
let kek: string;

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

async function get(key: string, range?: string): Promise<Buffer> {
  const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key, Range: range }));
  return Buffer.from(await got.Body!.transformToByteArray());
}

async function readsBack(key: string, body: Buffer): Promise<void> {
  expect(sha(await get(key)), `${key} whole`).toBe(sha(body));
  for (const [a, b] of [
    [0, 0],
    [1, 70_000],
    [64 * KiB - 3, 3 * 64 * KiB + 9],
    [Math.floor(body.length / 2), body.length - 1],
  ] as const) {
    if (b >= body.length) continue;
    expect(sha(await get(key, `bytes=${a}-${b}`)), `${key} bytes=${a}-${b}`).toBe(sha(body.subarray(a, b + 1)));
  }
}

/** The file of `blobId` on `node`, or undefined. */
async function fileOf(node: NodeInfo, blobId: string): Promise<string | undefined> {
  const root = join(node.dataDir, "blobs");
  const found = (await readdir(root, { recursive: true }).catch(() => [] as string[])).find((f) => f.endsWith(blobId));
  return found === undefined ? undefined : join(root, found);
}

function nodeById(nodeId: string): NodeInfo {
  return d.nodes.find((n) => n.id === nodeId)!;
}

/** The Merkle root (hex) of a file cut into SHARD_BYTES leaves, as a validator would check it (merkle.ts). */
async function rootOfBytes(bytes: Uint8Array): Promise<string> {
  const leaves: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += SHARD_BYTES) leaves.push(await merkleLeafHash(bytes.subarray(at, at + SHARD_BYTES)));
  return hex(await merkleRootOf(leaves));
}

/** The current record of `key`'s segments, from the bucket's index. */
async function segmentsOf(key: string): Promise<ObjectSegment[]> {
  const { durableObjects } = await edgeState.edgeSqliteFiles(d.worker.persistDir);
  for (const file of durableObjects) {
    const db = new DatabaseSync(file, { readOnly: true });
    try {
      const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name);
      if (!tables.includes("objects")) continue;
      const row = db.prepare("SELECT record FROM objects WHERE key = ?").get(key) as { record: string } | undefined;
      if (row) return (JSON.parse(row.record) as ObjectVersion & { segments: ObjectSegment[] }).segments;
    } finally {
      db.close();
    }
  }
  throw new Error(`no record of ${key}`);
}

/**
 * Every replica of every segment of `key`: on its node's disk, distinct from its siblings, proving against the root
 * both the index and `placed_blobs` recorded for that node; the copies unmask to one and the same sealed blob.
 */
async function expectUniqueReplicas(key: string, replicasPerSegment = 3): Promise<void> {
  const placed = await edgeState.placedBlobRoots(d.worker.persistDir);
  for (const segment of await segmentsOf(key)) {
    expect(segment.replicas).toHaveLength(replicasPerSegment);
    const copies: Buffer[] = [];
    const sealed = new Set<string>();
    for (const r of segment.replicas) {
      expect(r.mask, `${r.nodeId}/${r.blobId} is masked`).toBe("aes-ctr-v1");
      const file = await fileOf(nodeById(r.nodeId), r.blobId);
      expect(file, `${r.blobId} on ${r.nodeId}`).toBeDefined();
      const bytes = await readFile(file!);
      const root = await rootOfBytes(bytes);
      expect(root).toBe(r.merkleRoot);
      expect(placed.get(`${r.nodeId}/${r.blobId}`)).toBe(`0x${root}`);
      expect(sha(bytes)).toBe(r.sha256);
      copies.push(bytes);
      sealed.add(sha(await (await maskOf(kek, r))!.apply(bytes, 0)));
    }
    for (let i = 0; i < copies.length; i++) for (let j = i + 1; j < copies.length; j++) expect(copies[i]!.equals(copies[j]!)).toBe(false);
    expect(sealed.size).toBe(1);
  }
}

beforeAll(async () => {
  ({ network, d } = await startTestNetwork("icn-unique-", {
    nodeCount: 4,
    vars: { HEARTBEAT_INTERVAL_SECONDS: "1", NODE_OFFLINE_AFTER_SECONDS: "4", REPAIR_GRACE_SECONDS: "4" },
  }));
  s3 = edgeS3Client(d, { maxAttempts: 1 });
  kek = (await readFile(network.secretsFile, "utf8")).match(/^KEY_ENCRYPTION_KEY=(.*)$/m)![1]!;
  const signer = new AwsClient({ accessKeyId: d.accounts.default.accessKeyId, secretAccessKey: d.accounts.default.secretAccessKey, service: "s3", region: d.region, retries: 0 });
  const res = await fetch(await signer.sign(`${d.edgeUrl}/${BUCKET}`, { method: "PUT", headers: { "x-icn-erasure-code": "none" } }));
  expect(res.status).toBe(200);
}, 240_000);

afterAll(() => stopTestNetwork(network), 60_000);

describe("unique replicas", () => {
  const body = randomBytes(3 * MiB + 12_345);

  it("stores a copy unique to each node, each proving against its own recorded root, and reads back byte for byte", async () => {
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "single", Body: body }));
    await expectUniqueReplicas("single");
    await readsBack("single", body);
  });

  it("does the same for every part of a multipart upload", async () => {
    const parts = [randomBytes(5 * MiB), randomBytes(5 * MiB + 7)];
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: "multi" }));
    const etags = [];
    for (const [i, part] of parts.entries()) {
      etags.push((await s3.send(new UploadPartCommand({ Bucket: BUCKET, Key: "multi", UploadId, PartNumber: i + 1, Body: part }))).ETag);
    }
    await s3.send(
      new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: "multi", UploadId, MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) } }),
    );
    await expectUniqueReplicas("multi");
    await readsBack("multi", Buffer.concat(parts));
  });

  it("a node that lost its copy cannot stand in a sibling's: it fails its own root, and reads skip it", async () => {
    const [victim, sibling] = (await segmentsOf("single"))[0]!.replicas;
    const victimFile = (await fileOf(nodeById(victim!.nodeId), victim!.blobId))!;
    const siblingFile = (await fileOf(nodeById(sibling!.nodeId), sibling!.blobId))!;
    const original = await readFile(victimFile);
    const originalMeta = await readFile(`${victimFile}.meta.json`);
    try {
      // The node "restores" its lost copy from its sibling, sidecar and all, so it serves the file as its own.
      await rm(victimFile);
      await copyFile(siblingFile, victimFile);
      const meta = JSON.parse(await readFile(`${siblingFile}.meta.json`, "utf8")) as Record<string, unknown>;
      await writeFile(`${victimFile}.meta.json`, JSON.stringify({ ...meta, blobId: victim!.blobId }));
      await rm(`${victimFile}.tree`, { force: true });
      const stolen = await readFile(victimFile);
      expect(await rootOfBytes(stolen)).not.toBe(victim!.merkleRoot);
      expect(`0x${await rootOfBytes(stolen)}`).not.toBe((await edgeState.placedBlobRoots(d.worker.persistDir)).get(`${victim!.nodeId}/${victim!.blobId}`));
      // Whatever replica the edge tries first, the object still reads whole: the stolen bytes fail their seal.
      for (let i = 0; i < 3; i++) expect(sha(await get("single"))).toBe(sha(body));
    } finally {
      await writeFile(victimFile, original);
      await writeFile(`${victimFile}.meta.json`, originalMeta);
    }
  });

  it("repair of a lost replica makes a fresh unique copy on another node", async () => {
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "repaired", Body: body }));
    const before = (await segmentsOf("repaired"))[0]!.replicas;
    const lost = before[0]!;
    const index = nodeById(lost.nodeId).index;
    await network.stopNode(index);
    try {
      // Silent past the repair grace period: its replica no longer counts.
      await new Promise((r) => setTimeout(r, 6_000));
      let status = await network.admin<{ segmentsNeedingRepair: number }>("GET", "/repair");
      for (let round = 0; round < 10 && status.segmentsNeedingRepair > 0; round++) {
        await network.admin("POST", "/chores/repair/run");
        status = await network.admin<{ segmentsNeedingRepair: number }>("GET", "/repair");
      }
      expect(status.segmentsNeedingRepair).toBe(0);
      const after = (await segmentsOf("repaired"))[0]!.replicas;
      expect(after.map((r) => r.nodeId)).not.toContain(lost.nodeId);
      const fresh = after.filter((r) => !before.some((b) => b.nodeId === r.nodeId));
      expect(fresh).toHaveLength(1);
      expect(fresh[0]!.blobId).not.toBe(lost.blobId);
      await expectUniqueReplicas("repaired");
      await readsBack("repaired", body);
    } finally {
      await network.startNode(index);
    }
  }, 120_000);
});

describe("replicas stored before unique replicas", () => {
  it("still read, and the audit-roots chore rewrites each as a unique replica on its node with its root", async () => {
    const legacy = randomBytes(2 * MiB + 99);
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "legacy", Body: legacy }));
    const [segment] = await segmentsOf("legacy");
    // Lay its copies down as the previous release stored them: the same sealed blob on every node (sidecar naming
    // its SHA-256, no tree), a record without mask or root, and no root in placed_blobs.
    let sealedSha = "";
    for (const r of segment!.replicas) {
      const file = (await fileOf(nodeById(r.nodeId), r.blobId))!;
      const sealed = await (await maskOf(kek, r))!.apply(await readFile(file), 0);
      sealedSha = sha(sealed);
      await writeFile(file, sealed);
      const meta = JSON.parse(await readFile(`${file}.meta.json`, "utf8")) as Record<string, unknown>;
      delete meta.merkleRoot;
      await writeFile(`${file}.meta.json`, JSON.stringify({ ...meta, sha256: sealedSha }));
      await rm(`${file}.tree`, { force: true });
    }
    const old = segment!.replicas.map((r) => ({ nodeId: r.nodeId, blobId: r.blobId, sha256: sealedSha }));
    const { d1, durableObjects } = await edgeState.edgeSqliteFiles(d.worker.persistDir);
    for (const file of durableObjects) {
      const db = new DatabaseSync(file);
      try {
        const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name);
        if (!tables.includes("objects")) continue;
        // One version (unversioned bucket): its row in `versions` and its copy in `objects` (the current one).
        for (const table of ["objects", "versions"]) {
          for (const row of db.prepare(`SELECT record FROM ${table} WHERE key = ?`).all("legacy") as { record: string }[]) {
            const record = JSON.parse(row.record) as ObjectVersion & { segments: ObjectSegment[] };
            record.segments[0]!.replicas = old;
            db.prepare(`UPDATE ${table} SET record = ? WHERE key = ?`).run(JSON.stringify(record), "legacy");
          }
        }
      } finally {
        db.close();
      }
    }
    for (const file of d1) {
      const db = new DatabaseSync(file);
      try {
        const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name);
        if (tables.includes("placed_blobs")) db.prepare("UPDATE placed_blobs SET merkle_root = NULL WHERE blob_id = ?").run(segment!.replicas[0]!.blobId);
      } finally {
        db.close();
      }
    }
    // The edge starts on that state, as after an upgrade.
    await network.restartEdge();
    s3 = edgeS3Client(d, { maxAttempts: 1 });
    expect((await segmentsOf("legacy"))[0]!.replicas.every((r) => r.mask === undefined)).toBe(true);
    await readsBack("legacy", legacy);

    const report = await network.admin<{ rewritten: number; failed: number; done: boolean; errors: string[] }>("POST", "/chores/audit-roots/run");
    expect(report.errors).toEqual([]);
    expect(report.rewritten).toBe(3);
    await expectUniqueReplicas("legacy");
    // Each node's new copy replaced its old one there; the old files are gone.
    const after = (await segmentsOf("legacy"))[0]!.replicas;
    expect(after.map((r) => r.nodeId).sort()).toEqual(old.map((r) => r.nodeId).sort());
    for (const r of old) expect(await fileOf(nodeById(r.nodeId), r.blobId)).toBeUndefined();
    await readsBack("legacy", legacy);
    // Once through, every placed blob has a root.
    const final = await network.admin<{ done: boolean }>("POST", "/chores/audit-roots/run");
    expect(final.done).toBe(true);
    const roots = await edgeState.placedBlobRoots(d.worker.persistDir);
    expect([...roots.entries()].filter(([, root]) => root === null)).toEqual([]);
  }, 120_000);
});
