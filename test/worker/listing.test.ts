// Listing semantics over the BucketIndex Durable Object: order, delimiters, pagination.
import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { Env } from "../../src/env.ts";
import type { ObjectRecord } from "../../src/services/object-model.ts";
import { createAccountWithKey, s3, type TestAccount } from "./helpers.ts";

let owner: TestAccount;

function record(key: string): ObjectRecord {
  return { key, size: 1, etag: "0cc175b9c0f1b6a831c399e269772661", lastModified: Date.now(), headers: {}, userMetadata: {}, storageClass: "STANDARD", segments: [] };
}

async function seed(bucket: string, keys: string[]): Promise<void> {
  expect((await s3(owner, "PUT", `/${bucket}`)).status).toBe(200);
  const row = await (env as unknown as Env).DB.prepare("SELECT id FROM buckets WHERE name = ?").bind(bucket).first<{ id: string }>();
  const index = (env as unknown as Env).BUCKET_INDEX.get((env as unknown as Env).BUCKET_INDEX.idFromName(row!.id));
  for (const key of keys) await index.putObject(record(key));
}

function keysOf(xml: string): string[] {
  return [...xml.matchAll(/<Key>([\s\S]*?)<\/Key>/g)].map((m) => m[1]!.replace(/&amp;/g, "&").replace(/&lt;/g, "<"));
}
function prefixesOf(xml: string): string[] {
  return [...xml.matchAll(/<Prefix>([\s\S]*?)<\/Prefix>/g)].map((m) => m[1]!).slice(1);
}
const tokenOf = (xml: string) => /<NextContinuationToken>([^<]+)</.exec(xml)?.[1];

beforeAll(async () => {
  owner = await createAccountWithKey("lister");
});

describe("ListObjectsV2", () => {
  const keys = ["a", "a/b", "a/c/d", "b", "b c", "b+c", "b%c", "é", "日本", "\u{1F600}", "z/1", "z/2", "z//3"];

  it("lists keys in UTF-8 binary order", async () => {
    await seed("list-order", keys);
    const xml = await (await s3(owner, "GET", "/list-order?list-type=2")).text();
    const expected = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    expect(keysOf(xml)).toEqual(expected);
  });

  it("rolls keys up into CommonPrefixes with a delimiter and a prefix", async () => {
    await seed("list-delim", keys);
    const root = await (await s3(owner, "GET", "/list-delim?list-type=2&delimiter=%2F")).text();
    expect(prefixesOf(root)).toEqual(["a/", "z/"]);
    expect(keysOf(root)).not.toContain("a/b");
    const z = await (await s3(owner, "GET", "/list-delim?list-type=2&delimiter=%2F&prefix=z%2F")).text();
    expect(keysOf(z)).toEqual(["z/1", "z/2"]);
    expect(prefixesOf(z)).toEqual(["z//"]);
  });

  it("pages through every key exactly once with max-keys and continuation tokens", async () => {
    const many = Array.from({ length: 37 }, (_, i) => `dir${i % 4}/file-${String(i).padStart(3, "0")}`).concat(["top-1", "top-2"]);
    await seed("list-pages", many);
    for (const delimiter of ["", "/"]) {
      const seen: string[] = [];
      let token: string | undefined;
      let pages = 0;
      do {
        const q = `/list-pages?list-type=2&max-keys=3${delimiter ? "&delimiter=%2F" : ""}${token ? `&continuation-token=${encodeURIComponent(token)}` : ""}`;
        const xml = await (await s3(owner, "GET", q)).text();
        seen.push(...keysOf(xml), ...prefixesOf(xml));
        token = tokenOf(xml);
        pages++;
      } while (token && pages < 100);
      const expected = delimiter ? ["dir0/", "dir1/", "dir2/", "dir3/", "top-1", "top-2"] : [...many].sort();
      expect([...seen].sort(), `delimiter '${delimiter}'`).toEqual([...expected].sort());
      expect(new Set(seen).size).toBe(seen.length);
    }
  });

  it("starts after start-after and refuses a garbage continuation token", async () => {
    await seed("list-after", ["k1", "k2", "k3"]);
    expect(keysOf(await (await s3(owner, "GET", "/list-after?list-type=2&start-after=k1")).text())).toEqual(["k2", "k3"]);
    const bad = await s3(owner, "GET", "/list-after?list-type=2&continuation-token=%%%");
    expect(bad.status).toBe(400);
  });

  it("refuses to delete a bucket that still has objects", async () => {
    await seed("list-nonempty", ["still-here"]);
    const res = await s3(owner, "DELETE", "/list-nonempty");
    expect(res.status).toBe(409);
    expect(await res.text()).toContain("<Code>BucketNotEmpty</Code>");
  });
});
