// Signature V2 with the clients that still sign with it, driven as their users drive them: awscli v1's
// `aws s3 presign`, s3cmd --signature-v2 (requests, multipart and `signurl`), and boto3 with
// signature_version "s3" (header auth, presigned URLs and presigned POST forms, and the SSE-KMS refusal).
// A presigned URL is fetched with plain HTTP, as a browser would. A client is skipped, with a message, only
// when it is absent from this machine.

import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { availableAwsClis, runAws } from "../helpers/awscli.ts";
import { installed, pythonsWithBoto3 } from "../helpers/installed-clients.ts";
import type { LocalNetwork, NetworkDescription } from "../../src/localnet/network.ts";
import { edgeS3Client, startTestNetwork, stopTestNetwork } from "../helpers/test-support.ts";

const MiB = 1024 * 1024;
let network: LocalNetwork;
let d: NetworkDescription;
let work: string;

function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: 180_000, maxBuffer: 32 * MiB }, (error, stdout, stderr) =>
      error ? reject(new Error(`${command} ${args.join(" ")} failed: ${error.message}\n${stdout}\n${stderr}`)) : resolve(stdout + stderr),
    );
  });
}


function announceSkip(client: string, present: boolean): boolean {
  if (!present) console.warn(`${client} is not installed on this machine: its Signature V2 tests are skipped`);
  return !present;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "icn-sigv2-work-"));
  ({ network, d } = await startTestNetwork("icn-sigv2-", { nodeCount: 3 }));
}, 180_000);

afterAll(async () => {
  await stopTestNetwork(network);
  if (work) await rm(work, { recursive: true, force: true });
}, 60_000);

const keys = () => ({ id: d.accounts.default.accessKeyId, secret: d.accounts.default.secretAccessKey });

/** Stores `body` at bucket/key with SigV4 (the SDK). */
async function storeWithV4(bucket: string, key: string, body: Uint8Array): Promise<void> {
  await edgeS3Client(d).send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

/** The awscli builds whose `s3 presign` signs with V2 (v1 does; v2 signs with V4). */
function v2PresigningClis() {
  return availableAwsClis().filter((cli) => cli.label.startsWith("aws-cli/1."));
}

describe.skipIf(announceSkip("awscli v1", v2PresigningClis().length > 0))("awscli v1 aws s3 presign", () => {
  for (const aws of v2PresigningClis()) {
    it(`serves the bytes of an object through a V2 URL from ${aws.label}, and refuses it tampered or expired`, async () => {
      const env = { AWS_ACCESS_KEY_ID: keys().id, AWS_SECRET_ACCESS_KEY: keys().secret, AWS_DEFAULT_REGION: d.region };
      await runAws(aws, ["s3", "mb", "s3://presign-v1"], d.edgeUrl, env);
      const body = randomBytes(3 * MiB);
      await storeWithV4("presign-v1", "dir/shared file ü.bin", body);

      const url = (await runAws(aws, ["s3", "presign", "s3://presign-v1/dir/shared file ü.bin", "--expires-in", "600"], d.edgeUrl, env)).trim();
      expect(url).toContain("AWSAccessKeyId=");
      expect(url).not.toContain("X-Amz-Algorithm");
      const res = await fetch(url);
      expect(res.status).toBe(200);
      expect(Buffer.from(await res.arrayBuffer()).equals(body)).toBe(true);

      const tampered = await fetch(url.replace("shared%20file", "shared%20filf"));
      expect(tampered.status).toBe(403);
      expect(await tampered.text()).toContain("<Code>SignatureDoesNotMatch</Code>");
      const expired = await fetch(url.replace(/Expires=\d+/, `Expires=${Math.floor(Date.now() / 1000) - 60}`));
      expect(expired.status).toBe(403);

      // Beyond the edge's seven-day cap on presigned links.
      const long = (await runAws(aws, ["s3", "presign", "s3://presign-v1/dir/shared file ü.bin", "--expires-in", String(8 * 24 * 3600)], d.edgeUrl, env)).trim();
      const refused = await fetch(long);
      expect(refused.status).toBe(400);
      expect(await refused.text()).toContain("<Code>AuthorizationQueryParametersError</Code>");
    }, 180_000);
  }
});

describe.skipIf(announceSkip("s3cmd", installed("s3cmd")))("s3cmd --signature-v2", () => {
  const args = () => {
    const host = new URL(d.edgeUrl).host;
    return ["--signature-v2", "--access_key", keys().id, "--secret_key", keys().secret, "--host", host, "--host-bucket", host, "--no-ssl", "-c", "/dev/null"];
  };

  it("makes a bucket, puts (multipart) and gets files, lists, signs a URL and deletes", async () => {
    const file = join(work, "s3cmd-v2-up.bin");
    const data = randomBytes(13 * MiB);
    await writeFile(file, data);
    await run("s3cmd", [...args(), "mb", "s3://s3cmd-v2"]);
    const put = await run("s3cmd", [...args(), "--debug", "put", "--multipart-chunk-size-mb=5", file, "s3://s3cmd-v2/dir/up ü.bin"]);
    // s3cmd signed with V2 (its debug log names the scheme), not by falling back to V4.
    expect(put).toContain("Using signature v2");
    expect(put).not.toContain("Using signature v4");
    expect(await run("s3cmd", [...args(), "ls", "s3://s3cmd-v2/dir/"])).toContain("s3://s3cmd-v2/dir/up ü.bin");
    await run("s3cmd", [...args(), "get", "--force", "s3://s3cmd-v2/dir/up ü.bin", join(work, "s3cmd-v2-down.bin")]);
    expect((await readFile(join(work, "s3cmd-v2-down.bin"))).equals(data)).toBe(true);

    const url = (await run("s3cmd", [...args(), "signurl", "s3://s3cmd-v2/dir/up ü.bin", "+600"])).trim().split("\n").pop()!;
    expect(url).toContain("AWSAccessKeyId=");
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(data)).toBe(true);

    await run("s3cmd", [...args(), "del", "s3://s3cmd-v2/dir/up ü.bin"]);
    await run("s3cmd", [...args(), "rb", "s3://s3cmd-v2"]);
  }, 180_000);
});

const BOTO3_V2_SCRIPT = `
import boto3, botocore, hashlib, json, os, sys, urllib.request, uuid
from botocore.config import Config
from boto3.s3.transfer import TransferConfig
endpoint, key, secret, bucket, workdir, scope = sys.argv[1:7]
full = scope == "full"
s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key, aws_secret_access_key=secret, region_name="us-east-1",
                  config=Config(signature_version="s3", s3={"addressing_style": "path"}))
s3.create_bucket(Bucket=bucket)
data = os.urandom(11 * 1024 * 1024)
path = os.path.join(workdir, bucket + ".bin")
open(path, "wb").write(data)
threshold = 5 * 1024 * 1024 if full else 64 * 1024 * 1024
cfg = TransferConfig(multipart_threshold=threshold, multipart_chunksize=5 * 1024 * 1024)
s3.upload_file(path, bucket, "big file.bin", Config=cfg)
s3.put_object(Bucket=bucket, Key="small+key é", Body=b"tiny", Metadata={"origin": "boto3-v2"}, ContentType="text/plain")
head = s3.head_object(Bucket=bucket, Key="small+key é")
assert head["Metadata"] == {"origin": "boto3-v2"}, head["Metadata"]
assert head["ContentType"] == "text/plain", head["ContentType"]
if full:
    s3.put_object_tagging(Bucket=bucket, Key="small+key é", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
    assert s3.get_object_tagging(Bucket=bucket, Key="small+key é")["TagSet"] == [{"Key": "k", "Value": "v"}]
    listed = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert listed == ["big file.bin", "small+key é"], listed
out = path + ".down"
s3.download_file(bucket, "big file.bin", out, Config=cfg)
assert hashlib.sha256(open(out, "rb").read()).hexdigest() == hashlib.sha256(data).hexdigest()

# A presigned GET (botocore's HmacV1QueryAuth), fetched with plain HTTP.
url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "big file.bin"}, ExpiresIn=600)
assert "AWSAccessKeyId=" in url and "X-Amz-Algorithm" not in url, url
fetched = urllib.request.urlopen(url).read()
assert hashlib.sha256(fetched).hexdigest() == hashlib.sha256(data).hexdigest()

# A presigned POST form (HmacV1PostAuth), sent as a browser sends it.
post = s3.generate_presigned_post(bucket, "form/${"$"}{filename}", Conditions=[["content-length-range", 1, 1024]], ExpiresIn=600)
assert "signature" in post["fields"] and "AWSAccessKeyId" in post["fields"], post["fields"]
boundary = uuid.uuid4().hex
parts = [("--%s\\r\\nContent-Disposition: form-data; name=\\"%s\\"\\r\\n\\r\\n%s\\r\\n" % (boundary, k, v)).encode() for k, v in post["fields"].items()]
parts.append(("--%s\\r\\nContent-Disposition: form-data; name=\\"file\\"; filename=\\"posted.txt\\"\\r\\nContent-Type: text/plain\\r\\n\\r\\n" % boundary).encode() + b"posted by a V2 form" + ("\\r\\n--%s--\\r\\n" % boundary).encode())
req = urllib.request.Request(post["url"], data=b"".join(parts), method="POST", headers={"Content-Type": "multipart/form-data; boundary=" + boundary})
assert urllib.request.urlopen(req).status == 204
assert s3.get_object(Bucket=bucket, Key="form/posted.txt")["Body"].read() == b"posted by a V2 form"

# SSE-KMS needs SigV4, as on AWS.
try:
    s3.put_object(Bucket=bucket, Key="kms", Body=b"x", ServerSideEncryption="aws:kms")
    raise SystemExit("an SSE-KMS PUT signed with V2 was accepted")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "InvalidArgument", e.response
    assert "require AWS Signature Version 4" in e.response["Error"]["Message"], e.response

# A wrong secret is SignatureDoesNotMatch, with the StringToSign S3 shows.
bad = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key, aws_secret_access_key="wrong" + secret, region_name="us-east-1",
                   config=Config(signature_version="s3", s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
try:
    bad.head_bucket(Bucket=bucket)
    raise SystemExit("a wrong secret was accepted")
except botocore.exceptions.ClientError as e:
    assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 403, e.response
try:
    bad.get_object(Bucket=bucket, Key="big file.bin")
    raise SystemExit("a wrong secret was accepted")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "SignatureDoesNotMatch", e.response

for k in ["big file.bin", "small+key é", "form/posted.txt"]:
    s3.delete_object(Bucket=bucket, Key=k)
if full:
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
s3.delete_bucket(Bucket=bucket)
print("boto3 v2 ok", boto3.__version__)
`;

const pythons = pythonsWithBoto3();

describe.skipIf(announceSkip("python3-boto3", pythons.length > 0))("boto3 with signature_version 's3'", () => {
  for (const python of pythons) {
    // Debian's botocore 1.29 signs the whole query into a V2 canonical resource (".../key?uploads?uploads",
    // "/bucket?list-type=2"), which AWS refuses as well: with it, only requests without a query are made.
    const debian = python.startsWith("/usr/bin/");
    const what = debian ? "puts, reads" : "uploads (multipart), tags, lists, downloads";
    it(`${what}, presigns GET and POST, and is refused SSE-KMS with ${python}`, async () => {
      const bucket = `boto3-v2-${debian ? "debian" : "image"}`;
      const out = await run(python, ["-c", BOTO3_V2_SCRIPT, d.edgeUrl, keys().id, keys().secret, bucket, work, debian ? "no-query" : "full"]);
      expect(out).toContain("boto3 v2 ok");
    }, 180_000);
  }
});
