// End to end: an account mints scoped access keys through the control API (signed as an IAM call, with its
// unrestricted key), and the AWS SDK for JavaScript, configured with a scoped key as any application would be, can do
// exactly what the scope allows on the real local network: objects under its prefix round-trip, everything else is
// 403 AccessDenied, a read-only key writes nothing, and a revoked key is refused from its next request. The audit log
// shows both changes.

import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutBucketCorsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { AwsClient } from "aws4fetch";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalNetwork, NetworkDescription } from "../../src/localnet/network.ts";
import { edgeS3Client, errorOf, startTestNetwork, stopTestNetwork } from "../helpers/test-support.ts";

let network: LocalNetwork;
let d: NetworkDescription;
let ownerS3: S3Client;
const BUCKET = "scoped-e2e";

interface MintedKey {
  accessKeyId: string;
  secretAccessKey: string;
}

/** The account's control API, signed with its unrestricted key as IAM calls are (service "iam"). */
async function accountApi(method: string, path: string, body?: unknown): Promise<Response> {
  const { accessKeyId, secretAccessKey } = d.accounts.default;
  const client = new AwsClient({ accessKeyId, secretAccessKey, service: "iam", region: d.region, retries: 0 });
  return client.fetch(`${d.edgeUrl}/api/v1${path}`, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function mint(request: Record<string, unknown>): Promise<MintedKey> {
  const res = await accountApi("POST", "/access-keys", request);
  expect(res.status).toBe(201);
  return (await res.json()) as MintedKey;
}

async function text(client: S3Client, key: string): Promise<string> {
  const res = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return res.Body!.transformToString();
}

beforeAll(async () => {
  ({ network, d } = await startTestNetwork("icn-scoped-keys-", { nodeCount: 3 }));
  ownerS3 = edgeS3Client(d);
  await ownerS3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  await ownerS3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "team/a.txt", Body: "team file" }));
  await ownerS3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "finance/ledger.csv", Body: "private numbers" }));
}, 180_000);

afterAll(() => stopTestNetwork(network), 60_000);

describe("a scoped key with the AWS SDK", () => {
  it("writes and reads under its prefix and is refused AccessDenied everywhere else", async () => {
    const key = await mint({ name: "team-writer", permission: "read-write", buckets: [{ bucket: BUCKET, prefix: "team/" }] });
    const scoped = edgeS3Client(d, { keys: key });

    await scoped.send(new PutObjectCommand({ Bucket: BUCKET, Key: "team/new.txt", Body: "written with a scoped key" }));
    expect(await text(ownerS3, "team/new.txt")).toBe("written with a scoped key");
    expect(await text(scoped, "team/a.txt")).toBe("team file");
    const listed = await scoped.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: "team/" }));
    expect(listed.Contents?.map((o) => o.Key)).toEqual(["team/a.txt", "team/new.txt"]);

    const created = await scoped.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: "team/parts.bin" }));
    const part = await scoped.send(new UploadPartCommand({ Bucket: BUCKET, Key: "team/parts.bin", UploadId: created.UploadId, PartNumber: 1, Body: "one part" }));
    await scoped.send(
      new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: "team/parts.bin", UploadId: created.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }),
    );
    expect(await text(ownerS3, "team/parts.bin")).toBe("one part");

    const denied = { name: "AccessDenied", status: 403 };
    expect(await errorOf(scoped.send(new GetObjectCommand({ Bucket: BUCKET, Key: "finance/ledger.csv" })))).toEqual(denied);
    expect(await errorOf(scoped.send(new PutObjectCommand({ Bucket: BUCKET, Key: "finance/forged.csv", Body: "x" })))).toEqual(denied);
    expect(await errorOf(scoped.send(new ListObjectsV2Command({ Bucket: BUCKET })))).toEqual(denied);
    expect(await errorOf(scoped.send(new ListBucketsCommand({})))).toEqual(denied);
    expect(await errorOf(scoped.send(new CopyObjectCommand({ Bucket: BUCKET, Key: "team/leak.csv", CopySource: `${BUCKET}/finance/ledger.csv` })))).toEqual(denied);
    expect(await errorOf(scoped.send(new PutBucketCorsCommand({ Bucket: BUCKET, CORSConfiguration: { CORSRules: [{ AllowedMethods: ["GET"], AllowedOrigins: ["*"] }] } })))).toEqual(denied);
    expect(await errorOf(scoped.send(new CreateBucketCommand({ Bucket: "scoped-e2e-new" })))).toEqual(denied);
    expect(await errorOf(ownerS3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: "finance/forged.csv" })))).toEqual({ name: "NotFound", status: 404 });
    expect(await errorOf(ownerS3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: "team/leak.csv" })))).toEqual({ name: "NotFound", status: 404 });

    // A presigned URL signed with the key carries its scope.
    expect((await fetch(await getSignedUrl(scoped, new GetObjectCommand({ Bucket: BUCKET, Key: "team/a.txt" }), { expiresIn: 60 }))).status).toBe(200);
    expect((await fetch(await getSignedUrl(scoped, new GetObjectCommand({ Bucket: BUCKET, Key: "finance/ledger.csv" }), { expiresIn: 60 }))).status).toBe(403);
  });

  it("writes and deletes nothing with a read-only key", async () => {
    const reader = edgeS3Client(d, { keys: await mint({ permission: "read-only", buckets: [{ bucket: BUCKET }] }) });
    expect(await text(reader, "finance/ledger.csv")).toBe("private numbers");
    const denied = { name: "AccessDenied", status: 403 };
    expect(await errorOf(reader.send(new PutObjectCommand({ Bucket: BUCKET, Key: "team/ro.txt", Body: "x" })))).toEqual(denied);
    expect(await errorOf(reader.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: "team/a.txt" })))).toEqual(denied);
    expect(await text(ownerS3, "team/a.txt")).toBe("team file");
  });

  it("is refused from the request after its revocation, and the audit log shows both changes", async () => {
    const key = await mint({ permission: "read-only", buckets: [{ bucket: BUCKET, prefix: "team/" }] });
    const scoped = edgeS3Client(d, { keys: key });
    expect(await text(scoped, "team/a.txt")).toBe("team file");
    expect((await accountApi("DELETE", `/access-keys/${key.accessKeyId}`)).status).toBe(200);
    expect(await errorOf(scoped.send(new GetObjectCommand({ Bucket: BUCKET, Key: "team/a.txt" })))).toEqual({ name: "InvalidAccessKeyId", status: 403 });

    const audit = (await (await accountApi("GET", "/access-audit?limit=1000")).json()) as { entries: { action: string; target: string; actor: { accessKeyId: string } | null }[] };
    const mine = audit.entries.filter((e) => e.target === `access-key/${key.accessKeyId}`);
    expect(mine.map((e) => e.action)).toEqual(["CreateAccessKey", "RevokeAccessKey"]);
    expect(mine.every((e) => e.actor?.accessKeyId === d.accounts.default.accessKeyId)).toBe(true);
  });
});
