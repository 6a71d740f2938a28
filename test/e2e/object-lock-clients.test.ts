// Object Lock end to end with the clients people script it with besides the AWS SDK (test/e2e/object-lock.test.ts
// covers the SDK): every installed awscli build (v1 and v2) and boto3 (each installed version). Each client creates a
// locked bucket and sets its default retention, reads it back parsed, and then finds a GOVERNANCE version deletable
// only with the bypass, a COMPLIANCE retention that cannot be shortened, and a legal hold that blocks a delete until
// it is lifted; each refusal is the S3 error code the client reports, and the bytes are still there after it.
// A client is skipped, with a message, only when it is absent from this machine.

import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalNetwork, NetworkDescription } from "../../src/localnet/network.ts";
import { availableAwsClis, runAws, type AwsCli } from "../helpers/awscli.ts";
import { pythonsWithBoto3 } from "../helpers/installed-clients.ts";
import { startTestNetwork, stopTestNetwork } from "../helpers/test-support.ts";

const DAY = 86_400_000;
let network: LocalNetwork;
let d: NetworkDescription;
let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "icn-lock-clients-work-"));
  // Small bodies are kept inline in the bucket index: one storage node is enough.
  ({ network, d } = await startTestNetwork("icn-lock-clients-", { nodeCount: 1 }));
}, 180_000);

afterAll(async () => {
  await stopTestNetwork(network);
  if (work) await rm(work, { recursive: true, force: true });
}, 60_000);

/** A date `days` from now, in whole seconds (S3 keeps retention dates to the second). */
const inDays = (days: number) => new Date(Math.floor((Date.now() + days * DAY) / 1000) * 1000);
const contentMd5 = (body: string) => createHash("md5").update(body).digest("base64");
const slug = (label: string) => label.replace(/[^a-z0-9]/gi, "").toLowerCase();

const clis = availableAwsClis();
if (clis.length === 0) console.warn("no awscli is installed on this machine: its Object Lock tests are skipped");

describe.skipIf(clis.length === 0)("Object Lock with awscli", () => {
  for (const aws of clis) {
    it(`${aws.label}: default retention, GOVERNANCE and its bypass, COMPLIANCE, legal hold`, async () => {
      const bucket = `lock-cli-${slug(aws.label)}`.slice(0, 40);
      const s3api = (...args: string[]) => cliJson(aws, args);
      const refusal = (...args: string[]) => cliError(aws, args);
      const put = async (key: string, body: string, ...args: string[]) => {
        const file = join(work, `${bucket}-${key}`);
        await writeFile(file, body);
        return (await s3api("put-object", "--bucket", bucket, "--key", key, "--body", file, "--content-md5", contentMd5(body), ...args)) as { VersionId: string };
      };
      const bytes = async (key: string, versionId: string) => {
        const file = join(work, `${bucket}-${key}-${versionId}.out`);
        await s3api("get-object", "--bucket", bucket, "--key", key, "--version-id", versionId, file);
        return readFile(file, "utf8");
      };
      const retention = async (key: string, versionId: string) => {
        const got = (await s3api("get-object-retention", "--bucket", bucket, "--key", key, "--version-id", versionId)) as { Retention: { Mode: string; RetainUntilDate: string } };
        return { mode: got.Retention.Mode, until: Date.parse(got.Retention.RetainUntilDate) };
      };
      const versionsOf = async (key: string) =>
        (((await s3api("list-object-versions", "--bucket", bucket, "--prefix", key)) as { Versions?: { VersionId: string }[] }).Versions ?? []).map((v) => v.VersionId);

      await s3api("create-bucket", "--bucket", bucket, "--object-lock-enabled-for-bucket");
      await s3api(
        "put-object-lock-configuration",
        "--bucket",
        bucket,
        "--object-lock-configuration",
        JSON.stringify({ ObjectLockEnabled: "Enabled", Rule: { DefaultRetention: { Mode: "GOVERNANCE", Days: 1 } } }),
      );
      expect(await s3api("get-object-lock-configuration", "--bucket", bucket)).toEqual({
        ObjectLockConfiguration: { ObjectLockEnabled: "Enabled", Rule: { DefaultRetention: { Mode: "GOVERNANCE", Days: 1 } } },
      });

      // GOVERNANCE: the version's delete is refused without the bypass, and goes with it.
      const governed = await put("governed.txt", "governed bytes");
      const governedUntil = inDays(3);
      await s3api("put-object-retention", "--bucket", bucket, "--key", "governed.txt", "--version-id", governed.VersionId, "--retention", JSON.stringify({ Mode: "GOVERNANCE", RetainUntilDate: governedUntil.toISOString() }));
      expect(await retention("governed.txt", governed.VersionId)).toEqual({ mode: "GOVERNANCE", until: governedUntil.getTime() });
      expect(await refusal("delete-object", "--bucket", bucket, "--key", "governed.txt", "--version-id", governed.VersionId)).toBe("AccessDenied");
      expect(await bytes("governed.txt", governed.VersionId)).toBe("governed bytes");
      await s3api("delete-object", "--bucket", bucket, "--key", "governed.txt", "--version-id", governed.VersionId, "--bypass-governance-retention");
      expect(await versionsOf("governed.txt")).toEqual([]);

      // COMPLIANCE: nobody shortens it, not even with the bypass, and the version stays.
      const complianceUntil = inDays(5);
      const kept = await put("compliance.txt", "compliance bytes", "--object-lock-mode", "COMPLIANCE", "--object-lock-retain-until-date", complianceUntil.toISOString());
      const shorter = JSON.stringify({ Mode: "COMPLIANCE", RetainUntilDate: inDays(2).toISOString() });
      expect(await refusal("put-object-retention", "--bucket", bucket, "--key", "compliance.txt", "--version-id", kept.VersionId, "--retention", shorter, "--bypass-governance-retention")).toBe("AccessDenied");
      expect(await retention("compliance.txt", kept.VersionId)).toEqual({ mode: "COMPLIANCE", until: complianceUntil.getTime() });
      expect(await refusal("delete-object", "--bucket", bucket, "--key", "compliance.txt", "--version-id", kept.VersionId, "--bypass-governance-retention")).toBe("AccessDenied");
      expect(await bytes("compliance.txt", kept.VersionId)).toBe("compliance bytes");

      // Legal hold: ON blocks even the delete the bypass would allow (the default GOVERNANCE retention); OFF lets it go.
      const held = await put("held.txt", "held bytes");
      const holdOf = async () => ((await s3api("get-object-legal-hold", "--bucket", bucket, "--key", "held.txt", "--version-id", held.VersionId)) as { LegalHold: { Status: string } }).LegalHold.Status;
      await s3api("put-object-legal-hold", "--bucket", bucket, "--key", "held.txt", "--version-id", held.VersionId, "--legal-hold", "Status=ON");
      expect(await holdOf()).toBe("ON");
      expect(await refusal("delete-object", "--bucket", bucket, "--key", "held.txt", "--version-id", held.VersionId, "--bypass-governance-retention")).toBe("AccessDenied");
      expect(await bytes("held.txt", held.VersionId)).toBe("held bytes");
      await s3api("put-object-legal-hold", "--bucket", bucket, "--key", "held.txt", "--version-id", held.VersionId, "--legal-hold", "Status=OFF");
      expect(await holdOf()).toBe("OFF");
      await s3api("delete-object", "--bucket", bucket, "--key", "held.txt", "--version-id", held.VersionId, "--bypass-governance-retention");
      expect(await versionsOf("held.txt")).toEqual([]);
    }, 300_000);
  }
});

function cliEnv(): Record<string, string> {
  return { AWS_ACCESS_KEY_ID: d.accounts.default.accessKeyId, AWS_SECRET_ACCESS_KEY: d.accounts.default.secretAccessKey, AWS_DEFAULT_REGION: d.region, AWS_MAX_ATTEMPTS: "1" };
}

/** An s3api command's JSON answer ({} for commands that print nothing). */
async function cliJson(aws: AwsCli, args: string[]): Promise<unknown> {
  const out = (await runAws(aws, ["s3api", ...args], d.edgeUrl, cliEnv())).trim();
  return out === "" ? {} : JSON.parse(out);
}

/** The S3 error code awscli reports for a refused command ("An error occurred (Code) when calling ..."). */
async function cliError(aws: AwsCli, args: string[]): Promise<string> {
  try {
    await cliJson(aws, args);
  } catch (error) {
    const message = (error as Error).message;
    return /An error occurred \(([^)]+)\)/.exec(message)?.[1] ?? message;
  }
  return "no error";
}

const BOTO3_SCRIPT = String.raw`
import base64, boto3, botocore, datetime, hashlib, sys
from botocore.config import Config
endpoint, region, key, secret, bucket = sys.argv[1:6]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name=region, aws_access_key_id=key, aws_secret_access_key=secret,
                  config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))

def refusal(call):
    try:
        call()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    return "no error", 200

def in_days(n):
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    return now + datetime.timedelta(days=n)

def put(k, body, **extra):
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    return s3.put_object(Bucket=bucket, Key=k, Body=body, ContentMD5=md5, **extra)["VersionId"]

def data(k, v):
    return s3.get_object(Bucket=bucket, Key=k, VersionId=v)["Body"].read()

def versions(k):
    return [v["VersionId"] for v in s3.list_object_versions(Bucket=bucket, Prefix=k).get("Versions", [])]

s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
config = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
assert config == {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}}, config

# GOVERNANCE: refused without the bypass (403 AccessDenied, bytes kept), deleted with it.
governed = put("governed.txt", b"governed bytes")
until = in_days(3)
s3.put_object_retention(Bucket=bucket, Key="governed.txt", VersionId=governed, Retention={"Mode": "GOVERNANCE", "RetainUntilDate": until})
got = s3.get_object_retention(Bucket=bucket, Key="governed.txt", VersionId=governed)["Retention"]
assert got["Mode"] == "GOVERNANCE" and got["RetainUntilDate"] == until, got
assert refusal(lambda: s3.delete_object(Bucket=bucket, Key="governed.txt", VersionId=governed)) == ("AccessDenied", 403)
assert data("governed.txt", governed) == b"governed bytes"
s3.delete_object(Bucket=bucket, Key="governed.txt", VersionId=governed, BypassGovernanceRetention=True)
assert versions("governed.txt") == [], versions("governed.txt")

# COMPLIANCE: nobody shortens it, not even with the bypass.
until = in_days(5)
kept = put("compliance.txt", b"compliance bytes", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until)
shorter = {"Mode": "COMPLIANCE", "RetainUntilDate": in_days(2)}
assert refusal(lambda: s3.put_object_retention(Bucket=bucket, Key="compliance.txt", VersionId=kept, Retention=shorter, BypassGovernanceRetention=True)) == ("AccessDenied", 403)
got = s3.get_object_retention(Bucket=bucket, Key="compliance.txt", VersionId=kept)["Retention"]
assert got["Mode"] == "COMPLIANCE" and got["RetainUntilDate"] == until, got
assert refusal(lambda: s3.delete_object(Bucket=bucket, Key="compliance.txt", VersionId=kept, BypassGovernanceRetention=True)) == ("AccessDenied", 403)
assert data("compliance.txt", kept) == b"compliance bytes"

# Legal hold: ON blocks the delete the bypass would otherwise allow; OFF lets it go.
held = put("held.txt", b"held bytes")
s3.put_object_legal_hold(Bucket=bucket, Key="held.txt", VersionId=held, LegalHold={"Status": "ON"})
assert s3.get_object_legal_hold(Bucket=bucket, Key="held.txt", VersionId=held)["LegalHold"] == {"Status": "ON"}
assert refusal(lambda: s3.delete_object(Bucket=bucket, Key="held.txt", VersionId=held, BypassGovernanceRetention=True)) == ("AccessDenied", 403)
assert data("held.txt", held) == b"held bytes"
s3.put_object_legal_hold(Bucket=bucket, Key="held.txt", VersionId=held, LegalHold={"Status": "OFF"})
assert s3.get_object_legal_hold(Bucket=bucket, Key="held.txt", VersionId=held)["LegalHold"] == {"Status": "OFF"}
s3.delete_object(Bucket=bucket, Key="held.txt", VersionId=held, BypassGovernanceRetention=True)
assert versions("held.txt") == [], versions("held.txt")
print("boto3 object lock ok", boto3.__version__)
`;

const pythons = pythonsWithBoto3();
if (pythons.length === 0) console.warn("boto3 is not installed on this machine: its Object Lock tests are skipped");

describe.skipIf(pythons.length === 0)("Object Lock with boto3", () => {
  for (const python of pythons) {
    it(`${python}: default retention, GOVERNANCE and its bypass, COMPLIANCE, legal hold`, async () => {
      const bucket = `lock-boto3-${python.startsWith("/usr/bin/") ? "debian" : "image"}`;
      const { accessKeyId, secretAccessKey } = d.accounts.default;
      const out = await new Promise<string>((resolve, reject) =>
        execFile(python, ["-c", BOTO3_SCRIPT, d.edgeUrl, d.region, accessKeyId, secretAccessKey, bucket], { timeout: 180_000 }, (error, stdout, stderr) =>
          error ? reject(new Error(`${python}: ${error.message}\n${stdout}\n${stderr}`)) : resolve(stdout),
        ),
      );
      expect(out).toContain("boto3 object lock ok");
    }, 240_000);
  }
});
