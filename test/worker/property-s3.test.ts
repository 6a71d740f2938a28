// Property-based tests of the S3 front door with bad input (issue 13, "Bad input"). Each run takes a valid request
// signed as clients sign them (the same aws4fetch signer as helpers.ts), breaks it one way, and sends it to a fresh
// bucket seeded with objects, tags and no configuration. The answer must be an S3 error document with a <Code> from
// the error table and that code's 4xx status, never a 500, and what the bucket held must read back exactly the same.
// fast-check prints `{ seed, path }` with a counterexample: pass both to fc.assert to replay it.

import { env, SELF } from "cloudflare:test";
import { AwsClient } from "aws4fetch";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { Env } from "../../src/env.ts";
import { sha256Hex } from "../../src/protocol/crypto.ts";
import type { ObjectRecord } from "../../src/services/object-model.ts";
import { createAccountWithKey, EDGE, s3, type TestAccount } from "./helpers.ts";
import { expectS3Error, PROPERTY_SEED } from "./property-support.ts";

const e = env as unknown as Env;
const EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e";
/** Seeded keys: a plain one, one under a prefix, one that needs percent-encoding. */
const SEEDED_KEYS = ["k1", "dir/k2", "ü ber+%.txt"];

let owner: TestAccount;
let bucketCounter = 0;

beforeAll(async () => {
  owner = await createAccountWithKey("property-owner");
});

const encodeKey = (key: string) => key.split("/").map(encodeURIComponent).join("/");

const newBucketName = () => `prop-${++bucketCounter}-${Math.random().toString(36).slice(2, 8)}`;

/** Creates bucket `name` holding SEEDED_KEYS (empty objects, each tagged), written straight into its index. */
async function seedBucket(name: string): Promise<string> {
  expect((await s3(owner, "PUT", `/${name}`)).status).toBe(200);
  const row = await e.DB.prepare("SELECT id FROM buckets WHERE name = ?").bind(name).first<{ id: string }>();
  const index = e.BUCKET_INDEX.get(e.BUCKET_INDEX.idFromName(row!.id));
  for (const [i, key] of SEEDED_KEYS.entries()) {
    const record: ObjectRecord = {
      key,
      size: 0,
      etag: EMPTY_MD5,
      lastModified: Date.UTC(2026, 0, 1, 0, 0, i),
      headers: { contentType: "text/plain" },
      userMetadata: { seeded: String(i) },
      storageClass: "STANDARD",
      segments: [],
      tags: { seeded: `tag-${i}` },
    };
    await index.putObject(record);
  }
  return name;
}

const seededBucket = () => seedBucket(newBucketName());

/** Everything a client can read back about the bucket: versions, each object's bytes, ETag and tags, configuration. */
async function snapshot(bucket: string): Promise<string[]> {
  const read = async (path: string) => {
    const res = await s3(owner, "GET", path);
    const text = (await res.text()).replace(/<RequestId>[^<]*<\/RequestId>|<HostId>[^<]*<\/HostId>|<Resource>[^<]*<\/Resource>/g, "");
    return `${path.replace(bucket, "BUCKET")} ${res.status} ${res.headers.get("etag") ?? ""} ${text.replaceAll(bucket, "BUCKET")}`;
  };
  const paths = [`/${bucket}?versions`, ...SEEDED_KEYS.flatMap((k) => [`/${bucket}/${encodeKey(k)}`, `/${bucket}/${encodeKey(k)}?tagging`])];
  for (const sub of ["versioning", "cors", "lifecycle", "acl", "tagging"]) paths.push(`/${bucket}?${sub}`);
  return Promise.all(paths.map(read));
}

let pristine: string[] | undefined;
async function pristineSnapshot(): Promise<string[]> {
  pristine ??= await snapshot(await seededBucket());
  return pristine;
}

// ---- Valid requests that would each change what the bucket holds.

const CORS_XML = `<CORSConfiguration><CORSRule><AllowedOrigin>https://app.example</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>`;
const LIFECYCLE_XML = `<LifecycleConfiguration><Rule><ID>expire</ID><Filter><Prefix>dir/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>`;
const TAGGING_XML = `<Tagging><TagSet><Tag><Key>color</Key><Value>red</Value></Tag></TagSet></Tagging>`;

interface BaseRequest {
  name: string;
  method: string;
  /** Path after the bucket name (starting with "/" or "?"), already encoded. */
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

const BASE_REQUESTS: BaseRequest[] = [
  { name: "DeleteObjects", method: "POST", path: "?delete", body: `<Delete><Object><Key>k1</Key></Object><Object><Key>dir/k2</Key></Object></Delete>` },
  { name: "PutObjectTagging", method: "PUT", path: "/k1?tagging", body: TAGGING_XML },
  { name: "DeleteObjectTagging", method: "DELETE", path: "/k1?tagging" },
  { name: "DeleteObject", method: "DELETE", path: "/dir/k2" },
  { name: "DeleteObject (encoded key)", method: "DELETE", path: `/${encodeKey(SEEDED_KEYS[2]!)}` },
  { name: "PutBucketVersioning", method: "PUT", path: "?versioning", body: `<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>` },
  { name: "PutBucketCors", method: "PUT", path: "?cors", body: CORS_XML },
  { name: "PutBucketLifecycle", method: "PUT", path: "?lifecycle", body: LIFECYCLE_XML },
  { name: "PutBucketAcl", method: "PUT", path: "?acl", headers: { "x-amz-acl": "public-read" } },
  { name: "PutBucketTagging", method: "PUT", path: "?tagging", body: TAGGING_XML },
];

/** A request on the wire: what a mutation may change. */
interface Wire {
  method: string;
  url: string;
  headers: [string, string][];
  body: Uint8Array | null;
}

/** Signs `base` for `bucket` with a SHA-256 payload hash (header auth) or as a presigned URL. */
async function signBase(base: BaseRequest, bucket: string, presigned: boolean): Promise<Wire> {
  const url = `${EDGE}/${bucket}${base.path}`;
  const body = base.body ?? "";
  const client = new AwsClient({ accessKeyId: owner.accessKeyId, secretAccessKey: owner.secretAccessKey, service: "s3", region: "us-east-1", retries: 0 });
  const headers = { ...base.headers, ...(presigned ? {} : { "x-amz-content-sha256": await sha256Hex(body) }) };
  const signed = await client.sign(url, {
    method: base.method,
    headers,
    body: base.body,
    ...(presigned ? { aws: { signQuery: true } } : {}),
  });
  return {
    method: signed.method,
    url: signed.url,
    headers: [...signed.headers],
    body: base.body === undefined ? null : new TextEncoder().encode(base.body),
  };
}

function toRequest(w: Wire): Request {
  const bodyAllowed = w.method !== "GET" && w.method !== "HEAD";
  return new Request(w.url, { method: w.method, headers: w.headers, body: bodyAllowed && w.body ? w.body : undefined });
}

// ---- Mutations that each change what the signature covers, or add what it does not cover.

type Mutation =
  | { kind: "signatureChar"; at: number; char: string }
  | { kind: "signedHeaderValue"; pick: number; value: string }
  | { kind: "dropSignedHeader"; pick: number }
  | { kind: "unsignedAmzHeader"; name: string; value: string }
  | { kind: "addQuery"; raw: string }
  | { kind: "changeQueryValue"; pick: number; raw: string }
  | { kind: "path"; how: "appendToKey" | "replaceKey" | "insertRaw"; raw: string }
  | { kind: "method"; method: string }
  | { kind: "body"; how: "flip" | "truncate" | "append"; at: number; bytes: number[] }
  | { kind: "authorization"; how: AuthMangle; value: string }
  | { kind: "presignParam"; name: string; value: string };

type AuthMangle = "algorithm" | "dropField" | "credentialDate" | "credentialRegion" | "credentialService" | "accessKey" | "signedHeadersNoHost" | "replaceWhole";

const PATH_JUNK = ["%ZZ", "%C3%28", "%", "%2", "%00", "%2F", "%2f..%2f", "..", "/./", "//", "%E2%82", "%FF%FE", "\u00e9", "%25", "+", "%20", ";", "~", "%7E"];
const QUERY_NAMES = [
  "versionId", "uploadId", "partNumber", "uploads", "delete", "tagging", "acl", "cors", "lifecycle", "versioning", "versions", "location",
  "encryption", "policy", "website", "select", "restore", "torrent", "attributes", "list-type", "X-Amz-Algorithm", "X-Amz-Signature",
  "X-Amz-Credential", "response-content-type", "x-id", "prefix",
];
const UNSIGNED_AMZ = ["x-amz-copy-source", "x-amz-acl", "x-amz-tagging", "x-amz-meta-injected", "x-amz-metadata-directive", "x-amz-storage-class", "x-amz-server-side-encryption", "x-amz-expected-bucket-owner", "x-amz-grant-read", "x-amz-bypass-governance-retention"];
const PRESIGN_PARAMS = ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Content-Sha256"];

const junkText = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.constantFrom("", " ", "\t", "0", "-1", "99999999999999999999", "20261301T250000Z", "19700101T000000Z", "AWS4-HMAC-SHA256", "%00", "\u0085", "a".repeat(5000)),
);
/** Header values a Request accepts: no CR, LF or NUL, and trimmed like HTTP does. */
const headerValue = fc.oneof(
  junkText.map((v) => v.replace(/[\r\n\0]/g, "").trim()).map((v) => v.replace(/[^\t\x20-\x7e\x80-\xff]/g, "?")),
  // Host-like values, so that a changed Host header is sometimes a host a client could really send.
  fc.domain(),
  fc.constantFrom("localhost", "prop.localhost", "prop.s3.localhost", "edge.test:8080", "127.0.0.1"),
);
const queryPiece = fc.oneof(
  fc.constantFrom(...QUERY_NAMES).chain((n) => fc.tuple(fc.constant(n), junkText).map(([name, v]) => `${name}=${encodeURIComponent(v)}`)),
  fc.constantFrom(...QUERY_NAMES),
  fc.string({ maxLength: 20 }).map((s) => encodeURIComponent(s) + "=1"),
  fc.constantFrom(...PATH_JUNK).map((j) => `x${j}=y${j}`),
);

const signatureMutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("signatureChar" as const), at: fc.nat(63), char: fc.constantFrom(..."0123456789abcdef") }),
  fc.record({ kind: fc.constant("signedHeaderValue" as const), pick: fc.nat(), value: headerValue }),
  fc.record({ kind: fc.constant("dropSignedHeader" as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant("method" as const), method: fc.constantFrom("GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "PROPFIND") }),
  fc.record({
    kind: fc.constant("authorization" as const),
    how: fc.constantFrom<AuthMangle>("algorithm", "dropField", "credentialDate", "credentialRegion", "credentialService", "accessKey", "signedHeadersNoHost", "replaceWhole"),
    value: headerValue,
  }),
  fc.record({ kind: fc.constant("presignParam" as const), name: fc.constantFrom(...PRESIGN_PARAMS), value: junkText }),
);

const unsignedHeaderMutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constant("unsignedAmzHeader" as const),
  name: fc.constantFrom(...UNSIGNED_AMZ),
  value: fc.oneof(headerValue, fc.constant("/BUCKET/k1"), fc.constant("public-read-write")),
});

const pathAndQueryMutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("addQuery" as const), raw: queryPiece }),
  fc.record({ kind: fc.constant("changeQueryValue" as const), pick: fc.nat(), raw: junkText.map(encodeURIComponent) }),
  fc.record({
    kind: fc.constant("path" as const),
    how: fc.constantFrom("appendToKey" as const, "replaceKey" as const, "insertRaw" as const),
    raw: fc.oneof(fc.constantFrom(...PATH_JUNK), fc.string({ minLength: 1, maxLength: 12 }).map((s) => encodeURIComponent(s))),
  }),
);

const bodyMutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constant("body" as const),
  how: fc.constantFrom("flip" as const, "truncate" as const, "append" as const),
  at: fc.nat(),
  bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 8 }),
});

/** Applies `m` to a signed request; undefined when it does not apply (the run is then skipped by fc.pre). */
function mutate(w: Wire, m: Mutation, bucket: string): Wire | undefined {
  const url = new URL(w.url);
  const headers = new Headers(w.headers);
  const auth = headers.get("authorization");
  const presigned = url.searchParams.has("X-Amz-Signature");
  const signedNames = (presigned ? url.searchParams.get("X-Amz-SignedHeaders")! : /SignedHeaders=([^,]+)/.exec(auth ?? "")![1]!).split(";");
  const out = (changes: Partial<Wire>): Wire => ({ ...w, headers: [...headers], ...changes });
  switch (m.kind) {
    case "signatureChar": {
      const signature = presigned ? url.searchParams.get("X-Amz-Signature")! : /Signature=([0-9a-f]{64})/.exec(auth!)![1]!;
      if (signature[m.at] === m.char) return undefined;
      const forged = signature.slice(0, m.at) + m.char + signature.slice(m.at + 1);
      if (presigned) return out({ url: w.url.replace(signature, forged) });
      headers.set("authorization", auth!.replace(signature, forged));
      return out({});
    }
    case "signedHeaderValue": {
      const name = signedNames[m.pick % signedNames.length]!;
      const before = (headers.get(name) ?? "").trim().replace(/\s+/g, " ");
      if (m.value.replace(/\s+/g, " ") === before) return undefined;
      if (name === "host") {
        // Only host names a client could send (others never leave the client).
        if (!/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[1-9]\d{0,4})?$/.test(m.value)) return undefined;
        // A different host is a different origin: the URL carries it in workerd.
        try {
          url.host = m.value;
        } catch {
          return undefined;
        }
        if (url.host === new URL(w.url).host) return undefined;
        return out({ url: url.toString() });
      }
      headers.set(name, m.value);
      return out({});
    }
    case "dropSignedHeader": {
      const droppable = signedNames.filter((n) => n !== "host");
      if (droppable.length === 0) return undefined;
      headers.delete(droppable[m.pick % droppable.length]!);
      return out({});
    }
    case "unsignedAmzHeader": {
      if (signedNames.includes(m.name) || headers.has(m.name)) return undefined;
      headers.set(m.name, m.value.replace("BUCKET", bucket));
      return out({});
    }
    case "addQuery": {
      const name = decodeURIComponent(m.raw.split("=")[0]!.replace(/%(?![0-9a-fA-F]{2})/g, "%25"));
      if ([...url.searchParams.keys()].includes(name)) return undefined;
      const [before, query = ""] = w.url.split("?");
      return out({ url: `${before}?${query ? `${query}&` : ""}${m.raw}` });
    }
    case "changeQueryValue": {
      const [before, query = ""] = w.url.split("?");
      const pieces = query.split("&").filter(Boolean);
      if (pieces.length === 0) return undefined;
      const i = m.pick % pieces.length;
      const [name, value = ""] = pieces[i]!.split("=");
      if (value === m.raw) return undefined;
      pieces[i] = `${name}=${m.raw}`;
      return out({ url: `${before}?${pieces.join("&")}` });
    }
    case "path": {
      const [before, query] = w.url.split("?");
      const prefix = `${EDGE}/${bucket}`;
      const rest = before!.slice(prefix.length);
      let path: string;
      if (m.how === "appendToKey") path = `${prefix}${rest || "/"}${m.raw}`;
      else if (m.how === "replaceKey") path = `${prefix}/${m.raw}`;
      else path = `${EDGE}/${m.raw}${bucket}${rest}`;
      if (decodeOr(path) === decodeOr(before!)) return undefined;
      return out({ url: query === undefined ? path : `${path}?${query}` });
    }
    case "method":
      if (m.method === w.method) return undefined;
      return out({ method: m.method });
    case "body": {
      // Only a signed body (a SHA-256 payload hash) must be refused when it changes.
      if (presigned || w.body === null) return undefined;
      const body = [...w.body];
      const at = m.at % Math.max(body.length, 1);
      if (m.how === "flip") body[at] = (body[at]! ^ (m.bytes[0]! || 1)) & 0xff;
      else if (m.how === "truncate") body.length = at;
      else body.splice(at, 0, ...m.bytes);
      return out({ body: Uint8Array.from(body) });
    }
    case "authorization": {
      if (presigned) return undefined;
      const mangled = mangleAuthorization(auth!, m.how, m.value);
      if (mangled === undefined || mangled === auth) return undefined;
      headers.set("authorization", mangled);
      return out({});
    }
    case "presignParam": {
      if (!presigned) return undefined;
      if (url.searchParams.get(m.name) === m.value) return undefined;
      url.searchParams.set(m.name, m.value);
      return out({ url: url.toString() });
    }
  }
}

function decodeOr(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function mangleAuthorization(auth: string, how: AuthMangle, value: string): string | undefined {
  const credential = /Credential=([^,]+)/.exec(auth)![1]!;
  const [akid, date, region, service, term] = credential.split("/");
  const withCredential = (parts: (string | undefined)[]) => auth.replace(credential, parts.join("/"));
  switch (how) {
    case "algorithm":
      return auth.replace("AWS4-HMAC-SHA256", value.replace(/\s/g, "") || "AWS4-HMAC-SHA1");
    case "dropField": {
      const fields = ["Credential", "SignedHeaders", "Signature"];
      const drop = fields[value.length % 3]!;
      return auth.replace(new RegExp(`,?\\s*${drop}=[^,]*`), "");
    }
    case "credentialDate":
      return withCredential([akid, value.replace(/[\s/,]/g, "") || "2026010", region, service, term]);
    case "credentialRegion":
      return withCredential([akid, date, value.replace(/[\s/,]/g, "") || "eu-west-9", service, term]);
    case "credentialService":
      return withCredential([akid, date, region, value.replace(/[\s/,]/g, "") || "kms", term]);
    case "accessKey":
      return withCredential([value.replace(/[\s,]/g, "") || "ICNUNKNOWNKEY", date, region, service, term]);
    case "signedHeadersNoHost":
      return auth.replace(/SignedHeaders=[^,]+/, (s) => s.replace(/(^SignedHeaders=|;)host(?=;|$)/, "$1").replace("=;", "="));
    case "replaceWhole":
      return value;
  }
}

/** Settings for every property: a fixed seed, and a bound on runs so `npm test` stays quick. */
const RUNS = { seed: PROPERTY_SEED, numRuns: 100, endOnFailure: false } as const;

describe("S3 requests with bad input (property-based)", () => {
  it("accepts each unmutated base request, and each changes what the bucket holds (so the properties below can fail)", { timeout: 60_000 }, async () => {
    const expected = await pristineSnapshot();
    for (const base of BASE_REQUESTS) {
      for (const presigned of [false, true]) {
        if (presigned && base.body !== undefined) continue;
        const bucket = await seededBucket();
        const res = await SELF.fetch(toRequest(await signBase(base, bucket, presigned)));
        expect(res.status, `${base.name} presigned=${presigned}: ${await res.clone().text()}`).toBeLessThan(300);
        await res.arrayBuffer();
        expect(await snapshot(bucket), base.name).not.toEqual(expected);
      }
    }
  });

  /**
   * Every `m` applied to every base request (header-signed, or presigned when it has no body). Runs share one
   * seeded bucket until a run changes it; the next run then gets a fresh one, so each counterexample stands alone.
   */
  async function assertTamperingRefused(m: fc.Arbitrary<Mutation>, bases = BASE_REQUESTS): Promise<void> {
    const expected = await pristineSnapshot();
    let shared: string | undefined;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...bases), fc.boolean(), m, async (base, presignedWanted, m) => {
        const presigned = presignedWanted && base.body === undefined;
        const bucket = shared ?? newBucketName();
        const mutated = mutate(await signBase(base, bucket, presigned), m, bucket);
        fc.pre(mutated !== undefined);
        if (shared === undefined) shared = await seedBucket(bucket);
        const context = `${base.name}${presigned ? " (presigned)" : ""} with ${JSON.stringify(m)}: ${mutated!.method} ${mutated!.url}`;
        const res = await SELF.fetch(toRequest(mutated!));
        try {
          await expectS3Error(res, mutated!.method, context);
        } finally {
          const after = await snapshot(bucket);
          if (JSON.stringify(after) !== JSON.stringify(expected)) shared = undefined;
          expect(after, `stored state changed after ${context}`).toEqual(expected);
        }
      }),
      RUNS,
    );
  }

  it("answers a request whose signature, signed headers, method or credentials were changed with an S3 error, and changes nothing", { timeout: 60_000 }, async () => {
    await assertTamperingRefused(signatureMutation);
  });

  it("answers a request whose path or query was changed after signing with an S3 error, and changes nothing", { timeout: 60_000 }, async () => {
    await assertTamperingRefused(pathAndQueryMutation);
  });

  it("refuses a signed body changed after signing (XAmzContentSHA256Mismatch), and changes nothing", { timeout: 60_000 }, async () => {
    await assertTamperingRefused(bodyMutation, BASE_REQUESTS.filter((b) => b.body !== undefined));
  });

  // Issue 13 finding 1: S3 refuses x-amz-* headers that are not signed, 403 AccessDenied.
  it("refuses an x-amz-* header added to a signed request without being signed, and changes nothing", { timeout: 60_000 }, async () => {
    await assertTamperingRefused(unsignedHeaderMutation);
  });
});

// ---- XML request bodies: signed correctly (so they reach the parser), but not well-formed.

interface XmlTarget {
  name: string;
  method: string;
  path: string;
  document: string;
  headers?: Record<string, string>;
  /** Codes S3 may answer a malformed body with on this operation. */
  codes: string[];
}

const XML_TARGETS: XmlTarget[] = [
  { name: "DeleteObjects", method: "POST", path: "?delete", document: BASE_REQUESTS[0]!.body!, codes: ["MalformedXML"] },
  { name: "PutObjectTagging", method: "PUT", path: "/k1?tagging", document: TAGGING_XML, codes: ["MalformedXML"] },
  { name: "PutBucketTagging", method: "PUT", path: "?tagging", document: TAGGING_XML, codes: ["MalformedXML"] },
  { name: "PutBucketVersioning", method: "PUT", path: "?versioning", document: BASE_REQUESTS[5]!.body!, codes: ["MalformedXML"] },
  { name: "PutBucketCors", method: "PUT", path: "?cors", document: CORS_XML, codes: ["MalformedXML"] },
  { name: "PutBucketLifecycle", method: "PUT", path: "?lifecycle", document: LIFECYCLE_XML, codes: ["MalformedXML"] },
  // Its Owner is not the bucket's: whatever a break leaves parseable is refused (AccessDenied), never stored.
  { name: "PutBucketAcl", method: "PUT", path: "?acl", document: `<AccessControlPolicy><Owner><ID>x</ID></Owner><AccessControlList/></AccessControlPolicy>`, codes: ["MalformedXML", "MalformedACLError", "AccessDenied"] },
  {
    name: "CompleteMultipartUpload",
    method: "POST",
    path: "/mpu-key?uploadId=UPLOAD",
    document: `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"d41d8cd98f00b204e9800998ecf8427e"</ETag></Part></CompleteMultipartUpload>`,
    codes: ["MalformedXML"],
  },
];

type XmlBreak =
  | { kind: "truncate"; at: number }
  | { kind: "insert"; at: number; junk: string }
  | { kind: "charRef"; leaf: number; ref: string }
  | { kind: "renameClosingTag"; pick: number }
  | { kind: "dropOpeningTag"; pick: number }
  | { kind: "afterRoot"; junk: string };

const BAD_CHAR_REFS = ["&#x110000;", "&#0;", "&#x0;", "&#xD800;", "&#xDFFF;", "&#x1;", "&#xFFFE;", "&#xFFFF;", "&#99999999999999999999;", "&#-1;", "&#;", "&#x;", "&#xG;", "&undefined;", "&", "&amp"];

const xmlBreak: fc.Arbitrary<XmlBreak> = fc.oneof(
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), junk: fc.constantFrom("< ", "<>", "</>", "<1a>", "<!>", "<!--", "<![CDATA[", "<?", "]]>x<", "<a b>", "<a =\"x\">") }),
  fc.record({ kind: fc.constant("charRef" as const), leaf: fc.nat(), ref: fc.constantFrom(...BAD_CHAR_REFS) }),
  fc.record({ kind: fc.constant("renameClosingTag" as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant("dropOpeningTag" as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant("afterRoot" as const), junk: fc.constantFrom("<Extra/>", "junk", "<Delete></Delete>", "&#x41;", "<") }),
);

/** Breaks `doc` so that no conforming XML 1.0 parser accepts it. */
function breakXml(doc: string, b: XmlBreak): string {
  switch (b.kind) {
    case "truncate":
      return doc.slice(0, 1 + (b.at % (doc.length - 1)));
    case "insert": {
      // Anywhere after the root's name: inside markup or content, "<" that starts no valid markup is an error.
      const start = doc.indexOf(">") + 1;
      const at = start + (b.at % (doc.length - start));
      return doc.slice(0, at) + b.junk + doc.slice(at);
    }
    case "charRef": {
      const leaves = [...doc.matchAll(/>([^<]*)<\//g)];
      const leaf = leaves[b.leaf % leaves.length]!;
      const at = leaf.index! + 1;
      return doc.slice(0, at) + b.ref + doc.slice(at);
    }
    case "renameClosingTag": {
      const closings = [...doc.matchAll(/<\/([A-Za-z]+)>/g)];
      const c = closings[b.pick % closings.length]!;
      return doc.slice(0, c.index!) + `</${c[1]}X>` + doc.slice(c.index! + c[0].length);
    }
    case "dropOpeningTag": {
      const openings = [...doc.matchAll(/<([A-Za-z]+)>/g)];
      const o = openings[b.pick % openings.length]!;
      return doc.slice(0, o.index!) + doc.slice(o.index! + o[0].length);
    }
    case "afterRoot":
      return doc + b.junk;
  }
}

/** A signed request carrying `body` as given (its own SHA-256 signed, so the body reaches the XML parser). */
async function signedXml(target: XmlTarget, bucket: string, uploadId: string, body: string | Uint8Array): Promise<Request> {
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
  return owner.s3.sign(`${EDGE}/${bucket}${target.path.replace("UPLOAD", uploadId)}`, {
    method: target.method,
    headers: { ...target.headers, "content-type": "application/xml", "x-amz-content-sha256": await sha256Hex(bytes) },
    body: bytes,
  });
}

async function startUpload(bucket: string): Promise<string> {
  const res = await s3(owner, "POST", `/${bucket}/mpu-key?uploads`);
  expect(res.status).toBe(200);
  return /<UploadId>([^<]+)<\/UploadId>/.exec(await res.text())![1]!;
}

describe("S3 XML request bodies with bad input (property-based)", () => {
  it("answers a body that is not well-formed XML with MalformedXML (400), and changes nothing", { timeout: 60_000 }, async () => {
    const expected = await pristineSnapshot();
    let shared: { bucket: string; uploadId: string } | undefined;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...XML_TARGETS), xmlBreak, fc.boolean(), async (target, b, declaration) => {
        if (shared === undefined) {
          const bucket = await seededBucket();
          shared = { bucket, uploadId: await startUpload(bucket) };
        }
        const { bucket, uploadId } = shared;
        const body = (declaration ? `<?xml version="1.0" encoding="UTF-8"?>\n` : "") + breakXml(target.document, b);
        const context = `${target.name} with ${JSON.stringify(b)}: ${JSON.stringify(body.slice(0, 400))}`;
        const res = await SELF.fetch(await signedXml(target, bucket, uploadId, body));
        try {
          const code = await expectS3Error(res, target.method, context);
          expect(target.codes, context).toContain(code);
        } finally {
          const after = await snapshot(bucket);
          if (JSON.stringify(after) !== JSON.stringify(expected)) shared = undefined;
          expect(after, `stored state changed after ${context}`).toEqual(expected);
        }
      }),
      RUNS,
    );
  });

  // 40 runs of up to 4 MiB or 20,000 levels each take about 45 s alone on two cores: the bound is for a hang, not speed.
  it("answers hostile XML (entity declarations, deep nesting, huge or binary bodies) with a 4xx S3 error, and changes nothing", { timeout: 180_000 }, async () => {
    const expected = await pristineSnapshot();
    const bucket = await seededBucket();
    const uploadId = await startUpload(bucket);
    const hostile = fc.oneof(
      fc.constantFrom(
        `<!DOCTYPE Delete [<!ENTITY a "k1"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><Delete><Object><Key>&a;</Key></Object></Delete>`,
        `<!DOCTYPE Tagging [<!ENTITY x SYSTEM "http://127.0.0.1:1/">]><Tagging><TagSet><Tag><Key>a</Key><Value>&x;</Value></Tag></TagSet></Tagging>`,
        `<!DOCTYPE lolz [${Array.from({ length: 10 }, (_, i) => `<!ENTITY l${i + 1} "${`&l${i};`.repeat(10)}">`).join("").replace("&l0;".repeat(10), "lol")}]><Tagging><TagSet><Tag><Key>a</Key><Value>&l10;</Value></Tag></TagSet></Tagging>`,
      ),
      fc.integer({ min: 1, max: 20_000 }).map((depth) => `<Delete><Object><Key>k1${"<a>".repeat(depth)}${"</a>".repeat(depth)}</Key></Object></Delete>`),
      fc.integer({ min: 1, max: 20_000 }).map((depth) => `${"<Delete>".repeat(depth)}${"</Delete>".repeat(depth)}`),
      fc.integer({ min: 1, max: 4 }).map((mib) => `<Tagging><TagSet><Tag><Key>a</Key><Value>${"v".repeat(mib * 1024 * 1024)}</Value></Tag></TagSet></Tagging>`),
      fc.uint8Array({ minLength: 1, maxLength: 512 }),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...XML_TARGETS), hostile, async (target, body) => {
        const context = `${target.name} with ${typeof body === "string" ? JSON.stringify(body.slice(0, 300)) : `bytes ${[...body.slice(0, 64)]}`}`;
        const res = await SELF.fetch(await signedXml(target, bucket, uploadId, body));
        await expectS3Error(res, target.method, context);
        expect(await snapshot(bucket), `stored state changed after ${context}`).toEqual(expected);
      }),
      { ...RUNS, numRuns: 40 },
    );
  });
});
