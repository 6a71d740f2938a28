// ACLs, Object Ownership and Block Public Access against the real local network, with real clients: the AWS SDK
// for the owner and a second account, plain HTTP for anonymous callers, and every installed awscli build, which
// must parse the ACLs the edge answers (botocore's strict XML parser) and set them with its own flags.

import {
  CreateBucketCommand,
  GetBucketAclCommand,
  GetBucketOwnershipControlsCommand,
  GetObjectAclCommand,
  GetObjectCommand,
  GetPublicAccessBlockCommand,
  ListObjectsV2Command,
  PutBucketAclCommand,
  PutBucketOwnershipControlsCommand,
  PutObjectAclCommand,
  PutObjectCommand,
  PutPublicAccessBlockCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalNetwork, NetworkDescription } from "../../src/localnet/network.ts";
import { availableAwsClis, runAws } from "../helpers/awscli.ts";
import { edgeS3Client, errorOf, startTestNetwork, stopTestNetwork } from "../helpers/test-support.ts";

let network: LocalNetwork;
let d: NetworkDescription;
let owner: S3Client;
let other: S3Client;
const bucket = "acl-shared";
const ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers";

beforeAll(async () => {
  ({ network, d } = await startTestNetwork("icn-acl-", { nodeCount: 3 }));
  owner = edgeS3Client(d);
  other = edgeS3Client(d, { keys: d.accounts.second });
  await owner.send(new CreateBucketCommand({ Bucket: bucket }));
  await owner.send(new PutObjectCommand({ Bucket: bucket, Key: "granted.txt", Body: "granted" }));
  await owner.send(new PutObjectCommand({ Bucket: bucket, Key: "closed.txt", Body: "closed" }));
}, 180_000);

afterAll(() => stopTestNetwork(network), 60_000);

const anonymousGet = (key: string) => fetch(`${d.edgeUrl}/${bucket}/${key}`);
const canonical = (account: { id: string }) => ({ Type: "CanonicalUser", ID: account.id, DisplayName: account.id });

describe("ACLs with the AWS SDK", () => {
  it("grant another account exactly what they name, and round-trip as the SDK reads them", async () => {
    expect((await errorOf(other.send(new GetObjectCommand({ Bucket: bucket, Key: "granted.txt" })))).name).toBe("AccessDenied");
    await owner.send(new PutObjectAclCommand({ Bucket: bucket, Key: "granted.txt", GrantRead: `id="${d.accounts.second.id}"`, GrantFullControl: `id="${d.accounts.default.id}"` }));
    const got = await other.send(new GetObjectCommand({ Bucket: bucket, Key: "granted.txt" }));
    expect(await got.Body!.transformToString()).toBe("granted");
    expect((await errorOf(other.send(new GetObjectCommand({ Bucket: bucket, Key: "closed.txt" })))).name).toBe("AccessDenied");
    expect((await errorOf(other.send(new ListObjectsV2Command({ Bucket: bucket })))).name).toBe("AccessDenied");
    expect((await errorOf(other.send(new PutObjectCommand({ Bucket: bucket, Key: "intruder.txt", Body: "x" })))).name).toBe("AccessDenied");
    expect((await anonymousGet("granted.txt")).status).toBe(403);
    const acl = await owner.send(new GetObjectAclCommand({ Bucket: bucket, Key: "granted.txt" }));
    expect(acl.Owner).toEqual({ ID: d.accounts.default.id, DisplayName: d.accounts.default.id });
    expect(acl.Grants).toEqual([
      { Grantee: canonical(d.accounts.second), Permission: "READ" },
      { Grantee: canonical(d.accounts.default), Permission: "FULL_CONTROL" },
    ]);
  });

  it("take an AccessControlPolicy body, as the SDK sends it", async () => {
    await owner.send(
      new PutBucketAclCommand({
        Bucket: bucket,
        AccessControlPolicy: {
          Owner: { ID: d.accounts.default.id },
          Grants: [
            { Grantee: { Type: "CanonicalUser", ID: d.accounts.default.id }, Permission: "FULL_CONTROL" },
            { Grantee: { Type: "CanonicalUser", ID: d.accounts.second.id }, Permission: "READ" },
          ],
        },
      }),
    );
    const listed = await other.send(new ListObjectsV2Command({ Bucket: bucket }));
    expect(listed.Contents?.map((o) => o.Key)).toContain("granted.txt");
    expect((await owner.send(new GetBucketAclCommand({ Bucket: bucket }))).Grants).toEqual([
      { Grantee: canonical(d.accounts.default), Permission: "FULL_CONTROL" },
      { Grantee: canonical(d.accounts.second), Permission: "READ" },
    ]);
    await owner.send(new PutBucketAclCommand({ Bucket: bucket, ACL: "private" }));
    expect((await errorOf(other.send(new ListObjectsV2Command({ Bucket: bucket })))).name).toBe("AccessDenied");
  });
});

describe("Block Public Access and Object Ownership with the AWS SDK", () => {
  it("BlockPublicAcls refuses a public ACL, IgnorePublicAcls closes one already set", async () => {
    const b = "acl-pab";
    await owner.send(new CreateBucketCommand({ Bucket: b }));
    await owner.send(new PutObjectCommand({ Bucket: b, Key: "open.txt", Body: "open", ACL: "public-read" }));
    expect((await fetch(`${d.edgeUrl}/${b}/open.txt`)).status).toBe(200);
    await owner.send(new PutPublicAccessBlockCommand({ Bucket: b, PublicAccessBlockConfiguration: { BlockPublicAcls: true, IgnorePublicAcls: true } }));
    expect((await owner.send(new GetPublicAccessBlockCommand({ Bucket: b }))).PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      IgnorePublicAcls: true,
      BlockPublicPolicy: false,
      RestrictPublicBuckets: false,
    });
    expect((await fetch(`${d.edgeUrl}/${b}/open.txt`)).status).toBe(403);
    expect((await errorOf(owner.send(new PutObjectCommand({ Bucket: b, Key: "more.txt", Body: "m", ACL: "public-read" })))).name).toBe("AccessDenied");
  });

  it("BucketOwnerEnforced refuses ACLs with AccessControlListNotSupported", async () => {
    const b = "acl-enforced";
    await owner.send(new CreateBucketCommand({ Bucket: b, ObjectOwnership: "BucketOwnerEnforced" }));
    expect((await owner.send(new GetBucketOwnershipControlsCommand({ Bucket: b }))).OwnershipControls?.Rules).toEqual([{ ObjectOwnership: "BucketOwnerEnforced" }]);
    expect((await errorOf(owner.send(new PutBucketAclCommand({ Bucket: b, ACL: "public-read" })))).name).toBe("AccessControlListNotSupported");
    await owner.send(new PutBucketOwnershipControlsCommand({ Bucket: b, OwnershipControls: { Rules: [{ ObjectOwnership: "ObjectWriter" }] } }));
    await owner.send(new PutBucketAclCommand({ Bucket: b, ACL: "public-read" }));
    expect((await fetch(`${d.edgeUrl}/${b}?list-type=2`)).status).toBe(200);
  });
});

describe("ACLs with awscli", () => {
  for (const aws of availableAwsClis()) {
    it(`sets grants with put-bucket-acl and parses get-bucket-acl with ${aws.label}`, async () => {
      const b = `acl-cli-${aws.label.replace(/[^a-z0-9]/gi, "").toLowerCase()}`.slice(0, 40);
      const env = { AWS_ACCESS_KEY_ID: d.accounts.default.accessKeyId, AWS_SECRET_ACCESS_KEY: d.accounts.default.secretAccessKey, AWS_DEFAULT_REGION: d.region, AWS_MAX_ATTEMPTS: "1" };
      await runAws(aws, ["s3api", "create-bucket", "--bucket", b], d.edgeUrl, env);
      await runAws(aws, ["s3api", "put-bucket-acl", "--bucket", b, "--grant-read", `uri="${ALL_USERS}"`, "--grant-full-control", `id="${d.accounts.default.id}"`], d.edgeUrl, env);
      const acl = JSON.parse(await runAws(aws, ["s3api", "get-bucket-acl", "--bucket", b], d.edgeUrl, env)) as { Owner: unknown; Grants: unknown[] };
      expect(acl.Owner).toEqual({ ID: d.accounts.default.id, DisplayName: d.accounts.default.id });
      expect(acl.Grants).toEqual([
        { Grantee: { Type: "Group", URI: ALL_USERS }, Permission: "READ" },
        { Grantee: canonical(d.accounts.default), Permission: "FULL_CONTROL" },
      ]);
      expect((await fetch(`${d.edgeUrl}/${b}?list-type=2`)).status).toBe(200);
      await runAws(aws, ["s3api", "put-public-access-block", "--bucket", b, "--public-access-block-configuration", "IgnorePublicAcls=true"], d.edgeUrl, env);
      expect((await fetch(`${d.edgeUrl}/${b}?list-type=2`)).status).toBe(403);
    }, 180_000);
  }
});
