// aws-chunked request bodies (Content-Encoding: aws-chunked), decoded while they stream:
//   <hex-size>[;chunk-signature=<sig>]\r\n<data>\r\n ... 0[;chunk-signature=<sig>]\r\n[<trailer>:<value>\r\n]*\r\n
// Each chunk signature chains from the previous one, seeded by the request's own signature:
// https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html
// Trailers (STREAMING-*-TRAILER) carry checksums, optionally signed with x-amz-trailer-signature:
// https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming-trailers.html

import { EMPTY_SHA256, hex, hmacSha256, sha256Hex, timingSafeEqualHex } from "../../protocol/crypto.ts";
import { DigestStage } from "../../services/pipeline.ts";
import { S3Error } from "../errors.ts";

export interface ChunkSigningContext {
  signingKey: CryptoKey;
  amzDate: string;
  scope: string;
  /** The request's Authorization signature: the "previous signature" of the first chunk. */
  seedSignature: string;
}

export interface AwsChunkedOptions {
  /** Present for STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER): every chunk signature is verified. */
  signing?: ChunkSigningContext;
  /** Trailing headers, lowercase names, delivered after the last chunk (x-amz-trailer-signature removed). */
  onTrailers?: (trailers: Map<string, string>) => void;
}

const MAX_LINE = 4096;
const CRLF = new Uint8Array([13, 10]);

class ByteQueue {
  private buffer: Uint8Array = new Uint8Array(0);
  private offset = 0;
  private readonly source: AsyncIterator<Uint8Array>;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.source = source[Symbol.asyncIterator]();
  }

  private get available(): number {
    return this.buffer.length - this.offset;
  }

  private async fill(): Promise<boolean> {
    const next = await this.source.next();
    if (next.done) return false;
    const rest = this.buffer.subarray(this.offset);
    if (rest.length === 0) {
      this.buffer = next.value;
    } else {
      const joined = new Uint8Array(rest.length + next.value.length);
      joined.set(rest);
      joined.set(next.value, rest.length);
      this.buffer = joined;
    }
    this.offset = 0;
    return true;
  }

  /** Reads up to CRLF (not included). */
  async readLine(): Promise<string> {
    while (true) {
      const view = this.buffer.subarray(this.offset);
      for (let i = 0; i + 1 < view.length && i < MAX_LINE; i++) {
        if (view[i] === 13 && view[i + 1] === 10) {
          this.offset += i + 2;
          return new TextDecoder().decode(view.subarray(0, i));
        }
      }
      if (view.length >= MAX_LINE) throw malformed("chunk header line too long");
      if (!(await this.fill())) throw new S3Error("IncompleteBody", "The request body ended inside an aws-chunked frame.");
    }
  }

  /** Yields exactly n bytes, as views into the source buffers. */
  async *read(n: number): AsyncGenerator<Uint8Array> {
    let remaining = n;
    while (remaining > 0) {
      if (this.available === 0 && !(await this.fill())) {
        throw new S3Error("IncompleteBody", "The request body ended inside an aws-chunked chunk.");
      }
      const take = Math.min(remaining, this.available);
      const piece = this.buffer.subarray(this.offset, this.offset + take);
      this.offset += take;
      remaining -= take;
      yield piece;
    }
  }

  async expect(bytes: Uint8Array): Promise<void> {
    let at = 0;
    for await (const piece of this.read(bytes.length)) {
      if (piece.some((b, i) => b !== bytes[at + i])) throw malformed("chunk data is not followed by CRLF");
      at += piece.length;
    }
  }

  async atEnd(): Promise<boolean> {
    return this.available === 0 && !(await this.fill());
  }
}

function malformed(detail: string): S3Error {
  return new S3Error("InvalidRequest", `Malformed aws-chunked body: ${detail}.`);
}

/** Decodes an aws-chunked body into its payload bytes, verifying chunk and trailer signatures as they pass. */
export async function* decodeAwsChunked(source: AsyncIterable<Uint8Array>, options: AwsChunkedOptions): AsyncGenerator<Uint8Array> {
  const queue = new ByteQueue(source);
  let previousSignature = options.signing?.seedSignature ?? "";

  while (true) {
    const header = await queue.readLine();
    const [sizeHex, ...extensions] = header.split(";");
    if (!sizeHex || !/^[0-9a-fA-F]{1,16}$/.test(sizeHex)) throw malformed(`bad chunk size '${sizeHex ?? ""}'`);
    const size = parseInt(sizeHex, 16);
    const claimed = extensions.map((e) => e.trim()).find((e) => e.startsWith("chunk-signature="))?.slice("chunk-signature=".length);
    if (options.signing && !claimed) throw new S3Error("SignatureDoesNotMatch", "A chunk is missing its chunk-signature.");

    const hasher = options.signing ? new DigestStage("SHA-256") : undefined;
    for await (const piece of queue.read(size)) {
      if (hasher) await hasher.write(piece);
      yield piece;
    }
    if (options.signing) {
      await hasher!.finish();
      const chunkHash = size === 0 ? EMPTY_SHA256 : hex(hasher!.digest);
      previousSignature = await verifyChunkSignature(options.signing, previousSignature, chunkHash, claimed!);
    }
    if (size === 0) break;
    await queue.expect(CRLF);
  }

  // Trailers (possibly none), then the blank line that ends the body.
  const trailers = new Map<string, string>();
  const canonicalTrailers: string[] = [];
  let trailerSignature: string | undefined;
  while (!(await queue.atEnd())) {
    const line = await queue.readLine();
    if (line === "") break;
    const colon = line.indexOf(":");
    if (colon < 0) throw malformed("trailer line without ':'");
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === "x-amz-trailer-signature") trailerSignature = value.toLowerCase();
    else {
      trailers.set(name, value);
      canonicalTrailers.push(`${name}:${value}\n`);
    }
  }
  if (options.signing && trailers.size > 0) {
    if (!trailerSignature) throw new S3Error("SignatureDoesNotMatch", "The trailing headers are missing x-amz-trailer-signature.");
    const s = options.signing;
    const toSign = ["AWS4-HMAC-SHA256-TRAILER", s.amzDate, s.scope, previousSignature, await sha256Hex(canonicalTrailers.join(""))].join("\n");
    if (!timingSafeEqualHex(hex(await hmacSha256(s.signingKey, toSign)), trailerSignature)) {
      throw new S3Error("SignatureDoesNotMatch", "The trailer signature we calculated does not match the signature you provided.");
    }
  }
  options.onTrailers?.(trailers);
}

async function verifyChunkSignature(s: ChunkSigningContext, previous: string, chunkHash: string, claimed: string): Promise<string> {
  const toSign = ["AWS4-HMAC-SHA256-PAYLOAD", s.amzDate, s.scope, previous, EMPTY_SHA256, chunkHash].join("\n");
  const expected = hex(await hmacSha256(s.signingKey, toSign));
  if (!timingSafeEqualHex(expected, claimed.toLowerCase())) {
    throw new S3Error("SignatureDoesNotMatch", "The chunk signature we calculated does not match the signature you provided.", {
      StringToSign: toSign,
    });
  }
  return expected;
}
