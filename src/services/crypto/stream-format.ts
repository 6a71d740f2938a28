// The chunked authenticated blob format of edge encryption (FORMAT.md has it byte by byte): the STREAM
// construction of Hoang, Reyhanitabar, Rogaway and Vizár ("Online Authenticated-Encryption and its
// Nonce-Reuse Misuse-Resistance", CRYPTO 2015) over AES-256-GCM.
//
//   blob  = header(16) || chunk_0 || ... || chunk_{n-1}
//   chunk = AES-256-GCM(dataKey, nonce = prefix(7) || BE32(index) || last(1), aad = header, 64 KiB plaintext) || tag(16)
//
// Every chunk carries its position and whether it ends the object in its nonce, and the header in its
// additional data, so a ranged read decrypts only the chunks it needs while truncation, reordering, splicing
// from another object and header swaps all fail a tag.

import { CiphertextIntegrityError } from "./errors.ts";

export const CHUNK_SIZE = 64 * 1024;
export const TAG_SIZE = 16;
export const HEADER_SIZE = 16;
export const PREFIX_SIZE = 7;
export const FORMAT_VERSION = 1;
/** "ICNE" */
export const MAGIC = new Uint8Array([0x49, 0x43, 0x4e, 0x45]);
const CHUNK_SHIFT = 16;
const MAX_CHUNKS = 2 ** 32;
/** Chunks sealed or opened concurrently: one 1 MiB read is 16 chunks. */
const DEFAULT_WINDOW = 16;

/** A fresh random 7-byte nonce prefix; one per blob (each part of a part set gets its own). */
export function newNoncePrefix(): Uint8Array<ArrayBuffer> {
  return crypto.getRandomValues(new Uint8Array(PREFIX_SIZE));
}

/** The 16-byte header: magic "ICNE", version 1, log2(chunk size) = 16, three zero bytes, the nonce prefix. */
export function encodeHeader(prefix: Uint8Array): Uint8Array<ArrayBuffer> {
  if (prefix.length !== PREFIX_SIZE) throw new TypeError(`a nonce prefix is ${PREFIX_SIZE} bytes`);
  const header = new Uint8Array(HEADER_SIZE);
  header.set(MAGIC, 0);
  header[4] = FORMAT_VERSION;
  header[5] = CHUNK_SHIFT;
  header.set(prefix, HEADER_SIZE - PREFIX_SIZE);
  return header;
}

/**
 * Reads a blob's header (its first 16 bytes) and returns its nonce prefix. Only for callers that did not record
 * the prefix: a header read from a node is as untrusted as the rest, but the chunks it does not match fail.
 */
export function parseHeader(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  if (bytes.length < HEADER_SIZE) throw new CiphertextIntegrityError("header", "the blob is shorter than its header");
  const magicOk = MAGIC.every((b, i) => bytes[i] === b);
  if (!magicOk || bytes[4] !== FORMAT_VERSION || bytes[5] !== CHUNK_SHIFT || bytes[6] !== 0 || bytes[7] !== 0 || bytes[8] !== 0) {
    throw new CiphertextIntegrityError("header", "not an ICN Edge v1 encrypted blob");
  }
  return bytes.slice(HEADER_SIZE - PREFIX_SIZE, HEADER_SIZE);
}

/** Number of chunks of an object: ⌈n / 64 KiB⌉, and one (empty, last) chunk for an empty object. */
export function chunkCount(plaintextLength: number): number {
  assertLength(plaintextLength);
  return Math.max(1, Math.ceil(plaintextLength / CHUNK_SIZE));
}

/** The blob's exact length, to declare to nodes before streaming: 16 + n + 16·max(1, ⌈n / 64 KiB⌉). */
export function ciphertextLength(plaintextLength: number): number {
  return HEADER_SIZE + plaintextLength + TAG_SIZE * chunkCount(plaintextLength);
}

function chunkNonce(prefix: Uint8Array, index: number, last: boolean): Uint8Array<ArrayBuffer> {
  const nonce = new Uint8Array(12);
  nonce.set(prefix, 0);
  new DataView(nonce.buffer).setUint32(PREFIX_SIZE, index, false);
  nonce[11] = last ? 1 : 0;
  return nonce;
}

function assertLength(n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError("a plaintext length is a non-negative integer");
  if (Math.ceil(n / CHUNK_SIZE) > MAX_CHUNKS) throw new RangeError("an object of more than 2^32 chunks (256 TiB) cannot be encrypted");
}

function assertAes256Gcm(key: CryptoKey): void {
  const algorithm = key.algorithm as { name: string; length?: number };
  if (algorithm.name !== "AES-GCM" || algorithm.length !== 256) throw new TypeError("a data key is an AES-256-GCM key");
}

const ignore = (): void => {};

/** Where ciphertext goes: the fan-out to replica uploads, a buffer in tests. Called in blob order. */
export interface CiphertextSink {
  write(chunk: Uint8Array): void | Promise<void>;
}

export interface EncryptStageOptions {
  /** Chunks sealed concurrently (default 16). */
  window?: number;
}

/**
 * A body stage that encrypts plaintext of any chunking into the blob format and writes it to `downstream`:
 * the header, then each sealed chunk in order. It holds at most one 64 KiB chunk back (the one that may turn out
 * to be the last); larger inputs are sealed in place, `window` chunks at a time.
 */
export class EncryptStage {
  readonly header: Uint8Array<ArrayBuffer>;
  private readonly key: CryptoKey;
  private readonly prefix: Uint8Array<ArrayBuffer>;
  private readonly downstream: CiphertextSink;
  private readonly window: number;
  private pending = new Uint8Array(CHUNK_SIZE);
  private pendingLength = 0;
  private nextIndex = 0;
  private headerSent = false;
  private state: "open" | "finished" | "failed" = "open";
  private written = 0;

  constructor(dataKey: CryptoKey, prefix: Uint8Array, downstream: CiphertextSink, options: EncryptStageOptions = {}) {
    assertAes256Gcm(dataKey);
    this.header = encodeHeader(prefix);
    this.key = dataKey;
    this.prefix = new Uint8Array(prefix);
    this.downstream = downstream;
    this.window = Math.max(1, options.window ?? DEFAULT_WINDOW);
  }

  /** Ciphertext bytes written downstream so far; equals `ciphertextLength(n)` after `finish`. */
  get ciphertextBytes(): number {
    return this.written;
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.state !== "open") throw new Error(`EncryptStage.write after the body ${this.state}`);
    if (chunk.length === 0) return;
    // Plaintext chunks now known not to be the last: more bytes follow each of them.
    const full: Uint8Array[] = [];
    let offset = 0;
    if (this.pendingLength > 0) {
      offset = Math.min(CHUNK_SIZE - this.pendingLength, chunk.length);
      this.pending.set(chunk.subarray(0, offset), this.pendingLength);
      this.pendingLength += offset;
      if (this.pendingLength === CHUNK_SIZE && offset < chunk.length) full.push(this.takePending());
    }
    // Whole chunks straight from the input (sealed before write resolves; the caller may reuse its buffer).
    while (chunk.length - offset > CHUNK_SIZE) {
      full.push(chunk.subarray(offset, offset + CHUNK_SIZE));
      offset += CHUNK_SIZE;
    }
    if (offset < chunk.length) {
      this.pending.set(chunk.subarray(offset), 0);
      this.pendingLength = chunk.length - offset;
    }
    await this.guard(this.seal(full, false));
  }

  async finish(): Promise<void> {
    if (this.state !== "open") throw new Error(`EncryptStage.finish after the body ${this.state}`);
    await this.guard(this.seal([this.takePending()], true));
    this.state = "finished";
  }

  abort(): void {
    this.state = "failed";
    this.pending = new Uint8Array(0);
    this.pendingLength = 0;
  }

  private takePending(): Uint8Array {
    const taken = this.pending.subarray(0, this.pendingLength);
    this.pending = new Uint8Array(CHUNK_SIZE);
    this.pendingLength = 0;
    return taken;
  }

  private async guard(work: Promise<void>): Promise<void> {
    try {
      await work;
    } catch (error) {
      this.state = "failed";
      throw error;
    }
  }

  /** Seals `chunks` (the last of them ends the object when `endsObject`) and writes them downstream in order. */
  private async seal(chunks: readonly Uint8Array[], endsObject: boolean): Promise<void> {
    if (!this.headerSent) {
      this.headerSent = true;
      await this.emit(this.header);
    }
    const first = this.nextIndex;
    if (first + chunks.length > MAX_CHUNKS) throw new RangeError("an object of more than 2^32 chunks (256 TiB) cannot be encrypted");
    this.nextIndex += chunks.length;
    const sealed: (Promise<ArrayBuffer> | undefined)[] = new Array(chunks.length);
    let started = 0;
    for (let i = 0; i < chunks.length; i++) {
      // Keep up to `window` chunks in flight, and write them out in order as they complete.
      for (; started < chunks.length && started - i < this.window; started++) {
        const last = endsObject && started === chunks.length - 1;
        const iv = chunkNonce(this.prefix, first + started, last);
        const promise = crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: this.header, tagLength: 128 }, this.key, chunks[started]! as Uint8Array<ArrayBuffer>);
        promise.catch(ignore); // awaited below; this only stops an early failure counting as unhandled
        sealed[started] = promise;
      }
      const frame = await sealed[i]!;
      sealed[i] = undefined;
      await this.emit(new Uint8Array(frame));
    }
  }

  private async emit(bytes: Uint8Array): Promise<void> {
    await this.downstream.write(bytes);
    this.written += bytes.length;
  }
}

/** Encrypts a whole buffer into a blob (small objects, tools, test vectors). */
export async function encryptBlob(dataKey: CryptoKey, prefix: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  const out = new Uint8Array(ciphertextLength(plaintext.length));
  let at = 0;
  const stage = new EncryptStage(dataKey, prefix, { write: (c) => { out.set(c, at); at += c.length; } });
  await stage.write(plaintext);
  await stage.finish();
  return out;
}

/** What to fetch from a blob to serve one plaintext range, and what of it to keep. */
export interface CiphertextRange {
  /** First blob byte to fetch (inclusive). 0 when the range starts in chunk 0: the header comes along. */
  readonly start: number;
  /** Last blob byte to fetch (inclusive). */
  readonly end: number;
  readonly withHeader: boolean;
  readonly firstChunk: number;
  readonly lastChunk: number;
  /** The requested plaintext range, inclusive like HTTP's `bytes=start-end`; `end = start - 1` when empty. */
  readonly plainStart: number;
  readonly plainEnd: number;
  readonly plaintextLength: number;
}

/**
 * The blob bytes needed to serve plaintext bytes `plainStart..plainEnd` (inclusive, as `parseRange` returns
 * them) of an object of `plaintextLength` bytes: the whole chunks covering them, and the header when the first
 * of those is chunk 0. An empty object is read whole as `(0, -1, 0)`, which still checks its one empty chunk.
 */
export function ciphertextRangeFor(plainStart: number, plainEnd: number, plaintextLength: number): CiphertextRange {
  const chunks = chunkCount(plaintextLength);
  const empty = plaintextLength === 0 && plainStart === 0 && plainEnd === -1;
  if (!empty && !(Number.isSafeInteger(plainStart) && Number.isSafeInteger(plainEnd) && plainStart >= 0 && plainStart <= plainEnd && plainEnd < plaintextLength)) {
    throw new RangeError(`bytes ${plainStart}-${plainEnd} are not within an object of ${plaintextLength} bytes`);
  }
  const firstChunk = empty ? 0 : Math.floor(plainStart / CHUNK_SIZE);
  const lastChunk = empty ? 0 : Math.floor(plainEnd / CHUNK_SIZE);
  const chunkStart = (i: number): number => HEADER_SIZE + i * (CHUNK_SIZE + TAG_SIZE);
  const end = lastChunk === chunks - 1 ? ciphertextLength(plaintextLength) - 1 : chunkStart(lastChunk + 1) - 1;
  const withHeader = firstChunk === 0;
  return { start: withHeader ? 0 : chunkStart(firstChunk), end, withHeader, firstChunk, lastChunk, plainStart, plainEnd, plaintextLength };
}

export interface DecryptRangeOptions {
  /** Chunks opened concurrently (default 16). */
  window?: number;
}

/**
 * Decrypts the blob bytes of `range` (fetched from a node as `bytes=range.start-range.end`, in any chunking) and
 * yields exactly plaintext bytes `range.plainStart..range.plainEnd`. `prefix` is the object's nonce prefix as
 * recorded at write time (or `parseHeader` of the blob's first 16 bytes). Every chunk's tag, position and last
 * flag are checked before any of its bytes are yielded; any mismatch, a short or a long input throws
 * CiphertextIntegrityError.
 */
export async function* decryptRange(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  dataKey: CryptoKey,
  prefix: Uint8Array,
  range: CiphertextRange,
  options: DecryptRangeOptions = {},
): AsyncGenerator<Uint8Array> {
  assertAes256Gcm(dataKey);
  const header = encodeHeader(prefix);
  const window = Math.max(1, options.window ?? DEFAULT_WINDOW);
  const n = range.plaintextLength;
  const lastOfObject = chunkCount(n) - 1;
  const plainLength = (i: number): number => (i === lastOfObject ? n - i * CHUNK_SIZE : CHUNK_SIZE);

  const open = async (index: number, frame: Uint8Array): Promise<Uint8Array> => {
    let plain: ArrayBuffer;
    try {
      const iv = chunkNonce(prefix, index, index === lastOfObject);
      plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv, additionalData: header, tagLength: 128 }, dataKey, frame as Uint8Array<ArrayBuffer>);
    } catch {
      throw new CiphertextIntegrityError("tag", `chunk ${index} does not authenticate (tampered, moved, from another object, or a bad header)`, index);
    }
    const from = Math.max(0, range.plainStart - index * CHUNK_SIZE);
    const to = Math.min(plainLength(index), range.plainEnd + 1 - index * CHUNK_SIZE);
    return new Uint8Array(plain, from, Math.max(0, to - from));
  };

  // The header, when the range starts at byte 0, must be this object's: compared before any chunk is trusted.
  let headerLeft = range.withHeader ? HEADER_SIZE : 0;
  let index = range.firstChunk;
  let frame = new Uint8Array(0);
  let frameFill = 0;
  const inFlight: Promise<Uint8Array>[] = [];
  const dispatch = (bytes: Uint8Array): void => {
    const promise = open(index++, bytes);
    promise.catch(ignore); // awaited in order below
    inFlight.push(promise);
  };

  for await (const input of source) {
    let offset = 0;
    if (headerLeft > 0) {
      const take = Math.min(headerLeft, input.length);
      for (let i = 0; i < take; i++) {
        if (input[i] !== header[HEADER_SIZE - headerLeft + i]) throw new CiphertextIntegrityError("header", "the blob's header is not this object's");
      }
      headerLeft -= take;
      offset = take;
    }
    while (offset < input.length) {
      if (index > range.lastChunk) throw new CiphertextIntegrityError("trailing", "the blob goes on after the requested chunks", index);
      const size = plainLength(index) + TAG_SIZE;
      if (frameFill === 0 && input.length - offset >= size) {
        dispatch(input.subarray(offset, offset + size)); // decrypt copies its input when called
        offset += size;
        continue;
      }
      if (frameFill === 0) frame = new Uint8Array(size);
      const take = Math.min(size - frameFill, input.length - offset);
      frame.set(input.subarray(offset, offset + take), frameFill);
      frameFill += take;
      offset += take;
      if (frameFill === size) {
        dispatch(frame);
        frameFill = 0;
      }
    }
    while (inFlight.length >= window) {
      const plain = await inFlight.shift()!;
      if (plain.length > 0) yield plain;
    }
  }
  if (headerLeft > 0 || frameFill > 0 || index <= range.lastChunk) {
    // Report a bad chunk already received before the truncation, when there is one.
    for (const promise of inFlight) await promise;
    throw new CiphertextIntegrityError("truncated", "the blob ends before the requested chunks do", index);
  }
  while (inFlight.length > 0) {
    const plain = await inFlight.shift()!;
    if (plain.length > 0) yield plain;
  }
}

/** Decrypts a whole blob held in memory (small objects, tools, tests). */
export async function decryptBlob(dataKey: CryptoKey, prefix: Uint8Array, blob: Uint8Array, plaintextLength: number): Promise<Uint8Array<ArrayBuffer>> {
  const range = plaintextLength === 0 ? ciphertextRangeFor(0, -1, 0) : ciphertextRangeFor(0, plaintextLength - 1, plaintextLength);
  const out = new Uint8Array(plaintextLength);
  let at = 0;
  for await (const piece of decryptRange([blob], dataKey, prefix, range)) {
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}
