import { env, SELF } from "cloudflare:test";
import { AwsClient } from "aws4fetch";
import { beforeAll, describe, expect, it } from "vitest";
import type { Env } from "../../src/env.ts";
import { createAccountWithKey, EDGE, s3, xmlField, type TestAccount } from "./helpers.ts";

let alice: TestAccount;
let bob: TestAccount;

beforeAll(async () => {
  alice = await createAccountWithKey("alice");
  bob = await createAccountWithKey("bob");
});

describe("S3 buckets", () => {
  it("creates, lists, heads and deletes a bucket", async () => {
    expect((await s3(alice, "PUT", "/alpha-bucket")).status).toBe(200);
    const list = await (await s3(alice, "GET", "/")).text();
    expect(list).toContain("<Name>alpha-bucket</Name>");
    const head = await s3(alice, "HEAD", "/alpha-bucket");
    expect(head.status).toBe(200);
    expect(head.headers.get("x-amz-bucket-region")).toBe("us-east-1");
    expect((await s3(alice, "DELETE", "/alpha-bucket")).status).toBe(204);
    expect((await s3(alice, "HEAD", "/alpha-bucket")).status).toBe(404);
  });

  it("answers every response with a request id", async () => {
    const res = await s3(alice, "GET", "/");
    expect(res.headers.get("x-amz-request-id")).toMatch(/^[0-9A-F]{16}$/);
    expect(res.headers.get("x-amz-id-2")).toBeTruthy();
  });

  it("refuses invalid bucket names with InvalidBucketName", async () => {
    for (const name of ["ab", "Upper-Case", "has_underscore", "-dash-first", "a..b", "192.168.1.1", "x".repeat(64)]) {
      const res = await s3(alice, "PUT", `/${name}`);
      expect(res.status, name).toBe(400);
      expect(xmlField(await res.text(), "Code"), name).toBe("InvalidBucketName");
    }
  });

  it("keeps bucket names global, and answers the owner's re-creation as S3 does in us-east-1 (200) and elsewhere (BucketAlreadyOwnedByYou)", async () => {
    expect((await s3(alice, "PUT", "/shared-name")).status).toBe(200);
    // us-east-1: 200 OK, and the bucket's ACL is reset to the one the request gives (private by default).
    expect((await s3(alice, "PUT", "/shared-name", { headers: { "x-amz-acl": "public-read" } })).status).toBe(200);
    expect(await (await s3(alice, "GET", "/shared-name?acl")).text()).toContain("http://acs.amazonaws.com/groups/global/AllUsers");
    expect((await s3(alice, "PUT", "/shared-name")).status).toBe(200);
    expect(await (await s3(alice, "GET", "/shared-name?acl")).text()).not.toContain("AllUsers");
    // Any other region: 409 BucketAlreadyOwnedByYou. (This edge serves one region; the row is moved by hand, before
    // anything has read, and so cached, the bucket.)
    expect((await s3(alice, "PUT", "/owned-elsewhere")).status).toBe(200);
    await (env as unknown as Env).DB.prepare("UPDATE buckets SET region = 'eu-west-1' WHERE name = 'owned-elsewhere'").run();
    const owned = await s3(alice, "PUT", "/owned-elsewhere");
    expect(owned.status).toBe(409);
    expect(xmlField(await owned.text(), "Code")).toBe("BucketAlreadyOwnedByYou");
    const taken = await s3(bob, "PUT", "/shared-name");
    expect(taken.status).toBe(409);
    expect(xmlField(await taken.text(), "Code")).toBe("BucketAlreadyExists");
  });

  it("never lets a second account see or touch the first one's bucket", async () => {
    await s3(alice, "PUT", "/alice-private");
    expect(await (await s3(bob, "GET", "/")).text()).not.toContain("alice-private");
    for (const [method, path] of [
      ["HEAD", "/alice-private"],
      ["GET", "/alice-private?list-type=2"],
      ["GET", "/alice-private/some-key"],
      ["PUT", "/alice-private/some-key"],
      ["DELETE", "/alice-private/some-key"],
      ["DELETE", "/alice-private"],
    ] as const) {
      const res = await s3(bob, method, path, method === "PUT" ? { body: "x" } : {});
      expect(res.status, `${method} ${path}`).toBe(403);
    }
    expect((await s3(alice, "HEAD", "/alice-private")).status).toBe(200);
  });

  it("answers a missing bucket with NoSuchBucket in S3 XML", async () => {
    const res = await s3(alice, "GET", "/no-such-bucket-here?list-type=2");
    expect(res.status).toBe(404);
    const body = await res.text();
    expect(xmlField(body, "Code")).toBe("NoSuchBucket");
    expect(xmlField(body, "Resource")).toBe("/no-such-bucket-here");
    expect(xmlField(body, "RequestId")).toBe(res.headers.get("x-amz-request-id"));
  });

  it("serves virtual-hosted-style requests", async () => {
    await s3(alice, "PUT", "/vhost-bucket");
    const signed = await alice.s3.sign("http://vhost-bucket.localhost/?list-type=2", { method: "GET" });
    const res = await SELF.fetch(signed);
    expect(res.status).toBe(200);
    expect(xmlField(await res.text(), "Name")).toBe("vhost-bucket");
  });

  it("reports GetBucketLocation as S3 does for us-east-1", async () => {
    await s3(alice, "PUT", "/located-bucket");
    const res = await s3(alice, "GET", "/located-bucket?location");
    expect(await res.text()).toMatch(/<LocationConstraint xmlns="[^"]+"><\/LocationConstraint>/);
  });
});

describe("S3 authentication", () => {
  it("refuses anonymous requests with AccessDenied", async () => {
    const res = await SELF.fetch(`${EDGE}/`);
    expect(res.status).toBe(403);
    expect(xmlField(await res.text(), "Code")).toBe("AccessDenied");
  });

  it("refuses a forged signature with SignatureDoesNotMatch", async () => {
    const forger = new AwsClient({ accessKeyId: alice.accessKeyId, secretAccessKey: "not-the-secret-not-the-secret-not-the-se", service: "s3", region: "us-east-1" });
    const res = await SELF.fetch(await forger.sign(`${EDGE}/`, { method: "GET" }));
    expect(res.status).toBe(403);
    const body = await res.text();
    expect(xmlField(body, "Code")).toBe("SignatureDoesNotMatch");
    expect(body).toContain("<CanonicalRequest>");
  });

  it("refuses an unknown access key with InvalidAccessKeyId", async () => {
    const stranger = new AwsClient({ accessKeyId: "ICNUNKNOWNKEY0000000", secretAccessKey: "x".repeat(40), service: "s3", region: "us-east-1" });
    const res = await SELF.fetch(await stranger.sign(`${EDGE}/`, { method: "GET" }));
    expect(xmlField(await res.text(), "Code")).toBe("InvalidAccessKeyId");
  });

  it("refuses an expired presigned URL and accepts a fresh one", async () => {
    await s3(alice, "PUT", "/presign-bucket");
    const old = new Date(Date.now() - 3600_000).toISOString().replace(/[:-]|\.\d{3}/g, "");
    const expired = await alice.s3.sign(`${EDGE}/presign-bucket?list-type=2&X-Amz-Expires=60`, { method: "GET", aws: { signQuery: true, datetime: old } });
    const res = await SELF.fetch(expired.url);
    expect(res.status).toBe(403);
    expect(xmlField(await res.text(), "Code")).toBe("AccessDenied");
    const fresh = await alice.s3.sign(`${EDGE}/presign-bucket?list-type=2&X-Amz-Expires=60`, { method: "GET", aws: { signQuery: true } });
    expect((await SELF.fetch(fresh.url)).status).toBe(200);
  });

  it("refuses a request signed for another region", async () => {
    const other = new AwsClient({ accessKeyId: alice.accessKeyId, secretAccessKey: alice.secretAccessKey, service: "s3", region: "eu-west-1" });
    const res = await SELF.fetch(await other.sign(`${EDGE}/`, { method: "GET" }));
    expect(res.status).toBe(400);
    expect(xmlField(await res.text(), "Code")).toBe("AuthorizationHeaderMalformed");
  });

  it("accepts region auto", async () => {
    const auto = new AwsClient({ accessKeyId: alice.accessKeyId, secretAccessKey: alice.secretAccessKey, service: "s3", region: "auto" });
    expect((await SELF.fetch(await auto.sign(`${EDGE}/`, { method: "GET" }))).status).toBe(200);
  });
});
