// End to end: S3 Object Lock through @aws-sdk/client-s3 against the real local network. A locked version survives
// every delete a client can try, and a lifecycle run, a repair and an orphan sweep three days later, bytes
// intact on the nodes; a GOVERNANCE version goes with the bypass, as S3 lets it.

import {
  CreateBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  GetObjectLegalHoldCommand,
  GetObjectLockConfigurationCommand,
  GetObjectRetentionCommand,
  HeadObjectCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  PutObjectLegalHoldCommand,
  PutObjectLockConfigurationCommand,
  PutObjectRetentionCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalNetwork, NetworkDescription } from "../../src/localnet/network.ts";
import { edgeS3Client, errorOf, startTestNetwork, stopTestNetwork } from "../helpers/test-support.ts";

const DAY = 86_400_000;
const bucket = "locked-records";
let network: LocalNetwork;
let d: NetworkDescription;
let offsetMs = 0;
/**
 * A client whose clock runs with the edge's test clock. A fresh one per request: the SDK corrects its clock from a
 * response's Date header, which the edge stamps with real time.
 */
const s3 = { send: ((command: never) => edgeS3Client(d, { systemClockOffset: offsetMs }).send(command)) as S3Client["send"] };

beforeAll(async () => {
  ({ network, d } = await startTestNetwork("icn-object-lock-", { nodeCount: 3 }));
}, 180_000);

afterAll(() => stopTestNetwork(network), 60_000);

/** Moves the edge's clock forward, and the client's with it (the edge refuses signatures from the past). */
async function advanceClock(seconds: number): Promise<void> {
  const { offsetSeconds } = await network.admin<{ offsetSeconds: number }>("POST", "/clock", { advanceSeconds: seconds });
  offsetMs = offsetSeconds * 1000;
}

async function bytesOf(key: string, versionId: string): Promise<Buffer> {
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }));
  return Buffer.from(await got.Body!.transformToByteArray());
}

describe("Object Lock with the AWS SDK", () => {
  it("a COMPLIANCE version survives deletes and a lifecycle run; a GOVERNANCE one goes only with the bypass", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: true }));
    await s3.send(
      new PutObjectLockConfigurationCommand({
        Bucket: bucket,
        ObjectLockConfiguration: { ObjectLockEnabled: "Enabled", Rule: { DefaultRetention: { Mode: "GOVERNANCE", Days: 1 } } },
      }),
    );
    const config = await s3.send(new GetObjectLockConfigurationCommand({ Bucket: bucket }));
    expect(config.ObjectLockConfiguration).toEqual({ ObjectLockEnabled: "Enabled", Rule: { DefaultRetention: { Mode: "GOVERNANCE", Days: 1 } } });
    expect(await errorOf(s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: "Suspended" } })))).toEqual({
      name: "InvalidBucketState",
      status: 409,
    });

    // Big enough to live on the nodes, not inline in the index.
    const record = randomBytes(300 * 1024);
    const until = new Date(Date.now() + 4 * DAY);
    const kept = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "ledger.bin", Body: record, ObjectLockMode: "COMPLIANCE", ObjectLockRetainUntilDate: until }));
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "ledger.bin", VersionId: kept.VersionId }));
    expect(head.ObjectLockMode).toBe("COMPLIANCE");
    expect(head.ObjectLockRetainUntilDate?.getTime()).toBe(Math.floor(until.getTime()));
    const retention = await s3.send(new GetObjectRetentionCommand({ Bucket: bucket, Key: "ledger.bin", VersionId: kept.VersionId }));
    expect(retention.Retention?.Mode).toBe("COMPLIANCE");

    // Every delete a client can try: the version itself (with and without the bypass), in a batch, or a shorter date.
    for (const bypass of [false, true]) {
      expect(await errorOf(s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: "ledger.bin", VersionId: kept.VersionId, BypassGovernanceRetention: bypass })))).toEqual({
        name: "AccessDenied",
        status: 403,
      });
    }
    const batch = await s3.send(new DeleteObjectsCommand({ Bucket: bucket, BypassGovernanceRetention: true, Delete: { Objects: [{ Key: "ledger.bin", VersionId: kept.VersionId }] } }));
    expect(batch.Errors?.map((e) => e.Code)).toEqual(["AccessDenied"]);
    expect(
      await errorOf(
        s3.send(
          new PutObjectRetentionCommand({ Bucket: bucket, Key: "ledger.bin", VersionId: kept.VersionId, BypassGovernanceRetention: true, Retention: { Mode: "COMPLIANCE", RetainUntilDate: new Date(Date.now() + DAY) } }),
        ),
      ),
    ).toEqual({ name: "AccessDenied", status: 403 });
    // A delete without a version id adds a delete marker, as in any versioned bucket.
    const marker = await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: "ledger.bin" }));
    expect(marker.DeleteMarker).toBe(true);

    // GOVERNANCE from the bucket's default: refused without the bypass, deleted with it.
    const governed = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "draft.txt", Body: "draft" }));
    expect((await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "draft.txt" }))).ObjectLockMode).toBe("GOVERNANCE");
    expect(await errorOf(s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: "draft.txt", VersionId: governed.VersionId })))).toEqual({ name: "AccessDenied", status: 403 });
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: "draft.txt", VersionId: governed.VersionId, BypassGovernanceRetention: true }));
    expect((await errorOf(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "draft.txt", VersionId: governed.VersionId })))).status).toBe(404);

    // A legal hold keeps a version with no retention left.
    const held = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "evidence.bin", Body: record, ObjectLockLegalHoldStatus: "ON" }));
    expect((await s3.send(new GetObjectLegalHoldCommand({ Bucket: bucket, Key: "evidence.bin", VersionId: held.VersionId }))).LegalHold?.Status).toBe("ON");

    await s3.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket: bucket,
        LifecycleConfiguration: {
          Rules: [{ ID: "everything", Status: "Enabled", Filter: { Prefix: "" }, Expiration: { Days: 1 }, NoncurrentVersionExpiration: { NoncurrentDays: 1 } }],
        },
      }),
    );
    // Three days on, the ledger has been noncurrent past the rule's day (S3 counts to the next midnight UTC, so at
    // most two), but its COMPLIANCE retention runs four; the evidence's default retention is over, its legal hold is
    // not. Lifecycle, repair and the orphan sweep (whose grace has passed) run: both keep their bytes on the nodes.
    await advanceClock(72 * 3600);
    for (const chore of ["bucket-lifecycle", "repair", "orphan-sweep", "bucket-lifecycle"]) await network.admin("POST", `/chores/${chore}/run`);
    expect((await bytesOf("ledger.bin", kept.VersionId!)).equals(record)).toBe(true);
    expect((await bytesOf("evidence.bin", held.VersionId!)).equals(record)).toBe(true);

    // Once the hold is lifted and the retention has ended, lifecycle expires both, as it would any version.
    await s3.send(new PutObjectLegalHoldCommand({ Bucket: bucket, Key: "evidence.bin", VersionId: held.VersionId, LegalHold: { Status: "OFF" } }));
    await advanceClock(72 * 3600);
    await network.admin("POST", "/chores/bucket-lifecycle/run");
    for (const [key, version] of [["ledger.bin", kept.VersionId], ["evidence.bin", held.VersionId]]) {
      expect((await errorOf(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, VersionId: version })))).status).toBe(404);
    }
  }, 240_000);
});
