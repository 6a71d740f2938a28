// Property-based unit tests of the S3 request parsers with random and mutated input (issue 13, "Bad input"): the
// router (routeS3Request, locate), SigV4 verification and the aws-chunked decoder. Each either answers or fails with
// its own typed error (S3Error, SigV4Error), never anything else, and a valid input always round-trips.

import { AwsClient } from "aws4fetch";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EMPTY_SHA256, hex, hmacSha256, sha256Hex } from "../../src/protocol/crypto.ts";
import { deriveSigningKey, parseAmzDate, rawPathAndQuery, SigV4Error, verifySigV4, type SignedRequestParts } from "../../src/protocol/sigv4.ts";
import { S3Error } from "../../src/s3/errors.ts";
import { locate, routeS3Request } from "../../src/s3/router.ts";
import { decodeAwsChunked, type ChunkSigningContext } from "../../src/s3/sigv4/aws-chunked.ts";
import { PROPERTY_SEED } from "./property-support.ts";

const RUNS = { seed: PROPERTY_SEED, numRuns: 300, endOnFailure: false } as const;
const BASE_DOMAINS = ["localhost", "s3.localhost"];

/** Runs `work`; a thrown error must be an instance of `type`. */
async function onlyThrows(type: new (...args: never[]) => Error, work: () => unknown): Promise<unknown> {
  try {
    return await work();
  } catch (error) {
    expect(error, String(error)).toBeInstanceOf(type);
    return error;
  }
}

const pathChar = fc.constantFrom(..."ab/.-_~%+ ?#;=&", "%2F", "%ZZ", "%C3%28", "%E2%82%AC", "%00", "é", "日", "\u{1F600}", "%");
const rawPath = fc.array(pathChar, { maxLength: 20 }).map((cs) => `/${cs.join("")}`);
const query = fc.array(
  fc.tuple(fc.constantFrom("uploadId", "partNumber", "uploads", "delete", "tagging", "acl", "cors", "lifecycle", "versioning", "versions", "location", "list-type", "policy", "attributes", "x"), fc.string({ maxLength: 6 })),
  { maxLength: 4 },
).map((pairs) => new URLSearchParams(pairs));

describe("the S3 router with random requests (property-based)", () => {
  it("turns any method, host, path and query into an operation or an S3Error, nothing else", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("GET", "PUT", "POST", "DELETE", "HEAD", "PATCH", "OPTIONS", "get", "TRACE"),
        fc.constantFrom("edge.test", "b.localhost", "B.s3.localhost:8080", "localhost", ".localhost", "a.b.s3.localhost", "[::1]:9000"),
        rawPath,
        query,
        fc.constantFrom({}, { "x-amz-copy-source": "/b/k" }, { "content-type": "multipart/form-data; boundary=x" }),
        async (method, host, path, q, headers) => {
          const op = await onlyThrows(S3Error, () => routeS3Request({ method, host, rawPath: path, query: q, headers: new Headers(headers as Record<string, string>) }, BASE_DOMAINS));
          if (!(op instanceof S3Error)) expect(op).toHaveProperty("op");
        },
      ),
      RUNS,
    );
  });

  it("locates any bucket and key, however the key is percent-encoded, exactly once decoded", async () => {
    const bucket = fc.stringMatching(/^[a-z0-9][a-z0-9.-]{1,30}[a-z0-9]$/);
    const key = fc.string({ unit: "grapheme", minLength: 1, maxLength: 40 });
    await fc.assert(
      fc.property(bucket, key, fc.boolean(), (b, k, encodeAll) => {
        const encoded = encodeAll ? [...new TextEncoder().encode(k)].map((x) => `%${x.toString(16).padStart(2, "0")}`).join("") : k.split("/").map(encodeURIComponent).join("/");
        expect(locate("edge.test", `/${b}/${encoded}`, BASE_DOMAINS)).toEqual({ bucket: b, key: k });
        expect(locate(`${b}.localhost`, `/${encoded}`, BASE_DOMAINS)).toEqual({ bucket: b, key: k });
      }),
      RUNS,
    );
  });
});

// ---- SigV4: requests signed by aws4fetch, then mutated.

const SECRET = "property-secret";
const NOW = new Date(Date.UTC(2026, 5, 1, 12, 0, 0));

async function signedParts(method: string, url: string, presigned: boolean, headers: Record<string, string> = {}): Promise<SignedRequestParts> {
  const client = new AwsClient({ accessKeyId: "AKIDPROPERTY", secretAccessKey: SECRET, service: "s3", region: "us-east-1", retries: 0 });
  const signed = await client.sign(url, { method, headers, ...(presigned ? { aws: { signQuery: true, datetime: NOW.toISOString().replace(/[:-]|\.\d{3}/g, "") } } : { aws: { datetime: NOW.toISOString().replace(/[:-]|\.\d{3}/g, "") } }) });
  const h = new Headers(signed.headers);
  h.set("host", new URL(signed.url).host);
  return { method: signed.method, ...rawPathAndQuery(signed.url), headers: h };
}

const verify = (parts: SignedRequestParts) =>
  verifySigV4(parts, async (akid) => (akid === "AKIDPROPERTY" ? SECRET : undefined), { now: NOW, regions: ["us-east-1"], service: "s3" });

const keyPath = fc.array(fc.constantFrom(..."abz019-_.~/ +", "é", "%", "日"), { minLength: 1, maxLength: 12 }).map((cs) => cs.join(""));

describe("SigV4 verification with random and mutated requests (property-based)", () => {
  it("verifies any request aws4fetch signs, header or presigned, and refuses it with a SigV4Error once one signed byte changes", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("GET", "PUT", "DELETE", "POST"),
        keyPath,
        fc.boolean(),
        fc.constantFrom("method", "path", "query", "header", "signature"),
        fc.nat(),
        async (method, key, presigned, part, at) => {
          const url = `http://edge.test/bucket/${key.split("/").map(encodeURIComponent).join("/")}?prefix=a%2Bb&list-type=2`;
          const parts = await signedParts(method, url, presigned, { "x-amz-meta-a": "v" });
          await verify(parts);
          const mutated: SignedRequestParts = { ...parts, headers: new Headers(parts.headers) };
          if (part === "method") mutated.method = method === "GET" ? "PUT" : "GET";
          else if (part === "path") mutated.rawPath = `${parts.rawPath}x`;
          else if (part === "query") mutated.rawQuery = parts.rawQuery.replace("list-type=2", "list-type=1");
          else if (part === "header") mutated.headers.set("x-amz-meta-a", `v${at % 10}`);
          else {
            const signature = presigned ? new URLSearchParams(parts.rawQuery).get("X-Amz-Signature")! : /Signature=(\w+)/.exec(parts.headers.get("authorization")!)![1]!;
            const i = at % signature.length;
            const forged = signature.slice(0, i) + (signature[i] === "0" ? "1" : "0") + signature.slice(i + 1);
            if (presigned) mutated.rawQuery = parts.rawQuery.replace(signature, forged);
            else mutated.headers.set("authorization", parts.headers.get("authorization")!.replace(signature, forged));
          }
          const error = await onlyThrows(SigV4Error, () => verify(mutated));
          expect(error, `${part} changed`).toBeInstanceOf(SigV4Error);
        },
      ),
      { ...RUNS, numRuns: 150 },
    );
  });

  it("refuses any garbage Authorization header or presigned query with a SigV4Error, never another exception", async () => {
    const garbage = fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: "binary", maxLength: 80 }));
    const fields = fc.record({
      algorithm: fc.oneof(fc.constant("AWS4-HMAC-SHA256"), garbage),
      credential: fc.oneof(fc.constant("AKIDPROPERTY/20260601/us-east-1/s3/aws4_request"), garbage, garbage.map((g) => `${g}/20260601/us-east-1/s3/aws4_request`)),
      signedHeaders: fc.oneof(fc.constant("host;x-amz-date"), garbage),
      signature: fc.oneof(fc.constant("0".repeat(64)), garbage),
      date: fc.oneof(fc.constant("20260601T120000Z"), garbage),
      expires: fc.oneof(fc.constant("60"), garbage, fc.constant("99999999999999999999"), fc.constant("-1")),
    });
    await fc.assert(
      fc.asyncProperty(fields, fc.boolean(), async (f, presigned) => {
        const headers = new Headers({ host: "edge.test" });
        let rawQuery = "";
        const safe = (s: string) => s.replace(/[^\t\x20-\x7e]/g, "?");
        if (presigned) {
          rawQuery = new URLSearchParams({ "X-Amz-Algorithm": f.algorithm, "X-Amz-Credential": f.credential, "X-Amz-SignedHeaders": f.signedHeaders, "X-Amz-Signature": f.signature, "X-Amz-Date": f.date, "X-Amz-Expires": f.expires }).toString();
        } else {
          headers.set("authorization", safe(`${f.algorithm} Credential=${f.credential}, SignedHeaders=${f.signedHeaders}, Signature=${f.signature}`).trim());
          headers.set("x-amz-date", safe(f.date).trim());
          headers.set("x-amz-content-sha256", EMPTY_SHA256);
        }
        await onlyThrows(SigV4Error, () => verify({ method: "GET", rawPath: "/b/k", rawQuery, headers }));
      }),
      RUNS,
    );
  });

  it("reads any X-Amz-Date as a valid date or nothing", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.stringMatching(/^\d{8}T\d{6}Z$/)), (value) => {
        const d = parseAmzDate(value);
        if (d !== undefined) expect(Number.isNaN(d.getTime())).toBe(false);
      }),
      RUNS,
    );
  });
});

// ---- aws-chunked: bodies framed as the SDKs frame them, read across random boundaries, then mutated.

const enc = new TextEncoder();
const credential = { accessKeyId: "AKID", date: "20260101", region: "us-east-1", service: "s3" };

async function signingContext(): Promise<ChunkSigningContext> {
  return { signingKey: await deriveSigningKey("secret", credential), amzDate: "20260101T000000Z", scope: "20260101/us-east-1/s3/aws4_request", seedSignature: "a".repeat(64) };
}

/** Frames `chunks` as aws-chunked, signing each chunk when `ctx` is given. */
async function frame(chunks: Uint8Array[], ctx?: ChunkSigningContext): Promise<Uint8Array> {
  let previous = ctx?.seedSignature ?? "";
  const out: number[] = [];
  for (const chunk of [...chunks, new Uint8Array(0)]) {
    let ext = "";
    if (ctx) {
      const toSign = ["AWS4-HMAC-SHA256-PAYLOAD", ctx.amzDate, ctx.scope, previous, EMPTY_SHA256, await sha256Hex(chunk)].join("\n");
      previous = hex(await hmacSha256(ctx.signingKey, toSign));
      ext = `;chunk-signature=${previous}`;
    }
    out.push(...enc.encode(`${chunk.length.toString(16)}${ext}\r\n`), ...chunk);
    if (chunk.length > 0) out.push(13, 10);
  }
  out.push(13, 10);
  return Uint8Array.from(out);
}

async function* pieces(bytes: Uint8Array, cuts: number[]): AsyncGenerator<Uint8Array> {
  let at = 0;
  for (const cut of [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)) {
    yield bytes.slice(at, cut);
    at = cut;
  }
  yield bytes.slice(at);
}

async function decode(bytes: Uint8Array, cuts: number[], ctx?: ChunkSigningContext): Promise<Uint8Array> {
  const out: number[] = [];
  for await (const piece of decodeAwsChunked(pieces(bytes, cuts), { signing: ctx })) out.push(...piece);
  return Uint8Array.from(out);
}

const payloadChunks = fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { maxLength: 5 });
const cuts = fc.array(fc.nat(4000), { maxLength: 8 });

describe("the aws-chunked decoder with random and mutated bodies (property-based)", () => {
  it("decodes any signed or unsigned framing to the same bytes, whatever the read boundaries", async () => {
    const ctx = await signingContext();
    await fc.assert(
      fc.asyncProperty(payloadChunks, cuts, fc.boolean(), async (chunks, at, signed) => {
        const body = await frame(chunks, signed ? ctx : undefined);
        const expected = Uint8Array.from(chunks.flatMap((c) => [...c]));
        expect(await decode(body, at, signed ? ctx : undefined)).toEqual(expected);
      }),
      { ...RUNS, numRuns: 200 },
    );
  });

  it("refuses a signed body with any byte changed, added or cut, with an S3Error and never the changed bytes in full", async () => {
    const ctx = await signingContext();
    await fc.assert(
      fc.asyncProperty(
        payloadChunks,
        cuts,
        fc.constantFrom("flip", "insert", "truncate"),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        async (chunks, at, how, position, byte) => {
          const body = [...(await frame(chunks, ctx))];
          const i = position % body.length;
          if (how === "flip") body[i] = body[i]! ^ byte;
          else if (how === "insert") body.splice(i, 0, byte);
          else body.length = i;
          const mutated = Uint8Array.from(body);
          const result = await onlyThrows(S3Error, () => decode(mutated, at, ctx));
          // The framing has room for changes that mean the same (e.g. a hex size in upper case, or bytes after the
          // final blank line): those may decode, but only to the signed bytes.
          if (!(result instanceof S3Error)) expect(result).toEqual(Uint8Array.from(chunks.flatMap((c) => [...c])));
        },
      ),
      { ...RUNS, numRuns: 200 },
    );
  });

  it("fails any random byte string, unsigned, with an S3Error or decodes it, never anything else", async () => {
    const framed = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      fc.constantFrom("ffffffffffffffff\r\n", "10000000000000000\r\n", "-1\r\n", "0x10\r\nabc", "5;chunk-signature=\r\nhello\r\n0\r\n\r\n", "0\r\nno-colon\r\n\r\n", `${"1".repeat(5000)}\r\n`).map((s) => enc.encode(s)),
    );
    await fc.assert(
      fc.asyncProperty(framed, cuts, async (bytes, at) => {
        await onlyThrows(S3Error, () => decode(bytes, at));
      }),
      RUNS,
    );
  });
});
