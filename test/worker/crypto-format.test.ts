/// <reference types="vite/client" />
// Edge encryption's blob format (src/services/crypto/FORMAT.md): round trips, ranged reads, tamper detection,
// the published test vectors, and a throughput log.
import { describe, expect, it } from "vitest";
import { pump, readChunks } from "../../src/services/pipeline.ts";
import { hex, sha256Hex } from "../../src/protocol/crypto.ts";
import { CiphertextIntegrityError } from "../../src/services/crypto/errors.ts";
import { importDataKey } from "../../src/services/crypto/keys.ts";
import {
  CHUNK_SIZE,
  EncryptStage,
  HEADER_SIZE,
  TAG_SIZE,
  ciphertextLength,
  ciphertextRangeFor,
  decryptBlob,
  decryptRange,
  encodeHeader,
  encryptBlob,
  newNoncePrefix,
  parseHeader,
  type CiphertextRange,
} from "../../src/services/crypto/stream-format.ts";
import formatDoc from "../../src/services/crypto/FORMAT.md?raw";

const KiB = 1024;
const MiB = 1024 * KiB;
const FRAME = CHUNK_SIZE + TAG_SIZE;

function pattern(length: number, seed = 0): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i + seed) % 251;
  return out;
}

const IRREGULAR = [1, 4 * KiB, 65535, 7, MiB, 65537, 300_001, 2, 131072];

/** Splits bytes into irregular pieces, each in its own buffer, the way a network hands them over. */
function* pieces(bytes: Uint8Array, sizes: readonly number[] = IRREGULAR): Generator<Uint8Array> {
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const size = sizes[i % sizes.length]!;
    yield bytes.slice(at, at + size);
    at += size;
  }
}

async function* asAsync(chunks: Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  for (const chunk of chunks) yield chunk;
}

async function dataKey(seed = 0): Promise<CryptoKey> {
  return importDataKey(Uint8Array.from({ length: 32 }, (_, i) => (i + seed) & 0xff));
}

/** Encrypts through the stage exactly as the edge would, with the plaintext arriving in irregular pieces. */
async function encryptInPieces(key: CryptoKey, prefix: Uint8Array, plaintext: Uint8Array, sizes?: readonly number[]): Promise<Uint8Array> {
  const frames: Uint8Array[] = [];
  const stage = new EncryptStage(key, prefix, { write: (c) => void frames.push(c.slice()) });
  for (const piece of pieces(plaintext, sizes)) await stage.write(piece);
  await stage.finish();
  const blob = concat(frames);
  expect(stage.ciphertextBytes).toBe(blob.length);
  return blob;
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Byte equality without a deep-equality walk of megabytes (slow, and an unreadable diff). */
function expectSameBytes(actual: Uint8Array, expected: Uint8Array): void {
  expect(actual.length).toBe(expected.length);
  let firstDifference = -1;
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) {
      firstDifference = i;
      break;
    }
  }
  expect(firstDifference).toBe(-1);
}

async function collect(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const part of source) parts.push(part.slice());
  return concat(parts);
}

/** Serves `range` out of `blob` as a node would, in irregular pieces, and decrypts it. */
function readRange(blob: Uint8Array, key: CryptoKey, prefix: Uint8Array, range: CiphertextRange, sizes?: readonly number[]): Promise<Uint8Array> {
  return collect(decryptRange(asAsync(pieces(blob.slice(range.start, range.end + 1), sizes)), key, prefix, range));
}

function wholeRange(n: number): CiphertextRange {
  return n === 0 ? ciphertextRangeFor(0, -1, 0) : ciphertextRangeFor(0, n - 1, n);
}

async function expectIntegrityError(promise: Promise<unknown>, reason?: string): Promise<CiphertextIntegrityError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(CiphertextIntegrityError);
  if (reason) expect((error as CiphertextIntegrityError).reason).toBe(reason);
  return error as CiphertextIntegrityError;
}

describe("encrypted blob format", () => {
  it("declares header + n + 16 bytes per started 64 KiB chunk, and one empty chunk for an empty object", () => {
    expect(ciphertextLength(0)).toBe(HEADER_SIZE + TAG_SIZE);
    expect(ciphertextLength(1)).toBe(HEADER_SIZE + 1 + TAG_SIZE);
    expect(ciphertextLength(CHUNK_SIZE)).toBe(HEADER_SIZE + CHUNK_SIZE + TAG_SIZE);
    expect(ciphertextLength(CHUNK_SIZE + 1)).toBe(HEADER_SIZE + CHUNK_SIZE + 1 + 2 * TAG_SIZE);
    expect(ciphertextLength(5 * 1024 * MiB)).toBe(HEADER_SIZE + 5 * 1024 * MiB + 16 * 81920);
  });

  for (const size of [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, MiB + 7]) {
    it(`returns the same ${size} bytes it encrypted, whatever the chunking on the way in and out`, async () => {
      const key = await dataKey();
      const prefix = newNoncePrefix();
      const plaintext = pattern(size, 3);
      const blob = await encryptInPieces(key, prefix, plaintext);
      expect(blob.length).toBe(ciphertextLength(size));
      expect(blob.subarray(0, HEADER_SIZE)).toEqual(encodeHeader(prefix));
      // The same bytes in one write produce the same blob: chunking never changes the format.
      expectSameBytes(await encryptBlob(key, prefix, plaintext), blob);
      for (const sizes of [IRREGULAR, [3, 65551, 17], [MiB * 2]]) {
        expectSameBytes(await readRange(blob, key, prefix, wholeRange(size), sizes), plaintext);
      }
      expectSameBytes(await decryptBlob(key, prefix, blob, size), plaintext);
    });
  }

  it("is fed by the body pipeline from a request stream like any other stage", async () => {
    const key = await dataKey();
    const prefix = newNoncePrefix();
    const plaintext = pattern(3 * MiB + 12345);
    const frames: Uint8Array[] = [];
    const stage = new EncryptStage(key, prefix, { write: (c) => void frames.push(c.slice()) });
    const total = await pump(readChunks(new Blob([plaintext]).stream()), [stage]);
    expect(total).toBe(plaintext.length);
    expectSameBytes(await decryptBlob(key, prefix, concat(frames), plaintext.length), plaintext);
  });

  it("refuses more writes after the body finished or failed", async () => {
    const stage = new EncryptStage(await dataKey(), newNoncePrefix(), { write: () => {} });
    await stage.write(pattern(10));
    await stage.finish();
    await expect(stage.write(pattern(1))).rejects.toThrow();
    const failing = new EncryptStage(await dataKey(), newNoncePrefix(), { write: () => Promise.reject(new Error("node went away")) });
    await expect(failing.write(pattern(10))).rejects.toThrow("node went away");
    await expect(failing.finish()).rejects.toThrow();
  });
});

describe("ranged reads of an encrypted blob", () => {
  const size = 3 * CHUNK_SIZE + 100;
  const cases: [string, number, number][] = [
    ["the first byte", 0, 0],
    ["the last byte", size - 1, size - 1],
    ["the last byte of a chunk", CHUNK_SIZE - 1, CHUNK_SIZE - 1],
    ["the first byte of a chunk", CHUNK_SIZE, CHUNK_SIZE],
    ["a span across two chunks", CHUNK_SIZE - 6, CHUNK_SIZE + 9],
    ["exactly one whole middle chunk", CHUNK_SIZE, 2 * CHUNK_SIZE - 1],
    ["a 500-byte suffix", size - 500, size - 1],
    ["the whole object", 0, size - 1],
  ];
  for (const [name, start, end] of cases) {
    it(`decrypts ${name} to exactly that slice of the plaintext, fetching only the chunks it needs`, async () => {
      const key = await dataKey();
      const prefix = newNoncePrefix();
      const plaintext = pattern(size, 11);
      const blob = await encryptInPieces(key, prefix, plaintext);
      const range = ciphertextRangeFor(start, end, size);
      expect(range.end - range.start + 1).toBe(
        (range.withHeader ? HEADER_SIZE : 0) + (range.lastChunk - range.firstChunk + 1) * FRAME - (range.lastChunk === 3 ? CHUNK_SIZE - 100 : 0),
      );
      expect(range.firstChunk).toBe(Math.floor(start / CHUNK_SIZE));
      expect(range.lastChunk).toBe(Math.floor(end / CHUNK_SIZE));
      expectSameBytes(await readRange(blob, key, prefix, range), plaintext.slice(start, end + 1));
    });
  }

  it("reads a chunk in the middle without the header or any other chunk", () => {
    const range = ciphertextRangeFor(CHUNK_SIZE + 5, CHUNK_SIZE + 5, 3 * CHUNK_SIZE);
    expect(range).toMatchObject({ start: HEADER_SIZE + FRAME, end: HEADER_SIZE + 2 * FRAME - 1, withHeader: false });
  });

  it("rejects a range outside the object", () => {
    expect(() => ciphertextRangeFor(0, 10, 10)).toThrow(RangeError);
    expect(() => ciphertextRangeFor(5, 4, 10)).toThrow(RangeError);
  });
});

describe("tampered blobs", () => {
  const size = 3 * CHUNK_SIZE + 100;

  async function fixture() {
    const key = await dataKey();
    const prefix = newNoncePrefix();
    const plaintext = pattern(size, 5);
    const blob = await encryptInPieces(key, prefix, plaintext);
    return { key, prefix, plaintext, blob };
  }

  function frameAt(i: number): number {
    return HEADER_SIZE + i * FRAME;
  }

  it("fails on one flipped bit in any chunk or tag, and yields nothing of the bad chunk", async () => {
    const { key, prefix, plaintext, blob } = await fixture();
    for (const position of [HEADER_SIZE, frameAt(1) + 1000, frameAt(2) - 1, blob.length - 1]) {
      const bad = blob.slice();
      bad[position]! ^= 0x01;
      const received: Uint8Array[] = [];
      const reading = (async () => {
        for await (const piece of decryptRange(asAsync(pieces(bad)), key, prefix, wholeRange(size), { window: 1 })) received.push(piece.slice());
      })();
      const error = await expectIntegrityError(reading, "tag");
      // What was released before the failure is the true plaintext of the chunks before the bad one.
      const released = concat(received);
      expectSameBytes(released, plaintext.slice(0, released.length));
      expect(released.length).toBeLessThanOrEqual((error.chunk ?? 0) * CHUNK_SIZE);
    }
  });

  it("fails when the blob loses its last chunk", async () => {
    const { key, prefix, blob } = await fixture();
    await expectIntegrityError(collect(decryptRange(asAsync([blob.slice(0, frameAt(3))]), key, prefix, wholeRange(size))), "truncated");
  });

  it("fails when the blob is cut in the middle of a chunk or of the header", async () => {
    const { key, prefix, blob } = await fixture();
    for (const cut of [frameAt(1) + 100, blob.length - 1, 5]) {
      await expectIntegrityError(collect(decryptRange(asAsync(pieces(blob.slice(0, cut))), key, prefix, wholeRange(size))), "truncated");
    }
  });

  it("fails when a shorter object is presented as a complete one (a missing last flag)", async () => {
    // Two full chunks cut from a longer object: the second was sealed as "not last".
    const { key, prefix, blob } = await fixture();
    const twoChunks = blob.slice(0, frameAt(2));
    await expectIntegrityError(decryptBlob(key, prefix, twoChunks, 2 * CHUNK_SIZE), "tag");
  });

  it("fails when bytes follow the end of the requested chunks", async () => {
    const { key, prefix, blob } = await fixture();
    const extended = concat([blob, new Uint8Array(3)]);
    await expectIntegrityError(collect(decryptRange(asAsync([extended]), key, prefix, wholeRange(size))), "trailing");
  });

  it("fails when two chunks swap places", async () => {
    const { key, prefix, blob } = await fixture();
    const swapped = blob.slice();
    swapped.set(blob.subarray(frameAt(1), frameAt(2)), frameAt(0));
    swapped.set(blob.subarray(frameAt(0), frameAt(1)), frameAt(1));
    await expectIntegrityError(decryptBlob(key, prefix, swapped, size), "tag");
    // A ranged read of chunk 1 served chunk 0's bytes fails the same way.
    const range = ciphertextRangeFor(CHUNK_SIZE, CHUNK_SIZE + 10, size);
    await expectIntegrityError(collect(decryptRange(asAsync([blob.slice(frameAt(0), frameAt(1))]), key, prefix, range)), "tag");
  });

  it("fails on a chunk spliced in from another object under the same data key", async () => {
    const { key, prefix, blob } = await fixture();
    const other = await encryptInPieces(key, newNoncePrefix(), pattern(size, 5));
    const spliced = blob.slice();
    spliced.set(other.subarray(frameAt(1), frameAt(2)), frameAt(1));
    await expectIntegrityError(decryptBlob(key, prefix, spliced, size), "tag");
  });

  it("fails when the header is swapped for another object's, whether or not the prefix was recorded", async () => {
    const { key, prefix, blob } = await fixture();
    const otherPrefix = newNoncePrefix();
    const swapped = blob.slice();
    swapped.set(encodeHeader(otherPrefix), 0);
    // The edge recorded the prefix at write time: the header no longer matches it.
    await expectIntegrityError(decryptBlob(key, prefix, swapped, size), "header");
    // The edge trusted the blob's own header: every chunk was sealed under another header and prefix.
    await expectIntegrityError(decryptBlob(key, parseHeader(swapped), swapped, size), "tag");
    // A header with a changed reserved byte is not a v1 header at all.
    const odd = blob.slice();
    odd[7] = 1;
    expect(() => parseHeader(odd)).toThrow(CiphertextIntegrityError);
  });

  it("fails on an empty object whose one empty chunk was altered or dropped", async () => {
    const key = await dataKey();
    const prefix = newNoncePrefix();
    const blob = await encryptBlob(key, prefix, new Uint8Array(0));
    expectSameBytes(await decryptBlob(key, prefix, blob, 0), new Uint8Array(0));
    const bad = blob.slice();
    bad[HEADER_SIZE + 3]! ^= 0x80;
    await expectIntegrityError(decryptBlob(key, prefix, bad, 0), "tag");
    await expectIntegrityError(decryptBlob(key, prefix, blob.slice(0, HEADER_SIZE), 0), "truncated");
  });

  it("fails under another data key", async () => {
    const { prefix, blob } = await fixture();
    await expectIntegrityError(decryptBlob(await dataKey(1), prefix, blob, size), "tag");
  });
});

/** The vectors published in FORMAT.md, section "Test vectors". */
function documentedVector(name: string): string {
  const match = new RegExp(`^- ${name}: \`([^\`]+)\``, "m").exec(formatDoc);
  if (!match) throw new Error(`FORMAT.md has no test vector "${name}"`);
  return match[1]!;
}

describe("test vectors", () => {
  it("match the ones published in FORMAT.md", async () => {
    const key = await importDataKey(Uint8Array.from({ length: 32 }, (_, i) => i));
    const prefix = Uint8Array.from([0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6]);
    const plaintext = Uint8Array.from({ length: 70_000 }, (_, i) => i % 251);
    const blob = await encryptBlob(key, prefix, plaintext);
    const computed = {
      header: hex(blob.subarray(0, HEADER_SIZE)),
      length: String(blob.length),
      sha256: await sha256Hex(blob),
      chunk0: hex(blob.subarray(HEADER_SIZE, HEADER_SIZE + 32)),
      chunk1tag: hex(blob.subarray(blob.length - TAG_SIZE)),
      empty: hex(await encryptBlob(key, prefix, new Uint8Array(0))),
    };
    console.log("test vectors", JSON.stringify(computed));
    expect(computed.header).toBe(documentedVector("header"));
    expect(computed.length).toBe(documentedVector("ciphertext length"));
    expect(computed.sha256).toBe(documentedVector("SHA-256 of the blob"));
    expect(computed.chunk0).toBe(documentedVector("first 32 bytes of chunk 0"));
    expect(computed.chunk1tag).toBe(documentedVector("tag of chunk 1"));
    expect(computed.empty).toBe(documentedVector("empty object, whole blob"));
    expectSameBytes(await decryptBlob(key, prefix, blob, plaintext.length), plaintext);
  });
});

describe("throughput", () => {
  it("logs encrypt and decrypt MiB/s for a 64 MiB object in 1 MiB pieces", { timeout: 120_000 }, async () => {
    const key = await dataKey();
    const prefix = newNoncePrefix();
    const plaintext = pattern(64 * MiB);
    const inputs = [...pieces(plaintext, [MiB])];
    const blobPieces = [...pieces(await encryptBlob(key, prefix, plaintext), [MiB])];
    const mibPerSecond = (ms: number): number => Math.round(64 / (ms / 1000));
    const median = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const results: Record<number, { encrypt: number[]; decrypt: number[] }> = { 1: { encrypt: [], decrypt: [] }, 16: { encrypt: [], decrypt: [] } };
    for (let round = 0; round < 5; round++) {
      for (const window of [1, 16]) {
        let bytes = 0;
        const stage = new EncryptStage(key, prefix, { write: (c) => void (bytes += c.length) }, { window });
        let t0 = performance.now();
        for (const input of inputs) await stage.write(input);
        await stage.finish();
        results[window]!.encrypt.push(mibPerSecond(performance.now() - t0));
        expect(bytes).toBe(ciphertextLength(plaintext.length));
        let length = 0;
        t0 = performance.now();
        for await (const piece of decryptRange(asAsync(blobPieces), key, prefix, wholeRange(plaintext.length), { window })) length += piece.length;
        results[window]!.decrypt.push(mibPerSecond(performance.now() - t0));
        expect(length).toBe(plaintext.length);
      }
    }
    for (const [window, r] of Object.entries(results)) {
      console.log(`64 MiB, window ${window}: encrypt median ${median(r.encrypt)} MiB/s [${r.encrypt.join(", ")}], decrypt median ${median(r.decrypt)} MiB/s [${r.decrypt.join(", ")}]`);
    }
  });
});
