// S3 additional checksums (x-amz-checksum-*): computed while the body streams and compared with what the client
// sent in a header or an aws-chunked trailer. Values are base64 of the big-endian digest.
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html

import { base64 } from "../protocol/crypto.ts";
import { DigestStage, type BodyStage } from "../services/pipeline.ts";
import { S3Error } from "./errors.ts";

export const CHECKSUM_ALGORITHMS = ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"] as const;
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number];

export function checksumHeaderName(algorithm: ChecksumAlgorithm): string {
  return `x-amz-checksum-${algorithm.toLowerCase()}`;
}

export function parseChecksumAlgorithm(value: string): ChecksumAlgorithm | undefined {
  const upper = value.toUpperCase();
  return (CHECKSUM_ALGORITHMS as readonly string[]).includes(upper) ? (upper as ChecksumAlgorithm) : undefined;
}

function crc32Table(poly: number): Uint32Array {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ poly : c >>> 1;
    table[i] = c >>> 0;
  }
  return table;
}

const CRC32_TABLE = crc32Table(0xedb88320);
const CRC32C_TABLE = crc32Table(0x82f63b78);

// CRC-64/NVME (reflected polynomial 0x9A6C9329AC4BC9B5), as 32-bit halves so it stays in fast integer math.
const CRC64_HI = new Uint32Array(256);
const CRC64_LO = new Uint32Array(256);
(() => {
  const polyHi = 0x9a6c9329;
  const polyLo = 0xac4bc9b5;
  for (let i = 0; i < 256; i++) {
    let hi = 0;
    let lo = i;
    for (let k = 0; k < 8; k++) {
      const lsb = lo & 1;
      lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
      hi = hi >>> 1;
      if (lsb) {
        hi = (hi ^ polyHi) >>> 0;
        lo = (lo ^ polyLo) >>> 0;
      }
    }
    CRC64_HI[i] = hi;
    CRC64_LO[i] = lo;
  }
})();

interface Checksummer {
  update(chunk: Uint8Array): void;
  digest(): Uint8Array;
}

function crc32Checksummer(table: Uint32Array): Checksummer {
  let crc = 0xffffffff;
  return {
    update(chunk) {
      let c = crc;
      for (let i = 0; i < chunk.length; i++) c = table[(c ^ chunk[i]!) & 0xff]! ^ (c >>> 8);
      crc = c;
    },
    digest() {
      const v = (crc ^ 0xffffffff) >>> 0;
      return new Uint8Array([v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff]);
    },
  };
}

function crc64Checksummer(): Checksummer {
  let hi = 0xffffffff;
  let lo = 0xffffffff;
  return {
    update(chunk) {
      let h = hi;
      let l = lo;
      for (let i = 0; i < chunk.length; i++) {
        const idx = (l ^ chunk[i]!) & 0xff;
        l = ((l >>> 8) | (h << 24)) ^ CRC64_LO[idx]!;
        h = (h >>> 8) ^ CRC64_HI[idx]!;
      }
      hi = h >>> 0;
      lo = l >>> 0;
    },
    digest() {
      const h = (hi ^ 0xffffffff) >>> 0;
      const l = (lo ^ 0xffffffff) >>> 0;
      return new Uint8Array([h >>> 24, (h >>> 16) & 0xff, (h >>> 8) & 0xff, h & 0xff, l >>> 24, (l >>> 16) & 0xff, (l >>> 8) & 0xff, l & 0xff]);
    },
  };
}

/** Computes one S3 checksum over the body; `value` (base64) is ready after `finish`. */
export class ChecksumStage implements BodyStage {
  readonly algorithm: ChecksumAlgorithm;
  private readonly crc?: Checksummer;
  private readonly digestStage?: DigestStage;
  private result?: string;

  constructor(algorithm: ChecksumAlgorithm) {
    this.algorithm = algorithm;
    if (algorithm === "SHA1" || algorithm === "SHA256") {
      this.digestStage = new DigestStage(algorithm === "SHA1" ? "SHA-1" : "SHA-256");
    } else {
      this.crc = algorithm === "CRC64NVME" ? crc64Checksummer() : crc32Checksummer(algorithm === "CRC32" ? CRC32_TABLE : CRC32C_TABLE);
    }
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.crc) this.crc.update(chunk);
    else await this.digestStage!.write(chunk);
  }

  async finish(): Promise<void> {
    if (this.crc) {
      this.result = base64(this.crc.digest());
    } else {
      await this.digestStage!.finish();
      this.result = base64(new Uint8Array(this.digestStage!.digest));
    }
  }

  abort(reason: unknown): void {
    this.digestStage?.abort(reason);
  }

  get value(): string {
    if (this.result === undefined) throw new Error("checksum read before the body finished");
    return this.result;
  }
}

/** Throws S3's BadDigest when the computed checksum differs from the one the client sent. */
export function assertChecksum(stage: ChecksumStage, expected: string): void {
  if (stage.value !== expected) {
    throw new S3Error("BadDigest", `The ${stage.algorithm} you specified did not match the calculated checksum.`);
  }
}

/** Checks a client-supplied checksum value's shape (base64 of the right length) before any byte is stored. */
export function assertChecksumShape(algorithm: ChecksumAlgorithm, value: string): void {
  const bytes = { CRC32: 4, CRC32C: 4, CRC64NVME: 8, SHA1: 20, SHA256: 32 }[algorithm];
  const expectedLength = Math.ceil(bytes / 3) * 4;
  if (value.length !== expectedLength || !/^[A-Za-z0-9+/]+=*$/.test(value)) {
    throw new S3Error("InvalidRequest", `Value for ${checksumHeaderName(algorithm)} header is invalid.`);
  }
}
