// Bytes served per node on the real local network: what each node delivered to the edge for clients' GETs, counted
// as the bytes passed and flushed to D1 (`node_egress`) with the bucket's usage. What an operator is paid the egress
// share by: a replicated object's GET counts its ciphertext on the one replica that served it; a range GET of an
// erasure-coded object counts, on each data piece's node, exactly the span of shards that range needed. Read from the
// edge's persisted state as an auditor would (test/helpers/edge-state.ts), after the usage-flush chore.

import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { AwsClient } from "aws4fetch";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalNetwork, NetworkDescription } from "../../src/localnet/network.ts";
import { CHUNK_PLAINTEXT_BYTES, dataSpansFor } from "../../src/protocol/piece-layout.ts";
import { ciphertextRangeFor } from "../../src/services/crypto/stream-format.ts";
import type { ObjectSegment, ObjectVersion } from "../../src/services/object-model.ts";
import { edgeSqliteFiles } from "../helpers/edge-state.ts";
import { edgeS3Client, startTestNetwork, stopTestNetwork } from "../helpers/test-support.ts";

let network: LocalNetwork;
let d: NetworkDescription;
let s3: S3Client;

function rows<T>(file: string, sql: string, ...params: string[]): T[] {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    const hasTable = (name: string) => db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
    const table = /FROM (\w+)/.exec(sql)![1]!;
    return hasTable(table) ? (db.prepare(sql).all(...params) as T[]) : [];
  } finally {
    db.close();
  }
}

/** The one segment of `key` as its bucket's index holds it. */
async function segmentOfKey(key: string): Promise<ObjectSegment> {
  const { durableObjects } = await edgeSqliteFiles(d.worker.persistDir);
  for (const file of durableObjects) {
    for (const r of rows<{ record: string }>(file, "SELECT record FROM versions")) {
      const version = JSON.parse(r.record) as ObjectVersion;
      if (version.key === key && "segments" in version) return version.segments[0]!;
    }
  }
  throw new Error(`no record of ${key}`);
}

/** Bytes served per node, from D1, summed over every batch and slot. */
async function servedPerNode(): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const file of (await edgeSqliteFiles(d.worker.persistDir)).d1) {
    for (const r of rows<{ node_id: string; bytes_served: string }>(file, "SELECT node_id, bytes_served FROM node_egress")) {
      out.set(r.node_id, (out.get(r.node_id) ?? 0) + Number(r.bytes_served));
    }
  }
  return out;
}

async function admin(method: string, path: string): Promise<Response> {
  const res = await fetch(`${d.edgeUrl}/api/v1/admin${path}`, { method, headers: { authorization: `Bearer ${d.adminToken}` } });
  expect(res.status, `${method} ${path}`).toBe(200);
  return res;
}

/** The difference of two per-node tallies (nodes that served nothing left out). */
function served(after: Map<string, number>, before: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [node, bytes] of after) if (bytes !== (before.get(node) ?? 0)) out[node] = bytes - (before.get(node) ?? 0);
  return out;
}

/**
 * Flushes until D1's tally moves from `before` (a GET records its nodes' bytes after its body has ended, under
 * waitUntil, so the record may land just after the client has the last byte), at most ~10 s.
 */
async function flushUntilChanged(before: Map<string, number>): Promise<Map<string, number>> {
  for (let i = 0; i < 40; i++) {
    await admin("POST", "/chores/usage-flush/run");
    const now = await servedPerNode();
    if (Object.keys(served(now, before)).length > 0) return now;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error("no bytes served were recorded");
}

async function get(bucket: string, key: string, range?: string): Promise<number> {
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: range }));
  return (await got.Body!.transformToByteArray()).byteLength;
}

beforeAll(async () => {
  ({ network, d } = await startTestNetwork("icn-egress-", { nodeCount: 6 }));
  s3 = edgeS3Client(d, { maxAttempts: 1 });
}, 240_000);

afterAll(() => stopTestNetwork(network), 60_000);

describe("bytes served per node", () => {
  it("counts a replicated GET on the replica that served it, and an erasure-coded range GET on each data piece for its span", async () => {
    const signer = new AwsClient({ accessKeyId: d.accounts.default.accessKeyId, secretAccessKey: d.accounts.default.secretAccessKey, service: "s3", region: d.region, retries: 0 });
    expect((await fetch(await signer.sign(`${d.edgeUrl}/egress-replicated`, { method: "PUT", headers: { "x-icn-erasure-code": "none" } }))).status).toBe(200);
    await s3.send(new CreateBucketCommand({ Bucket: "egress-erasure" }));
    const replicatedSize = 300 * 1024 + 11;
    const erasureSize = 2 * 1024 * 1024 + 5;
    await s3.send(new PutObjectCommand({ Bucket: "egress-replicated", Key: "copies", Body: randomBytes(replicatedSize) }));
    await s3.send(new PutObjectCommand({ Bucket: "egress-erasure", Key: "pieces", Body: randomBytes(erasureSize) }));
    // Writes, repair and audits move bytes too; none of them is a client's read.
    await admin("POST", "/chores/usage-flush/run");
    const start = await servedPerNode();

    // A whole GET of a replicated object: its ciphertext, from one replica.
    expect(await get("egress-replicated", "copies")).toBe(replicatedSize);
    const afterReplicated = await flushUntilChanged(start);
    const copies = await segmentOfKey("copies");
    const wholeCiphertext = ciphertextRangeFor(0, replicatedSize - 1, replicatedSize);
    const byReplica = served(afterReplicated, start);
    expect(Object.keys(byReplica)).toHaveLength(1);
    expect(copies.replicas.map((r) => r.nodeId)).toContain(Object.keys(byReplica)[0]);
    expect(Object.values(byReplica)).toEqual([wholeCiphertext.end - wholeCiphertext.start + 1]);

    // A range GET of an erasure-coded object across chunk and stripe boundaries: each data piece its span.
    const [a, b] = [70_000, 5 * CHUNK_PLAINTEXT_BYTES + 1234];
    expect(await get("egress-erasure", "pieces", `bytes=${a}-${b}`)).toBe(b - a + 1);
    const afterRange = await flushUntilChanged(afterReplicated);
    const pieces = await segmentOfKey("pieces");
    const code = pieces.erasure!;
    const expected: Record<string, number> = {};
    for (const span of dataSpansFor(code, Math.floor(a / CHUNK_PLAINTEXT_BYTES), Math.floor(b / CHUNK_PLAINTEXT_BYTES))) {
      const node = pieces.replicas.find((r) => r.piece === span.piece)!.nodeId;
      expected[node] = (expected[node] ?? 0) + span.end - span.start + 1;
    }
    expect(Object.keys(expected).length).toBeGreaterThan(1);
    expect(served(afterRange, afterReplicated)).toEqual(expected);

    // The flush run again (nothing new to seal) counts nothing twice.
    await admin("POST", "/chores/usage-flush/run");
    expect(served(await servedPerNode(), afterRange)).toEqual({});
  }, 180_000);
});
