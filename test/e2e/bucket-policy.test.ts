// Bucket policies against the real local network, with real clients: the AWS SDK for the owner and for a second
// account, plain HTTP for anonymous callers, and boto3 where installed. Another account is refused everything
// until a policy allows it, then exactly as far as the policy allows; a "Principal": "*" policy opens reads to
// anyone; aws:SourceIp is the address the edge's front observed, whatever a client claims; a Deny binds the owner.
// Object Lock changes by another account are refused, and a policy granting s3:PutObjectRetention grants only that:
// no bypass of GOVERNANCE, no legal hold, no lock configuration.

import {
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketPolicyCommand,
  DeleteObjectCommand,
  GetBucketPolicyCommand,
  GetBucketPolicyStatusCommand,
  GetObjectCommand,
  GetObjectLegalHoldCommand,
  GetObjectLockConfigurationCommand,
  GetObjectRetentionCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutBucketPolicyCommand,
  PutObjectCommand,
  PutObjectLegalHoldCommand,
  PutObjectLockConfigurationCommand,
  PutObjectRetentionCommand,
  UploadPartCopyCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { createPresignedPost } from "@aws-sdk/s3-presigned-post";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { AwsClient } from "aws4fetch";
import { execFile } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalNetwork, NetworkDescription } from "../../src/localnet/network.ts";
import { pythonsWithBoto3 } from "../helpers/installed-clients.ts";
import { edgeS3Client, errorOf, startTestNetwork, stopTestNetwork } from "../helpers/test-support.ts";

let network: LocalNetwork;
let d: NetworkDescription;
let owner: S3Client;
let other: S3Client;
const bucket = "policy-shared";
const otherBucket = "policy-other-own";

beforeAll(async () => {
  ({ network, d } = await startTestNetwork("icn-bucket-policy-", { nodeCount: 3 }));
  owner = edgeS3Client(d);
  other = edgeS3Client(d, { keys: d.accounts.second });
  await owner.send(new CreateBucketCommand({ Bucket: bucket }));
  await other.send(new CreateBucketCommand({ Bucket: otherBucket }));
  for (const [key, body] of Object.entries({ "shared/report.txt": "shared report", "private/diary.txt": "private diary", "public/index.html": "<p>public</p>" })) {
    await owner.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  }
}, 180_000);

afterAll(() => stopTestNetwork(network), 60_000);

const arn = (account: { id: string }) => `arn:aws:iam::${account.id}:root`;

async function setPolicy(...statements: object[]): Promise<void> {
  await owner.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: JSON.stringify({ Version: "2012-10-17", Statement: statements }) }));
}

/** What the second account can do to the owner's bucket, each case's S3 error code or "no error". */
async function crossAccountTable(): Promise<Record<string, string>> {
  const { UploadId } = await other.send(new CreateMultipartUploadCommand({ Bucket: otherBucket, Key: "assembled" }));
  const presignedGet = await getSignedUrl(other, new GetObjectCommand({ Bucket: bucket, Key: "shared/report.txt" }), { expiresIn: 300 });
  const post = await createPresignedPost(other, { Bucket: bucket, Key: "inbox/${filename}", Expires: 300 });
  const form = new FormData();
  for (const [k, v] of Object.entries(post.fields)) form.append(k, v);
  form.append("file", new Blob(["posted by the second account"]), "posted.txt");
  const status = async (res: Promise<Response>) => {
    const r = await res;
    return r.status < 300 ? "no error" : (/<Code>([^<]+)<\/Code>/.exec(await r.text())?.[1] ?? String(r.status));
  };
  const name = async (p: Promise<unknown>) => (await errorOf(p)).name;
  return {
    "read shared": await name(other.send(new GetObjectCommand({ Bucket: bucket, Key: "shared/report.txt" }))),
    "read private": await name(other.send(new GetObjectCommand({ Bucket: bucket, Key: "private/diary.txt" }))),
    // HEAD answers carry no body: its refusal is its status alone.
    "head private": String((await errorOf(other.send(new HeadObjectCommand({ Bucket: bucket, Key: "private/diary.txt" })))).status),
    "list shared/": await name(other.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: "shared/" }))),
    "list all": await name(other.send(new ListObjectsV2Command({ Bucket: bucket }))),
    "write inbox/": await name(other.send(new PutObjectCommand({ Bucket: bucket, Key: "inbox/note.txt", Body: "hello" }))),
    "write private/": await name(other.send(new PutObjectCommand({ Bucket: bucket, Key: "private/forged.txt", Body: "x" }))),
    "delete shared": await name(other.send(new DeleteObjectCommand({ Bucket: bucket, Key: "shared/report.txt" }))),
    "copy from shared": await name(other.send(new CopyObjectCommand({ Bucket: otherBucket, Key: "copied", CopySource: `${bucket}/shared/report.txt` }))),
    "copy from private": await name(other.send(new CopyObjectCommand({ Bucket: otherBucket, Key: "copied-private", CopySource: `${bucket}/private/diary.txt` }))),
    "part-copy from private": await name(
      other.send(new UploadPartCopyCommand({ Bucket: otherBucket, Key: "assembled", UploadId, PartNumber: 1, CopySource: `${bucket}/private/diary.txt` })),
    ),
    "presigned read shared": await status(fetch(presignedGet)),
    "form upload to inbox/": await status(fetch(post.url, { method: "POST", body: form })),
    "read policy": await name(other.send(new GetBucketPolicyCommand({ Bucket: bucket }))),
    "write policy": await name(other.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: JSON.stringify({ Statement: [{ Effect: "Allow", Principal: "*", Action: "s3:*", Resource: `arn:aws:s3:::${bucket}/*` }] }) }))),
  };
}

describe("a second account", () => {
  it("is refused everything on the owner's bucket without a policy", async () => {
    const table = await crossAccountTable();
    const codes = new Set(Object.values(table));
    expect(codes, JSON.stringify(table)).toEqual(new Set(["AccessDenied", "403"]));
  }, 120_000);

  it("is allowed exactly as far as the policy allows: reads and lists shared/, writes inbox/, nothing else", async () => {
    await setPolicy(
      { Sid: "ReadShared", Effect: "Allow", Principal: { AWS: arn(d.accounts.second) }, Action: "s3:GetObject", Resource: `arn:aws:s3:::${bucket}/shared/*` },
      { Sid: "ListShared", Effect: "Allow", Principal: { AWS: d.accounts.second.id }, Action: "s3:ListBucket", Resource: `arn:aws:s3:::${bucket}`, Condition: { StringLike: { "s3:prefix": "shared/*" } } },
      { Sid: "DropInbox", Effect: "Allow", Principal: { AWS: d.accounts.second.id }, Action: "s3:PutObject", Resource: `arn:aws:s3:::${bucket}/inbox/*` },
    );
    expect(await crossAccountTable()).toEqual({
      "read shared": "no error",
      "read private": "AccessDenied",
      "head private": "403",
      "list shared/": "no error",
      "list all": "AccessDenied",
      "write inbox/": "no error",
      "write private/": "AccessDenied",
      "delete shared": "AccessDenied",
      "copy from shared": "no error",
      "copy from private": "AccessDenied",
      "part-copy from private": "AccessDenied",
      "presigned read shared": "no error",
      "form upload to inbox/": "no error",
      // Only the owner's account manages a policy, even one that would allow more.
      "read policy": "AccessDenied",
      "write policy": "AccessDenied",
    });
    // What the second account wrote is in the owner's bucket, listed by its owner.
    const listing = await owner.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: "inbox/", FetchOwner: true }));
    expect(listing.Contents?.map((o) => o.Key).sort()).toEqual(["inbox/note.txt", "inbox/posted.txt"]);
    expect(listing.Contents?.every((o) => o.Owner?.ID === d.accounts.default.id)).toBe(true);
    const copied = await other.send(new GetObjectCommand({ Bucket: otherBucket, Key: "copied" }));
    expect(await copied.Body!.transformToString()).toBe("shared report");
    const status = await owner.send(new GetBucketPolicyStatusCommand({ Bucket: bucket }));
    expect(status.PolicyStatus?.IsPublic).toBe(false);
  }, 120_000);
});

describe("a second account and Object Lock", () => {
  const locked = "policy-locked";
  const key = "records/ledger.txt";
  const DAY = 86_400_000;
  const inDays = (n: number) => new Date(Math.floor((Date.now() + n * DAY) / 1000) * 1000);
  const defaultRule = { ObjectLockEnabled: "Enabled" as const, Rule: { DefaultRetention: { Mode: "GOVERNANCE" as const, Days: 1 } } };
  let versionId: string;
  let until: Date;

  beforeAll(async () => {
    await owner.send(new CreateBucketCommand({ Bucket: locked, ObjectLockEnabledForBucket: true }));
    await owner.send(new PutObjectLockConfigurationCommand({ Bucket: locked, ObjectLockConfiguration: defaultRule }));
    until = inDays(2);
    ({ VersionId: versionId } = (await owner.send(new PutObjectCommand({ Bucket: locked, Key: key, Body: "ledger", ObjectLockMode: "GOVERNANCE", ObjectLockRetainUntilDate: until }))) as { VersionId: string });
    await owner.send(new PutObjectLegalHoldCommand({ Bucket: locked, Key: key, VersionId: versionId, LegalHold: { Status: "OFF" } }));
  }, 60_000);

  /** Each Object Lock change (or read) the second account tries on the owner's locked version: its error or "no error". */
  async function lockTable(): Promise<Record<string, string>> {
    const name = async (p: Promise<unknown>) => (await errorOf(p)).name;
    const version = { Bucket: locked, Key: key, VersionId: versionId };
    const longer = new Date(until.getTime() + 2 * DAY);
    const shorter = new Date(until.getTime() - DAY);
    return {
      "read retention": await name(other.send(new GetObjectRetentionCommand(version))),
      "extend retention": await name(other.send(new PutObjectRetentionCommand({ ...version, Retention: { Mode: "GOVERNANCE", RetainUntilDate: longer } }))),
      "shorten GOVERNANCE with the bypass": await name(
        other.send(new PutObjectRetentionCommand({ ...version, BypassGovernanceRetention: true, Retention: { Mode: "GOVERNANCE", RetainUntilDate: shorter } })),
      ),
      "delete the version with the bypass": await name(other.send(new DeleteObjectCommand({ ...version, BypassGovernanceRetention: true }))),
      "place a legal hold": await name(other.send(new PutObjectLegalHoldCommand({ ...version, LegalHold: { Status: "ON" } }))),
      "change the lock configuration": await name(
        other.send(new PutObjectLockConfigurationCommand({ Bucket: locked, ObjectLockConfiguration: { ObjectLockEnabled: "Enabled", Rule: { DefaultRetention: { Mode: "COMPLIANCE", Years: 10 } } } })),
      ),
    };
  }

  /** The version's lock and bytes and the bucket's configuration, as the owner reads them. */
  async function lockState() {
    const version = { Bucket: locked, Key: key, VersionId: versionId };
    const retention = (await owner.send(new GetObjectRetentionCommand(version))).Retention;
    const got = await owner.send(new GetObjectCommand(version));
    return {
      retention: { mode: retention?.Mode, until: retention?.RetainUntilDate?.getTime() },
      legalHold: (await owner.send(new GetObjectLegalHoldCommand(version))).LegalHold?.Status,
      configuration: (await owner.send(new GetObjectLockConfigurationCommand({ Bucket: locked }))).ObjectLockConfiguration,
      bytes: await got.Body!.transformToString(),
    };
  }

  it("is refused every Object Lock change and read without a policy, and nothing changes", async () => {
    const before = await lockState();
    expect(before).toEqual({ retention: { mode: "GOVERNANCE", until: until.getTime() }, legalHold: "OFF", configuration: defaultRule, bytes: "ledger" });
    expect(await lockTable()).toEqual({
      "read retention": "AccessDenied",
      "extend retention": "AccessDenied",
      "shorten GOVERNANCE with the bypass": "AccessDenied",
      "delete the version with the bypass": "AccessDenied",
      "place a legal hold": "AccessDenied",
      "change the lock configuration": "AccessDenied",
    });
    expect(await errorOf(other.send(new PutObjectLegalHoldCommand({ Bucket: locked, Key: key, VersionId: versionId, LegalHold: { Status: "ON" } })))).toEqual({ name: "AccessDenied", status: 403 });
    expect(await lockState()).toEqual(before);
  }, 120_000);

  it("granted s3:PutObjectRetention and s3:GetObjectRetention, sets retention and nothing more", async () => {
    const policy = {
      Version: "2012-10-17",
      Statement: [{ Sid: "RetentionOnly", Effect: "Allow", Principal: { AWS: arn(d.accounts.second) }, Action: ["s3:PutObjectRetention", "s3:GetObjectRetention"], Resource: `arn:aws:s3:::${locked}/*` }],
    };
    await owner.send(new PutBucketPolicyCommand({ Bucket: locked, Policy: JSON.stringify(policy) }));
    expect(await lockTable()).toEqual({
      "read retention": "no error",
      "extend retention": "no error",
      // Without s3:BypassGovernanceRetention the header changes nothing: a GOVERNANCE retention is not shortened.
      "shorten GOVERNANCE with the bypass": "AccessDenied",
      "delete the version with the bypass": "AccessDenied",
      "place a legal hold": "AccessDenied",
      "change the lock configuration": "AccessDenied",
    });
    // The extension is the one change made; the hold, the configuration and the bytes are as they were.
    expect(await lockState()).toEqual({ retention: { mode: "GOVERNANCE", until: until.getTime() + 2 * DAY }, legalHold: "OFF", configuration: defaultRule, bytes: "ledger" });
  }, 120_000);
});

describe("anonymous callers", () => {
  it("read what a \"Principal\": \"*\" statement allows, and the bucket's status says public", async () => {
    const url = (key: string) => `${d.edgeUrl}/${bucket}/${key}`;
    expect((await fetch(url("public/index.html"))).status).toBe(403);
    await setPolicy({ Sid: "Site", Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: `arn:aws:s3:::${bucket}/public/*` });
    const page = await fetch(url("public/index.html"));
    expect(page.status).toBe(200);
    expect(await page.text()).toBe("<p>public</p>");
    expect((await fetch(url("private/diary.txt"))).status).toBe(403);
    expect((await fetch(`${d.edgeUrl}/${bucket}?list-type=2`)).status).toBe(403);
    expect((await owner.send(new GetBucketPolicyStatusCommand({ Bucket: bucket }))).PolicyStatus?.IsPublic).toBe(true);
  }, 60_000);
});

describe("conditions on what the edge observed", () => {
  it("tests aws:SourceIp against the connecting address, never a CF-Connecting-IP the client sends", async () => {
    const signer = new AwsClient({ accessKeyId: d.accounts.default.accessKeyId, secretAccessKey: d.accounts.default.secretAccessKey, service: "s3", region: d.region, retries: 0 });
    const get = async (claimed?: string) => {
      const signed = await signer.sign(`${d.edgeUrl}/${bucket}/shared/report.txt`, { method: "GET" });
      if (claimed) signed.headers.set("cf-connecting-ip", claimed);
      return (await fetch(signed)).status;
    };
    const everything = [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`];
    await setPolicy({ Sid: "OfficeOnly", Effect: "Deny", Principal: "*", Action: "s3:GetObject", Resource: everything, Condition: { NotIpAddress: { "aws:SourceIp": "10.0.0.0/8" } } });
    expect(await get()).toBe(403);
    expect(await get("10.1.2.3")).toBe(403);
    expect(await errorOf(owner.send(new GetObjectCommand({ Bucket: bucket, Key: "shared/report.txt" })))).toEqual({ name: "AccessDenied", status: 403 });
    await setPolicy({ Sid: "LoopbackOnly", Effect: "Deny", Principal: "*", Action: "s3:GetObject", Resource: everything, Condition: { NotIpAddress: { "aws:SourceIp": "127.0.0.1/32" } } });
    expect(await get()).toBe(200);
    expect(await get("10.1.2.3")).toBe(200);
  }, 60_000);
});

describe("the owner", () => {
  it("is bound by a Deny, and can still read and delete the policy that denies it", async () => {
    await setPolicy({ Sid: "NoDeletes", Effect: "Deny", Principal: "*", Action: ["s3:DeleteObject", "s3:DeleteBucketPolicy", "s3:GetBucketPolicy"], Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`] });
    expect(await errorOf(owner.send(new DeleteObjectCommand({ Bucket: bucket, Key: "shared/report.txt" })))).toEqual({ name: "AccessDenied", status: 403 });
    expect((await owner.send(new GetBucketPolicyCommand({ Bucket: bucket }))).Policy).toContain("NoDeletes");
    await owner.send(new DeleteBucketPolicyCommand({ Bucket: bucket }));
    expect(await errorOf(owner.send(new GetBucketPolicyCommand({ Bucket: bucket })))).toEqual({ name: "NoSuchBucketPolicy", status: 404 });
    await owner.send(new DeleteObjectCommand({ Bucket: bucket, Key: "shared/report.txt" }));
    expect(await errorOf(owner.send(new GetObjectCommand({ Bucket: bucket, Key: "shared/report.txt" })))).toEqual({ name: "NoSuchKey", status: 404 });
  }, 60_000);
});

const BOTO3_SCRIPT = `
import boto3, json, sys
from botocore.exceptions import ClientError
endpoint, region, owner_key, owner_secret, other_key, other_secret, other_id, bucket = sys.argv[1:9]
def client(k, s):
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=k, aws_secret_access_key=s, region_name=region)
owner, other = client(owner_key, owner_secret), client(other_key, other_secret)
def code(call):
    try:
        call()
        return "ok"
    except ClientError as e:
        return e.response["Error"]["Code"]
owner.put_object(Bucket=bucket, Key="boto3/readable.txt", Body=b"boto3 readable")
owner.put_object(Bucket=bucket, Key="boto3/closed.txt", Body=b"closed")
assert code(lambda: other.get_object(Bucket=bucket, Key="boto3/readable.txt")) == "AccessDenied"
policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::%s:root" % other_id}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::%s/boto3/readable.txt" % bucket}]}
owner.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
assert json.loads(owner.get_bucket_policy(Bucket=bucket)["Policy"]) == policy
assert owner.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is False
assert other.get_object(Bucket=bucket, Key="boto3/readable.txt")["Body"].read() == b"boto3 readable"
assert code(lambda: other.get_object(Bucket=bucket, Key="boto3/closed.txt")) == "AccessDenied"
assert code(lambda: owner.put_bucket_policy(Bucket=bucket, Policy="{not json")) == "MalformedPolicy"
owner.delete_bucket_policy(Bucket=bucket)
assert code(lambda: owner.get_bucket_policy(Bucket=bucket)) == "NoSuchBucketPolicy"
assert code(lambda: other.get_object(Bucket=bucket, Key="boto3/readable.txt")) == "AccessDenied"
print("boto3 policy ok", boto3.__version__)
`;

describe("boto3", () => {
  const pythons = pythonsWithBoto3();
  it.skipIf(pythons.length === 0)("puts, reads, applies and deletes a policy that lets a second account read one key", async () => {
    for (const python of pythons) {
      const { default: a, second: b } = d.accounts;
      const out = await new Promise<string>((resolve, reject) =>
        execFile(python, ["-c", BOTO3_SCRIPT, d.edgeUrl, d.region, a.accessKeyId, a.secretAccessKey, b.accessKeyId, b.secretAccessKey, b.id, bucket], { timeout: 120_000 }, (error, stdout, stderr) =>
          error ? reject(new Error(`${python}: ${error.message}\n${stdout}\n${stderr}`)) : resolve(stdout),
        ),
      );
      expect(out).toContain("boto3 policy ok");
    }
  }, 240_000);
});
