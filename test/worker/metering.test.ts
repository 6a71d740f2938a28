// Metering: byte-hours integrated in each bucket's index at known times, requests by price class and bytes in and
// out counted in the index call each S3 request makes (exact under concurrency), the flush to D1 idempotent and
// safe against a crash between D1 and the index's ack, node holding integrated once, and the usage routes (one
// account never sees another's).

import { env, SELF } from "cloudflare:test";
import { AwsClient } from "aws4fetch";
import { describe, expect, it } from "vitest";
import { clockMs } from "../../src/clock.ts";
import { openDb } from "../../src/db/client.ts";
import { recordPlacedBlobs } from "../../src/db/placements.ts";
import { integrateNodeHolding, listMeteredBuckets, usageForPeriod, writeUsageBatches } from "../../src/db/usage.ts";
import type { Env } from "../../src/env.ts";
import { periodIdAt } from "../../src/finance/periods.ts";
import { bucketIndexFor } from "../../src/services/bucket-indexes.ts";
import { periodLocator, type MeterEvent } from "../../src/services/metering.ts";
import type { ObjectRecord } from "../../src/services/object-model.ts";
import { REQUEST_CLASSES } from "../../src/services/request-classes.ts";
import { flushBucketUsage, runOnce as runUsageFlush } from "../../workers/cron/usage-flush.ts";
import { createAccountWithKey, EDGE, registerTestNode, s3, type TestAccount } from "./helpers.ts";

const e = env as unknown as Env;
const db = openDb(e.DB);
const HOUR = 3_600_000;

async function bucketOf(name: string) {
  const bucket = (await listMeteredBuckets(db)).find((b) => b.name === name);
  if (!bucket) throw new Error(`no bucket ${name}`);
  return bucket;
}

async function indexOf(name: string) {
  return bucketIndexFor(e, (await bucketOf(name)).id);
}

function record(key: string, size: number, at: number): ObjectRecord {
  return { key, size, etag: "0cc175b9c0f1b6a831c399e269772661", lastModified: at, headers: {}, userMetadata: {}, storageClass: "STANDARD", segments: [] };
}

/** Sums the index's open counters over all slots. */
async function openTotals(name: string) {
  const open = await (await indexOf(name)).openUsage();
  const sum = { byteMs: 0n, bytesIn: 0, bytesOut: 0, classA: 0, classB: 0 };
  for (const r of open.rows) {
    sum.byteMs += BigInt(r.byteMs);
    sum.bytesIn += r.bytesIn;
    sum.bytesOut += r.bytesOut;
    sum.classA += r.classA;
    sum.classB += r.classB;
  }
  return { ...sum, storedBytes: open.storedBytes };
}

/** D1's rows of one bucket, summed. */
async function flushedTotals(name: string) {
  const bucket = await bucketOf(name);
  const rows = await e.DB.prepare("SELECT storage_byte_ms, bytes_in, bytes_out, class_a, class_b FROM bucket_usage WHERE bucket_id = ?")
    .bind(bucket.id)
    .all<{ storage_byte_ms: string; bytes_in: string; bytes_out: string; class_a: number; class_b: number }>();
  const sum = { byteMs: 0n, bytesIn: 0n, bytesOut: 0n, classA: 0, classB: 0, rows: rows.results.length };
  for (const r of rows.results) {
    sum.byteMs += BigInt(r.storage_byte_ms);
    sum.bytesIn += BigInt(r.bytes_in);
    sum.bytesOut += BigInt(r.bytes_out);
    sum.classA += r.class_a;
    sum.classB += r.class_b;
  }
  return sum;
}

async function newBucket(owner: TestAccount, name: string): Promise<void> {
  expect((await s3(owner, "PUT", `/${name}`)).status).toBe(200);
}

describe("request classes", () => {
  it("bills writes and lists as class A, reads as class B and deletes as free, as S3 and R2 price them", () => {
    expect(REQUEST_CLASSES.PutObject).toBe("A");
    expect(REQUEST_CLASSES.ListObjectsV2).toBe("A");
    expect(REQUEST_CLASSES.CompleteMultipartUpload).toBe("A");
    expect(REQUEST_CLASSES.GetObject).toBe("B");
    expect(REQUEST_CLASSES.HeadObject).toBe("B");
    expect(REQUEST_CLASSES.DeleteObject).toBe("free");
    expect(REQUEST_CLASSES.AbortMultipartUpload).toBe("free");
  });
});

describe("byte-hours in the bucket index", () => {
  it("integrates a put, an overwrite and a delete exactly at the times they happened, split at midnight", async () => {
    const owner = await createAccountWithKey("meter-hours");
    await newBucket(owner, "meter-hours");
    const index = await indexOf("meter-hours");
    // 22:00 UTC on a known day: the object lives across midnight.
    const t0 = Date.UTC(2031, 0, 10, 22, 0, 0);
    const at = (ms: number): MeterEvent => ({ at: ms });
    await index.metered(at(t0), "putObject", [record("k", 1000, t0)]);
    await index.metered(at(t0 + 1 * HOUR), "putObject", [record("k", 500, t0 + HOUR)]); // overwrite: 1000 B for 1 h
    await index.metered(at(t0 + 3 * HOUR), "deleteObject", ["k", undefined, t0 + 3 * HOUR]); // 500 B for 2 h
    const batches = await index.sealUsage(t0 + 5 * HOUR); // nothing stored for the last 2 h
    const rows = batches.flatMap((b) => b.rows).filter((r) => r.byteMs !== "0");
    const periodId = periodIdAt(t0, e.FINANCE_PERIOD_MINUTES === undefined ? undefined : Number(e.FINANCE_PERIOD_MINUTES));
    const byDay = Object.fromEntries(rows.map((r) => [r.day, BigInt(r.byteMs)]));
    // 22:00-23:00 1000 B, 23:00-24:00 500 B; 00:00-01:00 500 B.
    expect(byDay).toEqual({ "2031-01-10": BigInt(1000 * HOUR + 500 * HOUR), "2031-01-11": BigInt(500 * HOUR) });
    expect(rows.every((r) => r.periodId.length > 0)).toBe(true);
    expect(periodId).toMatch(/^2031-01/);
    expect((await index.openUsage()).storedBytes).toBe(0);
  });

  it("counts noncurrent versions and parts of uploads in progress as stored, as S3 bills them", async () => {
    const owner = await createAccountWithKey("meter-versions");
    await newBucket(owner, "meter-versions");
    expect((await s3(owner, "PUT", "/meter-versions?versioning", { body: `<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>` })).status).toBe(200);
    expect((await s3(owner, "PUT", "/meter-versions/v", { body: "a".repeat(100) })).status).toBe(200);
    expect((await s3(owner, "PUT", "/meter-versions/v", { body: "b".repeat(40) })).status).toBe(200);
    expect((await openTotals("meter-versions")).storedBytes).toBe(140);
    // A delete marker stores nothing and removes nothing.
    expect((await s3(owner, "DELETE", "/meter-versions/v")).status).toBe(204);
    expect((await openTotals("meter-versions")).storedBytes).toBe(140);

    const created = await (await s3(owner, "POST", "/meter-versions/mp?uploads")).text();
    const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(created)![1]!;
    expect((await s3(owner, "PUT", `/meter-versions/mp?partNumber=1&uploadId=${uploadId}`, { body: "p".repeat(30) })).status).toBe(200);
    // The same part again replaces it: counted once, at its new size.
    expect((await s3(owner, "PUT", `/meter-versions/mp?partNumber=1&uploadId=${uploadId}`, { body: "q".repeat(20) })).status).toBe(200);
    expect((await openTotals("meter-versions")).storedBytes).toBe(160);
    expect((await s3(owner, "DELETE", `/meter-versions/mp?uploadId=${uploadId}`)).status).toBe(204);
    expect((await openTotals("meter-versions")).storedBytes).toBe(140);
  });
});

describe("requests and bytes counted in the index call", () => {
  it("counts each S3 request once by class, with the bytes it sent and the bytes its answer declared", async () => {
    const owner = await createAccountWithKey("meter-requests");
    await newBucket(owner, "meter-requests");
    const before = await openTotals("meter-requests");
    expect((await s3(owner, "PUT", "/meter-requests/obj", { body: "x".repeat(300) })).status).toBe(200); // A, 300 in
    expect((await (await s3(owner, "GET", "/meter-requests/obj")).arrayBuffer()).byteLength).toBe(300); // B, 300 out
    expect((await s3(owner, "GET", "/meter-requests/obj", { headers: { range: "bytes=0-99" } })).status).toBe(206); // B, 100 out
    expect((await s3(owner, "HEAD", "/meter-requests/obj")).status).toBe(200); // B, 0 out
    const etag = (await s3(owner, "HEAD", "/meter-requests/obj")).headers.get("etag")!; // B
    expect((await s3(owner, "GET", "/meter-requests/obj", { headers: { "if-none-match": etag } })).status).toBe(304); // B, 0 out
    expect((await s3(owner, "GET", "/meter-requests?list-type=2")).status).toBe(200); // A
    expect((await s3(owner, "DELETE", "/meter-requests/obj")).status).toBe(204); // free
    const after = await openTotals("meter-requests");
    expect(after.classA - before.classA).toBe(2);
    expect(after.classB - before.classB).toBe(5);
    expect(after.bytesIn - before.bytesIn).toBe(300);
    expect(after.bytesOut - before.bytesOut).toBe(400);
  });

  it("gives exact counts for many PUTs and GETs in parallel", async () => {
    const owner = await createAccountWithKey("meter-parallel");
    await newBucket(owner, "meter-parallel");
    expect((await s3(owner, "PUT", "/meter-parallel/shared", { body: "s".repeat(10) })).status).toBe(200);
    const before = await openTotals("meter-parallel");
    const n = 25;
    const results = await Promise.all([
      ...Array.from({ length: n }, (_, i) => s3(owner, "PUT", `/meter-parallel/k${i}`, { body: "y".repeat(i + 1) })),
      ...Array.from({ length: n }, () => s3(owner, "GET", "/meter-parallel/shared").then(async (r) => (await r.arrayBuffer(), r))),
    ]);
    expect(results.every((r) => r.status === 200)).toBe(true);
    const after = await openTotals("meter-parallel");
    expect(after.classA - before.classA).toBe(n);
    expect(after.classB - before.classB).toBe(n);
    expect(after.bytesIn - before.bytesIn).toBe((n * (n + 1)) / 2);
    expect(after.bytesOut - before.bytesOut).toBe(n * 10);
    expect(after.storedBytes).toBe(10 + (n * (n + 1)) / 2);
  });

  it("bills a stranger's refused read of a private bucket to nobody", async () => {
    const owner = await createAccountWithKey("meter-private");
    await newBucket(owner, "meter-private");
    expect((await s3(owner, "PUT", "/meter-private/o", { body: "z" })).status).toBe(200);
    const before = await openTotals("meter-private");
    expect((await SELF.fetch(`${EDGE}/meter-private/o`)).status).toBe(403);
    const after = await openTotals("meter-private");
    expect(after.classB).toBe(before.classB);
    expect(after.bytesOut).toBe(before.bytesOut);
  });
});

describe("the flush to D1", () => {
  it("writes each batch once: flushing twice, or after a crash between D1 and the index's ack, counts nothing twice", async () => {
    const owner = await createAccountWithKey("meter-flush");
    await newBucket(owner, "meter-flush");
    const index = await indexOf("meter-flush");
    const t0 = (await clockMs(e)) + 1000;
    await index.metered({ at: t0, request: { requestClass: "A", bytesIn: 64 } }, "putObject", [record("a", 64, t0)]);
    const bucket = await bucketOf("meter-flush");

    // Sealed and written to D1, then the flush dies before telling the index.
    const sealed = await index.sealUsage(t0 + HOUR);
    expect(sealed).toHaveLength(1);
    await writeUsageBatches(db, bucket, sealed, t0 + HOUR);
    expect((await index.openUsage()).rows).toEqual([]);

    // Meanwhile more usage arrives; the next flush sends the old batch again and the new one.
    await index.metered({ at: t0 + 2 * HOUR, request: { requestClass: "B", bytesIn: 0 } }, "getObject", ["a"]);
    expect(await flushBucketUsage(e, db, bucket, t0 + 2 * HOUR)).toBe(2);
    // And a flush run twice changes nothing.
    expect(await flushBucketUsage(e, db, bucket, t0 + 2 * HOUR)).toBe(0);
    await runUsageFlush(e, new Date(t0 + 2 * HOUR));

    const totals = await flushedTotals("meter-flush");
    expect(totals.byteMs).toBe(BigInt(64 * 2 * HOUR));
    expect(totals.classA).toBe(1);
    expect(totals.classB).toBe(1);
    expect(totals.bytesIn).toBe(64n);
  });

  it("keeps a deleted bucket's last usage: DeleteBucket flushes it before the bucket's row goes", async () => {
    const owner = await createAccountWithKey("meter-deleted");
    await newBucket(owner, "meter-deleted");
    const { id } = await bucketOf("meter-deleted");
    expect((await s3(owner, "PUT", "/meter-deleted/obj", { body: "y".repeat(500) })).status).toBe(200);
    expect((await s3(owner, "GET", "/meter-deleted/obj")).status).toBe(200);
    expect((await s3(owner, "DELETE", "/meter-deleted/obj")).status).toBe(204);
    expect((await s3(owner, "DELETE", "/meter-deleted")).status).toBe(204);
    await runUsageFlush(e, new Date(await clockMs(e)));
    const row = await e.DB.prepare("SELECT SUM(bytes_in) AS bytes_in, SUM(bytes_out) AS bytes_out, SUM(class_a) AS a, SUM(class_b) AS b FROM bucket_usage WHERE bucket_id = ?")
      .bind(id)
      .first<{ bytes_in: number; bytes_out: number; a: number; b: number }>();
    expect(row).toEqual({ bytes_in: 500, bytes_out: 500, a: 1, b: 1 });
  });

  it("gives settlement each account's usage for a period, for buildInvoice", async () => {
    const owner = await createAccountWithKey("meter-period");
    await newBucket(owner, "meter-period");
    const index = await indexOf("meter-period");
    const minutes = e.FINANCE_PERIOD_MINUTES === undefined ? undefined : Number(e.FINANCE_PERIOD_MINUTES);
    const periodOf = periodLocator(minutes);
    // An hour inside one period and one day, whatever the period length.
    const start = Date.UTC(2032, 2, 3, 1, 0, 0);
    await index.metered({ at: start, request: { requestClass: "A", bytesIn: 7 } }, "putObject", [record("p", 7_000_000, start)]);
    await index.metered({ at: start + 60_000, request: { requestClass: "B", bytesIn: 0 }, egress: { head: false, headers: {} } }, "getObject", ["p"]);
    await flushBucketUsage(e, db, await bucketOf("meter-period"), start + 60_000 * 2);
    const periodId = periodOf(start).id;
    const usage = (await usageForPeriod(db, periodId)).accounts.get(owner.id);
    // 7 MB for 2 minutes = 233,333.3 byte-hours: whole byte-hours.
    expect(usage).toEqual({ storageByteHours: 233_333n, egressBytes: 7_000_000n, classARequests: 1n, classBRequests: 1n });
  });
});

describe("node holding", () => {
  it("integrates placed bytes from when each blob was placed, once per step", async () => {
    const { m } = await registerTestNode();
    const t0 = Date.UTC(2033, 4, 5, 6, 0, 0);
    const periodOf = periodLocator(e.FINANCE_PERIOD_MINUTES === undefined ? undefined : Number(e.FINANCE_PERIOD_MINUTES));
    await recordPlacedBlobs(db, [{ nodeId: m.nodeId, blobId: `b${"d".repeat(64)}`, bytes: 1000 }], t0);
    expect(await integrateNodeHolding(db, m.nodeId, t0 + HOUR, periodOf)).toBe(BigInt(1000 * HOUR));
    await recordPlacedBlobs(db, [{ nodeId: m.nodeId, blobId: `b${"e".repeat(64)}`, bytes: 10 }], t0 + 2 * HOUR);
    // The same step again records nothing; the next counts the old blob for 2 h and the new one for 1 h.
    expect(await integrateNodeHolding(db, m.nodeId, t0 + HOUR, periodOf)).toBe(0n);
    expect(await integrateNodeHolding(db, m.nodeId, t0 + 3 * HOUR, periodOf)).toBe(BigInt(1000 * 2 * HOUR + 10 * HOUR));
    const period = await usageForPeriod(db, periodOf(t0).id);
    expect(period.nodes.find((n) => n.nodeId === m.nodeId)?.heldByteHours).toBe(3010n);
  });
});

describe("usage routes", () => {
  async function usageOf(account: TestAccount, query: string): Promise<Response> {
    const signer = new AwsClient({ accessKeyId: account.accessKeyId, secretAccessKey: account.secretAccessKey, service: "s3", region: "us-east-1", retries: 0 });
    const emptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    return SELF.fetch(await signer.sign(`${EDGE}/api/v1/usage?${query}`, { method: "GET", headers: { "x-amz-content-sha256": emptyHash } }));
  }

  it("shows a customer their own buckets' usage by day, and nobody else's", async () => {
    const alice = await createAccountWithKey("meter-alice");
    const bob = await createAccountWithKey("meter-bob");
    await newBucket(alice, "meter-alice-bucket");
    await newBucket(bob, "meter-bob-bucket");
    expect((await s3(alice, "PUT", "/meter-alice-bucket/a", { body: "a".repeat(50) })).status).toBe(200);
    expect((await s3(bob, "PUT", "/meter-bob-bucket/b", { body: "b".repeat(70) })).status).toBe(200);
    const now = await clockMs(e);
    await runUsageFlush(e, new Date(now));
    const day = new Date(now).toISOString().slice(0, 10);

    const res = await usageOf(alice, `from=${day}&to=${day}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { accountId: string; usage: { bucket: string; bytesIn: string; classARequests: string }[] };
    expect(body.accountId).toBe(alice.id);
    expect(body.usage.map((u) => u.bucket)).toEqual(["meter-alice-bucket"]);
    expect(body.usage[0]).toMatchObject({ bytesIn: "50", classARequests: "1" });

    const bobs = (await (await usageOf(bob, `from=${day}&to=${day}`)).json()) as { usage: { bucket: string }[] };
    expect(bobs.usage.map((u) => u.bucket)).toEqual(["meter-bob-bucket"]);

    expect((await SELF.fetch(`${EDGE}/api/v1/usage?from=${day}&to=${day}`)).status).toBeGreaterThanOrEqual(400);
    expect((await usageOf(alice, `from=${day}&to=2020-01-01`)).status).toBe(400);
  });

  it("shows an operator their node's holding and audits, to the node's own credentials only", async () => {
    const mine = await registerTestNode();
    const other = await registerTestNode();
    const day = new Date(await clockMs(e)).toISOString().slice(0, 10);
    const url = `${EDGE}/api/v1/nodes/${mine.m.nodeId}/usage?from=${day}&to=${day}`;
    const res = await SELF.fetch(await mine.client.sign(url, { method: "GET" }));
    expect(res.status).toBe(200);
    const body = (await res.json()) as { nodeId: string; usage: unknown[]; audits: { standing: string } };
    expect(body.nodeId).toBe(mine.m.nodeId);
    expect(body.audits.standing).toBeTruthy();
    expect((await SELF.fetch(await other.client.sign(url, { method: "GET" }))).status).toBe(403);
    expect((await SELF.fetch(url)).status).toBeGreaterThanOrEqual(400);
  });
});
