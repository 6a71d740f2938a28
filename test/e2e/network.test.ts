// End to end: the real local network (wrangler dev + front proxy + 3 node-agent processes) driven by
// @aws-sdk/client-s3 exactly as users drive it, plus the awscli where it is installed.

import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { AwsClient } from "aws4fetch";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AccountKeys, LocalNetwork, NetworkDescription } from "../../src/localnet/network.ts";
import { edgeS3Client, errorOf, startTestNetwork, stopTestNetwork } from "../helpers/test-support.ts";
import { availableAwsClis, runAws } from "../helpers/awscli.ts";

const MiB = 1024 * 1024;
let network: LocalNetwork;
let d: NetworkDescription;

function client(keys: AccountKeys, secret = keys.secretAccessKey): S3Client {
  return edgeS3Client(d, { keys: { accessKeyId: keys.accessKeyId, secretAccessKey: secret } });
}

/** A deterministic stream of `size` pseudo-random bytes and the SHA-256 it will have. */
function generated(size: number, seed: string): { stream: () => Readable; sha256: string } {
  const block = createHash("sha512").update(seed).digest();
  const chunk = Buffer.alloc(MiB);
  for (let i = 0; i < chunk.length; i += block.length) block.copy(chunk, i);
  // Vary every MiB so a misplaced chunk changes the hash.
  const piece = (i: number, n: number) => {
    const b = Buffer.from(chunk.subarray(0, n));
    if (n >= 4) b.writeUInt32BE(i, 0);
    return b;
  };
  const hash = createHash("sha256");
  for (let off = 0, i = 0; off < size; off += MiB, i++) hash.update(piece(i, Math.min(MiB, size - off)));
  return {
    sha256: hash.digest("hex"),
    stream: () =>
      Readable.from(
        (function* () {
          for (let off = 0, i = 0; off < size; off += MiB, i++) yield piece(i, Math.min(MiB, size - off));
        })(),
      ),
  };
}

async function sha256Of(body: AsyncIterable<Uint8Array>): Promise<{ sha256: string; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of body) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { sha256: hash.digest("hex"), size };
}

async function errorCode(promise: Promise<unknown>): Promise<string> {
  return (await errorOf(promise)).name;
}

beforeAll(async () => {
  ({ network, d } = await startTestNetwork("icn-e2e-", { nodeCount: 3 }));
}, 180_000);

afterAll(() => stopTestNetwork(network), 60_000);

describe("objects through the edge", () => {
  const bucket = "e2e-roundtrip";

  beforeAll(async () => {
    await client(d.accounts.default).send(new CreateBucketCommand({ Bucket: bucket }));
  });

  for (const [label, size] of [
    ["0 B", 0],
    ["1 B", 1],
    ["1 MiB", MiB],
    ["200 MiB", 200 * MiB],
  ] as const) {
    it(`round-trips a ${label} object byte for byte`, async () => {
      const s3 = client(d.accounts.default);
      const data = generated(size, label);
      const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `sized/${label}`, Body: data.stream(), ContentLength: size, ContentType: "application/x-test" }));
      expect(put.ETag).toMatch(/^"[0-9a-f]{32}"$/);
      const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: `sized/${label}` }));
      expect(head.ContentLength).toBe(size);
      const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: `sized/${label}` }));
      expect(got.ContentLength).toBe(size);
      expect(got.ContentType).toBe("application/x-test");
      expect(got.ETag).toBe(put.ETag);
      expect(await sha256Of(got.Body as Readable)).toEqual({ sha256: data.sha256, size });
    });
  }

  it("serves byte ranges of an object", async () => {
    const s3 = client(d.accounts.default);
    const body = Buffer.from("0123456789abcdefghij");
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "ranged", Body: body }));
    const mid = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "ranged", Range: "bytes=5-9" }));
    expect(mid.ContentRange).toBe("bytes 5-9/20");
    expect(await mid.Body!.transformToString()).toBe("56789");
    const tail = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "ranged", Range: "bytes=-3" }));
    expect(await tail.Body!.transformToString()).toBe("hij");
    expect(await errorCode(s3.send(new GetObjectCommand({ Bucket: bucket, Key: "ranged", Range: "bytes=50-" })))).toBe("InvalidRange");
  });

  it("completes a multipart upload with S3's md5-of-md5s ETag and reads it back across parts", async () => {
    const s3 = client(d.accounts.default);
    const key = "multi/part object";
    const parts = [randomBytes(5 * MiB), randomBytes(6 * MiB), randomBytes(MiB + 7)];
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    const etags: string[] = [];
    for (const [i, part] of parts.entries()) {
      const res = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: i + 1, Body: part }));
      etags.push(res.ETag!);
    }
    const done = await s3.send(
      new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) } }),
    );
    const md5s = Buffer.concat(parts.map((p) => createHash("md5").update(p).digest()));
    expect(done.ETag).toBe(`"${createHash("md5").update(md5s).digest("hex")}-3"`);
    const whole = Buffer.concat(parts);
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    expect(await sha256Of(got.Body as Readable)).toEqual({ sha256: createHash("sha256").update(whole).digest("hex"), size: whole.length });
    // A range that spans the boundary between part 1 and part 2.
    const span = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=${5 * MiB - 10}-${5 * MiB + 9}` }));
    expect(Buffer.from(await span.Body!.transformToByteArray())).toEqual(whole.subarray(5 * MiB - 10, 5 * MiB + 10));
  });

  it("refuses to complete with a wrong part ETag, and aborting frees the upload", async () => {
    const s3 = client(d.accounts.default);
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: "aborted" }));
    await s3.send(new UploadPartCommand({ Bucket: bucket, Key: "aborted", UploadId, PartNumber: 1, Body: Buffer.from("tiny") }));
    const bad = s3.send(
      new CompleteMultipartUploadCommand({ Bucket: bucket, Key: "aborted", UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: `"${"0".repeat(32)}"` }] } }),
    );
    expect(await errorCode(bad)).toBe("InvalidPart");
    await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: "aborted", UploadId }));
    expect(await errorCode(s3.send(new UploadPartCommand({ Bucket: bucket, Key: "aborted", UploadId, PartNumber: 2, Body: Buffer.from("x") })))).toBe("NoSuchUpload");
    expect(await errorCode(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "aborted" })))).toBe("NotFound");
  });

  it("lists with prefix and delimiter, deletes, and refuses to delete a non-empty bucket", async () => {
    const s3 = client(d.accounts.default);
    await s3.send(new CreateBucketCommand({ Bucket: "e2e-listing" }));
    for (const key of ["photos/2024/a.jpg", "photos/2025/b.jpg", "photos/c.jpg", "readme"]) {
      await s3.send(new PutObjectCommand({ Bucket: "e2e-listing", Key: key, Body: key }));
    }
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: "e2e-listing", Prefix: "photos/", Delimiter: "/" }));
    expect(listed.Contents?.map((o) => o.Key)).toEqual(["photos/c.jpg"]);
    expect(listed.CommonPrefixes?.map((p) => p.Prefix)).toEqual(["photos/2024/", "photos/2025/"]);
    expect(await errorCode(s3.send(new DeleteBucketCommand({ Bucket: "e2e-listing" })))).toBe("BucketNotEmpty");
    for (const key of ["photos/2024/a.jpg", "photos/2025/b.jpg", "photos/c.jpg", "readme"]) {
      await s3.send(new DeleteObjectCommand({ Bucket: "e2e-listing", Key: key }));
    }
    await s3.send(new DeleteBucketCommand({ Bucket: "e2e-listing" }));
    expect(await errorCode(s3.send(new ListObjectsV2Command({ Bucket: "e2e-listing" })))).toBe("NoSuchBucket");
  });
});

describe("isolation and authentication", () => {
  const bucket = "e2e-private";

  beforeAll(async () => {
    const s3 = client(d.accounts.default);
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "secret.txt", Body: "first account only" }));
  });

  it("keeps a second account out of the first one's bucket", async () => {
    const other = client(d.accounts.second);
    expect(await errorCode(other.send(new GetObjectCommand({ Bucket: bucket, Key: "secret.txt" })))).toBe("AccessDenied");
    expect(await errorCode(other.send(new ListObjectsV2Command({ Bucket: bucket })))).toBe("AccessDenied");
    expect(await errorCode(other.send(new DeleteObjectCommand({ Bucket: bucket, Key: "secret.txt" })))).toBe("AccessDenied");
    const mine = await client(d.accounts.default).send(new GetObjectCommand({ Bucket: bucket, Key: "secret.txt" }));
    expect(await mine.Body!.transformToString()).toBe("first account only");
  });

  it("refuses a forged signature at the edge", async () => {
    const forged = client(d.accounts.default, "x".repeat(40));
    expect(await errorCode(forged.send(new GetObjectCommand({ Bucket: bucket, Key: "secret.txt" })))).toBe("SignatureDoesNotMatch");
  });

  it("refuses an expired presigned URL at the edge", async () => {
    const url = await getSignedUrl(client(d.accounts.default), new GetObjectCommand({ Bucket: bucket, Key: "secret.txt" }), { expiresIn: 1 });
    expect((await fetch(url)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 2100));
    const res = await fetch(url);
    expect(res.status).toBe(403);
    expect(await res.text()).toContain("<Code>AccessDenied</Code>");
  });

  it("refuses unsigned, forged and stale requests at the node", async () => {
    const node = d.nodes[0]!;
    const blobUrl = `${node.url}/blobs/b${"0".repeat(32)}`;
    expect((await fetch(blobUrl, { method: "PUT", body: "sneaky" })).status).toBe(403);
    const forger = new AwsClient({ accessKeyId: "ICNNFORGED00000000", secretAccessKey: "y".repeat(40), service: "s3", region: "icn", retries: 0 });
    expect((await fetch(await forger.sign(blobUrl, { method: "PUT", body: "sneaky" }))).status).toBe(403);
    const stale = new Date(Date.now() - 20 * 60_000).toISOString().replace(/[:-]|\.\d{3}/g, "");
    expect((await fetch(await forger.sign(blobUrl, { method: "GET", aws: { datetime: stale } }))).status).toBe(403);
    const files = await readdir(join(node.dataDir, "blobs"), { recursive: true });
    expect(files.some((f) => f.includes("0".repeat(32)))).toBe(false);
  });
});

/** CreateBucket with ICN's replication-factor header, which the SDK has no parameter for. */
async function createBucketWithReplicas(bucket: string, replicationFactor: number): Promise<void> {
  const signer = new AwsClient({ accessKeyId: d.accounts.default.accessKeyId, secretAccessKey: d.accounts.default.secretAccessKey, service: "s3", region: d.region, retries: 0 });
  const res = await fetch(await signer.sign(`${d.edgeUrl}/${bucket}`, { method: "PUT", headers: { "x-icn-replication-factor": String(replicationFactor) } }));
  expect(res.status).toBe(200);
}

/** A node with an upload in flight (a temp file in its data dir), polled for up to 5 s. */
async function nodeReceivingUpload(): Promise<(typeof d.nodes)[number] | undefined> {
  for (let i = 0; i < 200; i++) {
    for (const node of d.nodes) {
      const tmp = await readdir(join(node.dataDir, "tmp")).catch(() => []);
      if (tmp.length > 0) return node;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return undefined;
}

describe("crash safety", () => {
  it("never leaves a half-written blob visible when a node is SIGKILLed mid-upload", async () => {
    const s3 = client(d.accounts.default);
    const bucket = "e2e-crash";
    // One replica: the node that dies holds the only copy, so the upload must fail, cleanly.
    await createBucketWithReplicas(bucket, 1);
    const size = 64 * MiB;
    // A slow body, so the kill lands while bytes are still flowing to the node.
    const slow = Readable.from(
      (async function* () {
        for (let i = 0; i < size / MiB; i++) {
          await new Promise((r) => setTimeout(r, 40));
          yield randomBytes(MiB);
        }
      })(),
    );
    const upload = s3.send(new PutObjectCommand({ Bucket: bucket, Key: "doomed", Body: slow, ContentLength: size })).then(
      () => "stored",
      (e: Error) => e.name,
    );

    // Find the node receiving it by its growing temp file, then kill it.
    const victim = await nodeReceivingUpload();
    expect(victim, "an upload temp file appeared on some node").toBeDefined();
    await network.stopNode(victim!.index, "SIGKILL");

    expect(await upload).not.toBe("stored");
    expect(await errorCode(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "doomed" })))).toBe("NotFound");

    // Restarted, the node cleans its temp files; every blob it shows is whole and matches its recorded hash.
    await network.startNode(victim!.index);
    expect(await readdir(join(victim!.dataDir, "tmp"))).toEqual([]);
    const blobFiles = (await readdir(join(victim!.dataDir, "blobs"), { recursive: true })).filter((f) => /\/b[0-9a-f]{32,64}$/.test(f));
    for (const file of blobFiles) {
      const meta = JSON.parse(await readFile(join(victim!.dataDir, "blobs", `${file}.meta.json`), "utf8")) as { sha256: string; size: number };
      const bytes = await readFile(join(victim!.dataDir, "blobs", file));
      expect(bytes.length).toBe(meta.size);
      expect(createHash("sha256").update(bytes).digest("hex")).toBe(meta.sha256);
    }
    // And the network still takes writes.
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "after", Body: "still here" }));
  }, 180_000);

  it("keeps accepting an upload when one of three replicas is SIGKILLed mid-way, and reads it back whole", async () => {
    const s3 = client(d.accounts.default);
    const bucket = "e2e-crash-rf3";
    await createBucketWithReplicas(bucket, 3);
    const size = 48 * MiB;
    const data = randomBytes(size);
    const slow = Readable.from(
      (async function* () {
        for (let off = 0; off < size; off += MiB) {
          await new Promise((r) => setTimeout(r, 30));
          yield data.subarray(off, off + MiB);
        }
      })(),
    );
    const upload = s3.send(new PutObjectCommand({ Bucket: bucket, Key: "survivor", Body: slow, ContentLength: size }));
    const victim = await nodeReceivingUpload();
    expect(victim).toBeDefined();
    await network.stopNode(victim!.index, "SIGKILL");
    const put = await upload;
    expect(put.ETag).toBe(`"${createHash("md5").update(data).digest("hex")}"`);
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "survivor" }));
    expect(await sha256Of(got.Body as Readable)).toEqual({ sha256: createHash("sha256").update(data).digest("hex"), size });
    await network.startNode(victim!.index);
    expect(await readdir(join(victim!.dataDir, "tmp"))).toEqual([]);
  }, 180_000);
});

describe("awscli", () => {
  for (const aws of availableAwsClis()) {
    it(`copies a 20 MiB file up and back with ${aws.label} (multipart above 8 MiB)`, async () => {
      const dir = await mkdtemp(join(tmpdir(), "icn-awscli-"));
      try {
        const file = join(dir, "upload.bin");
        const data = randomBytes(20 * MiB);
        await import("node:fs/promises").then((fs) => fs.writeFile(file, data));
        const bucket = `e2e-cli-${aws.label.replace(/[^a-z0-9]/g, "")}`;
        const env = { AWS_ACCESS_KEY_ID: d.accounts.default.accessKeyId, AWS_SECRET_ACCESS_KEY: d.accounts.default.secretAccessKey, AWS_DEFAULT_REGION: d.region };
        await runAws(aws, ["s3", "mb", `s3://${bucket}`], d.edgeUrl, env);
        await runAws(aws, ["s3", "cp", file, `s3://${bucket}/upload.bin`], d.edgeUrl, env);
        const listing = await runAws(aws, ["s3", "ls", `s3://${bucket}/`], d.edgeUrl, env);
        expect(listing).toContain("upload.bin");
        await runAws(aws, ["s3", "cp", `s3://${bucket}/upload.bin`, join(dir, "download.bin")], d.edgeUrl, env);
        expect(createHash("sha256").update(await readFile(join(dir, "download.bin"))).digest("hex")).toBe(createHash("sha256").update(data).digest("hex"));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }, 120_000);
  }
});
