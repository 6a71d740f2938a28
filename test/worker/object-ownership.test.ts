// Object Ownership through the S3 surface: Put/Get/DeleteBucketOwnershipControls, x-amz-object-ownership on
// CreateBucket, and what each setting does to ACLs and to who owns an object another account writes
// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/about-object-ownership.html).

import { SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { parseXml } from "../../src/s3/xml.ts";
import { recordedChanges } from "./access-audit-helpers.ts";
import { checkedS3Response, createAccountWithKey, EDGE, s3, xmlField, type TestAccount } from "./helpers.ts";

let owner: TestAccount;
let writer: TestAccount;

beforeAll(async () => {
  owner = await createAccountWithKey("own-owner");
  writer = await createAccountWithKey("own-writer");
});

const anonymous = (method: string, path: string) => SELF.fetch(`${EDGE}${path}`, { method }).then((r) => checkedS3Response(r, `${method} ${path}`));

async function code(res: Response | Promise<Response>): Promise<string> {
  const r = await res;
  if (r.status < 300) return String(r.status);
  return `${r.status} ${xmlField(await r.text(), "Code") ?? ""}`;
}

const controls = (ownership: string) => `<OwnershipControls xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Rule><ObjectOwnership>${ownership}</ObjectOwnership></Rule></OwnershipControls>`;

/** A bucket the writer may put objects in (a WRITE grant), with the given ownership (or none). */
async function sharedBucket(name: string, ownership?: string): Promise<string> {
  const res = await s3(owner, "PUT", `/${name}`, { headers: ownership ? { "x-amz-object-ownership": ownership } : {} });
  expect(res.status, await res.clone().text()).toBe(200);
  const grant = await s3(owner, "PUT", `/${name}?acl`, { headers: { "x-amz-grant-write": `id="${writer.id}"`, "x-amz-grant-full-control": `id="${owner.id}"` } });
  expect(grant.status, await grant.clone().text()).toBe(200);
  return name;
}

async function objectOwner(bucket: string, key: string): Promise<string | undefined> {
  const doc = parseXml(await (await s3(owner, "GET", `/${bucket}/${key}?acl`)).text())!;
  return doc.children.find((c) => c.name === "Owner")?.children.find((c) => c.name === "ID")?.text;
}

describe("Put/Get/DeleteBucketOwnershipControls", () => {
  it("stores one rule, answers it, deletes it; none is 404 OwnershipControlsNotFoundError", async () => {
    const b = "own-crud";
    expect((await s3(owner, "PUT", `/${b}`)).status).toBe(200);
    expect(await code(s3(owner, "GET", `/${b}?ownershipControls`))).toBe("404 OwnershipControlsNotFoundError");
    for (const ownership of ["ObjectWriter", "BucketOwnerPreferred", "BucketOwnerEnforced"]) {
      expect((await s3(owner, "PUT", `/${b}?ownershipControls`, { body: controls(ownership) })).status).toBe(200);
      expect(xmlField(await (await s3(owner, "GET", `/${b}?ownershipControls`)).text(), "ObjectOwnership")).toBe(ownership);
    }
    expect((await s3(owner, "DELETE", `/${b}?ownershipControls`)).status).toBe(204);
    expect(await code(s3(owner, "GET", `/${b}?ownershipControls`))).toBe("404 OwnershipControlsNotFoundError");
    expect(await code(s3(owner, "PUT", `/${b}?ownershipControls`, { body: controls("Everyone") }))).toBe("400 MalformedXML");
    expect(await code(s3(writer, "PUT", `/${b}?ownershipControls`, { body: controls("ObjectWriter") }))).toBe("403 AccessDenied");
    expect(await code(s3(writer, "GET", `/${b}?ownershipControls`))).toBe("403 AccessDenied");
  });

  it("is set by x-amz-object-ownership on CreateBucket, and an unknown value creates nothing", async () => {
    expect((await s3(owner, "PUT", "/own-at-birth", { headers: { "x-amz-object-ownership": "BucketOwnerPreferred" } })).status).toBe(200);
    expect(xmlField(await (await s3(owner, "GET", "/own-at-birth?ownershipControls")).text(), "ObjectOwnership")).toBe("BucketOwnerPreferred");
    expect(await code(s3(owner, "PUT", "/own-bad-value", { headers: { "x-amz-object-ownership": "Nobody" } }))).toBe("400 InvalidArgument");
    expect((await s3(owner, "HEAD", "/own-bad-value")).status).toBe(404);
  });

  it("records each change in the access audit log", async () => {
    expect((await s3(owner, "PUT", "/own-audit", { headers: { "x-amz-object-ownership": "ObjectWriter" } })).status).toBe(200);
    expect((await s3(owner, "PUT", "/own-audit?ownershipControls", { body: controls("BucketOwnerEnforced") })).status).toBe(200);
    expect((await s3(owner, "DELETE", "/own-audit?ownershipControls")).status).toBe(204);
    const entries = (await recordedChanges(owner, ["arn:aws:s3:::own-audit"])).filter((e) => !(e.after && typeof e.after === "object" && "cannedAcl" in e.after));
    expect(entries).toEqual([
      expect.objectContaining({ action: "CreateBucket", before: null, after: { objectOwnership: "ObjectWriter" } }),
      expect.objectContaining({ action: "PutBucketOwnershipControls", before: { objectOwnership: "ObjectWriter" }, after: { objectOwnership: "BucketOwnerEnforced" } }),
      expect.objectContaining({ action: "DeleteBucketOwnershipControls", before: { objectOwnership: "BucketOwnerEnforced" }, after: null }),
    ]);
  });
});

describe("BucketOwnerEnforced", () => {
  it("disables ACLs: any ACL but the owner's full control is 400 AccessControlListNotSupported, and reads answer the owner's full control", async () => {
    const b = "own-enforced";
    expect((await s3(owner, "PUT", `/${b}`, { headers: { "x-amz-object-ownership": "BucketOwnerEnforced" } })).status).toBe(200);
    expect((await s3(owner, "PUT", `/${b}/k.txt`, { body: "k" })).status).toBe(200);
    const refused: Record<string, string>[] = [{ "x-amz-acl": "public-read" }, { "x-amz-grant-read": `id="${writer.id}"` }];
    for (const headers of refused) {
      expect(await code(s3(owner, "PUT", `/${b}?acl`, { headers })), JSON.stringify(headers)).toBe("400 AccessControlListNotSupported");
      expect(await code(s3(owner, "PUT", `/${b}/k.txt?acl`, { headers })), JSON.stringify(headers)).toBe("400 AccessControlListNotSupported");
      expect(await code(s3(owner, "PUT", `/${b}/new.txt`, { body: "n", headers })), JSON.stringify(headers)).toBe("400 AccessControlListNotSupported");
    }
    expect((await s3(owner, "HEAD", `/${b}/new.txt`)).status).toBe(404);
    // bucket-owner-full-control and private are accepted, as S3 accepts them.
    expect((await s3(owner, "PUT", `/${b}/ok.txt`, { body: "ok", headers: { "x-amz-acl": "bucket-owner-full-control" } })).status).toBe(200);
    expect((await s3(owner, "PUT", `/${b}?acl`, { headers: { "x-amz-acl": "private" } })).status).toBe(200);
    const acl = await (await s3(owner, "GET", `/${b}?acl`)).text();
    expect(acl).toContain(`<ID>${owner.id}</ID>`);
    expect(acl.match(/<Grant>/g)).toHaveLength(1);
    expect(xmlField(acl, "Permission")).toBe("FULL_CONTROL");
    expect(await code(s3(owner, "PUT", "/own-enforced-public", { headers: { "x-amz-object-ownership": "BucketOwnerEnforced", "x-amz-acl": "public-read" } }))).toBe("400 AccessControlListNotSupported");
  });

  it("makes ACLs set before it of no effect", async () => {
    const b = "own-enforced-later";
    expect((await s3(owner, "PUT", `/${b}`)).status).toBe(200);
    expect((await s3(owner, "PUT", `/${b}/k.txt`, { body: "k", headers: { "x-amz-acl": "public-read" } })).status).toBe(200);
    expect(await (await anonymous("GET", `/${b}/k.txt`)).text()).toBe("k");
    expect((await s3(owner, "PUT", `/${b}?ownershipControls`, { body: controls("BucketOwnerEnforced") })).status).toBe(200);
    expect(await code(anonymous("GET", `/${b}/k.txt`))).toBe("403 AccessDenied");
    expect(await code(s3(writer, "GET", `/${b}/k.txt`))).toBe("403 AccessDenied");
  });

  it("cannot be set while the bucket's ACL grants anyone but its owner", async () => {
    const b = await sharedBucket("own-enforce-refused");
    expect(await code(s3(owner, "PUT", `/${b}?ownershipControls`, { body: controls("BucketOwnerEnforced") }))).toBe("400 InvalidRequest");
    expect(await code(s3(owner, "GET", `/${b}?ownershipControls`))).toBe("404 OwnershipControlsNotFoundError");
  });
});

describe("who owns what another account writes", () => {
  it("ObjectWriter: the writer owns its object and may read it, and no other object", async () => {
    const b = await sharedBucket("own-writer", "ObjectWriter");
    expect((await s3(writer, "PUT", `/${b}/w.txt`, { body: "by writer" })).status).toBe(200);
    expect(await objectOwner(b, "w.txt")).toBe(writer.id);
    expect(await (await s3(writer, "GET", `/${b}/w.txt`)).text()).toBe("by writer");
    expect((await s3(writer, "GET", `/${b}/w.txt?acl`)).status).toBe(200);
    // Its own object only: the bucket owner's objects stay closed to it.
    expect((await s3(owner, "PUT", `/${b}/o.txt`, { body: "by owner" })).status).toBe(200);
    expect(await code(s3(writer, "GET", `/${b}/o.txt`))).toBe("403 AccessDenied");
  });

  it("BucketOwnerPreferred: the bucket's owner owns what is written with bucket-owner-full-control, the writer what is not", async () => {
    const b = await sharedBucket("own-preferred", "BucketOwnerPreferred");
    expect((await s3(writer, "PUT", `/${b}/given.txt`, { body: "given", headers: { "x-amz-acl": "bucket-owner-full-control" } })).status).toBe(200);
    expect(await objectOwner(b, "given.txt")).toBe(owner.id);
    expect(await code(s3(writer, "GET", `/${b}/given.txt`))).toBe("403 AccessDenied");
    expect((await s3(writer, "PUT", `/${b}/kept.txt`, { body: "kept" })).status).toBe(200);
    expect(await objectOwner(b, "kept.txt")).toBe(writer.id);
    expect(await (await s3(writer, "GET", `/${b}/kept.txt`)).text()).toBe("kept");
  });

  it("BucketOwnerEnforced, and a bucket without ownership controls (as before): the bucket's owner owns everything", async () => {
    for (const [name, ownership] of [["own-enforced-write", "BucketOwnerEnforced"], ["own-legacy-write", undefined]] as const) {
      const b = `${name}`;
      expect((await s3(owner, "PUT", `/${b}`, { headers: ownership ? { "x-amz-object-ownership": ownership } : {} })).status).toBe(200);
      const policy = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { AWS: writer.id }, Action: "s3:PutObject", Resource: `arn:aws:s3:::${b}/*` }] };
      expect((await s3(owner, "PUT", `/${b}?policy`, { body: JSON.stringify(policy) })).status).toBe(204);
      expect((await s3(writer, "PUT", `/${b}/w.txt`, { body: "w" })).status, b).toBe(200);
      expect(await objectOwner(b, "w.txt"), b).toBe(owner.id);
      expect(await code(s3(writer, "GET", `/${b}/w.txt`)), b).toBe("403 AccessDenied");
    }
  });
});
