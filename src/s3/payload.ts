// The body of a PUT (PutObject, UploadPart): how it is framed (plain or aws-chunked), how long it is once
// decoded, and which checks it must pass before anything it carried becomes visible: the signed payload hash,
// Content-MD5, the decoded length and an additional x-amz-checksum-*.

import { fromBase64, hex } from "../protocol/crypto.ts";
import { UNSIGNED_PAYLOAD } from "../protocol/sigv4.ts";
import { DigestStage, LengthStage, pump, readChunks, readSizeFor, type BodyStage } from "../services/pipeline.ts";
import { assertChecksum, assertChecksumShape, ChecksumStage, checksumHeaderName, parseChecksumAlgorithm } from "./checksums.ts";
import type { Principal } from "./context.ts";
import { S3Error } from "./errors.ts";
import { isSigV2 } from "./sigv2.ts";
import { decodeAwsChunked } from "./sigv4/aws-chunked.ts";

/** Largest single PUT S3 accepts (5 GiB); bigger objects use multipart. */
export const MAX_PUT_SIZE = 5 * 1024 ** 3;
/** Largest request body worth reading at all: a 5 GiB PUT plus its aws-chunked framing (well under 1%). */
export const MAX_REQUEST_BODY = MAX_PUT_SIZE + MAX_PUT_SIZE / 100;

const STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
const STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
const STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";

export interface IncomingPayload {
  /** Decoded length in bytes. */
  length: number;
  source: AsyncIterable<Uint8Array>;
  /** Stages that check the body; run before the bytes are committed anywhere. */
  checks: BodyStage[];
  /** MD5 of the decoded body: the ETag. */
  md5: DigestStage;
  /** The additional checksum, when the client sent or asked for one. */
  checksum?: ChecksumStage;
  /** Runs after the body has fully passed: compares digests that only the end of the body can settle. */
  verify(): Promise<void>;
}

/**
 * Opens a request body for reading with every check its headers ask for. `undeclaredUpTo` admits a plain body sent
 * without Content-Length (a small document from a client that streams it), read up to that many bytes.
 */
export function openPayload(request: Request, principal: Principal, undeclaredUpTo?: number): IncomingPayload {
  const headers = request.headers;
  // An anonymous body is a write a bucket policy or an ACL opened to everyone (authorize() decided that before the
  // body is opened). Nothing signed it, so it is read as UNSIGNED-PAYLOAD, still held to its length, Content-MD5
  // and x-amz-checksum-*.
  const signature = principal.signature;
  const mode = signature?.payloadHash ?? UNSIGNED_PAYLOAD;
  const body = request.body ?? new ReadableStream<Uint8Array>({ start: (c) => c.close() });
  const chunked = mode.startsWith("STREAMING-") || /(^|,)\s*aws-chunked\s*(,|$)/.test(headers.get("content-encoding") ?? "");

  const undeclared = !chunked && undeclaredUpTo !== undefined && headers.get("content-length") === null;
  const length = chunked ? requireLength(headers, "x-amz-decoded-content-length") : undeclared ? undeclaredUpTo : requireLength(headers, "content-length");
  if (length > MAX_PUT_SIZE) throw new S3Error("EntityTooLarge", undefined, { ProposedSize: String(length), MaxSizeAllowed: String(MAX_PUT_SIZE) });

  const checks: BodyStage[] = [];
  const afterwards: (() => Promise<void> | void)[] = [];
  const md5 = new DigestStage("MD5");
  let trailers = new Map<string, string>();

  let source: AsyncIterable<Uint8Array>;
  if (chunked) {
    if (!signature || ![STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER].includes(mode) || isSigV2(signature)) {
      throw new S3Error("InvalidArgument", `x-amz-content-sha256 '${mode}' is not supported with aws-chunked bodies.`);
    }
    const s = signature;
    source = decodeAwsChunked(readChunks(body), {
      signing: mode === STREAMING_UNSIGNED_TRAILER ? undefined : { signingKey: s.signingKey, amzDate: s.amzDate, scope: s.scope, seedSignature: s.signature },
      onTrailers: (t) => (trailers = t),
    });
  } else {
    source = readChunks(body, readSizeFor(length));
    if (/^[0-9a-f]{64}$/i.test(mode)) {
      const sha = new DigestStage("SHA-256");
      checks.push(sha);
      afterwards.push(() => {
        if (hex(sha.digest) !== mode.toLowerCase()) throw new S3Error("XAmzContentSHA256Mismatch", undefined, { ClientComputedContentSHA256: mode, S3ComputedContentSHA256: hex(sha.digest) });
      });
    } else if (mode !== UNSIGNED_PAYLOAD) {
      throw new S3Error("InvalidArgument", `x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-... or a SHA-256 hex digest, not '${mode}'.`);
    }
  }
  if (undeclared) checks.push(new LengthCapStage(length, () => new S3Error("MaxMessageLengthExceeded")));
  else checks.push(new LengthStage(length, (seen) => new S3Error("IncompleteBody", `Expected ${length} bytes, received ${seen}.`)));

  const contentMd5 = headers.get("content-md5");
  if (contentMd5 !== null) {
    let expected: string;
    try {
      const raw = fromBase64(contentMd5.trim());
      if (raw.length !== 16) throw new Error("length");
      expected = hex(raw);
    } catch {
      throw new S3Error("InvalidDigest");
    }
    afterwards.push(() => {
      if (hex(md5.digest) !== expected) throw new S3Error("BadDigest", "The Content-MD5 you specified did not match what we received.");
    });
  }

  const checksum = chooseChecksum(headers);
  if (checksum) {
    checks.push(checksum.stage);
    afterwards.push(() => {
      const expected = checksum.fromTrailer ? trailers.get(checksumHeaderName(checksum.stage.algorithm)) : checksum.expected;
      if (checksum.fromTrailer && expected === undefined) {
        throw new S3Error("InvalidRequest", `The ${checksumHeaderName(checksum.stage.algorithm)} trailer was declared but not sent.`);
      }
      if (expected !== undefined) {
        assertChecksumShape(checksum.stage.algorithm, expected);
        assertChecksum(checksum.stage, expected);
      }
    });
  }

  return {
    length,
    source,
    checks,
    md5,
    checksum: checksum?.stage,
    async verify() {
      for (const check of afterwards) await check();
    },
  };
}

/** Largest XML document a request may carry (configuration, DeleteObjects, CompleteMultipartUpload): read in memory. */
export const MAX_XML_BODY = 2 * 1024 * 1024;

/**
 * The whole body of a request that carries a document (configuration, DeleteObjects, CompleteMultipartUpload),
 * held in memory only up to `maxBytes` and checked exactly as a PUT's body is: the signed payload hash, aws-chunked
 * chunk signatures, Content-MD5 and x-amz-checksum-*. Without this a signed body could be swapped in transit.
 */
export async function readDocumentBody(request: Request, principal: Principal, maxBytes = MAX_XML_BODY): Promise<string> {
  const payload = openPayload(request, principal, maxBytes);
  if (payload.length > maxBytes) throw new S3Error("MaxMessageLengthExceeded");
  // Decoded as it arrives (a read buffer may be reused for the next chunk, so nothing keeps a chunk itself).
  const decoder = new TextDecoder();
  let text = "";
  const collect: BodyStage = { write: (chunk) => void (text += decoder.decode(chunk, { stream: true })), finish: () => void (text += decoder.decode()) };
  await pump(payload.source, [payload.md5, ...payload.checks, collect]);
  await payload.verify();
  return text;
}

/** Stops a body that declared no length once it passes `max` bytes. */
class LengthCapStage implements BodyStage {
  private seen = 0;
  private readonly max: number;
  private readonly tooLong: () => Error;
  constructor(max: number, tooLong: () => Error) {
    this.max = max;
    this.tooLong = tooLong;
  }
  write(chunk: Uint8Array): void {
    this.seen += chunk.byteLength;
    if (this.seen > this.max) throw this.tooLong();
  }
  finish(): void {}
}

function requireLength(headers: Headers, name: string): number {
  const value = headers.get(name);
  if (value === null) throw new S3Error("MissingContentLength", `You must provide the ${name} HTTP header.`);
  if (!/^\d{1,16}$/.test(value)) throw new S3Error("InvalidArgument", `${name} must be a non-negative integer.`);
  return Number(value);
}

/** Which additional checksum to compute: a value header, a declared trailer, or an algorithm with no value. */
function chooseChecksum(headers: Headers): { stage: ChecksumStage; expected?: string; fromTrailer: boolean } | undefined {
  const trailer = headers.get("x-amz-trailer");
  if (trailer) {
    const algorithm = parseChecksumAlgorithm(trailer.trim().toLowerCase().replace(/^x-amz-checksum-/, ""));
    if (!algorithm) throw new S3Error("InvalidRequest", `The x-amz-trailer '${trailer}' is not a supported checksum.`);
    return { stage: new ChecksumStage(algorithm), fromTrailer: true };
  }
  for (const name of ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"] as const) {
    const value = headers.get(checksumHeaderName(name));
    if (value !== null) {
      assertChecksumShape(name, value);
      return { stage: new ChecksumStage(name), expected: value, fromTrailer: false };
    }
  }
  const requested = headers.get("x-amz-sdk-checksum-algorithm") ?? headers.get("x-amz-checksum-algorithm");
  if (requested) {
    const algorithm = parseChecksumAlgorithm(requested);
    if (!algorithm) throw new S3Error("InvalidRequest", `Checksum algorithm '${requested}' is not supported.`);
    return { stage: new ChecksumStage(algorithm), fromTrailer: false };
  }
  return undefined;
}
