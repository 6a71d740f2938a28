// Lifecycle configuration as S3 defines it (issue 15): every Filter form, NoncurrentVersionExpiration and
// ExpiredObjectDeleteMarker, rule ID and date validation, GET returning the rules as set, and the chore applying
// size filters, noncurrent expiration and lone delete markers.

import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { Env } from "../../src/env.ts";
import type { ObjectRecord } from "../../src/services/object-model.ts";
import { runOnce as runBucketLifecycle } from "../../workers/cron/bucket-lifecycle.ts";
import { createAccountWithKey, s3, xmlField, type TestAccount } from "./helpers.ts";

const DAY = 24 * 3600 * 1000;
const e = env as unknown as Env;
let owner: TestAccount;

beforeAll(async () => {
  owner = await createAccountWithKey("lifecycle-rules-owner");
});

async function indexOf(bucket: string) {
  const row = await e.DB.prepare("SELECT id FROM buckets WHERE name = ?").bind(bucket).first<{ id: string }>();
  return e.BUCKET_INDEX.get(e.BUCKET_INDEX.idFromName(row!.id));
}

const lifecycle = (...rules: string[]) => `<LifecycleConfiguration>${rules.join("")}</LifecycleConfiguration>`;

async function putLifecycle(bucket: string, body: string): Promise<Response> {
  return s3(owner, "PUT", `/${bucket}?lifecycle`, { body });
}

async function expectRefused(bucket: string, body: string, code: string, what: string): Promise<void> {
  const res = await putLifecycle(bucket, body);
  expect(res.status, what).toBe(400);
  expect(xmlField(await res.text(), "Code"), what).toBe(code);
}

describe("lifecycle configuration", () => {
  it("returns every rule as it was set", async () => {
    await s3(owner, "PUT", "/lc-forms");
    const rules = [
      "<Rule><ID>legacy</ID><Prefix>old/</Prefix><Status>Enabled</Status><Expiration><Days>3</Days></Expiration></Rule>",
      "<Rule><ID>prefix</ID><Filter><Prefix>logs/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>7</Days></Expiration></Rule>",
      "<Rule><ID>tag</ID><Filter><Tag><Key>class</Key><Value>scratch</Value></Tag></Filter><Status>Disabled</Status><Expiration><Date>2030-01-01T00:00:00Z</Date></Expiration></Rule>",
      "<Rule><ID>big</ID><Filter><ObjectSizeGreaterThan>1048576</ObjectSizeGreaterThan></Filter><Status>Enabled</Status><Expiration><Days>30</Days></Expiration></Rule>",
      "<Rule><ID>and</ID><Filter><And><Prefix>data/</Prefix><Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>b</Key><Value></Value></Tag><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan><ObjectSizeLessThan>1000</ObjectSizeLessThan></And></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>",
      "<Rule><ID>versions</ID><Filter></Filter><Status>Enabled</Status><Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration><NoncurrentVersionExpiration><NoncurrentDays>30</NoncurrentDays><NewerNoncurrentVersions>2</NewerNoncurrentVersions></NoncurrentVersionExpiration><AbortIncompleteMultipartUpload><DaysAfterInitiation>2</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>",
    ];
    expect((await putLifecycle("lc-forms", lifecycle(...rules))).status).toBe(200);
    const got = await (await s3(owner, "GET", "/lc-forms?lifecycle")).text();
    // An empty element may come back self-closed.
    const returned = [...got.matchAll(/<Rule>[\s\S]*?<\/Rule>/g)].map((m) => m[0].replace("<Filter/>", "<Filter></Filter>"));
    expect(returned).toEqual(rules);
  });

  it("names a rule given without an ID, as S3 does", async () => {
    await s3(owner, "PUT", "/lc-unnamed");
    expect((await putLifecycle("lc-unnamed", lifecycle("<Rule><Filter><Prefix>x/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>"))).status).toBe(200);
    expect(xmlField(await (await s3(owner, "GET", "/lc-unnamed?lifecycle")).text(), "ID")).toMatch(/^\S{1,255}$/);
  });

  it("refuses long or repeated rule IDs, dates not at midnight UTC and malformed filters and expirations", async () => {
    await s3(owner, "PUT", "/lc-invalid");
    const rule = (id: string, filter: string, action: string) => `<Rule><ID>${id}</ID>${filter}<Status>Enabled</Status>${action}</Rule>`;
    const days = "<Expiration><Days>1</Days></Expiration>";
    const any = "<Filter><Prefix></Prefix></Filter>";
    await expectRefused("lc-invalid", lifecycle(rule("x".repeat(256), any, days)), "InvalidArgument", "a 256-character ID");
    expect((await putLifecycle("lc-invalid", lifecycle(rule("x".repeat(255), any, days)))).status).toBe(200);
    await expectRefused("lc-invalid", lifecycle(rule("same", any, days), rule("same", "<Filter><Prefix>b/</Prefix></Filter>", days)), "InvalidArgument", "a repeated ID");
    await expectRefused("lc-invalid", lifecycle(rule("d", any, "<Expiration><Date>2030-01-01T12:00:00Z</Date></Expiration>")), "InvalidArgument", "a date at noon");
    await expectRefused("lc-invalid", lifecycle(rule("f", "<Filter><Prefix>a/</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></Filter>", days)), "MalformedXML", "two conditions without And");
    await expectRefused("lc-invalid", lifecycle(rule("s", "<Filter><And><ObjectSizeGreaterThan>100</ObjectSizeGreaterThan><ObjectSizeLessThan>100</ObjectSizeLessThan></And></Filter>", days)), "InvalidArgument", "an empty size range");
    await expectRefused("lc-invalid", lifecycle(rule("m", any, "<Expiration><Days>1</Days><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>")), "MalformedXML", "Days with ExpiredObjectDeleteMarker");
    await expectRefused("lc-invalid", lifecycle(rule("n", any, "<NoncurrentVersionExpiration><NewerNoncurrentVersions>1</NewerNoncurrentVersions></NoncurrentVersionExpiration>")), "MalformedXML", "no NoncurrentDays");
    await expectRefused("lc-invalid", lifecycle(rule("p", "<Prefix>a/</Prefix><Filter><Prefix>a/</Prefix></Filter>", days)), "MalformedXML", "Prefix and Filter");
    // The last valid configuration is still the one set.
    expect(await (await s3(owner, "GET", "/lc-invalid?lifecycle")).text()).toContain(`<ID>${"x".repeat(255)}</ID>`);
  });
});

function record(key: string, lastModified: number, size = 1, tags?: Record<string, string>): ObjectRecord {
  return { key, size, etag: "0cc175b9c0f1b6a831c399e269772661", lastModified, headers: {}, userMetadata: {}, storageClass: "STANDARD", segments: [], tags };
}

describe("the lifecycle chore", () => {
  it("expires by object size, expires noncurrent versions keeping the newest, and removes lone delete markers", async () => {
    await s3(owner, "PUT", "/lc-versions");
    await s3(owner, "PUT", "/lc-versions?versioning", { body: "<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>" });
    const now = Date.now();
    const index = await indexOf("lc-versions");
    // sized/: one small and one big object, both old.
    await index.putObject(record("sized/small", now - 40 * DAY, 10));
    await index.putObject(record("sized/big", now - 40 * DAY, 5000));
    // doc: four versions; three noncurrent, made noncurrent 50, 40 and 1 days ago.
    for (const age of [60, 50, 40, 1]) await index.putObject(record("doc", now - age * DAY));
    // gone: one object version, then a delete marker; once the version expires (rule "gone") the marker stands alone.
    await index.putObject(record("gone", now - 90 * DAY));
    await index.deleteObject("gone", undefined, now - 80 * DAY);
    // marker-only: a delete marker with a live version behind it stays.
    await index.putObject(record("kept", now - 5 * DAY));
    await index.deleteObject("kept", undefined, now - 4 * DAY);

    await putLifecycle(
      "lc-versions",
      lifecycle(
        "<Rule><ID>big</ID><Filter><And><Prefix>sized/</Prefix><ObjectSizeGreaterThan>1000</ObjectSizeGreaterThan></And></Filter><Status>Enabled</Status><Expiration><Days>30</Days></Expiration></Rule>",
        "<Rule><ID>noncurrent</ID><Filter/><Status>Enabled</Status><NoncurrentVersionExpiration><NoncurrentDays>30</NoncurrentDays><NewerNoncurrentVersions>2</NewerNoncurrentVersions></NoncurrentVersionExpiration></Rule>",
        "<Rule><ID>gone</ID><Filter><Prefix>gone</Prefix></Filter><Status>Enabled</Status><NoncurrentVersionExpiration><NoncurrentDays>30</NoncurrentDays></NoncurrentVersionExpiration></Rule>",
        "<Rule><ID>markers</ID><Filter/><Status>Enabled</Status><Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration></Rule>",
      ),
    );
    await runBucketLifecycle(e, new Date(now));

    const versions = async (prefix: string) =>
      (await index.listVersions({ prefix, delimiter: "", maxKeys: 1000, keyMarker: "", versionIdMarker: "" })).versions.map((v) => ({ key: v.key, marker: v.deleteMarker, age: Math.round((now - v.lastModified) / DAY) }));
    const current = (await index.listObjects({ prefix: "sized/", delimiter: "", maxKeys: 1000 })).contents.map((o) => o.key);
    expect(current).toEqual(["sized/small"]);
    // doc: the current version; the version noncurrent for a day; the one noncurrent for 40 days, kept as one of the
    // two newest noncurrent versions (NewerNoncurrentVersions: 2); the oldest, noncurrent for 50 days, is gone.
    expect((await versions("doc")).map((v) => v.age)).toEqual([1, 40, 50]);
    expect(await versions("gone")).toEqual([]);
    expect((await versions("kept")).map((v) => v.marker)).toEqual([true, false]);
  });
});
