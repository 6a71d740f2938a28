// Everyday S3 behaviours (issue 15) as a client sees them against the real local network: @aws-sdk/client-s3 for
// non-ASCII metadata, part reads, retried completions and part-copy ranges, and plain Node HTTP through the edge's
// front for an empty Expect header.

import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import { AwsClient } from "aws4fetch";
import { randomBytes } from "node:crypto";
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalNetwork, NetworkDescription } from "../../src/localnet/network.ts";
import { edgeS3Client, errorOf, startTestNetwork, stopTestNetwork } from "../helpers/test-support.ts";

const MiB = 1024 * 1024;
let network: LocalNetwork;
let d: NetworkDescription;
let s3: S3Client;
const bucket = "behaviours";

beforeAll(async () => {
  ({ network, d } = await startTestNetwork("icn-behaviours-", { nodeCount: 3 }));
  s3 = edgeS3Client(d);
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: "Enabled" } }));
}, 180_000);

afterAll(() => stopTestNetwork(network), 60_000);

/** A two-part object: 5 MiB then `tail`, uploaded with the SDK; returns its parts' bytes and the completion input. */
async function twoPartUpload(key: string, tail: Buffer) {
  const first = randomBytes(5 * MiB);
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  const parts = [];
  for (const [i, body] of [first, tail].entries()) {
    const { ETag } = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: i + 1, Body: body }));
    parts.push({ PartNumber: i + 1, ETag });
  }
  return { first, uploadId: UploadId!, complete: { Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: parts } } };
}

describe("multipart objects", () => {
  it("answers a CompleteMultipartUpload retried after a lost response with the same ETag and version", async () => {
    const { complete } = await twoPartUpload("retried", Buffer.from("tail"));
    const first = await s3.send(new CompleteMultipartUploadCommand(complete));
    const retry = await s3.send(new CompleteMultipartUploadCommand(complete));
    expect(retry.ETag).toBe(first.ETag);
    expect(retry.VersionId).toBe(first.VersionId);
    expect(first.ETag).toMatch(/-2"$/);
  }, 60_000);

  it("reads one part with partNumber, with the part count, and refuses a part that does not exist", async () => {
    const tail = Buffer.from("the second part");
    const { first, complete } = await twoPartUpload("parted", tail);
    await s3.send(new CompleteMultipartUploadCommand(complete));
    const second = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "parted", PartNumber: 2 }));
    expect(second.PartsCount).toBe(2);
    expect(second.ContentLength).toBe(tail.length);
    expect(second.ContentRange).toBe(`bytes ${5 * MiB}-${5 * MiB + tail.length - 1}/${5 * MiB + tail.length}`);
    expect(Buffer.from(await second.Body!.transformToByteArray()).equals(tail)).toBe(true);
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "parted", PartNumber: 1 }));
    expect(head.ContentLength).toBe(first.length);
    expect(head.PartsCount).toBe(2);
    expect(await errorOf(s3.send(new GetObjectCommand({ Bucket: bucket, Key: "parted", PartNumber: 3 })))).toEqual({ name: "InvalidPartNumber", status: 416 });
  }, 60_000);

  it("refuses an UploadPartCopy range reaching past the source with InvalidRange", async () => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "copy-source", Body: "0123456789" }));
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: "copy-target" }));
    const copy = (range: string) =>
      s3.send(new UploadPartCopyCommand({ Bucket: bucket, Key: "copy-target", UploadId, PartNumber: 1, CopySource: `${bucket}/copy-source`, CopySourceRange: range }));
    expect(await errorOf(copy("bytes=5-10"))).toEqual({ name: "InvalidRange", status: 416 });
    expect((await copy("bytes=5-9")).CopyPartResult?.ETag).toBeTruthy();
  });
});

describe("user metadata with non-ASCII characters", () => {
  it("comes back RFC 2047 encoded, as S3 returns it, and decodes to what was sent", async () => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "accented", Body: "x", Metadata: { name: "café", plain: "ascii" } }));
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "accented" }));
    expect(head.Metadata).toEqual({ name: "=?UTF-8?B?Y2Fmw6k=?=", plain: "ascii" });
    const word = /^=\?UTF-8\?B\?(.*)\?=$/.exec(head.Metadata!.name!)![1]!;
    expect(Buffer.from(word, "base64").toString("utf8")).toBe("café");
  });
});

describe("the front door", () => {
  it("ignores an empty Expect header instead of answering 417", async () => {
    const signer = new AwsClient({ accessKeyId: d.accounts.default.accessKeyId, secretAccessKey: d.accounts.default.secretAccessKey, service: "s3", region: d.region });
    const url = `${d.edgeUrl}/${bucket}/expect-empty`;
    const signed = await signer.sign(url, { method: "PUT", body: "body", headers: { "content-length": "4" } });
    const headers: Record<string, string> = { expect: "" };
    signed.headers.forEach((value, name) => (headers[name] = value));
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(url, { method: "PUT", headers }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      req.end("body");
    });
    expect(status).toBe(200);
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "expect-empty" }));
    expect(await got.Body!.transformToString()).toBe("body");
  });
});
