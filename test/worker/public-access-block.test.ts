// Block Public Access per bucket through the S3 surface: Put/Get/DeletePublicAccessBlock and what each of the four
// flags does to ACLs and bucket policies, as S3 documents them
// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html).

import { SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { recordedChanges } from "./access-audit-helpers.ts";
import { checkedS3Response, createAccountWithKey, EDGE, s3, xmlField, type TestAccount } from "./helpers.ts";

let owner: TestAccount;
let other: TestAccount;

beforeAll(async () => {
  owner = await createAccountWithKey("pab-owner");
  other = await createAccountWithKey("pab-other");
});

const ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers";
const anonymous = (method: string, path: string) => SELF.fetch(`${EDGE}${path}`, { method }).then((r) => checkedS3Response(r, `${method} ${path}`));

async function code(res: Response | Promise<Response>): Promise<string> {
  const r = await res;
  if (r.status < 300) return String(r.status);
  return `${r.status} ${xmlField(await r.text(), "Code") ?? ""}`;
}

async function bucketWith(name: string, objects: Record<string, string> = {}): Promise<string> {
  expect((await s3(owner, "PUT", `/${name}`)).status).toBe(200);
  for (const [key, body] of Object.entries(objects)) expect((await s3(owner, "PUT", `/${name}/${key}`, { body })).status).toBe(200);
  return name;
}

type Flags = Partial<Record<"BlockPublicAcls" | "IgnorePublicAcls" | "BlockPublicPolicy" | "RestrictPublicBuckets", boolean>>;

async function block(bucket: string, flags: Flags): Promise<void> {
  const body = `<PublicAccessBlockConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${Object.entries(flags)
    .map(([k, v]) => `<${k}>${v}</${k}>`)
    .join("")}</PublicAccessBlockConfiguration>`;
  const res = await s3(owner, "PUT", `/${bucket}?publicAccessBlock`, { body });
  expect(res.status, await res.clone().text()).toBe(200);
}

const publicPolicy = (b: string) => JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: `arn:aws:s3:::${b}/*` }] });

describe("Put/Get/DeletePublicAccessBlock", () => {
  it("stores the four flags, answers them (absent ones false), and deletes them; none is 404 NoSuchPublicAccessBlockConfiguration", async () => {
    const b = await bucketWith("pab-crud");
    expect(await code(s3(owner, "GET", `/${b}?publicAccessBlock`))).toBe("404 NoSuchPublicAccessBlockConfiguration");
    await block(b, { BlockPublicAcls: true, RestrictPublicBuckets: true });
    const got = await (await s3(owner, "GET", `/${b}?publicAccessBlock`)).text();
    expect(xmlField(got, "BlockPublicAcls")).toBe("true");
    expect(xmlField(got, "IgnorePublicAcls")).toBe("false");
    expect(xmlField(got, "BlockPublicPolicy")).toBe("false");
    expect(xmlField(got, "RestrictPublicBuckets")).toBe("true");
    expect((await s3(owner, "DELETE", `/${b}?publicAccessBlock`)).status).toBe(204);
    expect(await code(s3(owner, "GET", `/${b}?publicAccessBlock`))).toBe("404 NoSuchPublicAccessBlockConfiguration");
  });

  it("is the owner's to change: another account and anonymous callers are refused", async () => {
    const b = await bucketWith("pab-owner-only");
    expect(await code(s3(other, "PUT", `/${b}?publicAccessBlock`, { body: "<PublicAccessBlockConfiguration/>" }))).toBe("403 AccessDenied");
    expect(await code(s3(other, "GET", `/${b}?publicAccessBlock`))).toBe("403 AccessDenied");
    expect(await code(anonymous("DELETE", `/${b}?publicAccessBlock`))).toBe("403 AccessDenied");
  });

  it("refuses a document that is not a PublicAccessBlockConfiguration of booleans", async () => {
    const b = await bucketWith("pab-malformed");
    for (const body of ["<PublicAccessBlockConfiguration><BlockPublicAcls>yes</BlockPublicAcls></PublicAccessBlockConfiguration>", "<Other/>", "<PublicAccessBlockConfiguration><Block>true</Block></PublicAccessBlockConfiguration>"]) {
      expect(await code(s3(owner, "PUT", `/${b}?publicAccessBlock`, { body })), body).toBe("400 MalformedXML");
    }
    expect(await code(s3(owner, "GET", `/${b}?publicAccessBlock`))).toBe("404 NoSuchPublicAccessBlockConfiguration");
  });
});

describe("BlockPublicAcls", () => {
  it("refuses public ACLs on PutBucketAcl, PutObjectAcl and PutObject with AccessDenied, and lets private ones through", async () => {
    const b = await bucketWith("pab-block-acls", { "k.txt": "k" });
    await block(b, { BlockPublicAcls: true });
    expect(await code(s3(owner, "PUT", `/${b}?acl`, { headers: { "x-amz-acl": "public-read" } }))).toBe("403 AccessDenied");
    expect(await code(s3(owner, "PUT", `/${b}?acl`, { headers: { "x-amz-grant-read": `uri="${ALL_USERS}"` } }))).toBe("403 AccessDenied");
    expect(await code(s3(owner, "PUT", `/${b}/k.txt?acl`, { headers: { "x-amz-acl": "authenticated-read" } }))).toBe("403 AccessDenied");
    expect(await code(s3(owner, "PUT", `/${b}/new.txt`, { body: "n", headers: { "x-amz-acl": "public-read" } }))).toBe("403 AccessDenied");
    expect((await s3(owner, "HEAD", `/${b}/new.txt`)).status).toBe(404);
    expect((await s3(owner, "PUT", `/${b}/k.txt?acl`, { headers: { "x-amz-grant-read": `id="${other.id}"` } })).status).toBe(200);
    expect((await s3(owner, "PUT", `/${b}?acl`, { headers: { "x-amz-acl": "private" } })).status).toBe(200);
    expect(await code(anonymous("GET", `/${b}/k.txt`))).toBe("403 AccessDenied");
  });
});

describe("IgnorePublicAcls", () => {
  it("ignores public grants already in place, and honours them again once lifted; grants to accounts still work", async () => {
    const b = await bucketWith("pab-ignore", { "k.txt": "k", "mine.txt": "mine" });
    expect((await s3(owner, "PUT", `/${b}/k.txt?acl`, { headers: { "x-amz-acl": "public-read" } })).status).toBe(200);
    expect((await s3(owner, "PUT", `/${b}/mine.txt?acl`, { headers: { "x-amz-grant-read": `id="${other.id}"` } })).status).toBe(200);
    expect((await s3(owner, "PUT", `/${b}?acl`, { headers: { "x-amz-acl": "public-read" } })).status).toBe(200);
    expect(await (await anonymous("GET", `/${b}/k.txt`)).text()).toBe("k");
    await block(b, { IgnorePublicAcls: true });
    expect(await code(anonymous("GET", `/${b}/k.txt`))).toBe("403 AccessDenied");
    expect(await code(anonymous("GET", `/${b}?list-type=2`))).toBe("403 AccessDenied");
    expect(await code(s3(other, "GET", `/${b}/k.txt`))).toBe("403 AccessDenied");
    expect(await (await s3(other, "GET", `/${b}/mine.txt`)).text()).toBe("mine");
    // Still accepted (only BlockPublicAcls refuses them), but without effect.
    expect((await s3(owner, "PUT", `/${b}/k.txt?acl`, { headers: { "x-amz-acl": "public-read-write" } })).status).toBe(200);
    expect(await code(anonymous("GET", `/${b}/k.txt`))).toBe("403 AccessDenied");
    expect((await s3(owner, "DELETE", `/${b}?publicAccessBlock`)).status).toBe(204);
    expect(await (await anonymous("GET", `/${b}/k.txt`)).text()).toBe("k");
  });
});

describe("BlockPublicPolicy", () => {
  it("refuses a public bucket policy with AccessDenied and accepts one limited to named accounts", async () => {
    const b = await bucketWith("pab-block-policy");
    await block(b, { BlockPublicPolicy: true });
    expect(await code(s3(owner, "PUT", `/${b}?policy`, { body: publicPolicy(b) }))).toBe("403 AccessDenied");
    expect(await code(s3(owner, "GET", `/${b}?policy`))).toBe("404 NoSuchBucketPolicy");
    const named = JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { AWS: other.id }, Action: "s3:GetObject", Resource: `arn:aws:s3:::${b}/*` }] });
    expect((await s3(owner, "PUT", `/${b}?policy`, { body: named })).status).toBe(204);
  });
});

describe("RestrictPublicBuckets", () => {
  it("limits a public policy to the owner's account: anonymous callers and other accounts are refused, even ones it names", async () => {
    const b = await bucketWith("pab-restrict", { "k.txt": "k" });
    const policy = JSON.stringify({
      Version: "2012-10-17",
      Statement: [
        { Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: `arn:aws:s3:::${b}/*` },
        { Effect: "Allow", Principal: { AWS: other.id }, Action: "s3:ListBucket", Resource: `arn:aws:s3:::${b}` },
      ],
    });
    expect((await s3(owner, "PUT", `/${b}?policy`, { body: policy })).status).toBe(204);
    expect(await (await anonymous("GET", `/${b}/k.txt`)).text()).toBe("k");
    expect((await s3(other, "GET", `/${b}?list-type=2`)).status).toBe(200);
    await block(b, { RestrictPublicBuckets: true });
    expect(await code(anonymous("GET", `/${b}/k.txt`))).toBe("403 AccessDenied");
    expect(await code(s3(other, "GET", `/${b}/k.txt`))).toBe("403 AccessDenied");
    expect(await code(s3(other, "GET", `/${b}?list-type=2`))).toBe("403 AccessDenied");
    expect(await (await s3(owner, "GET", `/${b}/k.txt`)).text()).toBe("k");
  });

  it("leaves a policy that is not public in force", async () => {
    const b = await bucketWith("pab-restrict-named", { "k.txt": "k" });
    const named = JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { AWS: other.id }, Action: "s3:GetObject", Resource: `arn:aws:s3:::${b}/*` }] });
    expect((await s3(owner, "PUT", `/${b}?policy`, { body: named })).status).toBe(204);
    await block(b, { RestrictPublicBuckets: true, IgnorePublicAcls: true, BlockPublicAcls: true, BlockPublicPolicy: true });
    expect(await (await s3(other, "GET", `/${b}/k.txt`)).text()).toBe("k");
  });
});

describe("access audit", () => {
  it("records Put and DeletePublicAccessBlock with what was in force before", async () => {
    const b = await bucketWith("pab-audit");
    await block(b, { BlockPublicAcls: true });
    await block(b, { BlockPublicAcls: true, IgnorePublicAcls: true });
    expect((await s3(owner, "DELETE", `/${b}?publicAccessBlock`)).status).toBe(204);
    const entries = (await recordedChanges(owner, [`arn:aws:s3:::${b}`])).filter((e) => e.action !== "CreateBucket");
    const off = { blockPublicAcls: false, ignorePublicAcls: false, blockPublicPolicy: false, restrictPublicBuckets: false };
    expect(entries).toEqual([
      expect.objectContaining({ action: "PutPublicAccessBlock", before: null, after: { ...off, blockPublicAcls: true } }),
      expect.objectContaining({ action: "PutPublicAccessBlock", before: { ...off, blockPublicAcls: true }, after: { ...off, blockPublicAcls: true, ignorePublicAcls: true } }),
      expect.objectContaining({ action: "DeletePublicAccessBlock", before: { ...off, blockPublicAcls: true, ignorePublicAcls: true }, after: null }),
    ]);
  });
});
