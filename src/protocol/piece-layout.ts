// Where an erasure-coded segment's bytes live: the geometry shared by the edge (which writes and reads pieces)
// and the node-agent (which rebuilds a lost piece). Pure arithmetic, no runtime imports.
//
// A segment's blob (src/services/crypto/FORMAT.md) is a 16-byte header and N sealed chunks of 65,552 bytes (the
// last one shorter). The header is not stored: the index records the nonce prefix it is made of. The chunks are
// dealt out in stripes of k: chunk c is shard (c mod k) of stripe ⌊c / k⌋, so data piece p holds chunks p, p+k,
// p+2k, ... back to back, each padded with zeros to a full shard. Parity piece k+j holds parity shard j of every
// stripe (Reed-Solomon over the stripe's k shards, src/protocol/reed-solomon.ts). Every piece is `stripes` shards
// long, and each shard is one leaf of the piece's Merkle tree (src/protocol/merkle.ts).
//
// One shard per chunk means a data shard that fails its chunk's AES-GCM tag names its own piece, and a byte range
// of the object maps to one contiguous byte range per piece (one subrequest per piece, never per stripe).

/** Bytes of one shard: one sealed chunk of the blob format (64 KiB of plaintext and its 16-byte tag). */
export const SHARD_BYTES = 64 * 1024 + 16;
/** Plaintext bytes per chunk, and so per data shard. */
export const CHUNK_PLAINTEXT_BYTES = 64 * 1024;

/** An erasure code: k data pieces, m parity pieces. */
export interface ErasureCode {
  k: number;
  m: number;
}

export const MAX_PIECES = 32;

/** Parses "k+m" (e.g. "4+2"); throws RangeError on anything else. */
export function parseErasureCode(text: string): ErasureCode {
  const match = /^(\d{1,2})\+(\d{1,2})$/.exec(text.trim());
  if (!match) throw new RangeError(`an erasure code is written k+m, like 4+2 (got "${text}")`);
  const code = { k: Number(match[1]), m: Number(match[2]) };
  assertCode(code);
  return code;
}

export function formatErasureCode(code: ErasureCode): string {
  return `${code.k}+${code.m}`;
}

export function assertCode(code: ErasureCode): void {
  if (!Number.isInteger(code.k) || !Number.isInteger(code.m) || code.k < 1 || code.m < 0 || code.k + code.m > MAX_PIECES) {
    throw new RangeError(`an erasure code needs 1 ≤ k, 0 ≤ m and k + m ≤ ${MAX_PIECES} (got ${code.k}+${code.m})`);
  }
}

/** Sealed chunks of a segment of `plaintextBytes` bytes (at least one: an empty object is one empty chunk). */
export function chunksOf(plaintextBytes: number): number {
  return Math.max(1, Math.ceil(plaintextBytes / CHUNK_PLAINTEXT_BYTES));
}

/** Bytes of sealed chunk `c` (the last is shorter) of a segment of `plaintextBytes` bytes. */
export function chunkBytes(c: number, plaintextBytes: number): number {
  const last = chunksOf(plaintextBytes) - 1;
  return c < last ? SHARD_BYTES : plaintextBytes - last * CHUNK_PLAINTEXT_BYTES + 16;
}

/**
 * The code a segment actually uses: a segment of fewer chunks than k uses k = its chunk count (with the same
 * m), so a small segment is not padded out to k shards of zeros.
 */
export function codeForSegment(code: ErasureCode, plaintextBytes: number): ErasureCode {
  return { k: Math.min(code.k, chunksOf(plaintextBytes)), m: code.m };
}

/** Stripes of a segment under `code` (as codeForSegment returned it). */
export function stripesOf(code: ErasureCode, plaintextBytes: number): number {
  return Math.ceil(chunksOf(plaintextBytes) / code.k);
}

/** Bytes of every piece of the segment. */
export function pieceBytes(code: ErasureCode, plaintextBytes: number): number {
  return stripesOf(code, plaintextBytes) * SHARD_BYTES;
}

/** The data piece holding chunk `c`, and the stripe it is in. */
export function chunkLocation(code: ErasureCode, c: number): { piece: number; stripe: number } {
  return { piece: c % code.k, stripe: Math.floor(c / code.k) };
}

/** Stripes `first..last` (inclusive) of one piece, and the byte range of the piece that holds them. */
export interface PieceSpan {
  piece: number;
  firstStripe: number;
  lastStripe: number;
  /** Inclusive byte range within the piece. */
  start: number;
  end: number;
}

function span(piece: number, firstStripe: number, lastStripe: number): PieceSpan {
  return { piece, firstStripe, lastStripe, start: firstStripe * SHARD_BYTES, end: (lastStripe + 1) * SHARD_BYTES - 1 };
}

/**
 * What a read of chunks `firstChunk..lastChunk` fetches on the healthy path: from each data piece holding at
 * least one of them, the stripes from its first such chunk to its last. Pieces holding none are not read.
 */
export function dataSpansFor(code: ErasureCode, firstChunk: number, lastChunk: number): PieceSpan[] {
  const spans: PieceSpan[] = [];
  for (let p = 0; p < code.k; p++) {
    const first = Math.ceil((firstChunk - p) / code.k);
    const last = Math.floor((lastChunk - p) / code.k);
    if (first <= last) spans.push(span(p, first, last));
  }
  return spans;
}

/** The stripes covering chunks `firstChunk..lastChunk`, read from `pieces` (a degraded read decodes them). */
export function stripeSpansFor(code: ErasureCode, pieces: readonly number[], firstChunk: number, lastChunk: number): PieceSpan[] {
  const first = Math.floor(firstChunk / code.k);
  const last = Math.floor(lastChunk / code.k);
  return pieces.map((p) => span(p, first, last));
}
