// Everyday S3 behaviours a client notices, each as AWS documents it (issue 15, "S3 behaviours still missing"):
// multipart retries, checksums, non-ASCII metadata, part reads, copy ranges, delete answers, bucket re-creation,
// tagging and listing edge cases.

import { beforeAll, describe, expect, it } from "vitest";
import { createAccountWithKey, s3, xmlField, type TestAccount } from "./helpers.ts";

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
