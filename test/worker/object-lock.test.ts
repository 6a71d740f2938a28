// S3 Object Lock as AWS documents it (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html): the
// bucket's configuration, retention modes, the governance bypass, legal holds, deletes refused for protected
// versions, and the writes that carry a lock (PUT, copy, multipart, default retention).
import { SELF } from "cloudflare:test";
import { AwsClient } from "aws4fetch";
import { beforeAll, describe, expect, it } from "vitest";
import { base64 } from "../../src/protocol/crypto.ts";
import { createAccountWithKey, EDGE, s3, xmlField, type TestAccount } from "./helpers.ts";

const DAY = 86_400_000;
let owner: TestAccount;

beforeAll(async () => {
  owner = await createAccountWithKey("object-lock-owner");
});

async function md5(body: string): Promise<string> {
  return base64(new Uint8Array(await crypto.subtle.digest("MD5", new TextEncoder().encode(body))));
}

/** A request with a body and its Content-MD5 (as S3 wants for every Object Lock write). */
async function withMd5(method: string, path: string, body: string, headers: Record<string, string> = {}): Promise<Response> {
  return s3(owner, method, path, { body, headers: { "content-md5": await md5(body), ...headers } });
}

async function code(res: Response): Promise<string | undefined> {
  return xmlField(await res.text(), "Code");
}

function lockConfig(rule = ""): string {
  return `<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled>${rule}</ObjectLockConfiguration>`;
}

function retentionXml(mode: string, until: number): string {
  return `<Retention><Mode>${mode}</Mode><RetainUntilDate>${new Date(until).toISOString()}</RetainUntilDate></Retention>`;
}

async function lockedBucket(name: string): Promise<void> {
  expect((await s3(owner, "PUT", `/${name}`, { headers: { "x-amz-bucket-object-lock-enabled": "true" } })).status).toBe(200);
}

/** PUTs `key` with the given lock headers (and Content-MD5); returns its version id. */
async function putLocked(bucket: string, key: string, headers: Record<string, string>, body = "retained bytes"): Promise<string> {
  const res = await withMd5("PUT", `/${bucket}/${key}`, body, headers);
  expect(res.status, await res.clone().text()).toBe(200);
  return res.headers.get("x-amz-version-id")!;
}

const inDays = (n: number) => new Date(Date.now() + n * DAY).toISOString();

describe("the bucket's Object Lock configuration", () => {
  it("a bucket created with Object Lock is versioned, reports its configuration, and refuses to suspend versioning", async () => {
    await lockedBucket("lock-created");
    expect(await (await s3(owner, "GET", "/lock-created?versioning")).text()).toContain("<Status>Enabled</Status>");
    const got = await s3(owner, "GET", "/lock-created?object-lock");
    expect(got.status).toBe(200);
    const xml = await got.text();
    expect(xml).toContain("<ObjectLockEnabled>Enabled</ObjectLockEnabled>");
    expect(xml).not.toContain("<Rule>");

    const suspend = await s3(owner, "PUT", "/lock-created?versioning", { body: "<VersioningConfiguration><Status>Suspended</Status></VersioningConfiguration>" });
    expect(suspend.status).toBe(409);
    expect(await code(suspend)).toBe("InvalidBucketState");
    expect(await (await s3(owner, "GET", "/lock-created?versioning")).text()).toContain("<Status>Enabled</Status>");
  });

  it("a bucket without Object Lock answers 404 ObjectLockConfigurationNotFoundError, and gets it once versioning is enabled", async () => {
    await s3(owner, "PUT", "/lock-later");
    const missing = await s3(owner, "GET", "/lock-later?object-lock");
    expect(missing.status).toBe(404);
    expect(await code(missing)).toBe("ObjectLockConfigurationNotFoundError");

    const unversioned = await withMd5("PUT", "/lock-later?object-lock", lockConfig());
    expect(unversioned.status).toBe(409);
    expect(await code(unversioned)).toBe("InvalidBucketState");

    await s3(owner, "PUT", "/lock-later?versioning", { body: "<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>" });
    const rule = "<Rule><DefaultRetention><Mode>GOVERNANCE</Mode><Years>2</Years></DefaultRetention></Rule>";
    expect((await withMd5("PUT", "/lock-later?object-lock", lockConfig(rule))).status).toBe(200);
    const xml = await (await s3(owner, "GET", "/lock-later?object-lock")).text();
    expect(xml).toContain("<DefaultRetention><Mode>GOVERNANCE</Mode><Years>2</Years></DefaultRetention>");
    // Once on, versioning stays Enabled.
    const suspend = await s3(owner, "PUT", "/lock-later?versioning", { body: "<VersioningConfiguration><Status>Suspended</Status></VersioningConfiguration>" });
    expect(await code(suspend)).toBe("InvalidBucketState");
  });

  it("refuses configurations S3 refuses, with S3's codes", async () => {
    await lockedBucket("lock-validate");
    const cases: [string, string][] = [
      ["<ObjectLockConfiguration><ObjectLockEnabled>Disabled</ObjectLockEnabled></ObjectLockConfiguration>", "MalformedXML"],
      ["<ObjectLockConfiguration><Rule><DefaultRetention><Mode>GOVERNANCE</Mode><Days>1</Days></DefaultRetention></Rule></ObjectLockConfiguration>", "MalformedXML"],
      [lockConfig("<Rule><DefaultRetention><Mode>GOVERNANCE</Mode><Days>1</Days><Years>1</Years></DefaultRetention></Rule>"), "MalformedXML"],
      [lockConfig("<Rule><DefaultRetention><Mode>GOVERNANCE</Mode></DefaultRetention></Rule>"), "MalformedXML"],
      [lockConfig("<Rule><DefaultRetention><Mode>FOREVER</Mode><Days>1</Days></DefaultRetention></Rule>"), "MalformedXML"],
      [lockConfig("<Rule></Rule>"), "MalformedXML"],
      [lockConfig("<Rule><DefaultRetention><Mode>COMPLIANCE</Mode><Days>0</Days></DefaultRetention></Rule>"), "InvalidArgument"],
      [lockConfig("<Rule><DefaultRetention><Mode>COMPLIANCE</Mode><Years>-1</Years></DefaultRetention></Rule>"), "InvalidArgument"],
      ["<ObjectLockConfiguration><ObjectLockEnabled>Enabled", "MalformedXML"],
    ];
    for (const [body, expected] of cases) {
      const res = await withMd5("PUT", "/lock-validate?object-lock", body);
      expect([res.status, await code(res)], body).toEqual([400, expected]);
    }
    const noDigest = await s3(owner, "PUT", "/lock-validate?object-lock", { body: lockConfig() });
    expect([noDigest.status, await code(noDigest)]).toEqual([400, "InvalidRequest"]);
    expect(await (await s3(owner, "GET", "/lock-validate?object-lock")).text()).not.toContain("<Rule>");
  });
});

describe("lock headers on writes", () => {
  it("refuses lock headers on a bucket without Object Lock, incomplete or past retention, and a locked PUT without Content-MD5", async () => {
    await s3(owner, "PUT", "/lock-headers-plain");
    const plain = await withMd5("PUT", "/lock-headers-plain/k", "x", { "x-amz-object-lock-legal-hold": "ON" });
    expect([plain.status, await code(plain)]).toEqual([400, "InvalidRequest"]);

    await lockedBucket("lock-headers");
    const cases: [Record<string, string>, string][] = [
      [{ "x-amz-object-lock-mode": "GOVERNANCE" }, "InvalidArgument"],
      [{ "x-amz-object-lock-retain-until-date": inDays(1) }, "InvalidArgument"],
      [{ "x-amz-object-lock-mode": "SOMETIMES", "x-amz-object-lock-retain-until-date": inDays(1) }, "InvalidArgument"],
      [{ "x-amz-object-lock-mode": "GOVERNANCE", "x-amz-object-lock-retain-until-date": inDays(-1) }, "InvalidArgument"],
      [{ "x-amz-object-lock-mode": "GOVERNANCE", "x-amz-object-lock-retain-until-date": "tomorrow" }, "InvalidArgument"],
      [{ "x-amz-object-lock-legal-hold": "maybe" }, "InvalidArgument"],
    ];
    for (const [headers, expected] of cases) {
      const res = await withMd5("PUT", "/lock-headers/k", "x", headers);
      expect([res.status, await code(res)], JSON.stringify(headers)).toEqual([400, expected]);
    }
    const noDigest = await s3(owner, "PUT", "/lock-headers/k", { body: "x", headers: { "x-amz-object-lock-mode": "GOVERNANCE", "x-amz-object-lock-retain-until-date": inDays(1) } });
    expect([noDigest.status, await code(noDigest)]).toEqual([400, "InvalidRequest"]);
    // A checksum proves the body as well as Content-MD5 does.
    const withChecksum = await s3(owner, "PUT", "/lock-headers/k", {
      body: "x",
      headers: { "x-amz-object-lock-legal-hold": "ON", "x-amz-checksum-crc32": "jNwWgw==" },
    });
    expect(withChecksum.status).toBe(200);
    expect((await s3(owner, "GET", "/lock-headers/k")).status).toBe(200);
    expect((await s3(owner, "GET", "/lock-headers")).status).toBe(200);
  });

  it("GET and HEAD answer a version's mode, retain-until date and legal hold", async () => {
    await lockedBucket("lock-read");
    const until = inDays(3);
    const versionId = await putLocked("lock-read", "doc", { "x-amz-object-lock-mode": "GOVERNANCE", "x-amz-object-lock-retain-until-date": until, "x-amz-object-lock-legal-hold": "ON" });
    for (const method of ["GET", "HEAD"]) {
      const res = await s3(owner, method, `/lock-read/doc?versionId=${versionId}`);
      expect(res.status).toBe(200);
      expect(res.headers.get("x-amz-object-lock-mode")).toBe("GOVERNANCE");
      expect(res.headers.get("x-amz-object-lock-retain-until-date")).toBe(until);
      expect(res.headers.get("x-amz-object-lock-legal-hold")).toBe("ON");
    }
    const retention = await (await s3(owner, "GET", "/lock-read/doc?retention")).text();
    expect(xmlField(retention, "Mode")).toBe("GOVERNANCE");
    expect(xmlField(retention, "RetainUntilDate")).toBe(until);
    expect(xmlField(await (await s3(owner, "GET", "/lock-read/doc?legal-hold")).text(), "Status")).toBe("ON");
  });

  it("the bucket's default retention locks every new version, and then a PUT needs Content-MD5 or a checksum", async () => {
    await lockedBucket("lock-default");
    expect((await withMd5("PUT", "/lock-default?object-lock", lockConfig("<Rule><DefaultRetention><Mode>COMPLIANCE</Mode><Days>2</Days></DefaultRetention></Rule>"))).status).toBe(200);
    const before = Date.now();
    const versionId = await putLocked("lock-default", "auto", {});
    const head = await s3(owner, "HEAD", `/lock-default/auto?versionId=${versionId}`);
    expect(head.headers.get("x-amz-object-lock-mode")).toBe("COMPLIANCE");
    const until = Date.parse(head.headers.get("x-amz-object-lock-retain-until-date")!);
    expect(until).toBeGreaterThanOrEqual(before + 2 * DAY - 60_000);
    expect(until).toBeLessThanOrEqual(Date.now() + 2 * DAY + 60_000);
    expect(head.headers.get("x-amz-object-lock-legal-hold")).toBeNull();

    const unproven = await s3(owner, "PUT", "/lock-default/auto", { body: "no digest" });
    expect([unproven.status, await code(unproven)]).toEqual([400, "InvalidRequest"]);
    const refused = await s3(owner, "DELETE", `/lock-default/auto?versionId=${versionId}`, { headers: { "x-amz-bypass-governance-retention": "true" } });
    expect([refused.status, await code(refused)]).toEqual([403, "AccessDenied"]);

    // A retention named by the write wins over the default.
    const own = await putLocked("lock-default", "own", { "x-amz-object-lock-mode": "GOVERNANCE", "x-amz-object-lock-retain-until-date": inDays(9) });
    expect((await s3(owner, "HEAD", `/lock-default/own?versionId=${own}`)).headers.get("x-amz-object-lock-mode")).toBe("GOVERNANCE");
  });

  it("CopyObject and multipart uploads carry the lock their request names, not the source's", async () => {
    await lockedBucket("lock-copy");
    const until = inDays(4);
    await putLocked("lock-copy", "source", { "x-amz-object-lock-mode": "COMPLIANCE", "x-amz-object-lock-retain-until-date": inDays(5) });
    const copy = await s3(owner, "PUT", "/lock-copy/plain-copy", { headers: { "x-amz-copy-source": "/lock-copy/source" } });
    expect(copy.status).toBe(200);
    const plainHead = await s3(owner, "HEAD", "/lock-copy/plain-copy");
    expect(plainHead.headers.get("x-amz-object-lock-mode")).toBeNull();
    const locked = await s3(owner, "PUT", "/lock-copy/locked-copy", {
      headers: { "x-amz-copy-source": "/lock-copy/source", "x-amz-object-lock-mode": "GOVERNANCE", "x-amz-object-lock-retain-until-date": until },
    });
    expect(locked.status).toBe(200);
    const lockedHead = await s3(owner, "HEAD", "/lock-copy/locked-copy");
    expect([lockedHead.headers.get("x-amz-object-lock-mode"), lockedHead.headers.get("x-amz-object-lock-retain-until-date")]).toEqual(["GOVERNANCE", until]);

    const created = await s3(owner, "POST", "/lock-copy/multi?uploads", { headers: { "x-amz-object-lock-legal-hold": "ON" } });
    const uploadId = xmlField(await created.text(), "UploadId")!;
    const part = await s3(owner, "PUT", `/lock-copy/multi?partNumber=1&uploadId=${uploadId}`, { body: "one part" });
    const etag = part.headers.get("etag")!;
    const done = await s3(owner, "POST", `/lock-copy/multi?uploadId=${uploadId}`, {
      body: `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>${etag}</ETag></Part></CompleteMultipartUpload>`,
    });
    expect(done.status).toBe(200);
    const versionId = done.headers.get("x-amz-version-id")!;
    expect((await s3(owner, "HEAD", "/lock-copy/multi")).headers.get("x-amz-object-lock-legal-hold")).toBe("ON");
    const refused = await s3(owner, "DELETE", `/lock-copy/multi?versionId=${versionId}`);
    expect([refused.status, await code(refused)]).toEqual([403, "AccessDenied"]);
  });
});

describe("retention modes and the governance bypass", () => {
  it("GOVERNANCE: a delete without a version id adds a marker, the version stays until the bypass deletes it", async () => {
    await lockedBucket("lock-governance");
    const versionId = await putLocked("lock-governance", "g", { "x-amz-object-lock-mode": "GOVERNANCE", "x-amz-object-lock-retain-until-date": inDays(10) });

    const marker = await s3(owner, "DELETE", "/lock-governance/g");
    expect(marker.status).toBe(204);
    expect(marker.headers.get("x-amz-delete-marker")).toBe("true");

    const refused = await s3(owner, "DELETE", `/lock-governance/g?versionId=${versionId}`);
    expect([refused.status, await code(refused)]).toEqual([403, "AccessDenied"]);
    const stillThere = await s3(owner, "GET", `/lock-governance/g?versionId=${versionId}`);
    expect([stillThere.status, await stillThere.text()]).toEqual([200, "retained bytes"]);

    // Shortening needs the bypass; extending does not.
    const shorter = retentionXml("GOVERNANCE", Date.now() + DAY);
    const noBypass = await withMd5("PUT", `/lock-governance/g?retention&versionId=${versionId}`, shorter);
    expect([noBypass.status, await code(noBypass)]).toEqual([403, "AccessDenied"]);
    expect((await withMd5("PUT", `/lock-governance/g?retention&versionId=${versionId}`, retentionXml("GOVERNANCE", Date.now() + 20 * DAY))).status).toBe(200);
    expect((await withMd5("PUT", `/lock-governance/g?retention&versionId=${versionId}`, shorter, { "x-amz-bypass-governance-retention": "true" })).status).toBe(200);
    expect(Date.parse(xmlField(await (await s3(owner, "GET", `/lock-governance/g?retention&versionId=${versionId}`)).text(), "RetainUntilDate")!)).toBeLessThan(Date.now() + 2 * DAY);

    const bypassed = await s3(owner, "DELETE", `/lock-governance/g?versionId=${versionId}`, { headers: { "x-amz-bypass-governance-retention": "true" } });
    expect(bypassed.status).toBe(204);
    expect((await s3(owner, "GET", `/lock-governance/g?versionId=${versionId}`)).status).toBe(404);
  });

  it("GOVERNANCE retention can be removed with the bypass, and the version then deleted without it", async () => {
    await lockedBucket("lock-governance-remove");
    const versionId = await putLocked("lock-governance-remove", "g", { "x-amz-object-lock-mode": "GOVERNANCE", "x-amz-object-lock-retain-until-date": inDays(10) });
    const empty = "<Retention></Retention>";
    expect(await code(await withMd5("PUT", `/lock-governance-remove/g?retention&versionId=${versionId}`, empty))).toBe("AccessDenied");
    expect((await withMd5("PUT", `/lock-governance-remove/g?retention&versionId=${versionId}`, empty, { "x-amz-bypass-governance-retention": "true" })).status).toBe(200);
    expect(await code(await s3(owner, "GET", `/lock-governance-remove/g?retention&versionId=${versionId}`))).toBe("NoSuchObjectLockConfiguration");
    expect((await s3(owner, "DELETE", `/lock-governance-remove/g?versionId=${versionId}`)).status).toBe(204);
  });

  it("COMPLIANCE: nobody deletes, shortens or relaxes it, the bypass included; anyone may extend it", async () => {
    await lockedBucket("lock-compliance");
    const until = Date.now() + 10 * DAY;
    const versionId = await putLocked("lock-compliance", "c", { "x-amz-object-lock-mode": "COMPLIANCE", "x-amz-object-lock-retain-until-date": new Date(until).toISOString() });
    const bypass = { "x-amz-bypass-governance-retention": "true" };
    const del = await s3(owner, "DELETE", `/lock-compliance/c?versionId=${versionId}`, { headers: bypass });
    expect([del.status, await code(del)]).toEqual([403, "AccessDenied"]);
    for (const body of [retentionXml("COMPLIANCE", until - DAY), retentionXml("GOVERNANCE", until + DAY), "<Retention/>"]) {
      const res = await withMd5("PUT", `/lock-compliance/c?retention&versionId=${versionId}`, body, bypass);
      expect([res.status, await code(res)], body).toEqual([403, "AccessDenied"]);
    }
    expect((await withMd5("PUT", `/lock-compliance/c?retention&versionId=${versionId}`, retentionXml("COMPLIANCE", until + 5 * DAY))).status).toBe(200);
    expect((await s3(owner, "GET", `/lock-compliance/c?versionId=${versionId}`)).status).toBe(200);
  });

  it("GOVERNANCE becomes COMPLIANCE only with the bypass", async () => {
    await lockedBucket("lock-mode-change");
    const until = Date.now() + 10 * DAY;
    const versionId = await putLocked("lock-mode-change", "m", { "x-amz-object-lock-mode": "GOVERNANCE", "x-amz-object-lock-retain-until-date": new Date(until).toISOString() });
    const stricter = retentionXml("COMPLIANCE", until + DAY);
    expect(await code(await withMd5("PUT", `/lock-mode-change/m?retention&versionId=${versionId}`, stricter))).toBe("AccessDenied");
    expect((await withMd5("PUT", `/lock-mode-change/m?retention&versionId=${versionId}`, stricter, { "x-amz-bypass-governance-retention": "true" })).status).toBe(200);
    expect(await code(await s3(owner, "DELETE", `/lock-mode-change/m?versionId=${versionId}`, { headers: { "x-amz-bypass-governance-retention": "true" } }))).toBe("AccessDenied");
  });

  it("validates retention documents and refuses them on a bucket without Object Lock", async () => {
    await lockedBucket("lock-retention-xml");
    await putLocked("lock-retention-xml", "r", {});
    for (const body of ["<Retention><Mode>GOVERNANCE</Mode></Retention>", "<Retention><Mode>NEVER</Mode><RetainUntilDate>2099-01-01T00:00:00Z</RetainUntilDate></Retention>", "<Nope/>"]) {
      const res = await withMd5("PUT", "/lock-retention-xml/r?retention", body);
      expect([res.status, await code(res)], body).toEqual([400, "MalformedXML"]);
    }
    const past = await withMd5("PUT", "/lock-retention-xml/r?retention", retentionXml("GOVERNANCE", Date.now() - DAY));
    expect([past.status, await code(past)]).toEqual([400, "InvalidArgument"]);
    expect(await code(await s3(owner, "GET", "/lock-retention-xml/r?retention"))).toBe("NoSuchObjectLockConfiguration");
    expect(await code(await s3(owner, "GET", "/lock-retention-xml/r?legal-hold"))).toBe("NoSuchObjectLockConfiguration");
    expect(await code(await withMd5("PUT", "/lock-retention-xml/missing?retention", retentionXml("GOVERNANCE", Date.now() + DAY)))).toBe("NoSuchKey");

    await s3(owner, "PUT", "/lock-retention-plain");
    await s3(owner, "PUT", "/lock-retention-plain/r", { body: "x" });
    const plain = await withMd5("PUT", "/lock-retention-plain/r?retention", retentionXml("GOVERNANCE", Date.now() + DAY));
    expect([plain.status, await code(plain)]).toEqual([400, "InvalidRequest"]);
    expect(await code(await s3(owner, "GET", "/lock-retention-plain/r?legal-hold"))).toBe("InvalidRequest");
  });
});

describe("legal hold", () => {
  it("blocks deletion whatever the retention, until it is lifted", async () => {
    await lockedBucket("lock-hold");
    const versionId = await putLocked("lock-hold", "h", {});
    expect((await withMd5("PUT", `/lock-hold/h?legal-hold&versionId=${versionId}`, "<LegalHold><Status>ON</Status></LegalHold>")).status).toBe(200);
    const refused = await s3(owner, "DELETE", `/lock-hold/h?versionId=${versionId}`, { headers: { "x-amz-bypass-governance-retention": "true" } });
    expect([refused.status, await code(refused)]).toEqual([403, "AccessDenied"]);
    const bad = await withMd5("PUT", `/lock-hold/h?legal-hold&versionId=${versionId}`, "<LegalHold><Status>on</Status></LegalHold>");
    expect([bad.status, await code(bad)]).toEqual([400, "MalformedXML"]);

    expect((await withMd5("PUT", `/lock-hold/h?legal-hold&versionId=${versionId}`, "<LegalHold><Status>OFF</Status></LegalHold>")).status).toBe(200);
    expect(xmlField(await (await s3(owner, "GET", `/lock-hold/h?legal-hold&versionId=${versionId}`)).text(), "Status")).toBe("OFF");
    expect((await s3(owner, "DELETE", `/lock-hold/h?versionId=${versionId}`)).status).toBe(204);
  });
});

describe("DeleteObjects and DeleteBucket", () => {
  it("DeleteObjects deletes the unprotected versions and answers AccessDenied for each protected one", async () => {
    await lockedBucket("lock-multi-delete");
    const held = await putLocked("lock-multi-delete", "held", { "x-amz-object-lock-legal-hold": "ON" });
    const governed = await putLocked("lock-multi-delete", "governed", { "x-amz-object-lock-mode": "GOVERNANCE", "x-amz-object-lock-retain-until-date": inDays(1) });
    const free = await putLocked("lock-multi-delete", "free", {});
    const body = `<Delete>${[["held", held], ["governed", governed], ["free", free]].map(([k, v]) => `<Object><Key>${k}</Key><VersionId>${v}</VersionId></Object>`).join("")}</Delete>`;
    const xml = await (await withMd5("POST", "/lock-multi-delete?delete", body)).text();
    const errors = [...xml.matchAll(/<Error><Key>([^<]*)<\/Key><VersionId>[^<]*<\/VersionId><Code>([^<]*)<\/Code>/g)].map((m) => [m[1], m[2]]);
    expect(errors).toEqual([
      ["held", "AccessDenied"],
      ["governed", "AccessDenied"],
    ]);
    expect(xml).toContain("<Deleted><Key>free</Key>");
    expect((await s3(owner, "GET", `/lock-multi-delete/held?versionId=${held}`)).status).toBe(200);

    // The bypass header covers the whole request: the GOVERNANCE version goes, the legal hold stays.
    const again = await (await withMd5("POST", "/lock-multi-delete?delete", body, { "x-amz-bypass-governance-retention": "true" })).text();
    expect(again).toContain("<Deleted><Key>governed</Key>");
    expect(again).toMatch(/<Error><Key>held<\/Key>/);
    expect((await s3(owner, "GET", `/lock-multi-delete/held?versionId=${held}`)).status).toBe(200);
  });

  it("DeleteBucket of a bucket holding a locked version is 409 BucketNotEmpty", async () => {
    await lockedBucket("lock-bucket-delete");
    await putLocked("lock-bucket-delete", "k", { "x-amz-object-lock-legal-hold": "ON" });
    await s3(owner, "DELETE", "/lock-bucket-delete/k");
    const res = await s3(owner, "DELETE", "/lock-bucket-delete");
    expect([res.status, await code(res)]).toEqual([409, "BucketNotEmpty"]);
    expect((await s3(owner, "HEAD", "/lock-bucket-delete")).status).toBe(200);
  });
});

describe("the lock is the bucket's own", () => {
  it("another account can neither read nor change a version's lock", async () => {
    const other = await createAccountWithKey("object-lock-other");
    await lockedBucket("lock-isolated");
    const versionId = await putLocked("lock-isolated", "k", { "x-amz-object-lock-mode": "GOVERNANCE", "x-amz-object-lock-retain-until-date": inDays(1) });
    const client = new AwsClient({ accessKeyId: other.accessKeyId, secretAccessKey: other.secretAccessKey, service: "s3", region: "us-east-1", retries: 0 });
    const body = "<Retention/>";
    const signed = await client.sign(`${EDGE}/lock-isolated/k?retention&versionId=${versionId}`, {
      method: "PUT",
      body,
      headers: { "content-md5": await md5(body), "x-amz-bypass-governance-retention": "true" },
    });
    const res = await SELF.fetch(signed);
    expect(res.status).toBe(403);
    expect((await s3(other, "DELETE", `/lock-isolated/k?versionId=${versionId}`, { headers: { "x-amz-bypass-governance-retention": "true" } })).status).toBe(403);
    expect(xmlField(await (await s3(owner, "GET", `/lock-isolated/k?retention&versionId=${versionId}`)).text(), "Mode")).toBe("GOVERNANCE");
  });
});
