// Data written before the placement account existed: each test lays down buckets exactly as the previous release
// left them (index records and replica rows written through the index, as its S3 operations did, and no
// `placed_blobs` rows), then runs the backfill chore and checks what a node operator and the repair path notice:
// the node's placed bytes, and whether a scrub finding on an old blob is taken.

import { createScheduledController, env } from "cloudflare:test";
import { eq, sql } from "drizzle-orm";
import { beforeEach, describe, expect, it } from "vitest";
import { getBucket } from "../../src/db/accounts.ts";
import { openDb } from "../../src/db/client.ts";
import { getNode } from "../../src/db/registry.ts";
import { choreCursors, placedBlobs } from "../../src/db/schema.ts";
import type { Env } from "../../src/env.ts";
import worker from "../../src/index.ts";
import { randomHex } from "../../src/protocol/crypto.ts";
import { bucketIndexFor, type BucketIndexStub } from "../../src/services/bucket-indexes.ts";
import { ciphertextLength } from "../../src/services/crypto/stream-format.ts";
import type { ObjectRecord, ObjectSegment, UploadedPart } from "../../src/services/object-model.ts";
import { accountReplicas, CHORE_NAME, runOnce, type BackfillBudget, type PlacementBackfillReport } from "../../workers/cron/placement-backfill.ts";
import { admin, createAccountWithKey, registerTestNode, s3 } from "./helpers.ts";

const e = env as unknown as Env;
const db = () => openDb(e.DB);
const T0 = Date.UTC(2026, 0, 1);

beforeEach(async () => {
  // Every test starts the walk afresh, as the first run after the upgrade does.
  await db().delete(choreCursors).where(eq(choreCursors.chore, CHORE_NAME));
});

/** A bucket created through S3, whose index the test then fills as the previous release did. */
async function oldBucket(): Promise<{ id: string; index: BucketIndexStub }> {
  const account = await createAccountWithKey(`backfill-${randomHex(4)}`);
  const name = `backfill-${randomHex(6)}`;
  expect((await s3(account, "PUT", `/${name}`)).status).toBe(200);
  const id = (await getBucket(db(), name))!.id;
  return { id, index: bucketIndexFor(e, id) };
}

/** A segment of `size` plaintext bytes on `nodes`, under a fresh blob id of the bucket; encrypted unless told. */
function segment(bucketId: string, size: number, nodes: string[], encrypted = true): ObjectSegment {
  const blobId = `b${bucketId}${randomHex(16)}`;
  return {
    size,
    md5: "0".repeat(32),
    replicas: nodes.map((nodeId) => ({ nodeId, blobId, sha256: "ab".repeat(32) })),
    encryption: encrypted ? { wrappedKey: "AAAA", noncePrefix: "AAAAAAAAAA==", blobId } : undefined,
  };
}

function record(key: string, segments: ObjectSegment[]): ObjectRecord {
  const size = segments.reduce((sum, s) => sum + s.size, 0);
  return { key, size, etag: "0".repeat(32), lastModified: T0, headers: {}, userMetadata: {}, storageClass: "STANDARD", segments };
}

async function putOld(index: BucketIndexStub, r: ObjectRecord): Promise<void> {
  expect((await index.putObject(r)).ok).toBe(true);
}

/** Bytes of `nodeId`'s account, and the sum of its rows (the two must agree). */
async function account(nodeId: string): Promise<{ placedBytes: number; rowSum: number; rows: number }> {
  const node = await getNode(db(), nodeId);
  const sums = await db()
    .select({ sum: sql<number>`coalesce(sum(${placedBlobs.bytes}), 0)`, rows: sql<number>`count(*)` })
    .from(placedBlobs)
    .where(eq(placedBlobs.nodeId, nodeId))
    .get();
  return { placedBytes: node!.placedBytes, rowSum: sums!.sum, rows: sums!.rows };
}

/** Runs the chore until it reports done (at most `maxRuns` times); returns every report. */
async function runToDone(budget?: BackfillBudget, maxRuns = 50): Promise<PlacementBackfillReport[]> {
  const reports: PlacementBackfillReport[] = [];
  for (let run = 0; run < maxRuns; run++) {
    const report = await runOnce(e, new Date(), budget);
    reports.push(report);
    if (report.done) return reports;
  }
  throw new Error(`the backfill was not done after ${maxRuns} runs`);
}

describe("the placement-account backfill", () => {
  it("counts every replica the previous release placed (versions, multipart segments, parts in progress) once", async () => {
    const [a, b] = [(await registerTestNode()).m.nodeId, (await registerTestNode()).m.nodeId];
    const { id, index } = await oldBucket();
    await index.setVersioning("Enabled");
    const first = segment(id, 1000, [a, b]);
    const second = segment(id, 70_000, [a, b]); // two STREAM chunks: a tag each
    const plain = segment(id, 300, [a], false); // written before edge encryption: stored as sent
    await putOld(index, record("two-parts.bin", [first, second]));
    await putOld(index, record("plain.txt", [plain]));
    const older = segment(id, 50, [b]);
    const newer = segment(id, 60, [b]);
    await putOld(index, record("versioned.txt", [older]));
    await putOld(index, record("versioned.txt", [newer]));
    await index.deleteObject("versioned.txt", undefined, T0); // a delete marker: no blob of its own
    await index.createUpload({ uploadId: "up-1", key: "big.bin", initiated: Date.now(), headers: {}, userMetadata: {} });
    const part: UploadedPart = { ...segment(id, 5000, [a, b]), partNumber: 1, lastModified: T0 };
    expect((await index.putPart("up-1", part)).ok).toBe(true);
    expect(await account(a)).toEqual({ placedBytes: 0, rowSum: 0, rows: 0 });

    const reports = await runToDone();
    const onA = ciphertextLength(1000) + ciphertextLength(70_000) + 300 + ciphertextLength(5000);
    const onB = ciphertextLength(1000) + ciphertextLength(70_000) + ciphertextLength(50) + ciphertextLength(60) + ciphertextLength(5000);
    expect(await account(a)).toEqual({ placedBytes: onA, rowSum: onA, rows: 4 });
    expect(await account(b)).toEqual({ placedBytes: onB, rowSum: onB, rows: 5 });
    expect(reports.reduce((n, r) => n + r.recorded, 0)).toBeGreaterThanOrEqual(9);

    // Done: the next run reads its row and nothing else.
    expect(await runOnce(e, new Date())).toEqual({ chore: CHORE_NAME, done: true, pages: 0, replicas: 0, recorded: 0, released: 0 });
    // Walking everything again (a lost cursor) changes nothing.
    await db().delete(choreCursors).where(eq(choreCursors.chore, CHORE_NAME));
    const again = await runToDone();
    expect(again.reduce((n, r) => n + r.recorded + r.released, 0)).toBe(0);
    expect(await account(a)).toEqual({ placedBytes: onA, rowSum: onA, rows: 4 });
    expect(await account(b)).toEqual({ placedBytes: onB, rowSum: onB, rows: 5 });
  });

  it("accepts a scrub finding on a blob written before the upgrade once the cron tick has counted it", async () => {
    const { m, send } = await registerTestNode();
    const { id, index } = await oldBucket();
    const lost = segment(id, 2048, [m.nodeId]);
    await putOld(index, record("old/photo.jpg", [lost]));
    const blobId = lost.replicas[0]!.blobId;
    const scrub = () => send("scrub-report", { startedAt: Date.now() - 1000, finishedAt: Date.now(), scanned: 1, corrupt: [], missing: [blobId] });

    // What the upgrade broke: the edge has no record of placing the blob, so the finding is dropped.
    const before = await scrub();
    expect(before.status).toBe(200);
    expect(await before.json()).toMatchObject({ faultsRecorded: 0, ignored: 1 });

    // The cron ticks (every chore, as wrangler's cron trigger runs them) until the backfill has walked everything.
    for (let tick = 0; tick < 20; tick++) {
      await worker.scheduled(createScheduledController({ scheduledTime: Date.now(), cron: "* * * * *" }), e);
      const row = await db().select({ doneAt: choreCursors.doneAt }).from(choreCursors).where(eq(choreCursors.chore, CHORE_NAME)).get();
      if (row?.doneAt != null) break;
    }
    const after = await scrub();
    expect(after.status).toBe(200);
    expect(await after.json()).toMatchObject({ faultsRecorded: 1, ignored: 0 });
    expect((await account(m.nodeId)).placedBytes).toBe(ciphertextLength(2048));
    expect(((await (await admin("GET", "/repair")).json()) as { faults: number }).faults).toBeGreaterThanOrEqual(1);
  });

  it("does a bounded amount of work per run, resumes where it stopped, and then reports done", async () => {
    const node = (await registerTestNode()).m.nodeId;
    const { id, index } = await oldBucket();
    for (let i = 0; i < 5; i++) await putOld(index, record(`k${i}`, [segment(id, 100 + i, [node])]));
    await index.createUpload({ uploadId: "up-2", key: "part.bin", initiated: Date.now(), headers: {}, userMetadata: {} });
    await index.putPart("up-2", { ...segment(id, 10, [node]), partNumber: 1, lastModified: T0 });
    await index.putPart("up-2", { ...segment(id, 20, [node]), partNumber: 2, lastModified: T0 });
    const expected = [100, 101, 102, 103, 104, 10, 20].reduce((sum, n) => sum + ciphertextLength(n), 0);

    const budget = { pagesPerRun: 1, pageSize: 2 };
    const seen: number[] = [];
    const reports: PlacementBackfillReport[] = [];
    for (let run = 0; run < 200 && !reports.at(-1)?.done; run++) {
      reports.push(await runOnce(e, new Date(), budget));
      seen.push((await account(node)).placedBytes);
    }
    expect(reports.at(-1)?.done).toBe(true);
    expect(reports.every((r) => r.pages <= 1)).toBe(true);
    // Seven index rows of this bucket at two a page: its node's account grows over four runs at least.
    const growing = seen.filter((bytes, run) => bytes > (seen[run - 1] ?? 0));
    expect(growing.length).toBeGreaterThanOrEqual(4);
    expect(growing.at(-1)).toBe(expected);
    expect(await account(node)).toEqual({ placedBytes: expected, rowSum: expected, rows: 7 });
  });

  it("does not leave counted a blob deleted between reading the index and recording it", async () => {
    const node = (await registerTestNode()).m.nodeId;
    const { id, index } = await oldBucket();
    const kept = segment(id, 400, [node]);
    await putOld(index, record("kept.txt", [kept]));
    await putOld(index, record("deleted.txt", [segment(id, 900, [node])]));

    const page = await index.listReplicaPage(null, 100);
    expect(page.replicas.filter((r) => r.nodeId === node)).toHaveLength(2);
    // The client deletes the object now; its blob is freed before the backfill has counted it, so the delete
    // path's release finds nothing to release.
    const outcome = await index.deleteObject("deleted.txt", undefined, Date.now());
    expect(outcome.freed).not.toBeNull();

    expect(await accountReplicas(db(), index, page.replicas, Date.now())).toEqual({ recorded: 1, released: 1 });
    expect(await account(node)).toEqual({ placedBytes: ciphertextLength(400), rowSum: ciphertextLength(400), rows: 1 });
  });

  it("tells a blob held only by an upload part from an orphan, with blob ids as the edge makes them", async () => {
    // The orphan sweep and the backfill's re-check both ask this; a LIKE pattern made of a 65-character blob id
    // used to fail in Durable Object SQLite, which caps LIKE patterns at 50 bytes.
    const node = (await registerTestNode()).m.nodeId;
    const { id, index } = await oldBucket();
    await index.createUpload({ uploadId: "up-3", key: "held.bin", initiated: Date.now(), headers: {}, userMetadata: {} });
    const part = segment(id, 10, [node]);
    await index.putPart("up-3", { ...part, partNumber: 1, lastModified: T0 });
    expect(await index.references(part.replicas[0]!.blobId, node)).toBe(true);
    expect(await index.references(part.replicas[0]!.blobId, "node_elsewhere")).toBe(false);
    expect(await index.references(`b${id}${randomHex(16)}`, node)).toBe(false);
  });
});
