// Interoperability with the S3 clients people actually use, each driven as its users drive it:
// rclone (copy, sync, check with MD5), s3cmd, boto3 (both the image's and Debian's), awscli sync/rm/s3api,
// and @aws-sdk/client-s3 with checksums only when required. A client is skipped, with a message, only when
// its binary is absent from this machine.

import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { availableAwsClis, runAws } from "../helpers/awscli.ts";
import { installed, pythonsWithBoto3 } from "../helpers/installed-clients.ts";
import type { LocalNetwork, NetworkDescription } from "../../src/localnet/network.ts";
import { startTestNetwork, stopTestNetwork } from "../helpers/test-support.ts";

const MiB = 1024 * 1024;
let network: LocalNetwork;
let d: NetworkDescription;
let work: string;

/** Runs a client; `undefined` in `env` removes a variable from the inherited environment. */
function run(command: string, args: string[], env: Record<string, string | undefined> = {}): Promise<string> {
  const merged: Record<string, string | undefined> = { ...process.env, ...env };
  for (const [name, value] of Object.entries(merged)) if (value === undefined) delete merged[name];
  return new Promise((resolve, reject) => {
    execFile(command, args, { env: merged, timeout: 180_000, maxBuffer: 32 * MiB }, (error, stdout, stderr) =>
      error ? reject(new Error(`${command} ${args.join(" ")} failed: ${error.message}\n${stdout}\n${stderr}`)) : resolve(stdout + stderr),
    );
  });
}


/** A directory tree of mixed files: empty, small, a multipart-sized one, names with spaces and unicode. */
async function makeTree(root: string): Promise<Map<string, string>> {
  const files = new Map<string, Buffer>([
    ["empty.txt", Buffer.alloc(0)],
    ["small.txt", Buffer.from("hello from a small file\n")],
    ["nested/deeper/data.bin", randomBytes(300 * 1024)],
    ["with space/ünïcode ✓.txt", Buffer.from("names survive")],
    ["large.bin", randomBytes(21 * MiB)],
  ]);
  const hashes = new Map<string, string>();
  for (const [name, data] of files) {
    await mkdir(join(root, name, ".."), { recursive: true });
    await writeFile(join(root, name), data);
    hashes.set(name, createHash("sha256").update(data).digest("hex"));
  }
  return hashes;
}

async function treeHashes(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = join(entry.parentPath, entry.name);
    out.set(full.slice(root.length + 1), createHash("sha256").update(await readFile(full)).digest("hex"));
  }
  return out;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "icn-clients-work-"));
  ({ network, d } = await startTestNetwork("icn-clients-", { nodeCount: 3 }));
}, 180_000);

afterAll(async () => {
  await stopTestNetwork(network);
  if (work) await rm(work, { recursive: true, force: true });
}, 60_000);

const keys = () => ({ id: d.accounts.default.accessKeyId, secret: d.accounts.default.secretAccessKey });

/** Says which clients' tests will be skipped, and why: only an absent binary is a reason. */
function announceSkip(client: string, present: boolean): boolean {
  if (!present) console.warn(`${client} is not installed on this machine: its interop tests are skipped (apt-get install ${client})`);
  return !present;
}

describe.skipIf(announceSkip("rclone", installed("rclone")))("rclone", () => {
  const env = () => ({
    RCLONE_CONFIG_ICN_TYPE: "s3",
    RCLONE_CONFIG_ICN_PROVIDER: "Other",
    RCLONE_CONFIG_ICN_ACCESS_KEY_ID: keys().id,
    RCLONE_CONFIG_ICN_SECRET_ACCESS_KEY: keys().secret,
    RCLONE_CONFIG_ICN_ENDPOINT: d.edgeUrl,
    RCLONE_CONFIG_ICN_REGION: d.region,
    RCLONE_CONFIG: "/dev/null",
    // rclone refuses a custom CA bundle on a plain-HTTP endpoint; this machine sets one for everything.
    AWS_CA_BUNDLE: undefined,
  });

  it("copies a tree, checks it by MD5, syncs a change and copies it back intact", async () => {
    const src = join(work, "rclone-src");
    const expected = await makeTree(src);
    await run("rclone", ["mkdir", "icn:rclone-bucket"], env());
    await run("rclone", ["copy", src, "icn:rclone-bucket/tree", "--s3-upload-cutoff", "8M", "--s3-chunk-size", "5M"], env());
    // rclone check compares sizes and MD5 hashes (ETags) of every file.
    await run("rclone", ["check", src, "icn:rclone-bucket/tree"], env());

    await writeFile(join(src, "small.txt"), "changed\n");
    await rm(join(src, "empty.txt"));
    await run("rclone", ["sync", src, "icn:rclone-bucket/tree"], env());
    await run("rclone", ["check", src, "icn:rclone-bucket/tree"], env());

    const back = join(work, "rclone-back");
    await run("rclone", ["copy", "icn:rclone-bucket/tree", back], env());
    expected.delete("empty.txt");
    expected.set("small.txt", createHash("sha256").update("changed\n").digest("hex"));
    expect(await treeHashes(back)).toEqual(expected);
  }, 240_000);
});

describe.skipIf(announceSkip("s3cmd", installed("s3cmd")))("s3cmd", () => {
  const args = () => {
    const host = new URL(d.edgeUrl).host;
    return ["--access_key", keys().id, "--secret_key", keys().secret, "--host", host, "--host-bucket", host, "--no-ssl", "--region", d.region, "-c", "/dev/null"];
  };

  it("makes a bucket, puts (multipart) and gets files, lists and deletes", async () => {
    const file = join(work, "s3cmd-up.bin");
    const data = randomBytes(17 * MiB);
    await writeFile(file, data);
    await run("s3cmd", [...args(), "mb", "s3://s3cmd-bucket"]);
    await run("s3cmd", [...args(), "put", "--multipart-chunk-size-mb=5", file, "s3://s3cmd-bucket/dir/up.bin"]);
    expect(await run("s3cmd", [...args(), "ls", "s3://s3cmd-bucket/dir/"])).toContain("s3://s3cmd-bucket/dir/up.bin");
    await run("s3cmd", [...args(), "get", "--force", "s3://s3cmd-bucket/dir/up.bin", join(work, "s3cmd-down.bin")]);
    expect((await readFile(join(work, "s3cmd-down.bin"))).equals(data)).toBe(true);
    await run("s3cmd", [...args(), "del", "s3://s3cmd-bucket/dir/up.bin"]);
    await run("s3cmd", [...args(), "rb", "s3://s3cmd-bucket"]);
  }, 180_000);
});

const pythons = pythonsWithBoto3();

const BOTO3_SCRIPT = `
import boto3, hashlib, os, sys
from boto3.s3.transfer import TransferConfig
endpoint, key, secret, bucket, workdir = sys.argv[1:6]
s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key, aws_secret_access_key=secret, region_name="us-east-1")
s3.create_bucket(Bucket=bucket)
data = os.urandom(23 * 1024 * 1024)
path = os.path.join(workdir, bucket + ".bin")
open(path, "wb").write(data)
cfg = TransferConfig(multipart_threshold=8 * 1024 * 1024, multipart_chunksize=8 * 1024 * 1024)
s3.upload_file(path, bucket, "big.bin", Config=cfg)
s3.put_object(Bucket=bucket, Key="small key+plus", Body=b"tiny", Metadata={"origin": "boto3"})
head = s3.head_object(Bucket=bucket, Key="small key+plus")
assert head["Metadata"] == {"origin": "boto3"}, head["Metadata"]
listed = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
assert listed == ["big.bin", "small key+plus"], listed
out = path + ".down"
s3.download_file(bucket, "big.bin", out, Config=cfg)
assert hashlib.sha256(open(out, "rb").read()).hexdigest() == hashlib.sha256(data).hexdigest()
s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "big.bin"}, {"Key": "small key+plus"}]})
s3.delete_bucket(Bucket=bucket)
print("boto3 ok", boto3.__version__)
`;

describe.skipIf(announceSkip("python3-boto3", pythons.length > 0))("boto3", () => {
  for (const python of pythons) {
    it(`uploads (multipart), reads metadata, lists, downloads and deletes with ${python}`, async () => {
      const bucket = `boto3-${python.includes("/usr/bin") ? "debian" : "image"}`;
      const out = await run(python, ["-c", BOTO3_SCRIPT, d.edgeUrl, keys().id, keys().secret, bucket, work]);
      expect(out).toContain("boto3 ok");
    }, 180_000);
  }
});

describe.skipIf(announceSkip("awscli", availableAwsClis().length > 0))("awscli sync, rm and s3api", () => {
  for (const aws of availableAwsClis()) {
    it(`syncs a tree up and down, removes recursively and uses s3api with ${aws.label}`, async () => {
      const tag = aws.label.replace(/[^0-9]/g, "").slice(0, 6);
      const bucket = `cli-sync-${tag}`;
      const env = { AWS_ACCESS_KEY_ID: keys().id, AWS_SECRET_ACCESS_KEY: keys().secret, AWS_DEFAULT_REGION: d.region };
      const src = join(work, `sync-src-${tag}`);
      const expected = await makeTree(src);
      await runAws(aws, ["s3", "mb", `s3://${bucket}`], d.edgeUrl, env);
      await runAws(aws, ["s3", "sync", "--only-show-errors", src, `s3://${bucket}/`], d.edgeUrl, env);
      const back = join(work, `sync-back-${tag}`);
      await runAws(aws, ["s3", "sync", "--only-show-errors", `s3://${bucket}/`, back], d.edgeUrl, env);
      expect(await treeHashes(back)).toEqual(expected);
      const head = JSON.parse(await runAws(aws, ["s3api", "head-object", "--bucket", bucket, "--key", "small.txt"], d.edgeUrl, env)) as { ContentLength: number };
      expect(head.ContentLength).toBe(24);
      await runAws(aws, ["s3", "rm", "--recursive", "--only-show-errors", `s3://${bucket}/`], d.edgeUrl, env);
      const listed = JSON.parse((await runAws(aws, ["s3api", "list-objects-v2", "--bucket", bucket], d.edgeUrl, env)) || "{}") as { KeyCount?: number };
      expect(listed.KeyCount ?? 0).toBe(0);
      await runAws(aws, ["s3", "rb", `s3://${bucket}`], d.edgeUrl, env);
    }, 180_000);
  }
});

describe.skipIf(announceSkip("awscli", availableAwsClis().length > 0))("awscli upload errors", () => {
  for (const aws of availableAwsClis()) {
    // A PutObject refused from its headers alone (awscli sends files under 8 MiB in one PUT, after the local
    // front answered its Expect: 100-continue): the S3 error, at once, not a 502 after a minute of retries.
    it(`reports NoSuchBucket and AccessDenied for a file upload with ${aws.label}`, async () => {
      const tag = aws.label.replace(/[^0-9]/g, "").slice(0, 6);
      const file = join(work, `refused-${tag}.bin`);
      await writeFile(file, randomBytes(4 * MiB));
      const env = { AWS_ACCESS_KEY_ID: keys().id, AWS_SECRET_ACCESS_KEY: keys().secret, AWS_DEFAULT_REGION: d.region };
      const missing = await runAws(aws, ["s3", "cp", "--only-show-errors", file, `s3://no-such-bucket-${tag}/f`], d.edgeUrl, env).then(() => "uploaded", (e: Error) => e.message);
      expect(missing).toContain("NoSuchBucket");
      expect(missing).not.toMatch(/502|max retries/);
      const second = { AWS_ACCESS_KEY_ID: d.accounts.second.accessKeyId, AWS_SECRET_ACCESS_KEY: d.accounts.second.secretAccessKey, AWS_DEFAULT_REGION: d.region };
      await runAws(aws, ["s3", "mb", `s3://refused-${tag}`], d.edgeUrl, second);
      const denied = await runAws(aws, ["s3", "cp", "--only-show-errors", file, `s3://refused-${tag}/f`], d.edgeUrl, env).then(() => "uploaded", (e: Error) => e.message);
      expect(denied).toContain("AccessDenied");
      expect(denied).not.toMatch(/502|max retries/);
      await runAws(aws, ["s3", "rb", `s3://refused-${tag}`], d.edgeUrl, second);
    }, 180_000);
  }
});

describe("@aws-sdk/client-s3 with checksums only when required", () => {
  it("round-trips an object without the default CRC32", async () => {
    const s3 = new S3Client({
      endpoint: d.edgeUrl,
      region: d.region,
      forcePathStyle: true,
      credentials: { accessKeyId: keys().id, secretAccessKey: keys().secret },
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
    const body = randomBytes(3 * MiB);
    await s3.send(new CreateBucketCommand({ Bucket: "sdk-when-required" }));
    await s3.send(new PutObjectCommand({ Bucket: "sdk-when-required", Key: "k", Body: body }));
    const got = await s3.send(new GetObjectCommand({ Bucket: "sdk-when-required", Key: "k" }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(body)).toBe(true);
  });
});
