// Where an erasure-coded segment's bytes live (src/protocol/piece-layout.ts): the arithmetic the edge's writes and
// reads and the node-agent's rebuilds share, so an off-by-one here would misplace bytes everywhere at once.
import { describe, expect, it } from "vitest";
import {
  chunkBytes,
  chunkLocation,
  chunksOf,
  codeForSegment,
  dataSpansFor,
  parseErasureCode,
  pieceBytes,
  SHARD_BYTES,
  stripeSpansFor,
  stripesOf,
} from "../../src/protocol/piece-layout.ts";

const KiB = 1024;

describe("piece layout", () => {
  it("parses k+m and refuses what is not one", () => {
    expect(parseErasureCode("4+2")).toEqual({ k: 4, m: 2 });
    for (const bad of ["4", "0+2", "4-2", "20+20", "a+b", ""]) expect(() => parseErasureCode(bad)).toThrow(RangeError);
  });

  it("sizes pieces as whole stripes of sealed chunks, with small segments using fewer data pieces", () => {
    const code = { k: 4, m: 2 };
    expect(chunksOf(0)).toBe(1);
    expect(chunkBytes(0, 0)).toBe(16);
    expect(chunkBytes(0, 64 * KiB + 1)).toBe(SHARD_BYTES);
    expect(chunkBytes(1, 64 * KiB + 1)).toBe(17);
    expect(codeForSegment(code, 100 * KiB)).toEqual({ k: 2, m: 2 });
    expect(codeForSegment(code, 16 * 1024 * KiB)).toEqual(code);
    // 16 MiB: 256 chunks, 64 stripes; six pieces of 64 shards = 1.5× plus the tags.
    expect(stripesOf(code, 16 * 1024 * KiB)).toBe(64);
    expect(pieceBytes(code, 16 * 1024 * KiB)).toBe(64 * SHARD_BYTES);
    // 5 chunks at k=4: two stripes, the second padded.
    expect(pieceBytes(code, 5 * 64 * KiB)).toBe(2 * SHARD_BYTES);
  });

  it("reads a chunk range from each data piece as one contiguous span, and nothing from pieces it does not touch", () => {
    const code = { k: 4, m: 2 };
    expect(chunkLocation(code, 9)).toEqual({ piece: 1, stripe: 2 });
    // Chunk 5 alone: piece 1, stripe 1.
    expect(dataSpansFor(code, 5, 5)).toEqual([{ piece: 1, firstStripe: 1, lastStripe: 1, start: SHARD_BYTES, end: 2 * SHARD_BYTES - 1 }]);
    // Chunks 3..9: piece 3 stripes 0-1, piece 0 stripes 1-2, piece 1 stripes 1-2, piece 2 stripe 1.
    const spans = dataSpansFor(code, 3, 9);
    expect(spans.map((s) => [s.piece, s.firstStripe, s.lastStripe])).toEqual([[0, 1, 2], [1, 1, 2], [2, 1, 1], [3, 0, 1]]);
    // Every chunk of the range is covered exactly once.
    for (let c = 3; c <= 9; c++) {
      const { piece, stripe } = chunkLocation(code, c);
      expect(spans.filter((s) => s.piece === piece && s.firstStripe <= stripe && stripe <= s.lastStripe)).toHaveLength(1);
    }
    // A degraded read takes whole stripes from the pieces it decodes with.
    expect(stripeSpansFor(code, [0, 2, 4, 5], 3, 9).map((s) => [s.piece, s.start, s.end])).toEqual(
      [0, 2, 4, 5].map((p) => [p, 0, 3 * SHARD_BYTES - 1]),
    );
  });
});
