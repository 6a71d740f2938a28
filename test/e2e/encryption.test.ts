// Encryption at the edge against the real local network: nodes hold only ciphertext, ranged reads decrypt
// exactly what they need, tampered ciphertext is never served, SSE-C behaves as S3 defines it, and master-key
// rotation keeps every object readable once the old key is gone.

import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketEncryptionCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetBucketEncryptionCommand,
  GetObjectAttributesCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutBucketEncryptionCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { AwsClient } from "aws4fetch";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHUNK_SIZE, HEADER_SIZE, TAG_SIZE } from "../../src/services/crypto/stream-format.ts";
import { availableAwsClis, runAws } from "../helpers/awscli.ts";
import * as edgeState from "../helpers/edge-state.ts";
import { edgeS3Client, errorOf, filesUnder, startTestNetwork, stopTestNetwork } from "../helpers/test-support.ts";
import type { LocalNetwork, NetworkDescription } from "../../src/localnet/network.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
const FRAME = CHUNK_SIZE + TAG_SIZE;
/** A string no ciphertext contains by chance; every canary object repeats it. */
const CANARY = "ICN-CANARY-plaintext-must-never-reach-a-node-7f3a9c";

let network: LocalNetwork;
let d: NetworkDescription;
let stateDir: string;
let s3: S3Client;
let signer: AwsClient;

/** Bytes of `size` that repeat the canary, with a counter so that no two 64 KiB chunks are alike. */
function canaryBytes(size: number): Buffer {
  const out = Buffer.alloc(size);
  let at = 0;
  for (let i = 0; at < size; i++) at += out.write(`${CANARY}:${i};`, at);
  return out;
}

/** Every blob file (not sidecar) on every node. */
async function blobFiles(): Promise<string[]> {
  const all = await Promise.all(d.nodes.map((n) => filesUnder(join(n.dataDir, "blobs"))));
  return all.flat().filter((f) => !f.endsWith(".meta.json") && !f.endsWith(".tree"));
}

/** Runs `write` and returns the blob files it created (its replicas). */
async function blobsWrittenBy(write: () => Promise<unknown>): Promise<string[]> {
  const before = new Set(await blobFiles());
  await write();
  return (await blobFiles()).filter((f) => !before.has(f));
}

async function getBytes(bucket: string, key: string, extra: Partial<ConstructorParameters<typeof GetObjectCommand>[0]> = {}): Promise<Buffer> {
  const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...extra }));
  return Buffer.from(await res.Body!.transformToByteArray());
}

function sha(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

beforeAll(async () => {
  ({ network, d } = await startTestNetwork("icn-encryption-", { nodeCount: 3 }));
  stateDir = network.options.stateDir;
  s3 = edgeS3Client(d);
  signer = new AwsClient({ accessKeyId: d.accounts.default.accessKeyId, secretAccessKey: d.accounts.default.secretAccessKey, service: "s3", region: d.region, retries: 0 });
}, 180_000);

afterAll(() => stopTestNetwork(network), 60_000);

/** Objects written by the tests below, with what they must read back as after the master key rotates. */
const written: { bucket: string; key: string; sha256: string; sseCustomerKey?: string }[] = [];

describe("SSE-S3 by default", () => {
  it("encrypts every object and says so on PUT, HEAD, GET and copy; the bucket default is SSE-S3", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "enc-default" }));
    const body = canaryBytes(100 * KiB);
    const put = await s3.send(new PutObjectCommand({ Bucket: "enc-default", Key: "a.txt", Body: body }));
    expect(put.ServerSideEncryption).toBe("AES256");
    expect(put.ETag).toBe(`"${createHash("md5").update(body).digest("hex")}"`);
    const head = await s3.send(new HeadObjectCommand({ Bucket: "enc-default", Key: "a.txt" }));
    expect(head.ServerSideEncryption).toBe("AES256");
    expect(head.ContentLength).toBe(body.length);
    expect(sha(await getBytes("enc-default", "a.txt"))).toBe(sha(body));
    const copy = await s3.send(new CopyObjectCommand({ Bucket: "enc-default", Key: "b.txt", CopySource: "enc-default/a.txt" }));
    expect(copy.ServerSideEncryption).toBe("AES256");
    expect(sha(await getBytes("enc-default", "b.txt"))).toBe(sha(body));
    written.push({ bucket: "enc-default", key: "a.txt", sha256: sha(body) }, { bucket: "enc-default", key: "b.txt", sha256: sha(body) });

    const config = await s3.send(new GetBucketEncryptionCommand({ Bucket: "enc-default" }));
    expect(config.ServerSideEncryptionConfiguration?.Rules?.[0]?.ApplyServerSideEncryptionByDefault?.SSEAlgorithm).toBe("AES256");
    await s3.send(
      new PutBucketEncryptionCommand({
        Bucket: "enc-default",
        ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: "AES256" }, BucketKeyEnabled: true }] },
      }),
    );
    const set = await s3.send(new GetBucketEncryptionCommand({ Bucket: "enc-default" }));
    expect(set.ServerSideEncryptionConfiguration?.Rules?.[0]?.BucketKeyEnabled).toBe(true);
    await s3.send(new DeleteBucketEncryptionCommand({ Bucket: "enc-default" }));
    const reset = await s3.send(new GetBucketEncryptionCommand({ Bucket: "enc-default" }));
    expect(reset.ServerSideEncryptionConfiguration?.Rules?.[0]?.ApplyServerSideEncryptionByDefault?.SSEAlgorithm).toBe("AES256");
    expect(reset.ServerSideEncryptionConfiguration?.Rules?.[0]?.BucketKeyEnabled).toBe(false);
    // An unknown algorithm is refused, and the bucket keeps encrypting.
    const bad = await signer.fetch(`${d.edgeUrl}/enc-default?encryption`, {
      method: "PUT",
      body: "<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>ROT13</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>",
    });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain("<Code>InvalidArgument</Code>");
  });
});

describe("ranged reads decrypt exactly the chunks they need", () => {
  const size = 3 * CHUNK_SIZE + 1000;
  const body = canaryBytes(size);
  const ranges: [string, number, number][] = [
    ["bytes=0-0", 0, 0],
    [`bytes=${size - 1}-${size - 1}`, size - 1, size - 1],
    [`bytes=${CHUNK_SIZE - 1}-${CHUNK_SIZE}`, CHUNK_SIZE - 1, CHUNK_SIZE],
    [`bytes=${CHUNK_SIZE}-${2 * CHUNK_SIZE - 1}`, CHUNK_SIZE, 2 * CHUNK_SIZE - 1],
    [`bytes=${CHUNK_SIZE - 10}-${3 * CHUNK_SIZE + 10}`, CHUNK_SIZE - 10, 3 * CHUNK_SIZE + 10],
    ["bytes=-100", size - 100, size - 1],
    [`bytes=${2 * CHUNK_SIZE}-`, 2 * CHUNK_SIZE, size - 1],
    ["bytes=0-", 0, size - 1],
  ];
  const sseCustomerKey = randomBytes(32).toString("base64");

  beforeAll(async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "enc-ranges" }));
    await s3.send(new PutObjectCommand({ Bucket: "enc-ranges", Key: "sse-s3", Body: body }));
    await s3.send(new PutObjectCommand({ Bucket: "enc-ranges", Key: "sse-c", Body: body, SSECustomerAlgorithm: "AES256", SSECustomerKey: sseCustomerKey }));
    await s3.send(new PutObjectCommand({ Bucket: "enc-ranges", Key: "sse-kms", Body: body, ServerSideEncryption: "aws:kms" }));
    written.push(
      { bucket: "enc-ranges", key: "sse-s3", sha256: sha(body) },
      { bucket: "enc-ranges", key: "sse-c", sha256: sha(body), sseCustomerKey },
      { bucket: "enc-ranges", key: "sse-kms", sha256: sha(body) },
    );
  }, 60_000);

  for (const mode of ["sse-s3", "sse-c", "sse-kms"] as const) {
    it(`serves first byte, last byte, across chunks, whole chunks, suffix and open ranges (${mode})`, async () => {
      const ssec = mode === "sse-c" ? { SSECustomerAlgorithm: "AES256", SSECustomerKey: sseCustomerKey } : {};
      for (const [range, start, end] of ranges) {
        const res = await s3.send(new GetObjectCommand({ Bucket: "enc-ranges", Key: mode, Range: range, ...ssec }));
        const got = Buffer.from(await res.Body!.transformToByteArray());
        expect(got.equals(body.subarray(start, end + 1)), `${mode} ${range}`).toBe(true);
        expect(res.ContentRange).toBe(`bytes ${start}-${end}/${size}`);
      }
      expect(sha(await getBytes("enc-ranges", mode, ssec))).toBe(sha(body));
    });
  }

  it("reads ranges across the parts of an encrypted multipart object", async () => {
    const parts = [canaryBytes(5 * MiB + 123), canaryBytes(5 * MiB), canaryBytes(777)];
    const whole = Buffer.concat(parts);
    const upload = new Upload({ client: s3, params: { Bucket: "enc-ranges", Key: "multi", Body: whole }, partSize: 5 * MiB + 123, queueSize: 1 });
    await upload.done();
    const boundary = parts[0]!.length;
    for (const [start, end] of [
      [boundary - 1, boundary],
      [boundary - 5000, boundary + 70_000],
      [whole.length - 800, whole.length - 1],
    ] as const) {
      const res = await s3.send(new GetObjectCommand({ Bucket: "enc-ranges", Key: "multi", Range: `bytes=${start}-${end}` }));
      expect(Buffer.from(await res.Body!.transformToByteArray()).equals(whole.subarray(start, end + 1))).toBe(true);
    }
    const head = await s3.send(new HeadObjectCommand({ Bucket: "enc-ranges", Key: "multi" }));
    expect(head.ServerSideEncryption).toBe("AES256");
    expect(head.ContentLength).toBe(whole.length);
    written.push({ bucket: "enc-ranges", key: "multi", sha256: sha(whole) });
  });
});

describe("tampered ciphertext is never served", () => {
  const size = 5 * CHUNK_SIZE + 500;
  const body = canaryBytes(size);
  const other = canaryBytes(size).reverse();
  let replicas: string[] = [];
  let originals: Buffer[] = [];
  let otherBlob: Buffer;

  const frameAt = (i: number) => HEADER_SIZE + i * FRAME;
  async function restore(): Promise<void> {
    await Promise.all(replicas.map((f, i) => writeFile(f, originals[i]!)));
  }
  async function readsIntact(): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      expect(sha(await getBytes("enc-tamper", "victim"))).toBe(sha(body));
      const res = await s3.send(new GetObjectCommand({ Bucket: "enc-tamper", Key: "victim", Range: `bytes=${2 * CHUNK_SIZE + 5}-${2 * CHUNK_SIZE + 50}` }));
      expect(Buffer.from(await res.Body!.transformToByteArray()).equals(body.subarray(2 * CHUNK_SIZE + 5, 2 * CHUNK_SIZE + 51))).toBe(true);
    }
  }
  async function faultsRecorded(): Promise<number> {
    return (await network.admin<{ faults: number }>("GET", "/repair")).faults;
  }

  beforeAll(async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "enc-tamper" }));
    replicas = await blobsWrittenBy(() => s3.send(new PutObjectCommand({ Bucket: "enc-tamper", Key: "victim", Body: body })));
    expect(replicas).toHaveLength(3);
    originals = await Promise.all(replicas.map((f) => readFile(f)));
    const others = await blobsWrittenBy(() => s3.send(new PutObjectCommand({ Bucket: "enc-tamper", Key: "other", Body: other })));
    otherBlob = await readFile(others[0]!);
  }, 60_000);

  it("stores exactly header + chunks + tags, and no plaintext", () => {
    for (const blob of originals) {
      expect(blob.length).toBe(HEADER_SIZE + size + TAG_SIZE * 6);
      expect(blob.includes(CANARY)).toBe(false);
    }
  });

  const flipBit = (chunk: number) => (b: Buffer) => {
    const c = Buffer.from(b);
    c[frameAt(chunk) + 100]! ^= 0x01;
    return c;
  };
  const swapChunks = (i: number, j: number) => (b: Buffer) => {
    const c = Buffer.from(b);
    b.copy(c, frameAt(i), frameAt(j), frameAt(j) + FRAME);
    b.copy(c, frameAt(j), frameAt(i), frameAt(i) + FRAME);
    return c;
  };
  const spliceFromOther = (chunk: number) => (b: Buffer) => {
    const c = Buffer.from(b);
    otherBlob.copy(c, frameAt(chunk), frameAt(chunk), frameAt(chunk) + FRAME);
    return c;
  };
  const truncate = (b: Buffer) => b.subarray(0, frameAt(2) + 10);

  async function damage(tampers: ((b: Buffer) => Buffer)[]): Promise<void> {
    await Promise.all(tampers.map((tamper, i) => writeFile(replicas[i]!, tamper(originals[i]!))));
  }

  it("fails over chunk by chunk when every replica has a different bad chunk: flipped bit, swapped chunks, another object's chunk", async () => {
    const before = await faultsRecorded();
    // No replica is intact, but every chunk is intact on some replica: a whole read must switch replicas
    // mid-stream, resuming at the chunk that failed, and still deliver exactly the original bytes.
    await damage([flipBit(1), swapChunks(2, 3), spliceFromOther(4)]);
    try {
      await readsIntact();
      for (const [start, end] of [[CHUNK_SIZE - 3, 4 * CHUNK_SIZE + 3], [3 * CHUNK_SIZE, size - 1]]) {
        const res = await s3.send(new GetObjectCommand({ Bucket: "enc-tamper", Key: "victim", Range: `bytes=${start}-${end}` }));
        expect(Buffer.from(await res.Body!.transformToByteArray()).equals(body.subarray(start!, end! + 1))).toBe(true);
      }
    } finally {
      await restore();
    }
    // The edge noticed and queued the damaged replicas for repair.
    expect(await faultsRecorded()).toBeGreaterThan(before);
  });

  it("goes back to a replica that failed earlier when it holds the next good chunk", async () => {
    // Bad chunks alternate between two replicas and the third is truncated (unservable): whichever replica the
    // edge starts on, it must return to one that already failed once.
    await damage([(b) => flipBit(3)(flipBit(1)(b)), (b) => flipBit(4)(flipBit(2)(b)), truncate]);
    try {
      await readsIntact();
    } finally {
      await restore();
    }
  });

  it("fails over past truncated replicas", async () => {
    await damage([truncate, truncate]);
    try {
      await readsIntact();
    } finally {
      await restore();
    }
  });

  it("fails cleanly, serving nothing of a bad chunk, when every replica is damaged", async () => {
    for (const [i, f] of replicas.entries()) {
      const c = Buffer.from(originals[i]!);
      c[frameAt(2) + 7]! ^= 0x80;
      await writeFile(f, c);
    }
    // A range inside the bad chunk: refused before any byte.
    const inside = await errorOf(s3.send(new GetObjectCommand({ Bucket: "enc-tamper", Key: "victim", Range: `bytes=${2 * CHUNK_SIZE}-${2 * CHUNK_SIZE + 10}` })));
    expect(inside.status).toBe(500);
    // The whole object: the good chunks before it may flow, but the body never completes with bad bytes.
    let completed = false;
    try {
      const res = await s3.send(new GetObjectCommand({ Bucket: "enc-tamper", Key: "victim" }));
      const got = Buffer.from(await res.Body!.transformToByteArray());
      completed = got.length === size;
      expect(got.equals(body.subarray(0, got.length))).toBe(true);
    } catch {
      // a cut body is the clean failure here
    }
    expect(completed).toBe(false);
    await restore();
    expect(sha(await getBytes("enc-tamper", "victim"))).toBe(sha(body));
  });
});

describe("SSE-C", () => {
  const key = randomBytes(32);
  const keyB64 = key.toString("base64");
  const keyMd5 = createHash("md5").update(key).digest("base64");
  const otherKey = randomBytes(32).toString("base64");
  const body = canaryBytes(200 * KiB);
  const ssec = { SSECustomerAlgorithm: "AES256", SSECustomerKey: keyB64 };

  beforeAll(async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "enc-ssec" }));
    const put = await s3.send(new PutObjectCommand({ Bucket: "enc-ssec", Key: "secret", Body: body, ...ssec }));
    expect(put.SSECustomerAlgorithm).toBe("AES256");
    expect(put.SSECustomerKeyMD5).toBe(keyMd5);
    expect(put.ServerSideEncryption).toBeUndefined();
    written.push({ bucket: "enc-ssec", key: "secret", sha256: sha(body), sseCustomerKey: keyB64 });
  }, 60_000);

  it("reads back only with the right key; a missing, wrong or malformed key gets S3's errors", async () => {
    const got = await s3.send(new GetObjectCommand({ Bucket: "enc-ssec", Key: "secret", ...ssec }));
    expect(got.SSECustomerKeyMD5).toBe(keyMd5);
    expect(sha(Buffer.from(await got.Body!.transformToByteArray()))).toBe(sha(body));
    expect(await errorOf(s3.send(new GetObjectCommand({ Bucket: "enc-ssec", Key: "secret" })))).toMatchObject({ name: "InvalidRequest", status: 400 });
    expect((await errorOf(s3.send(new HeadObjectCommand({ Bucket: "enc-ssec", Key: "secret" })))).status).toBe(400);
    expect(await errorOf(s3.send(new GetObjectCommand({ Bucket: "enc-ssec", Key: "secret", SSECustomerAlgorithm: "AES256", SSECustomerKey: otherKey })))).toMatchObject({
      name: "AccessDenied",
      status: 403,
    });
    expect((await errorOf(s3.send(new HeadObjectCommand({ Bucket: "enc-ssec", Key: "secret", SSECustomerAlgorithm: "AES256", SSECustomerKey: otherKey })))).status).toBe(403);
    const head = await s3.send(new HeadObjectCommand({ Bucket: "enc-ssec", Key: "secret", ...ssec }));
    expect(head.ContentLength).toBe(body.length);
    const attributes = (extra: object) => s3.send(new GetObjectAttributesCommand({ Bucket: "enc-ssec", Key: "secret", ObjectAttributes: ["ObjectSize"], ...extra }));
    expect((await errorOf(attributes({}))).status).toBe(400);
    expect((await attributes(ssec)).ObjectSize).toBe(body.length);

    // Raw headers for what SDKs would not send: a wrong key MD5, a short key, another algorithm.
    const raw = (headers: Record<string, string>) => signer.fetch(`${d.edgeUrl}/enc-ssec/secret`, { headers });
    const badMd5 = await raw({
      "x-amz-server-side-encryption-customer-algorithm": "AES256",
      "x-amz-server-side-encryption-customer-key": keyB64,
      "x-amz-server-side-encryption-customer-key-md5": createHash("md5").update("nope").digest("base64"),
    });
    expect(badMd5.status).toBe(400);
    expect(await badMd5.text()).toContain("<Code>InvalidArgument</Code>");
    const shortKey = randomBytes(16);
    const short = await raw({
      "x-amz-server-side-encryption-customer-algorithm": "AES256",
      "x-amz-server-side-encryption-customer-key": shortKey.toString("base64"),
      "x-amz-server-side-encryption-customer-key-md5": createHash("md5").update(shortKey).digest("base64"),
    });
    expect(short.status).toBe(400);
    const algorithm = await raw({
      "x-amz-server-side-encryption-customer-algorithm": "AES128",
      "x-amz-server-side-encryption-customer-key": keyB64,
      "x-amz-server-side-encryption-customer-key-md5": keyMd5,
    });
    expect(algorithm.status).toBe(400);
    expect(await algorithm.text()).toContain("<Code>InvalidEncryptionAlgorithmError</Code>");
    // A key sent for an object that has none is refused too.
    await s3.send(new PutObjectCommand({ Bucket: "enc-ssec", Key: "plain-default", Body: "x" }));
    expect((await errorOf(s3.send(new GetObjectCommand({ Bucket: "enc-ssec", Key: "plain-default", ...ssec })))).status).toBe(400);
  });

  it("copies between SSE-C and SSE-S3 in both directions, needing the source key", async () => {
    expect((await errorOf(s3.send(new CopyObjectCommand({ Bucket: "enc-ssec", Key: "copy-1", CopySource: "enc-ssec/secret" })))).status).toBe(400);
    const toSseS3 = await s3.send(
      new CopyObjectCommand({ Bucket: "enc-ssec", Key: "copy-1", CopySource: "enc-ssec/secret", CopySourceSSECustomerAlgorithm: "AES256", CopySourceSSECustomerKey: keyB64 }),
    );
    expect(toSseS3.ServerSideEncryption).toBe("AES256");
    expect(sha(await getBytes("enc-ssec", "copy-1"))).toBe(sha(body));
    const toSseC = await s3.send(new CopyObjectCommand({ Bucket: "enc-ssec", Key: "copy-2", CopySource: "enc-ssec/copy-1", SSECustomerAlgorithm: "AES256", SSECustomerKey: otherKey }));
    expect(toSseC.SSECustomerAlgorithm).toBe("AES256");
    expect(sha(await getBytes("enc-ssec", "copy-2", { SSECustomerAlgorithm: "AES256", SSECustomerKey: otherKey }))).toBe(sha(body));
    // Re-keying in place: SSE-C to SSE-C under a new key.
    await s3.send(
      new CopyObjectCommand({
        Bucket: "enc-ssec",
        Key: "copy-2",
        CopySource: "enc-ssec/copy-2",
        CopySourceSSECustomerAlgorithm: "AES256",
        CopySourceSSECustomerKey: otherKey,
        ...ssec,
      }),
    );
    expect(sha(await getBytes("enc-ssec", "copy-2", ssec))).toBe(sha(body));
    expect((await errorOf(s3.send(new GetObjectCommand({ Bucket: "enc-ssec", Key: "copy-2", SSECustomerAlgorithm: "AES256", SSECustomerKey: otherKey })))).status).toBe(403);
  });

  it("multipart: every part and UploadPartCopy under the upload's customer key", async () => {
    const parts = [canaryBytes(5 * MiB), canaryBytes(64 * KiB + 3)];
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: "enc-ssec", Key: "mp", ...ssec }));
    const p1 = await s3.send(new UploadPartCommand({ Bucket: "enc-ssec", Key: "mp", UploadId, PartNumber: 1, Body: parts[0], ...ssec }));
    expect(p1.SSECustomerKeyMD5).toBe(keyMd5);
    // A part without the key, or with another, is refused.
    expect((await errorOf(s3.send(new UploadPartCommand({ Bucket: "enc-ssec", Key: "mp", UploadId, PartNumber: 2, Body: parts[1] })))).status).toBe(400);
    expect(
      (await errorOf(s3.send(new UploadPartCommand({ Bucket: "enc-ssec", Key: "mp", UploadId, PartNumber: 2, Body: parts[1], SSECustomerAlgorithm: "AES256", SSECustomerKey: otherKey })))).status,
    ).toBe(403);
    // Part 2 copied out of the SSE-S3 object "copy-1" (its first bytes).
    const p2 = await s3.send(
      new UploadPartCopyCommand({ Bucket: "enc-ssec", Key: "mp", UploadId, PartNumber: 2, CopySource: "enc-ssec/copy-1", CopySourceRange: `bytes=0-${parts[1]!.length - 1}`, ...ssec }),
    );
    const done = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: "enc-ssec",
        Key: "mp",
        UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p1.ETag }, { PartNumber: 2, ETag: p2.CopyPartResult!.ETag }] },
        ...ssec,
      }),
    );
    expect(done.ETag).toMatch(/-2"$/);
    expect((await s3.send(new HeadObjectCommand({ Bucket: "enc-ssec", Key: "mp", ...ssec }))).SSECustomerKeyMD5).toBe(keyMd5);
    const expected = Buffer.concat([parts[0]!, body.subarray(0, parts[1]!.length)]);
    expect(sha(await getBytes("enc-ssec", "mp", ssec))).toBe(sha(expected));
    expect((await errorOf(s3.send(new GetObjectCommand({ Bucket: "enc-ssec", Key: "mp" })))).status).toBe(400);
    written.push({ bucket: "enc-ssec", key: "mp", sha256: sha(expected), sseCustomerKey: keyB64 });
  });
});

describe("SSE-KMS", () => {
  let kms: AwsClient;
  let otherKms: AwsClient;
  const kmsApi = async (client: AwsClient, method: string, path: string, body?: unknown) => {
    const res = await client.fetch(`${d.edgeUrl}/api/v1/kms${path}`, {
      method,
      headers: { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = (await res.json()) as Record<string, unknown>;
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json as { keyId: string; arn: string; state: string };
  };
  const body = canaryBytes(150 * KiB);
  let key: { keyId: string; arn: string };

  beforeAll(async () => {
    kms = new AwsClient({ accessKeyId: d.accounts.default.accessKeyId, secretAccessKey: d.accounts.default.secretAccessKey, service: "kms", region: d.region, retries: 0 });
    otherKms = new AwsClient({ accessKeyId: d.accounts.second.accessKeyId, secretAccessKey: d.accounts.second.secretAccessKey, service: "kms", region: d.region, retries: 0 });
    await s3.send(new CreateBucketCommand({ Bucket: "enc-kms" }));
    key = await kmsApi(kms, "POST", "/keys", { alias: "alias/app-data", description: "e2e" });
  }, 60_000);

  it("encrypts under the named key (by id, alias or ARN) and says so on PUT, HEAD and GET", async () => {
    for (const [name, ref] of [["by-id", key.keyId], ["by-alias", "alias/app-data"], ["by-arn", key.arn]] as const) {
      const put = await s3.send(new PutObjectCommand({ Bucket: "enc-kms", Key: name, Body: body, ServerSideEncryption: "aws:kms", SSEKMSKeyId: ref, BucketKeyEnabled: true }));
      expect(put.ServerSideEncryption).toBe("aws:kms");
      expect(put.SSEKMSKeyId).toBe(key.arn);
      expect(put.BucketKeyEnabled).toBe(true);
      const head = await s3.send(new HeadObjectCommand({ Bucket: "enc-kms", Key: name }));
      expect(head).toMatchObject({ ServerSideEncryption: "aws:kms", SSEKMSKeyId: key.arn });
      const res = await s3.send(new GetObjectCommand({ Bucket: "enc-kms", Key: name, Range: `bytes=${CHUNK_SIZE - 1}-${CHUNK_SIZE}` }));
      expect(Buffer.from(await res.Body!.transformToByteArray()).equals(body.subarray(CHUNK_SIZE - 1, CHUNK_SIZE + 1))).toBe(true);
      written.push({ bucket: "enc-kms", key: name, sha256: sha(body) });
    }
    // Without a key id: the account's managed aws/s3 key, made on first use.
    const managed = await s3.send(new PutObjectCommand({ Bucket: "enc-kms", Key: "managed", Body: body, ServerSideEncryption: "aws:kms" }));
    expect(managed.SSEKMSKeyId).toMatch(/^arn:aws:kms:[^:]+:[^:]+:key\//);
    expect(managed.SSEKMSKeyId).not.toBe(key.arn);
    expect(sha(await getBytes("enc-kms", "managed"))).toBe(sha(body));
    written.push({ bucket: "enc-kms", key: "managed", sha256: sha(body) });
  });

  it("uses the bucket's default KMS key for writes that name none, multipart included", async () => {
    await s3.send(
      new PutBucketEncryptionCommand({
        Bucket: "enc-kms",
        ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: "aws:kms", KMSMasterKeyID: "alias/app-data" } }] },
      }),
    );
    const put = await s3.send(new PutObjectCommand({ Bucket: "enc-kms", Key: "defaulted", Body: body }));
    expect(put).toMatchObject({ ServerSideEncryption: "aws:kms", SSEKMSKeyId: key.arn });
    const whole = canaryBytes(6 * MiB);
    await new Upload({ client: s3, params: { Bucket: "enc-kms", Key: "defaulted-mp", Body: whole }, partSize: 5 * MiB }).done();
    expect((await s3.send(new HeadObjectCommand({ Bucket: "enc-kms", Key: "defaulted-mp" }))).SSEKMSKeyId).toBe(key.arn);
    expect(sha(await getBytes("enc-kms", "defaulted-mp"))).toBe(sha(whole));
    written.push({ bucket: "enc-kms", key: "defaulted", sha256: sha(body) }, { bucket: "enc-kms", key: "defaulted-mp", sha256: sha(whole) });
    // Copy to SSE-C and back to SSE-S3: decrypted and re-encrypted while streaming.
    const customer = randomBytes(32).toString("base64");
    await s3.send(new CopyObjectCommand({ Bucket: "enc-kms", Key: "as-ssec", CopySource: "enc-kms/defaulted", SSECustomerAlgorithm: "AES256", SSECustomerKey: customer }));
    const back = await s3.send(
      new CopyObjectCommand({ Bucket: "enc-kms", Key: "as-sse-s3", CopySource: "enc-kms/as-ssec", CopySourceSSECustomerAlgorithm: "AES256", CopySourceSSECustomerKey: customer, ServerSideEncryption: "AES256" }),
    );
    expect(back.ServerSideEncryption).toBe("AES256");
    expect(sha(await getBytes("enc-kms", "as-sse-s3"))).toBe(sha(body));
    await s3.send(new DeleteBucketEncryptionCommand({ Bucket: "enc-kms" }));
  });

  it("refuses unknown, disabled and other accounts' keys with S3's errors, writing nothing", async () => {
    const put = (ref: string, k: string) => s3.send(new PutObjectCommand({ Bucket: "enc-kms", Key: k, Body: "x", ServerSideEncryption: "aws:kms", SSEKMSKeyId: ref }));
    expect(await errorOf(put("alias/no-such-key", "refused-1"))).toMatchObject({ name: "KMS.NotFoundException", status: 400 });
    const foreign = await kmsApi(otherKms, "POST", "/keys", {});
    expect(await errorOf(put(foreign.keyId, "refused-2"))).toMatchObject({ name: "AccessDenied", status: 403 });
    expect(await errorOf(put(foreign.arn, "refused-3"))).toMatchObject({ name: "AccessDenied", status: 403 });

    await kmsApi(kms, "POST", `/keys/${key.keyId}/disable`);
    try {
      expect(await errorOf(put(key.keyId, "refused-4"))).toMatchObject({ name: "KMS.DisabledException", status: 400 });
      // Objects under a disabled key cannot be read either, until it is enabled again.
      expect(await errorOf(s3.send(new GetObjectCommand({ Bucket: "enc-kms", Key: "by-id" })))).toMatchObject({ name: "KMS.DisabledException", status: 400 });
      // HEAD decrypts nothing and still answers, as in S3.
      expect((await s3.send(new HeadObjectCommand({ Bucket: "enc-kms", Key: "by-id" }))).SSEKMSKeyId).toBe(key.arn);
    } finally {
      await kmsApi(kms, "POST", `/keys/${key.keyId}/enable`);
    }
    expect(sha(await getBytes("enc-kms", "by-id"))).toBe(sha(body));
    for (const k of ["refused-1", "refused-2", "refused-3", "refused-4"]) {
      expect((await errorOf(s3.send(new HeadObjectCommand({ Bucket: "enc-kms", Key: k })))).status).toBe(404);
    }
  });
});

describe("nodes hold only ciphertext", () => {
  it("no file on any node contains the canary after uploads through the SDK and awscli, single and multipart", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "enc-canary" }));
    const big = canaryBytes(12 * MiB + 5);
    await s3.send(new PutObjectCommand({ Bucket: "enc-canary", Key: "sdk-single", Body: canaryBytes(3 * MiB) }));
    await new Upload({ client: s3, params: { Bucket: "enc-canary", Key: "sdk-multipart", Body: big }, partSize: 5 * MiB }).done();
    await s3.send(new PutObjectCommand({ Bucket: "enc-canary", Key: "sdk-ssec", Body: canaryBytes(MiB), SSECustomerAlgorithm: "AES256", SSECustomerKey: randomBytes(32).toString("base64") }));
    await s3.send(new PutObjectCommand({ Bucket: "enc-canary", Key: "sdk-kms", Body: canaryBytes(MiB), ServerSideEncryption: "aws:kms" }));
    await new Upload({ client: s3, params: { Bucket: "enc-canary", Key: "sdk-kms-multipart", Body: big, ServerSideEncryption: "aws:kms" }, partSize: 5 * MiB }).done();
    const local = await mkdtemp(join(tmpdir(), "icn-canary-"));
    try {
      const file = join(local, "canary.bin");
      await writeFile(file, big);
      await writeFile(join(local, "key.bin"), randomBytes(32));
      // The search itself works: it finds the canary in the plaintext file.
      expect((await readFile(file)).includes(CANARY)).toBe(true);
      const clis = availableAwsClis();
      const env = { AWS_ACCESS_KEY_ID: d.accounts.default.accessKeyId, AWS_SECRET_ACCESS_KEY: d.accounts.default.secretAccessKey, AWS_DEFAULT_REGION: d.region };
      await writeFile(join(local, "small.bin"), canaryBytes(100 * KiB));
      for (const cli of clis) {
        // 12 MiB goes up in 8 MiB parts; 100 KiB in one PUT. SSE-C through the CLI as well.
        await runAws(cli, ["s3", "cp", "--only-show-errors", file, `s3://enc-canary/${cli.label}/multipart`], d.edgeUrl, env);
        await runAws(cli, ["s3", "cp", "--only-show-errors", join(local, "small.bin"), `s3://enc-canary/${cli.label}/single`], d.edgeUrl, env);
        await runAws(cli, ["s3", "cp", "--only-show-errors", "--sse-c", "AES256", "--sse-c-key", "fileb://" + join(local, "key.bin"), file, `s3://enc-canary/${cli.label}/ssec`], d.edgeUrl, env);
        await runAws(cli, ["s3", "cp", "--only-show-errors", "--sse", "aws:kms", file, `s3://enc-canary/${cli.label}/kms`], d.edgeUrl, env);
        const sseC = ["--sse-c", "AES256", "--sse-c-key", "fileb://" + join(local, "key.bin")];
        await runAws(cli, ["s3", "cp", "--only-show-errors", ...sseC, join(local, "small.bin"), `s3://enc-canary/${cli.label}/ssec-single`], d.edgeUrl, env);
        await runAws(cli, ["s3", "cp", "--only-show-errors", "--sse", "aws:kms", join(local, "small.bin"), `s3://enc-canary/${cli.label}/kms-single`], d.edgeUrl, env);
        // And back down with the customer key: the CLI checks what it receives.
        await runAws(cli, ["s3", "cp", "--only-show-errors", ...sseC, `s3://enc-canary/${cli.label}/ssec`, join(local, "back.bin")], d.edgeUrl, env);
        expect(sha(await readFile(join(local, "back.bin")))).toBe(sha(big));
        const head = JSON.parse(await runAws(cli, ["s3api", "head-object", "--bucket", "enc-canary", "--key", `${cli.label}/kms`], d.edgeUrl, env)) as { ServerSideEncryption?: string };
        expect(head.ServerSideEncryption).toBe("aws:kms");
        expect(sha(await getBytes("enc-canary", `${cli.label}/multipart`))).toBe(sha(big));
      }
      if (clis.length === 0) {
        console.warn("awscli not installed: the canary scan covers SDK uploads only");
      }
    } finally {
      await rm(local, { recursive: true, force: true });
    }
    let scanned = 0;
    for (const node of d.nodes) {
      for (const f of await filesUnder(node.dataDir)) {
        if ((await stat(f)).size === 0) continue;
        scanned++;
        expect((await readFile(f)).includes(CANARY), f).toBe(false);
      }
    }
    expect(scanned).toBeGreaterThan(10);
  });
});

describe("crypto-erase", () => {
  it("deleting an object leaves its blob undecryptable: its wrapped data key is gone from everything the edge holds", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "enc-erase" }));
    const body = canaryBytes(70 * KiB);
    const blobs = await blobsWrittenBy(() => s3.send(new PutObjectCommand({ Bucket: "enc-erase", Key: "doomed", Body: body })));
    // Everything the nodes got for it (its pieces), saved before the delete.
    const blobId = blobs[0]!.split("/").pop()!;
    // Before: the edge's state holds the wrapped data key, and with it the saved pieces decrypt.
    const segment = await edgeState.segmentOf(d.worker.persistDir, blobId);
    // Unique replicas share a blob id but not their bytes: keep each blob id's copy from the node of its first
    // replica in the index, whose mask blobFromSaved removes.
    const saved = new Map<string, Uint8Array>();
    for (const blob of blobs) {
      const id = blob.split("/").pop()!;
      const holder = segment?.replicas.find((r) => r.blobId === id)?.nodeId;
      const dataDir = d.nodes.find((n) => n.id === holder)?.dataDir;
      if (!saved.has(id) || (dataDir && blob.startsWith(dataDir))) saved.set(id, await readFile(blob));
    }
    const keyBefore = segment?.encryption;
    expect(keyBefore).toBeDefined();
    const masterKeys = (await readFile(network.secretsFile, "utf8")).match(/^MASTER_KEYS=(.*)$/m)![1]!;
    const kek = (await readFile(network.secretsFile, "utf8")).match(/^KEY_ENCRYPTION_KEY=(.*)$/m)![1]!;
    const plain = await edgeState.decryptSavedBlob(d.worker.persistDir, masterKeys, keyBefore!, await edgeState.blobFromSaved(segment!, saved, kek), body.length);
    expect(Buffer.from(plain).equals(body)).toBe(true);

    await s3.send(new DeleteObjectCommand({ Bucket: "enc-erase", Key: "doomed" }));
    // After: no row of the edge's D1 or Durable Object state names that wrapped key any more.
    expect(await edgeState.stateMentions(d.worker.persistDir, keyBefore!.wrappedKey)).toBe(false);
    expect(await edgeState.segmentKeyOf(d.worker.persistDir, blobId)).toBeUndefined();

    // Deleting the bucket destroys its bucket key too.
    const bucketKey = await edgeState.bucketWrappedKey(d.worker.persistDir, { name: "enc-erase" });
    expect(bucketKey).toBeDefined();
    await s3.send(new DeleteBucketCommand({ Bucket: "enc-erase" }));
    expect(await edgeState.stateMentions(d.worker.persistDir, bucketKey!)).toBe(false);
  });
});

describe("crypto-erase of an account", () => {
  it("deleting an account destroys its bucket keys, KMS keys and data keys: its blobs on nodes are noise", async () => {
    const account = await network.admin<{ id: string }>("POST", "/accounts", { name: "leaving" });
    const keys = await network.admin<{ accessKeyId: string; secretAccessKey: string }>("POST", `/accounts/${account.id}/keys`);
    const client = edgeS3Client(d, { keys });
    await client.send(new CreateBucketCommand({ Bucket: "enc-leaving" }));
    const body = canaryBytes(90 * KiB);
    const [sseS3Blob] = await blobsWrittenBy(() => client.send(new PutObjectCommand({ Bucket: "enc-leaving", Key: "s3", Body: body })));
    const [kmsBlob] = await blobsWrittenBy(() => client.send(new PutObjectCommand({ Bucket: "enc-leaving", Key: "kms", Body: body, ServerSideEncryption: "aws:kms" })));
    const secrets = [
      (await edgeState.segmentKeyOf(d.worker.persistDir, sseS3Blob!.split("/").pop()!))!.wrappedKey,
      (await edgeState.segmentKeyOf(d.worker.persistDir, kmsBlob!.split("/").pop()!))!.wrappedKey,
      (await edgeState.bucketWrappedKey(d.worker.persistDir, { name: "enc-leaving" }))!,
    ];
    for (const secret of secrets) expect(await edgeState.stateMentions(d.worker.persistDir, secret)).toBe(true);
    const kmsRows = await edgeState.kmsMaterialOf(d.worker.persistDir, account.id);
    expect(kmsRows.length).toBe(1); // the managed aws/s3 key, made by the aws:kms PUT

    const erased = await network.admin<{ kmsKeysDestroyed: number; bucketsErased: number }>("DELETE", `/accounts/${account.id}`);
    expect(erased).toMatchObject({ kmsKeysDestroyed: 1, bucketsErased: 1 });
    for (const secret of [...secrets, ...kmsRows]) expect(await edgeState.stateMentions(d.worker.persistDir, secret)).toBe(false);
    // The blobs may still sit on the nodes (the orphan sweep removes them later), but nothing opens them.
    expect(existsSync(sseS3Blob!)).toBe(true);
  });
});

describe("master-key rotation", () => {
  it("re-wraps every bucket key under a new master key; with the old key removed every object still reads", async () => {
    const secrets = await readFile(network.secretsFile, "utf8");
    const oldRing = secrets.match(/^MASTER_KEYS=(.*)$/m)![1]!;
    const oldId = oldRing.split(":")[0]!;
    const newId = `${oldId}r`;
    await network.restartEdge({ MASTER_KEYS: `${newId}:${randomBytes(32).toString("base64")},${oldRing}` });

    const before = await network.admin<{ rotation: { pending: number; complete: boolean } }>("GET", "/encryption");
    expect(before.rotation.pending).toBeGreaterThan(0);
    // Objects still read while the rotation is pending.
    expect(sha(await getBytes("enc-default", "a.txt"))).toBe(written.find((w) => w.key === "a.txt")!.sha256);
    const report = await network.admin<{ bucketKeys: { rewrapped: number; remaining: number; failed: unknown[] }; kmsKeys: { rewrapped: number; remaining: number } }>(
      "POST",
      "/chores/key-rotation/run",
    );
    expect(report.bucketKeys).toMatchObject({ remaining: 0, failed: [] });
    expect(report.kmsKeys.remaining).toBe(0);
    expect(report.kmsKeys.rewrapped).toBeGreaterThan(0);
    expect(report.bucketKeys.rewrapped + report.kmsKeys.rewrapped).toBe(before.rotation.pending);
    const after = await network.admin<{ newestMasterKey: string; rotation: { pending: number; complete: boolean; removable: string[] } }>("GET", "/encryption");
    expect(after).toMatchObject({ newestMasterKey: newId, rotation: { pending: 0, complete: true, removable: [oldId] } });

    const newRing = (await readFile(network.secretsFile, "utf8")).match(/^MASTER_KEYS=(.*)$/m)![1]!.split(",")[0]!;
    await network.restartEdge({ MASTER_KEYS: newRing });
    expect(written.length).toBeGreaterThan(5);
    for (const w of written) {
      const ssec = w.sseCustomerKey ? { SSECustomerAlgorithm: "AES256", SSECustomerKey: w.sseCustomerKey } : {};
      expect(sha(await getBytes(w.bucket, w.key, ssec)), `${w.bucket}/${w.key}`).toBe(w.sha256);
    }
    // And new writes work under the new key alone.
    await s3.send(new PutObjectCommand({ Bucket: "enc-default", Key: "after-rotation", Body: "fresh" }));
    expect((await getBytes("enc-default", "after-rotation")).toString()).toBe("fresh");
  }, 240_000);
});
