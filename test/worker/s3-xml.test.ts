// The S3 XML surface: documents real clients can parse (ACLs with xsi:type), malformed request bodies answered
// MalformedXML (never 500), entity expansion refused, and internal errors kept out of DeleteObjects results.

import { env, runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { Env } from "../../src/env.ts";
import type { ObjectRecord } from "../../src/services/object-model.ts";
import { createAccountWithKey, s3, xmlField, type TestAccount } from "./helpers.ts";

let owner: TestAccount;

const workerEnv = env as unknown as Env;

async function bucketIndexOf(bucket: string) {
  const row = await workerEnv.DB.prepare("SELECT id FROM buckets WHERE name = ?").bind(bucket).first<{ id: string }>();
  return workerEnv.BUCKET_INDEX.get(workerEnv.BUCKET_INDEX.idFromName(row!.id));
}

async function seedObject(bucket: string, key: string): Promise<void> {
  const record: ObjectRecord = { key, size: 1, etag: "0cc175b9c0f1b6a831c399e269772661", lastModified: Date.now(), headers: {}, userMetadata: {}, storageClass: "STANDARD", segments: [] };
  await (await bucketIndexOf(bucket)).putObject(record);
}

beforeAll(async () => {
  owner = await createAccountWithKey("xml-owner");
});

describe("ACL documents", () => {
  // The AWS SDK's reading of these documents is checked against the running network (test/e2e/s3-surface.test.ts):
  // its browser build, the one that loads in workerd, needs a DOMParser that workerd does not have.
  it("declare the xsi namespace and give each Grantee its xsi:type, as S3 writes them", async () => {
    expect((await s3(owner, "PUT", "/acl-xml", { headers: { "x-amz-acl": "public-read" } })).status).toBe(200);
    await seedObject("acl-xml", "doc.txt");
    for (const path of ["/acl-xml?acl", "/acl-xml/doc.txt?acl"]) {
      const acl = await (await s3(owner, "GET", path)).text();
      const grants = [...acl.matchAll(/<Grant>([\s\S]*?)<\/Grant>/g)].map((m) => m[1]);
      expect(grants, path).toEqual([
        `<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID>${owner.id}</ID><DisplayName>${owner.id}</DisplayName></Grantee><Permission>FULL_CONTROL</Permission>`,
        `<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>READ</Permission>`,
      ]);
    }
  });

  it("answers an AccessControlPolicy body without an AccessControlList with 400 MalformedACLError", async () => {
    const body = `<AccessControlPolicy><Owner><ID>${owner.id}</ID></Owner></AccessControlPolicy>`;
    const res = await s3(owner, "PUT", "/acl-xml?acl", { body });
    expect(res.status).toBe(400);
    expect(xmlField(await res.text(), "Code")).toBe("MalformedACLError");
  });
});

describe("malformed XML bodies", () => {
  const bucket = "xml-bodies";

  beforeAll(async () => {
    expect((await s3(owner, "PUT", `/${bucket}`)).status).toBe(200);
    await seedObject(bucket, "tagged");
    expect((await s3(owner, "PUT", `/${bucket}/tagged?tagging`, { body: "<Tagging><TagSet><Tag><Key>colour</Key><Value>blue</Value></Tag></TagSet></Tagging>" })).status).toBe(200);
  });

  // Each operation that reads an XML body, with a well-formed skeleton around the bad part.
  const documents: [string, string, (bad: string) => string][] = [
    ["PUT", `/${bucket}/tagged?tagging`, (bad) => `<Tagging><TagSet><Tag><Key>k${bad}</Key><Value>v</Value></Tag></TagSet></Tagging>`],
    ["PUT", `/${bucket}?tagging`, (bad) => `<Tagging><TagSet><Tag><Key>k${bad}</Key><Value>v</Value></Tag></TagSet></Tagging>`],
    ["POST", `/${bucket}?delete`, (bad) => `<Delete><Object><Key>tagged${bad}</Key></Object></Delete>`],
    ["POST", `/${bucket}/big?uploadId=0123456789abcdef`, (bad) => `<CompleteMultipartUpload><Part><PartNumber>1${bad}</PartNumber><ETag>"0cc175b9c0f1b6a831c399e269772661"</ETag></Part></CompleteMultipartUpload>`],
    ["PUT", `/${bucket}?lifecycle`, (bad) => `<LifecycleConfiguration><Rule><ID>r${bad}</ID><Filter><Prefix></Prefix></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>`],
    ["PUT", `/${bucket}?cors`, (bad) => `<CORSConfiguration><CORSRule><AllowedOrigin>*${bad}</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>`],
    ["PUT", `/${bucket}?versioning`, (bad) => `<VersioningConfiguration><Status>Enabled${bad}</Status></VersioningConfiguration>`],
    ["PUT", `/${bucket}?encryption`, (bad) => `<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256${bad}</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>`],
    ["PUT", `/${bucket}?acl`, (bad) => `<AccessControlPolicy><Owner><ID>x${bad}</ID></Owner></AccessControlPolicy>`],
    ["PUT", `/${bucket}/tagged?acl`, (bad) => `<AccessControlPolicy><Owner><ID>x${bad}</ID></Owner></AccessControlPolicy>`],
    ["PUT", `/${bucket}?ownershipControls`, (bad) => `<OwnershipControls><Rule><ObjectOwnership>ObjectWriter${bad}</ObjectOwnership></Rule></OwnershipControls>`],
    ["PUT", `/${bucket}?publicAccessBlock`, (bad) => `<PublicAccessBlockConfiguration><BlockPublicAcls>true${bad}</BlockPublicAcls></PublicAccessBlockConfiguration>`],
    ["PUT", "/xml-bodies-new", (bad) => `<CreateBucketConfiguration><LocationConstraint>us-east-1${bad}</LocationConstraint></CreateBucketConfiguration>`],
  ];
  const defects: [string, string][] = [
    ["a character reference beyond Unicode", "&#x110000;"],
    ["a decimal character reference beyond Unicode", "&#1114112;"],
    ["a reference to a character XML forbids", "&#0;"],
    ["a surrogate character reference", "&#xD800;"],
    ["an undeclared entity", "&nope;"],
    ["an unbound namespace prefix", "<x:y/>"],
    ["a mismatched close tag", "<a></b>"],
  ];

  for (const [what, bad] of defects) {
    it(`answers 400 MalformedXML for ${what} in every XML body, and stores nothing`, async () => {
      for (const [method, path, document] of documents) {
        const res = await s3(owner, method, path, { body: document(bad) });
        const body = await res.text();
        expect(res.status, `${method} ${path}: ${body}`).toBe(400);
        expect(xmlField(body, "Code"), `${method} ${path}`).toBe("MalformedXML");
      }
      const tags = await (await s3(owner, "GET", `/${bucket}/tagged?tagging`)).text();
      expect(tags).toContain("<Key>colour</Key><Value>blue</Value>");
      expect((await s3(owner, "HEAD", `/${bucket}/tagged`)).status).toBe(200);
      expect((await s3(owner, "HEAD", "/xml-bodies-new")).status).toBe(404);
      expect((await s3(owner, "GET", `/${bucket}?ownershipControls`)).status).toBe(404);
      expect((await s3(owner, "GET", `/${bucket}?publicAccessBlock`)).status).toBe(404);
    });
  }

  it("refuses a DOCTYPE, so entities cannot expand (billion laughs)", async () => {
    const laughs = [`<!ENTITY lol "lol">`, ...Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i || ""};`.repeat(10)}">`)].join("");
    const body = `<?xml version="1.0"?><!DOCTYPE Tagging [${laughs}]><Tagging><TagSet><Tag><Key>k</Key><Value>&lol9;</Value></Tag></TagSet></Tagging>`;
    const res = await s3(owner, "PUT", `/${bucket}/tagged?tagging`, { body });
    expect(res.status).toBe(400);
    expect(xmlField(await res.text(), "Code")).toBe("MalformedXML");
    // Even a DOCTYPE that declares nothing.
    const plain = await s3(owner, "PUT", `/${bucket}/tagged?tagging`, { body: `<!DOCTYPE Tagging><Tagging><TagSet></TagSet></Tagging>` });
    expect(xmlField(await plain.text(), "Code")).toBe("MalformedXML");
    expect(await (await s3(owner, "GET", `/${bucket}/tagged?tagging`)).text()).toContain("<Key>colour</Key><Value>blue</Value>");
  });

  it("still reads well-formed bodies with references, CDATA and a namespace prefix", async () => {
    const body = `<?xml version="1.0" encoding="UTF-8"?>
<s3:Tagging xmlns:s3="http://s3.amazonaws.com/doc/2006-03-01/"><s3:TagSet><s3:Tag><s3:Key>a&amp;b&#x1F600;</s3:Key><s3:Value><![CDATA[<v>]]></s3:Value></s3:Tag></s3:TagSet></s3:Tagging>`;
    expect((await s3(owner, "PUT", `/${bucket}/tagged?tagging`, { body })).status).toBe(200);
    expect(await (await s3(owner, "GET", `/${bucket}/tagged?tagging`)).text()).toContain("<Key>a&amp;b\u{1F600}</Key><Value>&lt;v&gt;</Value>");
  });
});

describe("DeleteObjects", () => {
  it("reports a key that failed inside the edge as InternalError with S3's message, not the internal error", async () => {
    expect((await s3(owner, "PUT", "/delete-leak")).status).toBe(200);
    await seedObject("delete-leak", "fine");
    await seedObject("delete-leak", "corrupt");
    // A bucket-index row that no longer parses: deleting that key fails inside the edge.
    await runInDurableObject(await bucketIndexOf("delete-leak"), (_instance, state: DurableObjectState) => {
      state.storage.sql.exec("UPDATE objects SET record = ? WHERE key = ?", "{not json", "corrupt");
    });
    const res = await s3(owner, "POST", "/delete-leak?delete", { body: `<Delete><Object><Key>fine</Key></Object><Object><Key>corrupt</Key></Object></Delete>` });
    expect(res.status).toBe(200);
    const body = await res.text();
    expect(body).toContain("<Deleted><Key>fine</Key></Deleted>");
    const error = /<Error>([\s\S]*?)<\/Error>/.exec(body)?.[1] ?? "";
    expect(xmlField(error, "Code")).toBe("InternalError");
    expect(xmlField(error, "Message")).toBe("We encountered an internal error. Please try again.");
    expect(error).toContain("<Key>corrupt</Key>");
    expect(body).not.toMatch(/JSON|SyntaxError|Error:/);
  });
});
