// Signature Version 2: AWS's worked examples, vectors computed independently, the refusals S3 answers, and V2
// requests, presigned URLs and browser forms through the edge. Spec:
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/RESTAuthentication.html (and HTTPPOSTForms.html).
import { SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { rawPathAndQuery, type SignedRequestParts } from "../../src/protocol/sigv4.ts";
import { S3Error } from "../../src/s3/errors.ts";
import { verifySigV2, type SigV2Options } from "../../src/s3/sigv2.ts";
import { createAccountWithKey, EDGE, s3, xmlField, type TestAccount } from "./helpers.ts";

// The (non-working) credentials of AWS's examples.
const DOC_KEY = "AKIAIOSFODNN7EXAMPLE";
const DOC_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const docLookup = async (id: string) => (id === DOC_KEY ? DOC_SECRET : undefined);

function parts(method: string, url: string, headers: Record<string, string>): SignedRequestParts {
  return { method, ...rawPathAndQuery(url), headers: new Headers(headers) };
}

const at = (date: string, virtualHostedBucket?: string): SigV2Options => ({ now: new Date(date), virtualHostedBucket });

async function refusal(promise: Promise<unknown>): Promise<S3Error> {
  const error = await promise.catch((e: unknown) => e);
  expect(error).toBeInstanceOf(S3Error);
  return error as S3Error;
}

// Each signature below is AWS's, re-checked with Python before use:
//   base64.b64encode(hmac.new(secret, string_to_sign.encode(), hashlib.sha1).digest())
// Where the page renamed the example bucket to awsexamplebucket1 without re-signing, the vector is marked.
describe("AWS's worked examples", () => {
  it("accepts the virtual-hosted GET Object example (the bucket from Host opens the canonical resource)", async () => {
    const request = parts("GET", "http://awsexamplebucket1.us-west-1.s3.amazonaws.com/photos/puppy.jpg", {
      host: "awsexamplebucket1.us-west-1.s3.amazonaws.com",
      date: "Tue, 27 Mar 2007 19:36:42 +0000",
      authorization: `AWS ${DOC_KEY}:qgk2+6Sv9/oM7G3qLEjTH1a1l1g=`,
    });
    const v = await verifySigV2(request, docLookup, at("2007-03-27T19:40:00Z", "awsexamplebucket1"));
    expect(v).toMatchObject({ version: 2, accessKeyId: DOC_KEY, presigned: false, payloadHash: "UNSIGNED-PAYLOAD" });
    // Path-style, the same signature covers the same resource.
    const pathStyle = parts("GET", "http://s3.us-west-1.amazonaws.com/awsexamplebucket1/photos/puppy.jpg", Object.fromEntries(request.headers));
    await expect(verifySigV2(pathStyle, docLookup, at("2007-03-27T19:40:00Z"))).resolves.toMatchObject({ accessKeyId: DOC_KEY });
  });

  it("accepts the PUT example, whose Content-Type is signed and whose absent Content-MD5 is an empty line", async () => {
    const request = parts("PUT", "http://awsexamplebucket1.s3.us-west-1.amazonaws.com/photos/puppy.jpg", {
      "content-type": "image/jpeg",
      "content-length": "94328",
      date: "Tue, 27 Mar 2007 21:15:45 +0000",
      authorization: `AWS ${DOC_KEY}:iqRzw+ileNPu1fhspnRs8nOjjIA=`,
    });
    await verifySigV2(request, docLookup, at("2007-03-27T21:15:45Z", "awsexamplebucket1"));
    request.headers.set("content-type", "image/png");
    const error = await refusal(verifySigV2(request, docLookup, at("2007-03-27T21:15:45Z", "awsexamplebucket1")));
    expect(error.code).toBe("SignatureDoesNotMatch");
    expect(error.details.StringToSign).toBe("PUT\n\nimage/png\nTue, 27 Mar 2007 21:15:45 +0000\n/awsexamplebucket1/photos/puppy.jpg");
  });

  it("accepts the List example: listing parameters are not signed, the trailing slash is", async () => {
    const request = parts("GET", "http://awsexamplebucket1.s3.us-west-1.amazonaws.com/?prefix=photos&max-keys=50&marker=puppy", {
      "user-agent": "Mozilla/5.0",
      date: "Tue, 27 Mar 2007 19:42:41 +0000",
      authorization: `AWS ${DOC_KEY}:m0WP8eCtspQl5Ahe6L1SozdX9YA=`,
    });
    await verifySigV2(request, docLookup, at("2007-03-27T19:42:41Z", "awsexamplebucket1"));
    // Path-style, the bucket alone is "/awsexamplebucket1/" too (as botocore and s3cmd sign it).
    const pathStyle = parts("GET", "http://s3.us-west-1.amazonaws.com/awsexamplebucket1?prefix=photos&max-keys=50&marker=puppy", Object.fromEntries(request.headers));
    await verifySigV2(pathStyle, docLookup, at("2007-03-27T19:42:41Z"));
  });

  it("accepts the ?acl example: the sub-resource is part of the canonical resource", async () => {
    const request = parts("GET", "http://awsexamplebucket1.s3.us-west-1.amazonaws.com/?acl", {
      date: "Tue, 27 Mar 2007 19:44:46 +0000",
      authorization: `AWS ${DOC_KEY}:82ZHiFIjc+WbcwFKGUVEQspPn+0=`,
    });
    await verifySigV2(request, docLookup, at("2007-03-27T19:44:46Z", "awsexamplebucket1"));
  });

  it("accepts the List-all-my-buckets and Unicode-key examples (the path signed as sent, percent-encoding and case kept)", async () => {
    const list = parts("GET", "http://s3.us-west-1.amazonaws.com/", {
      date: "Wed, 28 Mar 2007 01:29:59 +0000",
      authorization: `AWS ${DOC_KEY}:qGdzdERIC03wnaRNKh6OqZehG9s=`,
    });
    await verifySigV2(list, docLookup, at("2007-03-28T01:29:59Z"));
    const unicode = parts("GET", "http://s3.us-west-1.amazonaws.com/dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re", {
      date: "Wed, 28 Mar 2007 01:49:49 +0000",
      authorization: `AWS ${DOC_KEY}:DNEZGsoieTZ92F3bUfSPQcbGmlM=`,
    });
    await verifySigV2(unicode, docLookup, at("2007-03-28T01:49:49Z"));
  });

  it("accepts the query-string example until its Expires, then answers AccessDenied 'Request has expired'", async () => {
    // The page shows this signature with the bucket renamed to awsexamplebucket1; it was made for "johnsmith".
    const url = `http://johnsmith.s3.amazonaws.com/photos/puppy.jpg?AWSAccessKeyId=${DOC_KEY}&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D&Expires=1175139620`;
    const request = parts("GET", url, { host: "johnsmith.s3.amazonaws.com" });
    const v = await verifySigV2(request, docLookup, at("2007-03-29T03:00:00Z", "johnsmith"));
    expect(v.presigned).toBe(true);
    const error = await refusal(verifySigV2(request, docLookup, at("2007-03-29T03:40:21Z", "johnsmith")));
    expect(error.code).toBe("AccessDenied");
    expect(error.message).toBe("Request has expired");
    expect(error.details.Expires).toBe("2007-03-29T03:40:20.000Z");
  });
});

describe("vectors computed independently", () => {
  it("signs x-amz-date instead of Date, x-amz-* headers by name, and sub-resources sorted with decoded values", async () => {
    // StringToSign (Python: FYjTGiowtbewWgClck57w/anTJQ=):
    //   'GET\n\n\n\nx-amz-date:Tue, 27 Mar 2007 19:36:42 +0000\nx-amz-meta-a:zero\nx-amz-meta-a-b:one\nx-amz-meta-b:two\n'
    //   '/bucket/photos/a%20b.jpg?acl&response-content-disposition=attachment; filename="x y.jpg"&versionId=3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY'
    const url =
      "http://s3.localhost/bucket/photos/a%20b.jpg?versionId=3HL4kqtJlcpXroDTDmJ%2BrmSpXd3dIbrHY&response-content-disposition=attachment%3B%20filename%3D%22x%20y.jpg%22&prefix=ignored&acl";
    const request = parts("GET", url, {
      date: "Wed, 01 Jan 2020 00:00:00 GMT",
      "x-amz-date": "Tue, 27 Mar 2007 19:36:42 +0000",
      "x-amz-meta-b": "two",
      "x-amz-meta-a-b": "one",
      "X-Amz-Meta-A": " zero ",
      authorization: `AWS ${DOC_KEY}:FYjTGiowtbewWgClck57w/anTJQ=`,
    });
    const v = await verifySigV2(request, docLookup, at("2007-03-27T19:36:42Z"));
    expect(v.signedHeaders).toEqual(expect.arrayContaining(["x-amz-date", "x-amz-meta-a", "x-amz-meta-a-b", "x-amz-meta-b"]));
  });

  it("signs a presigned PUT's Content-MD5, Content-Type and x-amz-* headers with Expires in the Date's place", async () => {
    // Python: 'PUT\n1B2M2Y8AsgTpgAZPh+j9uQ==\ntext/plain\n1175139620\nx-amz-acl:private\n/awsexamplebucket1/uploads/r%C3%A9sum%C3%A9.txt'
    //   -> jaEKWwQFOQCuEdX4rHsIvUl7KZ0=
    const url = `http://awsexamplebucket1.localhost/uploads/r%C3%A9sum%C3%A9.txt?AWSAccessKeyId=${DOC_KEY}&Expires=1175139620&Signature=jaEKWwQFOQCuEdX4rHsIvUl7KZ0%3D`;
    const request = parts("PUT", url, { "content-md5": "1B2M2Y8AsgTpgAZPh+j9uQ==", "content-type": "text/plain", "x-amz-acl": "private" });
    await verifySigV2(request, docLookup, at("2007-03-29T03:00:00Z", "awsexamplebucket1"));
    // An x-amz-* header the link's holder adds is part of what is signed: the link no longer verifies.
    request.headers.set("x-amz-copy-source", "/awsexamplebucket1/secret");
    expect((await refusal(verifySigV2(request, docLookup, at("2007-03-29T03:00:00Z", "awsexamplebucket1")))).code).toBe("SignatureDoesNotMatch");
  });
});

describe("refusals", () => {
  const docGet = (extra: Record<string, string> = {}) =>
    parts("GET", "http://s3.localhost/awsexamplebucket1/photos/puppy.jpg", {
      date: "Tue, 27 Mar 2007 19:36:42 +0000",
      authorization: `AWS ${DOC_KEY}:qgk2+6Sv9/oM7G3qLEjTH1a1l1g=`,
      ...extra,
    });

  it("answers a tampered request with SignatureDoesNotMatch, its StringToSign and bytes", async () => {
    const request = parts("GET", "http://s3.localhost/awsexamplebucket1/photos/kitten.jpg", Object.fromEntries(docGet().headers));
    const error = await refusal(verifySigV2(request, docLookup, at("2007-03-27T19:36:42Z")));
    expect(error.code).toBe("SignatureDoesNotMatch");
    expect(error.status).toBe(403);
    expect(error.details).toMatchObject({
      AWSAccessKeyId: DOC_KEY,
      StringToSign: "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/awsexamplebucket1/photos/kitten.jpg",
      SignatureProvided: "qgk2+6Sv9/oM7G3qLEjTH1a1l1g=",
    });
    expect(error.details.StringToSignBytes).toMatch(/^47 45 54 0a 0a 0a 54 75 65/);
  });

  it("answers a Date more than 15 minutes off with RequestTimeTooSkewed, and a missing one with AccessDenied", async () => {
    const skewed = await refusal(verifySigV2(docGet(), docLookup, at("2007-03-27T19:52:00Z")));
    expect(skewed.code).toBe("RequestTimeTooSkewed");
    expect(skewed.details).toMatchObject({ RequestTime: "Tue, 27 Mar 2007 19:36:42 +0000", MaxAllowedSkewMilliseconds: "900000" });
    expect((await refusal(verifySigV2(docGet(), docLookup, at("2007-03-27T19:21:00Z")))).code).toBe("RequestTimeTooSkewed");
    const undated = docGet();
    undated.headers.delete("date");
    const missing = await refusal(verifySigV2(undated, docLookup, at("2007-03-27T19:36:42Z")));
    expect(missing.code).toBe("AccessDenied");
    expect(missing.message).toBe("AWS authentication requires a valid Date or x-amz-date header");
    expect((await refusal(verifySigV2(docGet({ date: "yesterday" }), docLookup, at("2007-03-27T19:36:42Z")))).code).toBe("AccessDenied");
  });

  it("answers an unknown access key with InvalidAccessKeyId, and a wrong secret with SignatureDoesNotMatch", async () => {
    const unknown = await refusal(verifySigV2(docGet(), async () => undefined, at("2007-03-27T19:36:42Z")));
    expect(unknown.code).toBe("InvalidAccessKeyId");
    expect(unknown.details.AWSAccessKeyId).toBe(DOC_KEY);
    expect((await refusal(verifySigV2(docGet(), async () => "another-secret", at("2007-03-27T19:36:42Z")))).code).toBe("SignatureDoesNotMatch");
  });

  it("answers a malformed Authorization header and mixed auth mechanisms with InvalidArgument", async () => {
    for (const authorization of [`AWS ${DOC_KEY}`, "AWS :sig", `AWS ${DOC_KEY}:`]) {
      const error = await refusal(verifySigV2(docGet({ authorization }), docLookup, at("2007-03-27T19:36:42Z")));
      expect(error.code, authorization).toBe("InvalidArgument");
      expect(error.details.ArgumentName).toBe("Authorization");
    }
    const mixed = parts("GET", "http://s3.localhost/awsexamplebucket1/photos/puppy.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256", Object.fromEntries(docGet().headers));
    expect((await refusal(verifySigV2(mixed, docLookup, at("2007-03-27T19:36:42Z")))).message).toMatch(/^Only one auth mechanism allowed/);
  });

  it("refuses a presigned URL that lacks a parameter, has a non-numeric Expires, or outlives the seven-day cap", async () => {
    const base = `http://s3.localhost/b/k?AWSAccessKeyId=${DOC_KEY}&Signature=x`;
    const now = at("2026-01-01T00:00:00Z");
    expect((await refusal(verifySigV2(parts("GET", base, {}), docLookup, now))).message).toBe(
      "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters",
    );
    expect((await refusal(verifySigV2(parts("GET", `${base}&Expires=soon`, {}), docLookup, now))).code).toBe("AccessDenied");
    const nowS = Date.parse("2026-01-01T00:00:00Z") / 1000;
    const tooLong = await refusal(verifySigV2(parts("GET", `${base}&Expires=${nowS + 8 * 24 * 3600}`, {}), docLookup, now));
    expect(tooLong.code).toBe("AuthorizationQueryParametersError");
    // Seven days is allowed: only the signature is then wrong.
    expect((await refusal(verifySigV2(parts("GET", `${base}&Expires=${nowS + 7 * 24 * 3600}`, {}), docLookup, now))).code).toBe("SignatureDoesNotMatch");
  });
});

// ---- Through the edge, signed with an account's real key.

/** Base64 HMAC-SHA1: the test's own V2 signer, independent of src/s3/sigv2.ts. */
async function hmacSha1(secret: string, data: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-1" }, false, ["sign"]);
  return btoa(String.fromCharCode(...new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(data)))));
}

/** A body that fetch sends without adding a Content-Type of its own (which a string body would get, unsigned). */
const bytes = (text: string) => new TextEncoder().encode(text);

/** A header-signed V2 request; `stringToSign` is written out by each test (its canonical resource, its headers). */
async function v2Request(account: TestAccount, method: string, url: string, stringToSign: (date: string) => string, init: { headers?: Record<string, string>; body?: BodyInit } = {}): Promise<Response> {
  const date = new Date().toUTCString();
  const signature = await hmacSha1(account.secretAccessKey, stringToSign(date));
  return SELF.fetch(url, { method, body: init.body, headers: { ...init.headers, date, authorization: `AWS ${account.accessKeyId}:${signature}` } });
}

/** A V2 presigned URL for `path`, valid for `seconds`, whose canonical resource is `resource`. */
async function v2Presigned(account: TestAccount, method: string, path: string, resource: string, seconds = 300, lines = "\n\n"): Promise<string> {
  const expires = Math.floor(Date.now() / 1000) + seconds;
  const signature = await hmacSha1(account.secretAccessKey, `${method}\n${lines}${expires}\n${resource}`);
  const sep = path.includes("?") ? "&" : "?";
  return `${EDGE}${path}${sep}AWSAccessKeyId=${account.accessKeyId}&Expires=${expires}&Signature=${encodeURIComponent(signature)}`;
}

let alice: TestAccount;
let mallory: TestAccount;

beforeAll(async () => {
  alice = await createAccountWithKey("sigv2-alice");
  mallory = await createAccountWithKey("sigv2-mallory");
  expect((await s3(alice, "PUT", "/v2-alice")).status).toBe(200);
});

describe("V2 requests through the edge", () => {
  it("creates a bucket, stores an object and reads its bytes back with header auth", async () => {
    const created = await v2Request(alice, "PUT", `${EDGE}/v2-made`, (d) => `PUT\n\n\n${d}\n/v2-made/`);
    expect(created.status).toBe(200);
    const put = await v2Request(alice, "PUT", `${EDGE}/v2-made/hello%20there.txt`, (d) => `PUT\n\ntext/plain\n${d}\nx-amz-meta-colour:blue\n/v2-made/hello%20there.txt`, {
      headers: { "content-type": "text/plain", "x-amz-meta-colour": "blue" },
      body: "hello from signature v2",
    });
    expect(put.status).toBe(200);
    const got = await v2Request(alice, "GET", `${EDGE}/v2-made/hello%20there.txt`, (d) => `GET\n\n\n${d}\n/v2-made/hello%20there.txt`);
    expect(got.status).toBe(200);
    expect(got.headers.get("x-amz-meta-colour")).toBe("blue");
    expect(await got.text()).toBe("hello from signature v2");
  });

  it("signs sub-resources: tagging round-trips, and a signature made without ?tagging does not become PutBucketTagging", async () => {
    const tagging = `<Tagging><TagSet><Tag><Key>team</Key><Value>v2</Value></Tag></TagSet></Tagging>`;
    const put = await v2Request(alice, "PUT", `${EDGE}/v2-alice?tagging`, (d) => `PUT\n\napplication/xml\n${d}\n/v2-alice/?tagging`, {
      headers: { "content-type": "application/xml" },
      body: tagging,
    });
    expect(put.status).toBe(204);
    const got = await v2Request(alice, "GET", `${EDGE}/v2-alice?tagging`, (d) => `GET\n\n\n${d}\n/v2-alice/?tagging`);
    expect(xmlField(await got.text(), "Value")).toBe("v2");
    const smuggled = await v2Request(alice, "DELETE", `${EDGE}/v2-alice?tagging`, (d) => `DELETE\n\n\n${d}\n/v2-alice/`);
    expect(smuggled.status).toBe(403);
    const body = await smuggled.text();
    expect(xmlField(body, "Code")).toBe("SignatureDoesNotMatch");
    expect(xmlField(body, "StringToSign")).toMatch(/\n\/v2-alice\/\?tagging$/);
  });

  it("answers virtual-hosted requests signed over /bucket/key", async () => {
    const put = await v2Request(alice, "PUT", "http://v2-alice.localhost/vhost.txt", (d) => `PUT\n\n\n${d}\n/v2-alice/vhost.txt`, { body: bytes("virtual") });
    expect(put.status).toBe(200);
    const wrong = await v2Request(alice, "GET", "http://v2-alice.localhost/vhost.txt", (d) => `GET\n\n\n${d}\n/vhost.txt`);
    expect(wrong.status).toBe(403);
  });

  it("serves a presigned GET (with a signed response-content-type) until it expires, and not to another key's signature", async () => {
    expect((await s3(alice, "PUT", "/v2-alice/shared.txt", { body: "shared by link" })).status).toBe(200);
    const url = await v2Presigned(alice, "GET", "/v2-alice/shared.txt?response-content-type=text%2Fmarkdown", "/v2-alice/shared.txt?response-content-type=text/markdown");
    const res = await SELF.fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/markdown");
    expect(await res.text()).toBe("shared by link");
    // The override is signed: changing it breaks the link.
    expect((await SELF.fetch(url.replace("text%2Fmarkdown", "text%2Fhtml"))).status).toBe(403);

    const expired = await SELF.fetch(await v2Presigned(alice, "GET", "/v2-alice/shared.txt", "/v2-alice/shared.txt", -1));
    expect(expired.status).toBe(403);
    const body = await expired.text();
    expect(xmlField(body, "Code")).toBe("AccessDenied");
    expect(xmlField(body, "Message")).toBe("Request has expired");

    const tooLong = await SELF.fetch(await v2Presigned(alice, "GET", "/v2-alice/shared.txt", "/v2-alice/shared.txt", 8 * 24 * 3600));
    expect(tooLong.status).toBe(400);
    expect(xmlField(await tooLong.text(), "Code")).toBe("AuthorizationQueryParametersError");

    const other = await SELF.fetch(await v2Presigned(mallory, "GET", "/v2-alice/shared.txt", "/v2-alice/shared.txt"));
    expect(other.status).toBe(403);
    expect(xmlField(await other.text(), "Code")).toBe("AccessDenied");
  });

  it("answers a skewed Date with 403 RequestTimeTooSkewed and an unknown key with 403 InvalidAccessKeyId", async () => {
    const old = new Date(Date.now() - 20 * 60_000).toUTCString();
    const signature = await hmacSha1(alice.secretAccessKey, `GET\n\n\n${old}\n/v2-alice/`);
    const skewed = await SELF.fetch(`${EDGE}/v2-alice`, { headers: { date: old, authorization: `AWS ${alice.accessKeyId}:${signature}` } });
    expect(skewed.status).toBe(403);
    expect(xmlField(await skewed.text(), "Code")).toBe("RequestTimeTooSkewed");
    const unknown = await SELF.fetch(`${EDGE}/v2-alice`, { headers: { date: new Date().toUTCString(), authorization: `AWS ICNNOSUCHKEY:${signature}` } });
    expect(unknown.status).toBe(403);
    expect(xmlField(await unknown.text(), "Code")).toBe("InvalidAccessKeyId");
  });
});

describe("SSE-KMS under V2", () => {
  const KMS_REFUSAL = "Requests specifying Server Side Encryption with AWS KMS managed keys require AWS Signature Version 4.";

  it("refuses a V2 PUT asking for aws:kms with 400 InvalidArgument and stores nothing; V4 stores it", async () => {
    const put = await v2Request(alice, "PUT", `${EDGE}/v2-alice/kms.txt`, (d) => `PUT\n\n\n${d}\nx-amz-server-side-encryption:aws:kms\n/v2-alice/kms.txt`, {
      headers: { "x-amz-server-side-encryption": "aws:kms" },
      body: bytes("secret"),
    });
    expect(put.status).toBe(400);
    const body = await put.text();
    expect(xmlField(body, "Code")).toBe("InvalidArgument");
    expect(xmlField(body, "Message")).toBe(KMS_REFUSAL);
    expect(xmlField(body, "ArgumentName")).toBe("Authorization");
    expect((await s3(alice, "HEAD", "/v2-alice/kms.txt")).status).toBe(404);

    const v4 = await s3(alice, "PUT", "/v2-alice/kms.txt", { body: "secret", headers: { "x-amz-server-side-encryption": "aws:kms" } });
    expect(v4.status).toBe(200);
    expect(v4.headers.get("x-amz-server-side-encryption")).toBe("aws:kms");
  });

  it("refuses to read a KMS-encrypted object for a V2 request or link, which V4 reads", async () => {
    expect((await s3(alice, "PUT", "/v2-alice/kms-read.txt", { body: "kms bytes", headers: { "x-amz-server-side-encryption": "aws:kms" } })).status).toBe(200);
    const get = await v2Request(alice, "GET", `${EDGE}/v2-alice/kms-read.txt`, (d) => `GET\n\n\n${d}\n/v2-alice/kms-read.txt`);
    expect(get.status).toBe(400);
    expect(xmlField(await get.text(), "Message")).toBe(KMS_REFUSAL);
    const link = await SELF.fetch(await v2Presigned(alice, "GET", "/v2-alice/kms-read.txt", "/v2-alice/kms-read.txt"));
    expect(link.status).toBe(400);
    expect(await (await s3(alice, "GET", "/v2-alice/kms-read.txt")).text()).toBe("kms bytes");
  });

  it("refuses a V2 PUT into a bucket whose default encryption is aws:kms", async () => {
    expect((await s3(alice, "PUT", "/v2-kms-default")).status).toBe(200);
    const config = `<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>`;
    expect((await s3(alice, "PUT", "/v2-kms-default?encryption", { body: config })).status).toBe(200);
    const put = await v2Request(alice, "PUT", `${EDGE}/v2-kms-default/x.txt`, (d) => `PUT\n\n\n${d}\n/v2-kms-default/x.txt`, { body: bytes("x") });
    expect(put.status).toBe(400);
    expect(xmlField(await put.text(), "Message")).toBe(KMS_REFUSAL);
  });
});

describe("browser forms signed with V2", () => {
  async function v2Form(account: TestAccount, key: string, extra: Record<string, string> = {}, secret = account.secretAccessKey, bucket = "v2-alice") {
    const conditions = [{ bucket }, { key }, ...Object.entries(extra).map(([name, value]) => ({ [name]: value }))];
    const policy = btoa(JSON.stringify({ expiration: new Date(Date.now() + 300_000).toISOString(), conditions }));
    return { key, ...extra, AWSAccessKeyId: account.accessKeyId, policy, signature: await hmacSha1(secret, policy) };
  }

  /** The multipart/form-data body a browser sends (closing delimiter followed by CRLF, as browsers write it). */
  function post(fields: Record<string, string>, file = "uploaded through a V2 form", bucket = "v2-alice"): Promise<Response> {
    const boundary = "----v2form7MA4YWxkTrZu0gW";
    const parts = Object.entries(fields).map(([name, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`);
    parts.push(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="file.txt"\r\nContent-Type: application/octet-stream\r\n\r\n${file}\r\n--${boundary}--\r\n`);
    return SELF.fetch(`${EDGE}/${bucket}`, { method: "POST", body: bytes(parts.join("")), headers: { "content-type": `multipart/form-data; boundary=${boundary}` } });
  }

  it("stores the file of a form whose policy is V2-signed", async () => {
    const res = await post(await v2Form(alice, "forms/v2.txt", { "content-type": "text/plain" }));
    expect(res.status).toBe(204);
    const got = await s3(alice, "GET", "/v2-alice/forms/v2.txt");
    expect(got.headers.get("content-type")).toBe("text/plain");
    expect(await got.text()).toBe("uploaded through a V2 form");
  });

  it("refuses a form signed with another secret, a changed field and a KMS request, storing nothing", async () => {
    const forged = await post(await v2Form(alice, "forms/forged.txt", {}, "not-the-secret"));
    expect(forged.status).toBe(403);
    expect(xmlField(await forged.text(), "Code")).toBe("SignatureDoesNotMatch");
    const changed = await post({ ...(await v2Form(alice, "forms/changed.txt")), key: "forms/elsewhere.txt" });
    expect(changed.status).toBe(403);
    expect(xmlField(await changed.text(), "Code")).toBe("AccessDenied");
    const kms = await post(await v2Form(alice, "forms/kms.txt", { "x-amz-server-side-encryption": "aws:kms" }));
    expect(kms.status).toBe(400);
    expect(xmlField(await kms.text(), "ArgumentName")).toBe("Authorization");
    for (const key of ["forged", "changed", "elsewhere", "kms"]) expect((await s3(alice, "HEAD", `/v2-alice/forms/${key}.txt`)).status).toBe(404);
  });

  it("refuses a V2 form into a bucket whose default encryption is aws:kms, unless the form asks for AES256", async () => {
    expect((await s3(alice, "PUT", "/v2-form-kms")).status).toBe(200);
    const config = `<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>`;
    expect((await s3(alice, "PUT", "/v2-form-kms?encryption", { body: config })).status).toBe(200);
    const refused = await post(await v2Form(alice, "forms/default-kms.txt", {}, alice.secretAccessKey, "v2-form-kms"), "x", "v2-form-kms");
    expect(refused.status).toBe(400);
    expect(xmlField(await refused.text(), "ArgumentName")).toBe("Authorization");
    expect((await s3(alice, "HEAD", "/v2-form-kms/forms/default-kms.txt")).status).toBe(404);
    const aes = await post(await v2Form(alice, "forms/aes.txt", { "x-amz-server-side-encryption": "AES256" }, alice.secretAccessKey, "v2-form-kms"), "y", "v2-form-kms");
    expect(aes.status).toBe(204);
  });
});
