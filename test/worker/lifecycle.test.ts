// Lifecycle rules and the chore that applies them: expiration by prefix, tag and age; abandoned uploads.
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
  owner = await createAccountWithKey("lifecycle-owner");
});

async function indexOf(bucket: string) {
  const row = await e.DB.prepare("SELECT id FROM buckets WHERE name = ?").bind(bucket).first<{ id: string }>();
  return e.BUCKET_INDEX.get(e.BUCKET_INDEX.idFromName(row!.id));
}

function record(key: string, ageDays: number, tags?: Record<string, string>): ObjectRecord {
  return { key, size: 1, etag: "0cc175b9c0f1b6a831c399e269772661", lastModified: Date.now() - ageDays * DAY, headers: {}, userMetadata: {}, storageClass: "STANDARD", segments: [], tags };
}

const rules = `<LifecycleConfiguration>
  <Rule><ID>logs</ID><Filter><Prefix>logs/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>7</Days></Expiration></Rule>
  <Rule><ID>scratch</ID><Filter><Tag><Key>class</Key><Value>scratch</Value></Tag></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>
  <Rule><ID>uploads</ID><Filter><Prefix></Prefix></Filter><Status>Enabled</Status><AbortIncompleteMultipartUpload><DaysAfterInitiation>2</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>
  <Rule><ID>off</ID><Filter><Prefix>keep/</Prefix></Filter><Status>Disabled</Status><Expiration><Days>1</Days></Expiration></Rule>
</LifecycleConfiguration>`;

describe("bucket lifecycle", () => {
  it("stores and returns the rules, and refuses what it cannot apply", async () => {
    await s3(owner, "PUT", "/lc-config");
    expect(xmlField(await (await s3(owner, "GET", "/lc-config?lifecycle")).text(), "Code")).toBe("NoSuchLifecycleConfiguration");
    expect((await s3(owner, "PUT", "/lc-config?lifecycle", { body: rules })).status).toBe(200);
    const got = await (await s3(owner, "GET", "/lc-config?lifecycle")).text();
    expect(got).toContain("<ID>logs</ID>");
    expect(got).toContain("<DaysAfterInitiation>2</DaysAfterInitiation>");
    const transition = `<LifecycleConfiguration><Rule><Status>Enabled</Status><Filter><Prefix/></Filter><Transition><Days>1</Days><StorageClass>GLACIER</StorageClass></Transition></Rule></LifecycleConfiguration>`;
    expect((await s3(owner, "PUT", "/lc-config?lifecycle", { body: transition })).status).toBe(501);
    expect((await s3(owner, "DELETE", "/lc-config?lifecycle")).status).toBe(204);
  });

  it("expires objects by prefix, tag and age, and aborts abandoned uploads, leaving everything else", async () => {
    await s3(owner, "PUT", "/lc-apply");
    await s3(owner, "PUT", "/lc-apply?lifecycle", { body: rules });
    const index = await indexOf("lc-apply");
    for (const r of [
      record("logs/old", 30),
      record("logs/new", 1),
      record("data/scratch-old", 3, { class: "scratch" }),
      record("data/kept-old", 30, { class: "precious" }),
      record("keep/old", 30),
    ]) {
      await index.putObject(r);
    }
    await index.createUpload({ uploadId: "stale-upload", key: "big/file", initiated: Date.now() - 5 * DAY, headers: {}, userMetadata: {} });
    await index.createUpload({ uploadId: "fresh-upload", key: "big/other", initiated: Date.now(), headers: {}, userMetadata: {} });

    const report = await runBucketLifecycle(e, new Date());
    expect(report.expiredObjects).toBeGreaterThanOrEqual(2);
    const keys = (await index.listObjects({ prefix: "", delimiter: "", maxKeys: 1000 })).contents.map((o) => o.key);
    expect(keys).toEqual(["data/kept-old", "keep/old", "logs/new"]);
    expect(await index.getUpload("stale-upload")).toBeNull();
    expect(await index.getUpload("fresh-upload")).not.toBeNull();
  });

  it("aborts uploads older than the network-wide limit even without a rule", async () => {
    await s3(owner, "PUT", "/lc-abandoned");
    const index = await indexOf("lc-abandoned");
    const hours = Number(e.MULTIPART_ABANDON_AFTER_HOURS);
    await index.createUpload({ uploadId: "ancient", key: "x", initiated: Date.now() - (hours + 1) * 3600_000, headers: {}, userMetadata: {} });
    await runBucketLifecycle(e, new Date());
    expect(await index.getUpload("ancient")).toBeNull();
  });
});
