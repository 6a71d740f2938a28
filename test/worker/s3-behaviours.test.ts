// Everyday S3 behaviours a client notices, each as AWS documents it (issue 15, "S3 behaviours still missing"):
// multipart retries, checksums, non-ASCII metadata, part reads, copy ranges, delete answers, bucket re-creation,
// tagging and listing edge cases.

import { env, SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { Env } from "../../src/env.ts";
import type { ObjectRecord } from "../../src/services/object-model.ts";
import { createAccountWithKey, EDGE, s3, xmlField, type TestAccount } from "./helpers.ts";

const e = env as unknown as Env;
const MiB = 1024 * 1024;

let owner: TestAccount;

beforeAll(async () => {
  owner = await createAccountWithKey("behaviours-owner");
});

async function bucket(name: string): Promise<string> {
  expect((await s3(owner, "PUT", `/${name}`)).status).toBe(200);
  return name;
}

async function startUpload(path: string, headers: Record<string, string> = {}): Promise<string> {
  const res = await s3(owner, "POST", `${path}?uploads`, { headers });
  expect(res.status).toBe(200);
  return xmlField(await res.text(), "UploadId")!;
}

async function uploadPart(path: string, uploadId: string, partNumber: number, body: string, headers: Record<string, string> = {}): Promise<Response> {
  return s3(owner, "PUT", `${path}?partNumber=${partNumber}&uploadId=${uploadId}`, { body, headers });
}

const completeXml = (parts: { n: number; etag: string; extra?: string }[]) =>
  `<CompleteMultipartUpload>${parts.map((p) => `<Part><PartNumber>${p.n}</PartNumber><ETag>${p.etag}</ETag>${p.extra ?? ""}</Part>`).join("")}</CompleteMultipartUpload>`;

describe("CompleteMultipartUpload retried after a lost response", () => {
  it("answers a retry with the same parts exactly as the first completion, and anything else NoSuchUpload", async () => {
    const b = await bucket("mpu-retry");
    expect((await s3(owner, "PUT", `/${b}?versioning`, { body: "<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>" })).status).toBe(200);
    const uploadId = await startUpload(`/${b}/obj`);
    const etag = (await uploadPart(`/${b}/obj`, uploadId, 1, "hello multipart")).headers.get("etag")!;
    const body = completeXml([{ n: 1, etag }]);

    const first = await s3(owner, "POST", `/${b}/obj?uploadId=${uploadId}`, { body });
    expect(first.status).toBe(200);
    const firstXml = await first.text();
    const retry = await s3(owner, "POST", `/${b}/obj?uploadId=${uploadId}`, { body });
    expect(retry.status).toBe(200);
    const retryXml = await retry.text();
    expect(xmlField(retryXml, "ETag")).toBe(xmlField(firstXml, "ETag"));
    expect(xmlField(retryXml, "Key")).toBe("obj");
    expect(retry.headers.get("x-amz-version-id")).toBe(first.headers.get("x-amz-version-id"));
    expect(retry.headers.get("x-amz-version-id")).toBeTruthy();

    // The retry wrote nothing: one version, the bytes as uploaded.
    const versions = await (await s3(owner, "GET", `/${b}?versions`)).text();
    expect(versions.match(/<Version>/g)).toHaveLength(1);
    expect(await (await s3(owner, "GET", `/${b}/obj`)).text()).toBe("hello multipart");

    // A different part list, or another key, does not name that completion.
    const other = await s3(owner, "POST", `/${b}/obj?uploadId=${uploadId}`, { body: completeXml([{ n: 2, etag }]) });
    expect(other.status).toBe(404);
    expect(xmlField(await other.text(), "Code")).toBe("NoSuchUpload");
    const otherKey = await s3(owner, "POST", `/${b}/other?uploadId=${uploadId}`, { body });
    expect(otherKey.status).toBe(404);
    expect(xmlField(await otherKey.text(), "Code")).toBe("NoSuchUpload");
  });

  it("answers Complete for an upload that never existed with 404 NoSuchUpload", async () => {
    const b = await bucket("mpu-never");
    for (const etag of ['"0cc175b9c0f1b6a831c399e269772661"', '"not-an-md5"']) {
      const res = await s3(owner, "POST", `/${b}/obj?uploadId=0123456789abcdef`, { body: completeXml([{ n: 1, etag }]) });
      expect(res.status, etag).toBe(404);
      expect(xmlField(await res.text(), "Code"), etag).toBe("NoSuchUpload");
    }
  });
});

describe("additional checksums", () => {
  it("refuses a PUT whose x-amz-checksum-* does not match the body with 400 BadDigest, storing nothing", async () => {
    const b = await bucket("checksum-put");
    // CRC32 of "hello" is 0x3610a686 (NhCmhg==); SHA-256 of "hello" is LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=.
    for (const [header, value] of [
      ["x-amz-checksum-crc32", "AAAAAA=="],
      ["x-amz-checksum-sha256", "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg="],
    ] as const) {
      const res = await s3(owner, "PUT", `/${b}/k`, { body: "hello", headers: { [header]: value } });
      expect(res.status, header).toBe(400);
      expect(xmlField(await res.text(), "Code"), header).toBe("BadDigest");
    }
    expect((await s3(owner, "HEAD", `/${b}/k`)).status).toBe(404);
    const ok = await s3(owner, "PUT", `/${b}/k`, { body: "hello", headers: { "x-amz-checksum-crc32": "NhCmhg==" } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("x-amz-checksum-crc32")).toBe("NhCmhg==");
  });

  it("refuses an UploadPart with a wrong checksum with BadDigest, and a completion listing a part checksum the part did not arrive with with InvalidPart", async () => {
    const b = await bucket("checksum-mpu");
    const path = `/${b}/obj`;
    const uploadId = await startUpload(path, { "x-amz-checksum-algorithm": "CRC32" });
    const bad = await uploadPart(path, uploadId, 1, "hello", { "x-amz-checksum-crc32": "AAAAAA==" });
    expect(bad.status).toBe(400);
    expect(xmlField(await bad.text(), "Code")).toBe("BadDigest");

    // A part sent without a checksum: the completion cannot vouch for the one the client lists.
    const plain = await uploadPart(path, uploadId, 1, "hello");
    const etag = plain.headers.get("etag")!;
    const unvouched = await s3(owner, "POST", `${path}?uploadId=${uploadId}`, { body: completeXml([{ n: 1, etag, extra: "<ChecksumCRC32>NhCmhg==</ChecksumCRC32>" }]) });
    expect(unvouched.status).toBe(400);
    expect(xmlField(await unvouched.text(), "Code")).toBe("InvalidPart");

    const withSum = await uploadPart(path, uploadId, 1, "hello", { "x-amz-checksum-crc32": "NhCmhg==" });
    expect(withSum.status).toBe(200);
    const wrong = await s3(owner, "POST", `${path}?uploadId=${uploadId}`, { body: completeXml([{ n: 1, etag, extra: "<ChecksumCRC32>AAAAAA==</ChecksumCRC32>" }]) });
    expect(wrong.status).toBe(400);
    expect(xmlField(await wrong.text(), "Code")).toBe("InvalidPart");
    expect((await s3(owner, "HEAD", path)).status).toBe(404);

    const right = await s3(owner, "POST", `${path}?uploadId=${uploadId}`, { body: completeXml([{ n: 1, etag, extra: "<ChecksumCRC32>NhCmhg==</ChecksumCRC32>" }]) });
    expect(right.status).toBe(200);
    expect(xmlField(await right.text(), "ChecksumCRC32")).toMatch(/-1$/);
  });
});

describe("user metadata with non-ASCII characters", () => {
  it("stores the characters sent and returns them RFC 2047 encoded, ASCII values as they are", async () => {
    const b = await bucket("meta-utf8");
    const put = await s3(owner, "PUT", `/${b}/m`, {
      body: "x",
      headers: { "x-amz-meta-plain": "just ascii", "x-amz-meta-name": "café", "x-amz-meta-encoded": "=?UTF-8?B?w7xiZXI=?=" },
    });
    expect(put.status).toBe(200);
    for (const method of ["HEAD", "GET"]) {
      const res = await s3(owner, method, `/${b}/m`);
      expect(res.headers.get("x-amz-meta-plain"), method).toBe("just ascii");
      expect(res.headers.get("x-amz-meta-name"), method).toBe("=?UTF-8?B?Y2Fmw6k=?=");
      // Sent RFC 2047 encoded, stored decoded ("über"), returned encoded again.
      expect(res.headers.get("x-amz-meta-encoded"), method).toBe("=?UTF-8?B?w7xiZXI=?=");
    }
  });
});

/** The bucket's index, for seeding records whose bytes a test never reads (HEAD answers from the record alone). */
async function indexOf(name: string) {
  const row = await e.DB.prepare("SELECT id FROM buckets WHERE name = ?").bind(name).first<{ id: string }>();
  return e.BUCKET_INDEX.get(e.BUCKET_INDEX.idFromName(row!.id));
}

describe("GetObject and HeadObject of one part (partNumber)", () => {
  it("answers a part of a multipart object with its size, range and the part count, and InvalidPartNumber beyond it", async () => {
    const b = await bucket("part-number");
    const record: ObjectRecord = {
      key: "three-parts",
      size: 10 * MiB + 7,
      etag: "0123456789abcdef0123456789abcdef-3",
      lastModified: Date.UTC(2026, 0, 1),
      headers: {},
      userMetadata: {},
      storageClass: "STANDARD",
      segments: [5 * MiB, 5 * MiB, 7].map((size) => ({ size, md5: "00".repeat(16), replicas: [] })),
    };
    await (await indexOf(b)).putObject(record);

    const second = await s3(owner, "HEAD", `/${b}/three-parts?partNumber=2`);
    expect(second.status).toBe(206);
    expect(second.headers.get("content-length")).toBe(String(5 * MiB));
    expect(second.headers.get("content-range")).toBe(`bytes ${5 * MiB}-${10 * MiB - 1}/${10 * MiB + 7}`);
    expect(second.headers.get("x-amz-mp-parts-count")).toBe("3");
    expect(second.headers.get("etag")).toBe(`"${record.etag}"`);
    const last = await s3(owner, "HEAD", `/${b}/three-parts?partNumber=3`);
    expect(last.headers.get("content-length")).toBe("7");
    expect(last.headers.get("content-range")).toBe(`bytes ${10 * MiB}-${10 * MiB + 6}/${10 * MiB + 7}`);

    // Only a request naming a part learns the part count (API_HeadObject, x-amz-mp-parts-count).
    expect((await s3(owner, "HEAD", `/${b}/three-parts`)).headers.get("x-amz-mp-parts-count")).toBeNull();

    const beyond = await s3(owner, "GET", `/${b}/three-parts?partNumber=4`);
    expect(beyond.status).toBe(416);
    expect(xmlField(await beyond.text(), "Code")).toBe("InvalidPartNumber");
    expect((await s3(owner, "HEAD", `/${b}/three-parts?partNumber=4`)).status).toBe(416);
    for (const bad of ["0", "10001", "x"]) {
      const res = await s3(owner, "GET", `/${b}/three-parts?partNumber=${bad}`);
      expect(res.status, bad).toBe(400);
      expect(xmlField(await res.text(), "Code"), bad).toBe("InvalidArgument");
    }
    const both = await s3(owner, "GET", `/${b}/three-parts?partNumber=1`, { headers: { range: "bytes=0-1" } });
    expect(both.status).toBe(400);
    expect(xmlField(await both.text(), "Code")).toBe("InvalidRequest");
  });

  it("serves the bytes of a part, and an object not uploaded in parts as its one part", async () => {
    const b = await bucket("part-bytes");
    const uploadId = await startUpload(`/${b}/mpu`);
    const etag = (await uploadPart(`/${b}/mpu`, uploadId, 1, "only part")).headers.get("etag")!;
    expect((await s3(owner, "POST", `/${b}/mpu?uploadId=${uploadId}`, { body: completeXml([{ n: 1, etag }]) })).status).toBe(200);
    const part = await s3(owner, "GET", `/${b}/mpu?partNumber=1`);
    expect(part.status).toBe(206);
    expect(part.headers.get("x-amz-mp-parts-count")).toBe("1");
    expect(await part.text()).toBe("only part");
    expect((await s3(owner, "GET", `/${b}/mpu?partNumber=2`)).status).toBe(416);

    await s3(owner, "PUT", `/${b}/plain`, { body: "plain bytes" });
    const whole = await s3(owner, "GET", `/${b}/plain?partNumber=1`);
    expect(whole.status).toBe(206);
    expect(whole.headers.get("content-range")).toBe("bytes 0-10/11");
    expect(whole.headers.get("x-amz-mp-parts-count")).toBeNull();
    expect(await whole.text()).toBe("plain bytes");
    const missing = await s3(owner, "GET", `/${b}/plain?partNumber=2`);
    expect(missing.status).toBe(416);
    expect(xmlField(await missing.text(), "Code")).toBe("InvalidPartNumber");
  });
});

describe("UploadPartCopy ranges", () => {
  it("refuses a source range that reaches past the source object with 416 InvalidRange", async () => {
    const b = await bucket("part-copy-range");
    await s3(owner, "PUT", `/${b}/source`, { body: "hello" });
    const uploadId = await startUpload(`/${b}/target`);
    const copy = (range: string) =>
      s3(owner, "PUT", `/${b}/target?partNumber=1&uploadId=${uploadId}`, { headers: { "x-amz-copy-source": `/${b}/source`, "x-amz-copy-source-range": range } });
    for (const range of ["bytes=0-5", "bytes=5-9", "bytes=2-100"]) {
      const res = await copy(range);
      expect(res.status, range).toBe(416);
      expect(xmlField(await res.text(), "Code"), range).toBe("InvalidRange");
    }
    for (const range of ["bytes=3-1", "bytes=0-", "0-4"]) {
      const res = await copy(range);
      expect(res.status, range).toBe(400);
      expect(xmlField(await res.text(), "Code"), range).toBe("InvalidArgument");
    }
    const ok = await copy("bytes=1-3");
    expect(ok.status).toBe(200);
    const etag = xmlField(await ok.text(), "ETag")!.replace(/&quot;/g, '"');
    expect((await s3(owner, "POST", `/${b}/target?uploadId=${uploadId}`, { body: completeXml([{ n: 1, etag }]) })).status).toBe(200);
    expect(await (await s3(owner, "GET", `/${b}/target`)).text()).toBe("ell");
  });
});

const versioning = (b: string, status: "Enabled" | "Suspended") =>
  s3(owner, "PUT", `/${b}?versioning`, { body: `<VersioningConfiguration><Status>${status}</Status></VersioningConfiguration>` });

describe("DeleteObject's answer on unversioned, versioned and suspended buckets", () => {
  it("names the version deleted or the delete marker created, as S3 does", async () => {
    const b = await bucket("delete-answers");
    await s3(owner, "PUT", `/${b}/k`, { body: "v0" });
    const plain = await s3(owner, "DELETE", `/${b}/k`);
    expect(plain.status).toBe(204);
    expect(plain.headers.get("x-amz-delete-marker")).toBeNull();
    expect(plain.headers.get("x-amz-version-id")).toBeNull();

    expect((await versioning(b, "Enabled")).status).toBe(200);
    const v1 = (await s3(owner, "PUT", `/${b}/k`, { body: "v1" })).headers.get("x-amz-version-id")!;
    const marked = await s3(owner, "DELETE", `/${b}/k`);
    expect(marked.headers.get("x-amz-delete-marker")).toBe("true");
    const markerId = marked.headers.get("x-amz-version-id")!;
    expect(markerId).toMatch(/^[0-9a-f]+$/);
    expect(markerId).not.toBe(v1);
    // Deleting the marker by id says it was one; deleting an object version by id names it, and is no marker.
    const unmarked = await s3(owner, "DELETE", `/${b}/k?versionId=${markerId}`);
    expect(unmarked.headers.get("x-amz-delete-marker")).toBe("true");
    expect(unmarked.headers.get("x-amz-version-id")).toBe(markerId);
    const gone = await s3(owner, "DELETE", `/${b}/k?versionId=${v1}`);
    expect(gone.headers.get("x-amz-delete-marker")).toBeNull();
    expect(gone.headers.get("x-amz-version-id")).toBe(v1);

    // Suspended: the delete marker is the "null" version, and S3 names it.
    expect((await versioning(b, "Suspended")).status).toBe(200);
    await s3(owner, "PUT", `/${b}/k`, { body: "null version" });
    const suspended = await s3(owner, "DELETE", `/${b}/k`);
    expect(suspended.headers.get("x-amz-delete-marker")).toBe("true");
    expect(suspended.headers.get("x-amz-version-id")).toBe("null");
    const nullMarker = await s3(owner, "DELETE", `/${b}/k?versionId=null`);
    expect(nullMarker.headers.get("x-amz-delete-marker")).toBe("true");
    expect(nullMarker.headers.get("x-amz-version-id")).toBe("null");
  });
});

describe("GetObjectAttributes", () => {
  it("names the version it describes and lists a multipart object's part checksums", async () => {
    const b = await bucket("attributes-parts");
    expect((await versioning(b, "Enabled")).status).toBe(200);
    const path = `/${b}/obj`;
    const uploadId = await startUpload(path, { "x-amz-checksum-algorithm": "CRC32" });
    const etag = (await uploadPart(path, uploadId, 1, "hello", { "x-amz-checksum-crc32": "NhCmhg==" })).headers.get("etag")!;
    const done = await s3(owner, "POST", `${path}?uploadId=${uploadId}`, { body: completeXml([{ n: 1, etag, extra: "<ChecksumCRC32>NhCmhg==</ChecksumCRC32>" }]) });
    const versionId = done.headers.get("x-amz-version-id")!;
    const composite = xmlField(await done.text(), "ChecksumCRC32")!;

    const res = await s3(owner, "GET", `${path}?attributes`, { headers: { "x-amz-object-attributes": "ETag,Checksum,ObjectParts" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-amz-version-id")).toBe(versionId);
    const xml = await res.text();
    expect(xmlField(xml, "Checksum")).toBe(`<ChecksumCRC32>${composite}</ChecksumCRC32><ChecksumType>COMPOSITE</ChecksumType>`);
    expect(xmlField(xml, "Part")).toBe("<PartNumber>1</PartNumber><Size>5</Size><ChecksumCRC32>NhCmhg==</ChecksumCRC32>");
    expect(xmlField(xml, "PartsCount")).toBe("1");
  });
});

describe("tags, CORS origins and listing tokens at their edges", () => {
  it("stores tags with empty values from x-amz-tagging and from the Tagging document", async () => {
    const b = await bucket("empty-tags");
    expect((await s3(owner, "PUT", `/${b}/k`, { body: "x", headers: { "x-amz-tagging": "empty=&bare&full=yes" } })).status).toBe(200);
    const tags = await (await s3(owner, "GET", `/${b}/k?tagging`)).text();
    expect(tags).toContain("<Tag><Key>empty</Key><Value></Value></Tag>");
    expect(tags).toContain("<Tag><Key>bare</Key><Value></Value></Tag>");
    expect(tags).toContain("<Tag><Key>full</Key><Value>yes</Value></Tag>");
    expect((await s3(owner, "HEAD", `/${b}/k`)).headers.get("x-amz-tagging-count")).toBe("3");
    const put = await s3(owner, "PUT", `/${b}/k?tagging`, { body: "<Tagging><TagSet><Tag><Key>e</Key><Value/></Tag></TagSet></Tagging>" });
    expect(put.status).toBe(200);
    expect(await (await s3(owner, "GET", `/${b}/k?tagging`)).text()).toContain("<Tag><Key>e</Key><Value></Value></Tag>");
  });

  it("matches an allowed origin with one '*' anywhere, and refuses an origin with two", async () => {
    const b = await bucket("cors-wildcard");
    const rule = (origin: string) =>
      `<CORSConfiguration><CORSRule><AllowedOrigin>${origin}</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>`;
    const twoStars = await s3(owner, "PUT", `/${b}?cors`, { body: rule("https://*.*.example.com") });
    expect(twoStars.status).toBe(400);
    expect(xmlField(await twoStars.text(), "Code")).toBe("InvalidRequest");
    expect((await s3(owner, "PUT", `/${b}?cors`, { body: rule("https://*.example.com") })).status).toBe(200);
    const preflight = (origin: string) =>
      SELF.fetch(`${EDGE}/${b}/k`, { method: "OPTIONS", headers: { origin, "access-control-request-method": "GET" } });
    const sub = await preflight("https://app.example.com");
    expect(sub.status).toBe(200);
    expect(sub.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    expect((await preflight("https://example.com")).status).toBe(403);
    expect((await preflight("https://app.example.org")).status).toBe(403);
  });

  it("lists from the start when the continuation token is empty", async () => {
    const b = await bucket("empty-token");
    for (const key of ["a", "b", "c"]) await s3(owner, "PUT", `/${b}/${key}`, { body: key });
    const res = await s3(owner, "GET", `/${b}?list-type=2&continuation-token=`);
    expect(res.status).toBe(200);
    const xml = await res.text();
    expect([...xml.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1])).toEqual(["a", "b", "c"]);
    const paged = await (await s3(owner, "GET", `/${b}?list-type=2&continuation-token=&max-keys=1&start-after=a`)).text();
    expect(xmlField(paged, "Key")).toBe("b");
  });
});
