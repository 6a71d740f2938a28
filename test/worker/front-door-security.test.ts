// The S3 front door against requests crafted to slip past it: unsigned x-amz-* headers, response overrides on
// anonymous reads, virtual-hosted names that point at someone else's bucket, broken percent-encoding, form
// uploads that cannot be answered, and a query whose '+' and '%2B' would share one signature (issue 13).
import { SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { hex, hmacSha256 } from "../../src/protocol/crypto.ts";
import { deriveSigningKey, toAmzDate } from "../../src/protocol/sigv4.ts";
import { createAccountWithKey, EDGE, s3, xmlField, type TestAccount } from "./helpers.ts";

let alice: TestAccount;
let mallory: TestAccount;

beforeAll(async () => {
  alice = await createAccountWithKey("front-door-alice");
  mallory = await createAccountWithKey("front-door-mallory");
  expect((await s3(alice, "PUT", "/fd-alice")).status).toBe(200);
});

/** The same request with `extra` headers added after signing: what a holder of the URL or a proxy can do. */
function withHeaders(request: Request, extra: Record<string, string>): Request {
  const headers = new Headers(request.headers);
  for (const [name, value] of Object.entries(extra)) headers.set(name, value);
  return new Request(request.url, { method: request.method, headers, body: request.body });
}

async function presigned(account: TestAccount, method: string, path: string, headers: Record<string, string> = {}): Promise<string> {
  return (await account.s3.sign(`${EDGE}${path}`, { method, headers, aws: { signQuery: true } })).url;
}

async function errorCode(res: Response): Promise<string | undefined> {
  return xmlField(await res.text(), "Code");
}

describe("unsigned x-amz-* headers", () => {
  it("refuses a presigned PUT to which an unsigned x-amz-copy-source was added, naming the header", async () => {
    const url = await presigned(alice, "PUT", "/fd-alice/uploaded-by-link");
    const res = await SELF.fetch(url, { method: "PUT", headers: { "x-amz-copy-source": "/fd-alice/secret" }, body: "" });
    expect(res.status).toBe(403);
    const body = await res.text();
    expect(xmlField(body, "Code")).toBe("AccessDenied");
    expect(xmlField(body, "Message")).toBe("There were headers present in the request which were not signed");
    expect(xmlField(body, "HeadersNotSigned")).toBe("x-amz-copy-source");
  });

  it("refuses a presigned UploadPart turned into UploadPartCopy by an unsigned header", async () => {
    const url = await presigned(alice, "PUT", "/fd-alice/big?partNumber=1&uploadId=some-upload");
    const res = await SELF.fetch(url, { method: "PUT", headers: { "x-amz-copy-source": "fd-alice/secret", "x-amz-copy-source-range": "bytes=0-9" }, body: "" });
    expect(res.status).toBe(403);
    expect(await errorCode(res)).toBe("AccessDenied");
  });

  it("refuses a header-signed request carrying an x-amz-* header outside SignedHeaders", async () => {
    const signed = await alice.s3.sign(`${EDGE}/fd-alice?list-type=2`, { method: "GET" });
    const res = await SELF.fetch(withHeaders(signed, { "x-amz-copy-source": "fd-alice/secret" }));
    expect(res.status).toBe(403);
    expect(await errorCode(res)).toBe("AccessDenied");
    // The same request as signed is answered.
    expect((await SELF.fetch(await alice.s3.sign(`${EDGE}/fd-alice?list-type=2`, { method: "GET" }))).status).toBe(200);
  });

  it("accepts x-amz-* headers that the presigned URL's X-Amz-SignedHeaders covers", async () => {
    const url = await presigned(alice, "GET", "/fd-alice?list-type=2", { "x-amz-request-payer": "requester" });
    expect(new URL(url).searchParams.get("X-Amz-SignedHeaders")).toContain("x-amz-request-payer");
    expect((await SELF.fetch(url, { headers: { "x-amz-request-payer": "requester" } })).status).toBe(200);
  });

  it("still lets anonymous callers read a public-read bucket with x-amz-* headers of their own", async () => {
    expect((await s3(alice, "PUT", "/fd-public", { headers: { "x-amz-acl": "public-read" } })).status).toBe(200);
    const res = await SELF.fetch(`${EDGE}/fd-public?list-type=2`, { headers: { "x-amz-checksum-mode": "ENABLED" } });
    expect(res.status).toBe(200);
  });

  it("refuses x-amz-* request headers on a browser form upload, whose policy covers only its fields", async () => {
    const fields = await postPolicyFields(alice, "fd-alice", "form/sse-c.txt");
    const res = await formPost("/fd-alice", fields, {
      "x-amz-server-side-encryption-customer-algorithm": "AES256",
      "x-amz-server-side-encryption-customer-key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
      "x-amz-server-side-encryption-customer-key-md5": "cLfBQWsmfgjYsmcTzlOdQQ==",
    });
    expect(res.status).toBe(403);
    expect(await errorCode(res)).toBe("AccessDenied");
  });
});

describe("response-* overrides", () => {
  it("refuses them on anonymous reads of a public-read bucket with 400 InvalidRequest", async () => {
    expect((await s3(alice, "PUT", "/fd-public-2", { headers: { "x-amz-acl": "public-read" } })).status).toBe(200);
    for (const method of ["GET", "HEAD"]) {
      const res = await SELF.fetch(`${EDGE}/fd-public-2/page.txt?response-content-type=text%2Fhtml`, { method });
      expect(res.status, method).toBe(400);
      if (method === "GET") expect(await errorCode(res)).toBe("InvalidRequest");
    }
  });

  it("refuses control characters in a signed request's override with 400 InvalidArgument", async () => {
    for (const value of ["text/plain%0D%0AX-Injected:%201", "a%00b", "x%0Ay"]) {
      const res = await s3(alice, "GET", `/fd-alice/any-key?response-content-disposition=${value}`);
      expect(res.status, value).toBe(400);
      expect(await errorCode(res), value).toBe("InvalidArgument");
    }
  });
});

describe("virtual-hosted-style names", () => {
  it("reads b.s3.localhost as bucket b (the longest base domain), not as someone's bucket b.s3", async () => {
    expect((await s3(alice, "PUT", "/fd-vhost")).status).toBe(200);
    expect((await s3(mallory, "PUT", "/fd-vhost.s3")).status).toBe(200);
    const res = await SELF.fetch(await alice.s3.sign("http://fd-vhost.s3.localhost/?list-type=2", { method: "GET" }));
    expect(res.status).toBe(200);
    expect(xmlField(await res.text(), "Name")).toBe("fd-vhost");
  });

  it("treats a host that is a base domain itself as path-style", async () => {
    const res = await SELF.fetch(await alice.s3.sign("http://s3.localhost/fd-alice?list-type=2", { method: "GET" }));
    expect(res.status).toBe(200);
    expect(xmlField(await res.text(), "Name")).toBe("fd-alice");
  });
});

describe("x-amz-expected-bucket-owner", () => {
  it("answers 403 AccessDenied when the bucket's owner is not the account the caller expects", async () => {
    const owner = xmlField(await (await s3(alice, "GET", "/")).text(), "ID")!;
    expect(owner).toBe(alice.id);
    expect((await s3(alice, "GET", "/fd-alice?list-type=2", { headers: { "x-amz-expected-bucket-owner": owner } })).status).toBe(200);
    const wrong = await s3(alice, "GET", "/fd-alice?list-type=2", { headers: { "x-amz-expected-bucket-owner": mallory.id } });
    expect(wrong.status).toBe(403);
    expect(await errorCode(wrong)).toBe("AccessDenied");
    const wrongPut = await s3(alice, "PUT", "/fd-alice/expected-owner.txt", { body: "x", headers: { "x-amz-expected-bucket-owner": mallory.id } });
    expect(wrongPut.status).toBe(403);
  });

  it("checks x-amz-source-expected-bucket-owner against a copy's source bucket", async () => {
    const res = await s3(alice, "PUT", "/fd-alice/copy-dst", {
      headers: { "x-amz-copy-source": "fd-alice/copy-src", "x-amz-source-expected-bucket-owner": mallory.id, "x-amz-expected-bucket-owner": alice.id },
    });
    expect(res.status).toBe(403);
    expect(await errorCode(res)).toBe("AccessDenied");
  });
});

describe("invalid percent-encoding", () => {
  it("answers 400 InvalidURI in XML, before authentication, for a path or query that does not decode", async () => {
    for (const path of ["/%ZZ", "/fd-alice/%C3%28", "/fd-alice/ok?prefix=%C3%28", "/fd-alice?list-type=2&prefix=%E0%A4%A"]) {
      const res = await SELF.fetch(`${EDGE}${path}`);
      expect(res.status, path).toBe(400);
      expect(res.headers.get("content-type"), path).toBe("application/xml");
      expect(await errorCode(res), path).toBe("InvalidURI");
    }
  });
});

describe("query signing", () => {
  it("does not let one signature cover both '+' (a space) and '%2B' (a plus) in a query value", async () => {
    const signed = await alice.s3.sign(`${EDGE}/fd-alice?list-type=2&prefix=a%2Bb`, { method: "GET" });
    expect(signed.url).toContain("prefix=a%2Bb");
    const ok = await SELF.fetch(signed);
    expect(ok.status).toBe(200);
    expect(xmlField(await ok.text(), "Prefix")).toBe("a+b");
    const swapped = await SELF.fetch(new Request(signed.url.replace("a%2Bb", "a+b"), { headers: signed.headers }));
    expect(swapped.status).toBe(403);
    expect(await errorCode(swapped)).toBe("SignatureDoesNotMatch");
  });

  it("signs a '+' as the space routing reads it", async () => {
    const signed = await alice.s3.sign(`${EDGE}/fd-alice?list-type=2&prefix=a%20b`, { method: "GET" });
    const res = await SELF.fetch(new Request(signed.url.replace("a%20b", "a+b"), { headers: signed.headers }));
    expect(res.status).toBe(200);
    expect(xmlField(await res.text(), "Prefix")).toBe("a b");
  });
});

describe("browser form uploads", () => {
  it("refuses a policy-allowed success_action_redirect that is not a URL with 400, before storing", async () => {
    const fields = await postPolicyFields(alice, "fd-alice", "form/redirect.txt", { success_action_redirect: "not a url" });
    const res = await formPost("/fd-alice", fields);
    expect(res.status).toBe(400);
    const body = await res.text();
    expect(xmlField(body, "Code")).toBe("InvalidArgument");
    expect(xmlField(body, "ArgumentName")).toBe("success_action_redirect");
  });
});

/** Form fields of a presigned POST for `key`, with the policy signed by `account` and allowing `extra`. */
async function postPolicyFields(account: TestAccount, bucket: string, key: string, extra: Record<string, string> = {}): Promise<Record<string, string>> {
  const now = new Date();
  const date = toAmzDate(now);
  const credential = `${account.accessKeyId}/${date.slice(0, 8)}/us-east-1/s3/aws4_request`;
  const fields: Record<string, string> = { key, "x-amz-algorithm": "AWS4-HMAC-SHA256", "x-amz-credential": credential, "x-amz-date": date, ...extra };
  const conditions = [{ bucket }, ...Object.entries(fields).map(([name, value]) => ({ [name]: value }))];
  const policy = btoa(JSON.stringify({ expiration: new Date(now.getTime() + 300_000).toISOString(), conditions }));
  const signingKey = await deriveSigningKey(account.secretAccessKey, { accessKeyId: account.accessKeyId, date: date.slice(0, 8), region: "us-east-1", service: "s3" });
  return { ...fields, policy, "x-amz-signature": hex(await hmacSha256(signingKey, policy)) };
}

function formPost(path: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  form.append("file", new Blob(["form upload body"]), "file.txt");
  return SELF.fetch(`${EDGE}${path}`, { method: "POST", body: form, headers });
}
