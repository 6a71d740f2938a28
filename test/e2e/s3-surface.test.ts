// The wider S3 surface against the real local network, through @aws-sdk/client-s3: copies, conditional writes,
// tagging, multipart listings, object attributes, bucket pagination.

import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketAclCommand,
  GetBucketVersioningCommand,
  GetObjectAclCommand,
  ListObjectVersionsCommand,
  ListObjectsV2Command,
  PutBucketVersioningCommand,
  PutBucketAclCommand,
  DeleteBucketTaggingCommand,
  DeleteObjectTaggingCommand,
  GetBucketTaggingCommand,
  GetObjectAttributesCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListMultipartUploadsCommand,
  PutBucketTaggingCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { createPresignedPost } from "@aws-sdk/s3-presigned-post";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { Readable } from "node:stream";
import { AwsClient } from "aws4fetch";
import { createHash, randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { availableAwsClis, runAws } from "../helpers/awscli.ts";
import type { LocalNetwork, NetworkDescription } from "../../src/localnet/network.ts";
import { edgeS3Client, errorOf, startTestNetwork, stopTestNetwork } from "../helpers/test-support.ts";

const MiB = 1024 * 1024;
let network: LocalNetwork;
let d: NetworkDescription;
let s3: S3Client;
const bucket = "surface";

beforeAll(async () => {
  ({ network, d } = await startTestNetwork("icn-surface-", { nodeCount: 3 }));
  s3 = edgeS3Client(d);
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
}, 180_000);

afterAll(() => stopTestNetwork(network), 60_000);

describe("errors answered before the body is read", () => {
  // The edge refuses these from the headers alone. The client is still sending the body when the answer is
  // ready: it must get the S3 error, not a reset connection or a 502 from the local proxies.
  it("reports NoSuchBucket, AccessDenied and SignatureDoesNotMatch for a large PUT, and the client carries on", async () => {
    const body = randomBytes(24 * MiB);
    expect(await errorOf(s3.send(new PutObjectCommand({ Bucket: "no-such-bucket-early", Key: "k", Body: body })))).toEqual({ name: "NoSuchBucket", status: 404 });
    const other = edgeS3Client(d, { keys: d.accounts.second });
    await other.send(new CreateBucketCommand({ Bucket: "early-other-tenant" }));
    expect(await errorOf(s3.send(new PutObjectCommand({ Bucket: "early-other-tenant", Key: "k", Body: body })))).toEqual({ name: "AccessDenied", status: 403 });
    const forged = edgeS3Client(d, { keys: { accessKeyId: d.accounts.default.accessKeyId, secretAccessKey: "not-the-secret" } });
    expect(await errorOf(forged.send(new PutObjectCommand({ Bucket: bucket, Key: "early-forged", Body: body })))).toEqual({ name: "SignatureDoesNotMatch", status: 403 });
    // Nothing was stored, and the same clients go on working.
    expect(await errorOf(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "early-forged" })))).toEqual({ name: "NotFound", status: 404 });
    expect((await other.send(new ListObjectsV2Command({ Bucket: "early-other-tenant" }))).KeyCount).toBe(0);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "early-after", Body: body }));
    const back = await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "early-after" }))).Body!.transformToByteArray();
    expect(createHash("sha256").update(back).digest("hex")).toBe(createHash("sha256").update(body).digest("hex"));
    await other.send(new DeleteBucketCommand({ Bucket: "early-other-tenant" }));
  }, 120_000);
});

describe("CopyObject", () => {
  it("copies bytes and metadata, or replaces the metadata when asked", async () => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "orig", Body: "copy me", ContentType: "text/plain", Metadata: { colour: "blue" } }));
    const copied = await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: "copy", CopySource: `${bucket}/orig` }));
    expect(copied.CopyObjectResult?.ETag).toBe(`"${createHash("md5").update("copy me").digest("hex")}"`);
    const copy = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "copy" }));
    expect(await copy.Body!.transformToString()).toBe("copy me");
    expect(copy.ContentType).toBe("text/plain");
    expect(copy.Metadata).toEqual({ colour: "blue" });

    await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: "orig", CopySource: `${bucket}/orig`, MetadataDirective: "REPLACE", ContentType: "text/x-new", Metadata: { colour: "red" } }));
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "orig" }));
    expect(head.ContentType).toBe("text/x-new");
    expect(head.Metadata).toEqual({ colour: "red" });
  });

  it("copies across buckets and keys with spaces and unicode", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "surface-other" }));
    const key = "dir/ünï cödé + plus%.txt";
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: "across" }));
    await s3.send(new CopyObjectCommand({ Bucket: "surface-other", Key: key, CopySource: encodeURI(`${bucket}/${key}`).replace(/\+/g, "%2B") }));
    const got = await s3.send(new GetObjectCommand({ Bucket: "surface-other", Key: key }));
    expect(await got.Body!.transformToString()).toBe("across");
  });

  it("refuses to copy an object onto itself without changes, and a missing source", async () => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "self", Body: "x" }));
    expect((await errorOf(s3.send(new CopyObjectCommand({ Bucket: bucket, Key: "self", CopySource: `${bucket}/self` })))).name).toBe("InvalidRequest");
    expect((await errorOf(s3.send(new CopyObjectCommand({ Bucket: bucket, Key: "x", CopySource: `${bucket}/missing` })))).name).toBe("NoSuchKey");
  });

  it("honours x-amz-copy-source-if-match", async () => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "cond-src", Body: "y" }));
    const err = await errorOf(s3.send(new CopyObjectCommand({ Bucket: bucket, Key: "cond-dst", CopySource: `${bucket}/cond-src`, CopySourceIfMatch: '"nope"' })));
    expect(err).toEqual({ name: "PreconditionFailed", status: 412 });
  });
});

describe("UploadPartCopy", () => {
  it("assembles an object from ranges of another", async () => {
    const source = randomBytes(12 * MiB);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "big-src", Body: source }));
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: "assembled" }));
    const p1 = await s3.send(new UploadPartCopyCommand({ Bucket: bucket, Key: "assembled", UploadId, PartNumber: 1, CopySource: `${bucket}/big-src`, CopySourceRange: `bytes=0-${6 * MiB - 1}` }));
    const p2 = await s3.send(new UploadPartCopyCommand({ Bucket: bucket, Key: "assembled", UploadId, PartNumber: 2, CopySource: `${bucket}/big-src`, CopySourceRange: `bytes=${6 * MiB}-${12 * MiB - 1}` }));
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: "assembled",
        UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p1.CopyPartResult!.ETag }, { PartNumber: 2, ETag: p2.CopyPartResult!.ETag }] },
      }),
    );
    const got = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "assembled" }))).Body!.transformToByteArray());
    expect(got.equals(source)).toBe(true);
    const bad = await errorOf(s3.send(new UploadPartCopyCommand({ Bucket: bucket, Key: "assembled", UploadId: "gone", PartNumber: 1, CopySource: `${bucket}/big-src` })));
    expect(bad.name).toBe("NoSuchUpload");
  });
});

describe("conditional writes", () => {
  it("lets exactly one of several concurrent If-None-Match: * creators win", async () => {
    const attempts = await Promise.all(
      Array.from({ length: 6 }, (_, i) => s3.send(new PutObjectCommand({ Bucket: bucket, Key: "contested", Body: `writer ${i}`, IfNoneMatch: "*" })).then(() => "won", (e: Error) => e.name)),
    );
    expect(attempts.filter((a) => a === "won")).toHaveLength(1);
    expect(attempts.filter((a) => a !== "won").every((a) => a === "PreconditionFailed")).toBe(true);
    const body = await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "contested" }))).Body!.transformToString();
    expect(body).toBe(`writer ${attempts.indexOf("won")}`);
  });

  it("replaces only the version named by If-Match", async () => {
    const first = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "guarded", Body: "v1" }));
    expect((await errorOf(s3.send(new PutObjectCommand({ Bucket: bucket, Key: "guarded", Body: "v2", IfMatch: '"0123456789abcdef0123456789abcdef"' })))).name).toBe("PreconditionFailed");
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "guarded", Body: "v2", IfMatch: first.ETag }));
    expect(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "guarded" }))).Body!.transformToString()).toBe("v2");
    expect((await errorOf(s3.send(new PutObjectCommand({ Bucket: bucket, Key: "never-was", Body: "v", IfMatch: first.ETag })))).name).toBe("NoSuchKey");
  });

  it("refuses to complete a multipart upload over an existing key with If-None-Match: *", async () => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "mp-guarded", Body: "exists" }));
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: "mp-guarded" }));
    const part = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: "mp-guarded", UploadId, PartNumber: 1, Body: "part" }));
    const err = await errorOf(
      s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: "mp-guarded", UploadId, IfNoneMatch: "*", MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } })),
    );
    expect(err.name).toBe("PreconditionFailed");
    expect(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "mp-guarded" }))).Body!.transformToString()).toBe("exists");
  });
});

describe("tagging", () => {
  it("stores tags from x-amz-tagging and the tagging APIs", async () => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "tagged", Body: "t", Tagging: "project=icn&tier=gold%20plus" }));
    expect((await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: "tagged" }))).TagSet).toEqual([
      { Key: "project", Value: "icn" },
      { Key: "tier", Value: "gold plus" },
    ]);
    expect((await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "tagged" }))).TagCount).toBe(2);
    await s3.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: "tagged", Tagging: { TagSet: [{ Key: "only", Value: "one" }] } }));
    expect((await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: "tagged" }))).TagSet).toEqual([{ Key: "only", Value: "one" }]);
    await s3.send(new DeleteObjectTaggingCommand({ Bucket: bucket, Key: "tagged" }));
    expect((await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: "tagged" }))).TagSet).toEqual([]);
    const tooMany = Array.from({ length: 11 }, (_, i) => ({ Key: `k${i}`, Value: "v" }));
    expect((await errorOf(s3.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: "tagged", Tagging: { TagSet: tooMany } })))).name).toBe("InvalidTag");
  });

  it("stores bucket tags, and says NoSuchTagSet when there are none", async () => {
    expect((await errorOf(s3.send(new GetBucketTaggingCommand({ Bucket: bucket })))).name).toBe("NoSuchTagSet");
    await s3.send(new PutBucketTaggingCommand({ Bucket: bucket, Tagging: { TagSet: [{ Key: "team", Value: "storage" }] } }));
    expect((await s3.send(new GetBucketTaggingCommand({ Bucket: bucket }))).TagSet).toEqual([{ Key: "team", Value: "storage" }]);
    await s3.send(new DeleteBucketTaggingCommand({ Bucket: bucket }));
    expect((await errorOf(s3.send(new GetBucketTaggingCommand({ Bucket: bucket })))).name).toBe("NoSuchTagSet");
  });
});

describe("listings and attributes", () => {
  it("lists multipart uploads in progress with markers", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "surface-uploads" }));
    const ids: string[] = [];
    for (const key of ["a/1", "a/2", "b", "c"]) {
      ids.push((await s3.send(new CreateMultipartUploadCommand({ Bucket: "surface-uploads", Key: key }))).UploadId!);
    }
    const all = await s3.send(new ListMultipartUploadsCommand({ Bucket: "surface-uploads" }));
    expect(all.Uploads?.map((u) => u.Key)).toEqual(["a/1", "a/2", "b", "c"]);
    const rolled = await s3.send(new ListMultipartUploadsCommand({ Bucket: "surface-uploads", Delimiter: "/" }));
    expect(rolled.CommonPrefixes?.map((p) => p.Prefix)).toEqual(["a/"]);
    const first = await s3.send(new ListMultipartUploadsCommand({ Bucket: "surface-uploads", MaxUploads: 2 }));
    expect(first.IsTruncated).toBe(true);
    const rest = await s3.send(new ListMultipartUploadsCommand({ Bucket: "surface-uploads", KeyMarker: first.NextKeyMarker, UploadIdMarker: first.NextUploadIdMarker }));
    expect(rest.Uploads?.map((u) => u.Key)).toEqual(["b", "c"]);
  });

  it("reports object attributes, including parts of a multipart object", async () => {
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: "attrs" }));
    const parts = [randomBytes(5 * MiB), randomBytes(100)];
    const etags = [];
    for (const [i, body] of parts.entries()) etags.push((await s3.send(new UploadPartCommand({ Bucket: bucket, Key: "attrs", UploadId, PartNumber: i + 1, Body: body }))).ETag);
    await s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: "attrs", UploadId, MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) } }));
    const attrs = await s3.send(new GetObjectAttributesCommand({ Bucket: bucket, Key: "attrs", ObjectAttributes: ["ETag", "ObjectSize", "ObjectParts", "StorageClass"] }));
    expect(attrs.ObjectSize).toBe(5 * MiB + 100);
    expect(attrs.ObjectParts?.TotalPartsCount).toBe(2);
    expect(attrs.ObjectParts?.Parts?.map((p) => p.Size)).toEqual([5 * MiB, 100]);
    expect(attrs.StorageClass).toBe("STANDARD");
  });

  it("pages through buckets with max-buckets", async () => {
    const names: string[] = [];
    let token: string | undefined;
    for (let i = 0; i < 20; i++) {
      const page = await s3.send(new ListBucketsCommand({ MaxBuckets: 1, ContinuationToken: token }));
      names.push(...(page.Buckets ?? []).map((b) => b.Name!));
      token = page.ContinuationToken;
      if (!token) break;
    }
    const all = (await s3.send(new ListBucketsCommand({}))).Buckets!.map((b) => b.Name!);
    expect(names).toEqual(all);
    expect(all.length).toBeGreaterThanOrEqual(3);
  });
});

describe("bytes as stored", () => {
  it("serves a gzip-encoded object byte for byte, never re-encoded", async () => {
    const gz = gzipSync(Buffer.from("compressed once ".repeat(1000)));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "page.html.gz", Body: gz, ContentEncoding: "gzip", ContentType: "text/html" }));
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "page.html.gz" }));
    expect(got.ContentEncoding).toBe("gzip");
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(gz)).toBe(true);
  });

  it("does not compress text for a client that signs Accept-Encoding: gzip", async () => {
    const text = "plain text, ".repeat(500);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "plain.txt", Body: text, ContentType: "text/plain" }));
    const signer = new AwsClient({ accessKeyId: d.accounts.default.accessKeyId, secretAccessKey: d.accounts.default.secretAccessKey, service: "s3", region: d.region, retries: 0 });
    const signed = await signer.sign(`${d.edgeUrl}/${bucket}/plain.txt`, { headers: { "accept-encoding": "gzip" } });
    const { request } = await import("node:http");
    const raw = await new Promise<{ status: number; encoding?: string; body: Buffer }>((resolve, reject) => {
      const headers: Record<string, string> = {};
      signed.headers.forEach((value, name) => (headers[name] = value));
      const req = request(signed.url, { headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode!, encoding: res.headers["content-encoding"], body: Buffer.concat(chunks) }));
      });
      req.on("error", reject);
      req.end();
    });
    expect(raw.status).toBe(200);
    expect(raw.encoding ?? "identity").toBe("identity");
    expect(raw.body.toString()).toBe(text);
  });
});

describe("versioning", () => {
  const vb = "surface-versioned";
  const text = async (p: Promise<{ Body?: { transformToString(): Promise<string> } }>) => (await p).Body!.transformToString();

  it("keeps every version, reads any by id, and hides a key behind a delete marker", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: vb }));
    expect((await s3.send(new GetBucketVersioningCommand({ Bucket: vb }))).Status).toBeUndefined();
    await s3.send(new PutObjectCommand({ Bucket: vb, Key: "doc", Body: "before versioning" }));
    await s3.send(new PutBucketVersioningCommand({ Bucket: vb, VersioningConfiguration: { Status: "Enabled" } }));
    expect((await s3.send(new GetBucketVersioningCommand({ Bucket: vb }))).Status).toBe("Enabled");

    const v1 = await s3.send(new PutObjectCommand({ Bucket: vb, Key: "doc", Body: "one" }));
    const v2 = await s3.send(new PutObjectCommand({ Bucket: vb, Key: "doc", Body: "two" }));
    expect(v1.VersionId).toMatch(/^[0-9a-f]{32}$/);
    expect(v2.VersionId).not.toBe(v1.VersionId);
    expect(await text(s3.send(new GetObjectCommand({ Bucket: vb, Key: "doc" })))).toBe("two");
    expect(await text(s3.send(new GetObjectCommand({ Bucket: vb, Key: "doc", VersionId: v1.VersionId })))).toBe("one");
    expect(await text(s3.send(new GetObjectCommand({ Bucket: vb, Key: "doc", VersionId: "null" })))).toBe("before versioning");

    const del = await s3.send(new DeleteObjectCommand({ Bucket: vb, Key: "doc" }));
    expect(del.DeleteMarker).toBe(true);
    expect((await errorOf(s3.send(new GetObjectCommand({ Bucket: vb, Key: "doc" })))).name).toBe("NoSuchKey");
    expect((await s3.send(new ListObjectsV2Command({ Bucket: vb }))).KeyCount).toBe(0);
    expect((await errorOf(s3.send(new GetObjectCommand({ Bucket: vb, Key: "doc", VersionId: del.VersionId })))).status).toBe(405);

    const listed = await s3.send(new ListObjectVersionsCommand({ Bucket: vb }));
    expect(listed.Versions?.map((v) => [v.VersionId, v.IsLatest])).toEqual([
      [v2.VersionId, false],
      [v1.VersionId, false],
      ["null", false],
    ]);
    expect(listed.DeleteMarkers?.map((m) => [m.VersionId, m.IsLatest])).toEqual([[del.VersionId, true]]);

    // Removing the marker brings the newest version back.
    await s3.send(new DeleteObjectCommand({ Bucket: vb, Key: "doc", VersionId: del.VersionId }));
    expect(await text(s3.send(new GetObjectCommand({ Bucket: vb, Key: "doc" })))).toBe("two");
  });

  it("pages versions with key and version-id markers", async () => {
    for (let i = 0; i < 3; i++) await s3.send(new PutObjectCommand({ Bucket: vb, Key: "paged", Body: `p${i}` }));
    const seen: string[] = [];
    let keyMarker: string | undefined;
    let versionMarker: string | undefined;
    for (let i = 0; i < 20; i++) {
      const page = await s3.send(new ListObjectVersionsCommand({ Bucket: vb, MaxKeys: 2, KeyMarker: keyMarker, VersionIdMarker: versionMarker }));
      seen.push(...(page.Versions ?? []).map((v) => `${v.Key}@${v.VersionId}`), ...(page.DeleteMarkers ?? []).map((v) => `${v.Key}@${v.VersionId}`));
      if (!page.IsTruncated) break;
      keyMarker = page.NextKeyMarker;
      versionMarker = page.NextVersionIdMarker;
    }
    const all = await s3.send(new ListObjectVersionsCommand({ Bucket: vb }));
    const expected = [...(all.Versions ?? []), ...(all.DeleteMarkers ?? [])].map((v) => `${v.Key}@${v.VersionId}`);
    expect([...seen].sort()).toEqual([...expected].sort());
    expect(new Set(seen).size).toBe(seen.length);
  });

  it("deletes specific versions in bulk and only then lets the bucket go", async () => {
    const all = await s3.send(new ListObjectVersionsCommand({ Bucket: vb }));
    expect((await errorOf(s3.send(new DeleteBucketCommand({ Bucket: vb })))).name).toBe("BucketNotEmpty");
    const objects = [...(all.Versions ?? []), ...(all.DeleteMarkers ?? [])].map((v) => ({ Key: v.Key!, VersionId: v.VersionId! }));
    const res = await s3.send(new DeleteObjectsCommand({ Bucket: vb, Delete: { Objects: objects } }));
    expect(res.Deleted).toHaveLength(objects.length);
    expect((await s3.send(new ListObjectVersionsCommand({ Bucket: vb }))).Versions ?? []).toEqual([]);
    await s3.send(new DeleteBucketCommand({ Bucket: vb }));
  });

  it("writes null versions while suspended, replacing the previous null version", async () => {
    const sb = "surface-suspended";
    await s3.send(new CreateBucketCommand({ Bucket: sb }));
    await s3.send(new PutBucketVersioningCommand({ Bucket: sb, VersioningConfiguration: { Status: "Enabled" } }));
    const kept = await s3.send(new PutObjectCommand({ Bucket: sb, Key: "k", Body: "kept" }));
    await s3.send(new PutBucketVersioningCommand({ Bucket: sb, VersioningConfiguration: { Status: "Suspended" } }));
    await s3.send(new PutObjectCommand({ Bucket: sb, Key: "k", Body: "null one" }));
    await s3.send(new PutObjectCommand({ Bucket: sb, Key: "k", Body: "null two" }));
    const versions = (await s3.send(new ListObjectVersionsCommand({ Bucket: sb }))).Versions!;
    expect(versions.map((v) => v.VersionId)).toEqual(["null", kept.VersionId]);
    expect(await text(s3.send(new GetObjectCommand({ Bucket: sb, Key: "k" })))).toBe("null two");
  });
});

describe("public-read", () => {
  it("serves objects of a public-read bucket to anonymous callers, and only reads", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "surface-public" }));
    await s3.send(new PutObjectCommand({ Bucket: "surface-public", Key: "index.html", Body: "<h1>hi</h1>", ContentType: "text/html" }));
    expect((await fetch(`${d.edgeUrl}/surface-public/index.html`)).status).toBe(403);
    await s3.send(new PutBucketAclCommand({ Bucket: "surface-public", ACL: "public-read" }));
    const res = await fetch(`${d.edgeUrl}/surface-public/index.html`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html");
    expect(await res.text()).toBe("<h1>hi</h1>");
    expect((await fetch(`${d.edgeUrl}/surface-public/index.html`, { method: "DELETE" })).status).toBe(403);
    expect((await fetch(`${d.edgeUrl}/surface-public/new.html`, { method: "PUT", body: "x" })).status).toBe(403);
  });
});

describe("presigned POST (browser form upload)", () => {
  const pb = "surface-post";

  async function post(fields: Record<string, string>, file: Buffer, url: string) {
    const form = new FormData();
    for (const [k, v] of Object.entries(fields)) form.append(k, v);
    form.append("file", new Blob([new Uint8Array(file)]), "photo.jpg");
    return fetch(url, { method: "POST", body: form });
  }

  it("stores a form upload that satisfies the signed policy", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: pb }));
    const { url, fields } = await createPresignedPost(s3, {
      Bucket: pb,
      Key: "uploads/${filename}",
      Conditions: [["starts-with", "$key", "uploads/"], ["content-length-range", 1, 1024 * 1024], ["starts-with", "$Content-Type", "image/"]],
      Fields: { "Content-Type": "image/jpeg", success_action_status: "201" },
      Expires: 300,
    });
    const file = randomBytes(200 * 1024);
    const res = await post(fields, file, url);
    expect(res.status).toBe(201);
    expect(await res.text()).toContain("<Key>uploads/photo.jpg</Key>");
    const got = await s3.send(new GetObjectCommand({ Bucket: pb, Key: "uploads/photo.jpg" }));
    expect(got.ContentType).toBe("image/jpeg");
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(file)).toBe(true);
  });

  it("refuses uploads outside the policy and forged policies, storing nothing", async () => {
    const { url, fields } = await createPresignedPost(s3, {
      Bucket: pb,
      Key: "small/${filename}",
      Conditions: [["content-length-range", 1, 1000]],
      Expires: 300,
    });
    const tooBig = await post(fields, randomBytes(5000), url);
    expect(tooBig.status).toBe(400);
    expect(await tooBig.text()).toContain("<Code>EntityTooLarge</Code>");

    const extra = await post({ ...fields, "x-amz-meta-sneaky": "1" }, randomBytes(10), url);
    expect(extra.status).toBe(403);

    const forged = await post({ ...fields, key: "elsewhere/photo.jpg" }, randomBytes(10), url);
    expect(forged.status).toBe(403);

    const tampered = await post({ ...fields, Policy: Buffer.from('{"expiration":"2099-01-01T00:00:00Z","conditions":[]}').toString("base64") }, randomBytes(10), url);
    expect(tampered.status).toBe(403);
    expect(await tampered.text()).toContain("<Code>SignatureDoesNotMatch</Code>");

    expect((await s3.send(new ListObjectsV2Command({ Bucket: pb, Prefix: "small/" }))).KeyCount).toBe(0);
    expect((await s3.send(new ListObjectsV2Command({ Bucket: pb, Prefix: "elsewhere/" }))).KeyCount).toBe(0);
  });
});

describe("the front door refuses what the signature does not cover (issue 13)", () => {
  const fb = "surface-front";
  const secret = "the signer's secret object";

  beforeAll(async () => {
    await s3.send(new CreateBucketCommand({ Bucket: fb }));
    await s3.send(new PutObjectCommand({ Bucket: fb, Key: "private/secret.txt", Body: secret }));
  });

  it("takes SDK-presigned PUTs, with the content type signed and with the SDK's default checksums", async () => {
    const body = randomBytes(64 * 1024);
    const plain = await getSignedUrl(s3, new PutObjectCommand({ Bucket: fb, Key: "link/plain.bin" }), { expiresIn: 300 });
    expect((await fetch(plain, { method: "PUT", body })).status).toBe(200);
    const typed = await getSignedUrl(s3, new PutObjectCommand({ Bucket: fb, Key: "link/typed.txt", ContentType: "text/plain" }), { expiresIn: 300 });
    expect((await fetch(typed, { method: "PUT", body: "typed", headers: { "content-type": "text/plain" } })).status).toBe(200);
    const got = await s3.send(new GetObjectCommand({ Bucket: fb, Key: "link/plain.bin" }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(body)).toBe(true);
    expect((await s3.send(new HeadObjectCommand({ Bucket: fb, Key: "link/typed.txt" }))).ContentType).toBe("text/plain");
  });

  it("refuses a presigned PUT turned into a copy of the signer's private object by an added x-amz-copy-source", async () => {
    const url = await getSignedUrl(s3, new PutObjectCommand({ Bucket: fb, Key: "link/stolen.txt" }), { expiresIn: 300 });
    const res = await fetch(url, { method: "PUT", headers: { "x-amz-copy-source": `/${fb}/private/secret.txt` } });
    expect(res.status).toBe(403);
    const xml = await res.text();
    expect(xml).toContain("<Code>AccessDenied</Code>");
    expect(xml).toContain("<HeadersNotSigned>x-amz-copy-source</HeadersNotSigned>");
    expect(await errorOf(s3.send(new HeadObjectCommand({ Bucket: fb, Key: "link/stolen.txt" })))).toEqual({ name: "NotFound", status: 404 });
  });

  it("refuses a presigned UploadPart turned into UploadPartCopy, so the secret never becomes a part", async () => {
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: fb, Key: "link/assembled" }));
    const url = await getSignedUrl(s3, new UploadPartCommand({ Bucket: fb, Key: "link/assembled", UploadId, PartNumber: 1 }), { expiresIn: 300 });
    const res = await fetch(url, { method: "PUT", headers: { "x-amz-copy-source": `/${fb}/private/secret.txt` } });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain("<Code>AccessDenied</Code>");
  });

  it("refuses response-* overrides on anonymous reads of a public object, and control characters in signed ones", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "surface-front-public" }));
    await s3.send(new PutObjectCommand({ Bucket: "surface-front-public", Key: "note.txt", Body: "<script>alert(1)</script>", ContentType: "text/plain" }));
    await s3.send(new PutBucketAclCommand({ Bucket: "surface-front-public", ACL: "public-read" }));
    const anonymous = await fetch(`${d.edgeUrl}/surface-front-public/note.txt?response-content-type=text%2Fhtml`);
    expect(anonymous.status).toBe(400);
    expect(anonymous.headers.get("content-type")).toBe("application/xml");
    expect(await anonymous.text()).toContain("<Code>InvalidRequest</Code>");
    const plain = await fetch(`${d.edgeUrl}/surface-front-public/note.txt`);
    expect(plain.headers.get("content-type")).toBe("text/plain");
    // The owner may still override, with values that are header values.
    const owned = await s3.send(new GetObjectCommand({ Bucket: "surface-front-public", Key: "note.txt", ResponseContentType: "application/octet-stream" }));
    expect(owned.ContentType).toBe("application/octet-stream");
    const crlf = await errorOf(s3.send(new GetObjectCommand({ Bucket: "surface-front-public", Key: "note.txt", ResponseContentDisposition: "attachment\r\nX-Injected: 1" })));
    expect(crlf).toEqual({ name: "InvalidArgument", status: 400 });
  });

  it("refuses a form upload whose policy-allowed success_action_redirect is not a URL, storing nothing", async () => {
    const { url, fields } = await createPresignedPost(s3, {
      Bucket: fb,
      Key: "form/${filename}",
      Fields: { success_action_redirect: "not a url" },
      Expires: 300,
    });
    const form = new FormData();
    for (const [k, v] of Object.entries(fields)) form.append(k, v);
    form.append("file", new Blob([new Uint8Array(randomBytes(100))]), "redirected.bin");
    const res = await fetch(url, { method: "POST", body: form });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("<Code>InvalidArgument</Code>");
    expect((await s3.send(new ListObjectsV2Command({ Bucket: fb, Prefix: "form/" }))).KeyCount).toBe(0);
  });
});

describe("keys, conditional reads and SDK multipart", () => {
  it("round-trips keys with spaces, plus, percent, double slashes, unicode and a leading slash", async () => {
    // The longest key S3 allows is 1024 bytes of UTF-8.
    const keys = ["a b/c d.txt", "plus+sign", "100%/done", "double//slash", "/leading", "日本語/ファイル", "emoji 😀", "tab\there", "x".repeat(1019)].map((k) => `keys/${k}`);
    for (const key of keys) await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: key }));
    const listed = (await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: "keys/" }))).Contents!.map((o) => o.Key);
    for (const key of keys) {
      expect(listed).toContain(key);
      expect(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString()).toBe(key);
    }
    expect((await errorOf(s3.send(new PutObjectCommand({ Bucket: bucket, Key: "k".repeat(1025), Body: "x" })))).name).toBe("KeyTooLongError");
  });

  it("answers conditional reads with 304 and 412 by S3's precedence", async () => {
    const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "conditional", Body: "c" }));
    const later = new Date(Date.now() + 3600_000);
    const earlier = new Date(Date.now() - 3600_000);
    expect((await errorOf(s3.send(new GetObjectCommand({ Bucket: bucket, Key: "conditional", IfNoneMatch: put.ETag })))).status).toBe(304);
    expect((await errorOf(s3.send(new GetObjectCommand({ Bucket: bucket, Key: "conditional", IfMatch: '"deadbeef"' })))).status).toBe(412);
    expect((await errorOf(s3.send(new GetObjectCommand({ Bucket: bucket, Key: "conditional", IfModifiedSince: later })))).status).toBe(304);
    expect((await errorOf(s3.send(new GetObjectCommand({ Bucket: bucket, Key: "conditional", IfUnmodifiedSince: earlier })))).status).toBe(412);
    // If-Match true wins over a failing If-Unmodified-Since.
    const both = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "conditional", IfMatch: put.ETag, IfUnmodifiedSince: earlier }));
    expect(await both.Body!.transformToString()).toBe("c");
  });

  it("takes @aws-sdk/lib-storage multipart uploads with their default part checksums and serves the composite checksum", async () => {
    const data = randomBytes(17 * MiB + 5);
    const upload = new Upload({ client: s3, params: { Bucket: bucket, Key: "lib-storage.bin", Body: Readable.from([data]), ChecksumAlgorithm: "CRC32" }, partSize: 5 * MiB, queueSize: 3 });
    const done = await upload.done();
    expect(done.ETag).toMatch(/-4"$/);
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "lib-storage.bin", ChecksumMode: "ENABLED" }));
    expect(got.ChecksumCRC32).toMatch(/^[A-Za-z0-9+/]{6}==-4$/);
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(data)).toBe(true);
  });
});

describe("ACLs as real clients read them", () => {
  const ab = "surface-acl";
  const owner = () => ({ ID: d.accounts.default.id, DisplayName: d.accounts.default.id });
  const ownerGrant = () => ({ Grantee: { Type: "CanonicalUser", ...owner() }, Permission: "FULL_CONTROL" });
  const allUsersRead = { Grantee: { Type: "Group", URI: "http://acs.amazonaws.com/groups/global/AllUsers" }, Permission: "READ" };

  beforeAll(async () => {
    await s3.send(new CreateBucketCommand({ Bucket: ab }));
    await s3.send(new PutObjectCommand({ Bucket: ab, Key: "k", Body: "acl" }));
  });

  it("round-trips a canned ACL through PutBucketAcl, GetBucketAcl and GetObjectAcl with the AWS SDK", async () => {
    const initial = await s3.send(new GetBucketAclCommand({ Bucket: ab }));
    expect(initial.Owner).toEqual(owner());
    expect(initial.Grants).toEqual([ownerGrant()]);
    await s3.send(new PutBucketAclCommand({ Bucket: ab, ACL: "public-read" }));
    expect((await s3.send(new GetBucketAclCommand({ Bucket: ab }))).Grants).toEqual([ownerGrant(), allUsersRead]);
    expect((await s3.send(new GetObjectAclCommand({ Bucket: ab, Key: "k" }))).Grants).toEqual([ownerGrant(), allUsersRead]);
    await s3.send(new PutBucketAclCommand({ Bucket: ab, ACL: "private" }));
    expect((await s3.send(new GetBucketAclCommand({ Bucket: ab }))).Grants).toEqual([ownerGrant()]);
  });

  // botocore parses with a strict XML parser: an undeclared prefix made it retry until it gave up.
  for (const aws of availableAwsClis()) {
    it(`answers aws s3api get-bucket-acl and get-object-acl with ${aws.label}`, async () => {
      const env = { AWS_ACCESS_KEY_ID: d.accounts.default.accessKeyId, AWS_SECRET_ACCESS_KEY: d.accounts.default.secretAccessKey, AWS_DEFAULT_REGION: d.region, AWS_MAX_ATTEMPTS: "1" };
      const bucketAcl = JSON.parse(await runAws(aws, ["s3api", "get-bucket-acl", "--bucket", ab], d.edgeUrl, env)) as { Owner: unknown; Grants: unknown[] };
      expect(bucketAcl.Owner).toEqual(owner());
      expect(bucketAcl.Grants).toEqual([ownerGrant()]);
      const objectAcl = JSON.parse(await runAws(aws, ["s3api", "get-object-acl", "--bucket", ab, "--key", "k"], d.edgeUrl, env)) as { Grants: unknown[] };
      expect(objectAcl.Grants).toEqual([ownerGrant()]);
    }, 120_000);
  }
});
