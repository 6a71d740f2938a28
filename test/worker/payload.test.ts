// Body framing and checksums: aws-chunked decoding with chunk and trailer signatures, and the S3 checksum algorithms.
import { describe, expect, it } from "vitest";
import { base64, EMPTY_SHA256, hex, hmacSha256, sha256Hex } from "../../src/protocol/crypto.ts";
import { deriveSigningKey } from "../../src/protocol/sigv4.ts";
import { ChecksumStage, type ChecksumAlgorithm } from "../../src/s3/checksums.ts";
import { decodeAwsChunked, type ChunkSigningContext } from "../../src/s3/sigv4/aws-chunked.ts";

const enc = new TextEncoder();

async function checksum(algorithm: ChecksumAlgorithm, data: Uint8Array): Promise<string> {
  const stage = new ChecksumStage(algorithm);
  await stage.write(data.subarray(0, 4));
  await stage.write(data.subarray(4));
  await stage.finish();
  return stage.value;
}

const be = (hexValue: string) => base64(Uint8Array.from(hexValue.match(/../g)!.map((b) => parseInt(b, 16))));

describe("S3 checksums", () => {
  it("match the standard check values for '123456789'", async () => {
    const data = enc.encode("123456789");
    expect(await checksum("CRC32", data)).toBe(be("cbf43926"));
    expect(await checksum("CRC32C", data)).toBe(be("e3069283"));
    expect(await checksum("CRC64NVME", data)).toBe(be("ae8b14860a799888"));
    expect(await checksum("SHA256", data)).toBe(base64(new Uint8Array(await crypto.subtle.digest("SHA-256", data))));
    expect(await checksum("SHA1", data)).toBe(base64(new Uint8Array(await crypto.subtle.digest("SHA-1", data))));
  });
});

async function* chunksOf(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.slice(i, i + size);
}

async function collect(source: AsyncIterable<Uint8Array>): Promise<string> {
  let out = "";
  for await (const c of source) out += new TextDecoder().decode(c);
  return out;
}

/** Frames `chunks` as a signed aws-chunked body the way the AWS SDKs do. */
async function signedBody(ctx: ChunkSigningContext, chunks: string[], trailer?: string): Promise<Uint8Array> {
  let previous = ctx.seedSignature;
  let body = "";
  for (const chunk of [...chunks, ""]) {
    const toSign = ["AWS4-HMAC-SHA256-PAYLOAD", ctx.amzDate, ctx.scope, previous, EMPTY_SHA256, await sha256Hex(chunk)].join("\n");
    previous = hex(await hmacSha256(ctx.signingKey, toSign));
    body += `${enc.encode(chunk).length.toString(16)};chunk-signature=${previous}\r\n${chunk}${chunk ? "\r\n" : ""}`;
  }
  if (trailer) {
    const toSign = ["AWS4-HMAC-SHA256-TRAILER", ctx.amzDate, ctx.scope, previous, await sha256Hex(`${trailer}\n`)].join("\n");
    body += `${trailer}\r\nx-amz-trailer-signature:${hex(await hmacSha256(ctx.signingKey, toSign))}\r\n`;
  }
  return enc.encode(`${body}\r\n`);
}

describe("aws-chunked bodies", () => {
  const credential = { accessKeyId: "AKID", date: "20260101", region: "us-east-1", service: "s3" };
  const context = async (): Promise<ChunkSigningContext> => ({
    signingKey: await deriveSigningKey("secret", credential),
    amzDate: "20260101T000000Z",
    scope: "20260101/us-east-1/s3/aws4_request",
    seedSignature: "a".repeat(64),
  });

  it("decodes an unsigned body with a checksum trailer, across arbitrary read boundaries", async () => {
    const body = enc.encode("5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n");
    for (const size of [1, 3, 7, 1000]) {
      let trailers = new Map<string, string>();
      const text = await collect(decodeAwsChunked(chunksOf(body, size), { onTrailers: (t) => (trailers = t) }));
      expect(text).toBe("hello world");
      expect(trailers.get("x-amz-checksum-crc32")).toBe("DUoRhQ==");
    }
  });

  it("verifies every chunk signature and the trailer signature", async () => {
    const ctx = await context();
    const body = await signedBody(ctx, ["first chunk ", "second"], "x-amz-checksum-crc32:AAAAAA==");
    let trailers = new Map<string, string>();
    expect(await collect(decodeAwsChunked(chunksOf(body, 5), { signing: ctx, onTrailers: (t) => (trailers = t) }))).toBe("first chunk second");
    expect(trailers.get("x-amz-checksum-crc32")).toBe("AAAAAA==");
  });

  it("fails with SignatureDoesNotMatch when a signed chunk was altered", async () => {
    const ctx = await context();
    const body = await signedBody(ctx, ["first chunk ", "second"]);
    const tampered = new TextDecoder().decode(body).replace("second", "sEcond");
    await expect(collect(decodeAwsChunked(chunksOf(enc.encode(tampered), 64), { signing: ctx }))).rejects.toMatchObject({ code: "SignatureDoesNotMatch" });
  });

  it("fails with IncompleteBody when the body stops inside a chunk", async () => {
    const body = enc.encode("a\r\nhello");
    await expect(collect(decodeAwsChunked(chunksOf(body, 4), {}))).rejects.toMatchObject({ code: "IncompleteBody" });
  });
});
