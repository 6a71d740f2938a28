// The Reed-Solomon codec's tests, run twice: in workerd (test/worker/erasure-codec.test.ts, the edge's isolate)
// and under Node (test/node-agent/erasure-codec.test.ts, the node-agent's runtime), since both decode.

import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gfKernelInUse, installGfKernel, MAX_SHARDS, ReedSolomon, type GfKernelName } from "../../src/protocol/reed-solomon.ts";

const SEED = 0x14_02_14;
const hex = (a: Uint8Array) => Array.from(a, (b) => b.toString(16).padStart(2, "0")).join("");
const fromHex = (s: string) => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));

/** Deterministic pseudo-random bytes (xorshift), so a failing case names its seed. */
function bytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 255;
  }
  return out;
}

function encodeStripe(rs: ReedSolomon, length: number, seed: number): Uint8Array[] {
  const data = Array.from({ length: rs.k }, (_, j) => bytes(length, seed * 131 + j + 1));
  const parity = Array.from({ length: rs.m }, () => new Uint8Array(length));
  rs.encode(data, parity);
  return [...data, ...parity];
}

/** Erases `missing` from a copy of `stripe`, rebuilds every shard (missing or not), and returns the rebuilt ones. */
function rebuildAll(rs: ReedSolomon, stripe: readonly Uint8Array[], missing: readonly number[]): Uint8Array[] {
  const shards: (Uint8Array | undefined)[] = stripe.map((s, i) => (missing.includes(i) ? undefined : s));
  const wanted = stripe.map((_, i) => i);
  const out = wanted.map(() => new Uint8Array(stripe[0]!.length).fill(0xee));
  rs.reconstruct(shards, wanted, out);
  return out;
}

/** Indexes of the shards of `actual` that differ from `expected` in any byte (empty when all are identical). */
function differing(actual: readonly Uint8Array[], expected: readonly Uint8Array[]): number[] {
  const bad: number[] = [];
  expected.forEach((e, i) => {
    const a = actual[i];
    if (!a || a.length !== e.length || a.some((b, at) => b !== e[at])) bad.push(i);
  });
  return bad;
}

function subsetsUpTo(n: number, size: number): number[][] {
  const result: number[][] = [[]];
  for (let i = 0; i < n; i++) for (const s of [...result]) if (s.length < size) result.push([...s, i]);
  return result;
}

/**
 * The codec's cases with one kernel installed: `kernel` is the compiled gf-kernel.wasm for the WebAssembly SIMD
 * kernel (each runtime loads it its own way), or null for the JS kernel; `afterwards` is installed after them.
 */
export function describeReedSolomon(kernel: WebAssembly.Module | null, afterwards: WebAssembly.Module | null): void {
  const name: GfKernelName = kernel === null ? "js" : "wasm-simd";
  describe(`Reed-Solomon over GF(2^8), ${name} kernel`, () => {
    beforeAll(() => {
      expect(installGfKernel(kernel)).toBe(name);
      expect(gfKernelInUse()).toBe(name);
      expect(new ReedSolomon(4, 2).kernel).toBe(name);
    });
    afterAll(() => void installGfKernel(afterwards));

    // The vectors published at the top of src/protocol/reed-solomon.ts, computed there by an independent script.
    it.each([
      { k: 4, m: 2, rows: ["1b54a11d", "541b1da1"], parity: ["434bb8e4", "a8a053cb"] },
      { k: 1, m: 2, rows: ["1b", "54"], parity: ["1b362d6c", "54a8fc4d"] },
      { k: 2, m: 1, rows: ["1b54"], parity: ["02d39cf6"] },
    ])("encodes the published known-answer vector for $k+$m", ({ k, m, rows, parity }) => {
      const rs = new ReedSolomon(k, m);
      expect(Array.from({ length: m }, (_, i) => hex(rs.generatorRow(k + i)))).toEqual(rows);
      const data = Array.from({ length: k }, (_, j) => Uint8Array.from([4 * j + 1, 4 * j + 2, 4 * j + 3, 4 * j + 4]));
      const out = Array.from({ length: m }, () => new Uint8Array(4));
      rs.encode(data, out);
      expect(out.map(hex)).toEqual(parity);
      // And any k of the pieces give the data back.
      const shards: (Uint8Array | undefined)[] = [...Array.from({ length: k }, () => undefined), ...parity.map(fromHex)];
      const rebuilt = data.map(() => new Uint8Array(4));
      if (m >= k) {
        rs.reconstruct(shards, data.map((_, j) => j), rebuilt);
        expect(rebuilt.map(hex)).toEqual(data.map(hex));
      }
    });

    it("encodes the published long known-answer vector (1000-byte shards, past the SIMD kernel's 64-byte steps)", async () => {
      const rs = new ReedSolomon(4, 2);
      const data = Array.from({ length: 4 }, (_, j) => Uint8Array.from({ length: 1000 }, (_, b) => (b * (j + 1) + 7 * j) & 255));
      const parity = [new Uint8Array(1000), new Uint8Array(1000)];
      rs.encode(data, parity);
      const digests = await Promise.all(parity.map(async (p) => hex(new Uint8Array(await crypto.subtle.digest("SHA-256", p)))));
      expect(digests).toEqual(["0aa793db4affb361407ac6663a5460a686f5bfa2fb26a62b59d92179f58ab679", "0272dd47e4d5747f1e65bdf278cca5810948059889c69f838ff4644c05f21292"]);
      expect(parity.map((p) => hex(p.subarray(0, 8)))).toEqual(["958e60b655c41041", "3a4558f54dba0531"]);
    });

    it("rebuilds one missing shard into many outputs when asked for it many times", () => {
      const rs = new ReedSolomon(4, 2);
      const stripe = encodeStripe(rs, 4096, 5);
      const shards = stripe.map((s, i) => (i === 1 ? undefined : s));
      const out = Array.from({ length: 40 }, () => new Uint8Array(4096));
      rs.reconstruct(shards, out.map(() => 1), out);
      expect(differing(out, out.map(() => stripe[1]!))).toEqual([]);
    });

    it("rebuilds every shard byte-identically for every set of up to two erased shards of a 4+2 stripe", () => {
      const rs = new ReedSolomon(4, 2);
      // An odd length exercises the byte tail after the 32-bit words; subarrays at odd offsets the byte-only path.
      for (const length of [0, 1, 7, 4096, 65536 + 3]) {
        const stripe = encodeStripe(rs, length, length);
        const backing = new Uint8Array(6 * (length + 1) + 1);
        const unaligned = stripe.map((s, i) => {
          const view = backing.subarray(1 + i * (length + 1), 1 + i * (length + 1) + length);
          view.set(s);
          return view;
        });
        for (const missing of subsetsUpTo(6, 2)) {
          expect(differing(rebuildAll(rs, stripe, missing), stripe), `length ${length}, missing ${missing}`).toEqual([]);
          expect(differing(rebuildAll(rs, unaligned, missing), stripe), `unaligned, length ${length}, missing ${missing}`).toEqual([]);
        }
      }
    });

    it("rebuilds exactly the wanted shards into the given arrays, leaving the present ones unchanged", () => {
      const rs = new ReedSolomon(4, 2);
      const stripe = encodeStripe(rs, 1000, 9);
      const before = stripe.map(hex);
      const shards = [undefined, stripe[1], undefined, stripe[3], stripe[4], stripe[5]];
      const out = [new Uint8Array(1000), new Uint8Array(1000)];
      rs.reconstruct(shards, [2, 0], out);
      expect(out.map(hex)).toEqual([before[2], before[0]]);
      expect(stripe.map(hex)).toEqual(before);
    });

    it("rebuilds any erasure of up to m shards for random k, m and shard lengths (property-based)", () => {
      const codes = fc.integer({ min: 1, max: MAX_SHARDS - 1 }).chain((k) => fc.tuple(fc.constant(k), fc.integer({ min: 0, max: Math.min(8, MAX_SHARDS - k) })));
      fc.assert(
        fc.property(codes, fc.integer({ min: 0, max: 300 }), fc.integer(), fc.infiniteStream(fc.nat()), ([k, m], length, seed, picks) => {
          const rs = new ReedSolomon(k, m);
          const stripe = encodeStripe(rs, length, seed);
          // Up to m distinct erased indexes.
          const missing = [...new Set(picks.take(m).map((p) => p % (k + m)))];
          expect(differing(rebuildAll(rs, stripe, missing), stripe), `${k}+${m}, length ${length}, missing ${missing}`).toEqual([]);
        }),
        { seed: SEED, numRuns: 150 },
      );
    });

    it("refuses to rebuild from fewer than k shards with an error that says how many are needed", () => {
      const rs = new ReedSolomon(4, 2);
      const stripe = encodeStripe(rs, 64, 3);
      for (const missing of subsetsUpTo(6, 6).filter((s) => s.length > 2)) {
        const shards = stripe.map((s, i) => (missing.includes(i) ? undefined : s));
        expect(() => rs.reconstruct(shards, [0], [new Uint8Array(64)])).toThrow(/at least 4 needed/);
      }
    });

    it("refuses bad codes and mismatched shards", () => {
      expect(() => new ReedSolomon(0, 2)).toThrow(RangeError);
      expect(() => new ReedSolomon(4, -1)).toThrow(RangeError);
      expect(() => new ReedSolomon(30, 3)).toThrow(RangeError);
      expect(() => new ReedSolomon(2.5, 1)).toThrow(RangeError);
      expect(new ReedSolomon(32, 0).k).toBe(32);
      const rs = new ReedSolomon(2, 1);
      expect(() => rs.encode([new Uint8Array(4), new Uint8Array(5)], [new Uint8Array(4)])).toThrow(/same length/);
      expect(() => rs.encode([new Uint8Array(4)], [new Uint8Array(4)])).toThrow(/2 data shards/);
      expect(() => rs.reconstruct([new Uint8Array(4), undefined], [1], [new Uint8Array(4)])).toThrow(/3 shard slots/);
      expect(() => rs.reconstruct([new Uint8Array(4), new Uint8Array(4), undefined], [3], [new Uint8Array(4)])).toThrow(/outside/);
      expect(() => rs.reconstruct([new Uint8Array(4), new Uint8Array(4), undefined], [2], [new Uint8Array(3)])).toThrow(/3 bytes/);
    });

    it("works with one data shard: every piece is a distinct nonzero multiple of the data, never a copy", () => {
      for (let m = 1; m < MAX_SHARDS; m++) {
        const rs = new ReedSolomon(1, m);
        const stripe = encodeStripe(rs, 33, m);
        expect(new Set(stripe.map(hex)).size, `1+${m}`).toBe(1 + m);
        for (let keep = 0; keep <= m; keep++) {
          const shards = stripe.map((s, i) => (i === keep ? s : undefined));
          const out = stripe.map(() => new Uint8Array(33));
          rs.reconstruct(shards, stripe.map((_, i) => i), out);
          expect(out.map(hex)).toEqual(stripe.map(hex));
        }
      }
    });

    it("never makes a parity piece equal to a data piece: no coding coefficient is 0 or 1, for every code", () => {
      for (let k = 1; k <= MAX_SHARDS; k++) {
        for (let m = 0; k + m <= MAX_SHARDS; m++) {
          const rs = new ReedSolomon(k, m);
          const rows = Array.from({ length: m }, (_, i) => rs.generatorRow(k + i));
          for (const row of rows) expect(row.every((c) => c > 1), `${k}+${m}`).toBe(true);
          // Data with a single nonzero shard: each parity is that shard times a coefficient ≠ 1, so it differs.
          if (k <= 8 && m > 0) {
            for (let j = 0; j < k; j++) {
              const data = Array.from({ length: k }, (_, d) => (d === j ? bytes(16, j + 1) : new Uint8Array(16)));
              const parity = Array.from({ length: m }, () => new Uint8Array(16));
              rs.encode(data, parity);
              for (const p of parity) expect(hex(p)).not.toBe(hex(data[j]!));
            }
          }
        }
      }
    });

    it("gives pairwise different pieces for random nonzero data (property-based)", () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 6 }), fc.integer(), (k, m, seed) => {
          const stripe = encodeStripe(new ReedSolomon(k, m), 48, seed);
          expect(new Set(stripe.map(hex)).size).toBe(k + m);
        }),
        { seed: SEED, numRuns: 200 },
      );
    });
  });
}

/** The SIMD kernel against the JS one on the same stripes: byte-identical parity and rebuilt shards. */
export function describeKernelAgreement(kernel: WebAssembly.Module): void {
  describe("the WebAssembly SIMD kernel", () => {
    beforeAll(() => void installGfKernel(kernel));

    it("computes the same parity and rebuilds the same shards as the JS kernel, for lengths around its 64-byte and 16 KiB steps (property-based)", () => {
      const lengths = fc.oneof(fc.integer({ min: 0, max: 200 }), fc.constantFrom(63, 64, 65, 16 * 1024 - 1, 16 * 1024, 16 * 1024 + 64, 40_000 + 13, 65_536));
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 6 }), lengths, fc.integer(), (k, m, length, seed) => {
          const simd = new ReedSolomon(k, m);
          const js = new ReedSolomon(k, m, { kernel: "js" });
          expect([simd.kernel, js.kernel]).toEqual(["wasm-simd", "js"]);
          const jsStripe = encodeStripe(js, length, seed);
          expect(differing(encodeStripe(simd, length, seed), jsStripe), `${k}+${m}, ${length} bytes: parity`).toEqual([]);
          const missing = Array.from({ length: Math.min(m, k) }, (_, i) => i);
          expect(differing(rebuildAll(simd, jsStripe, missing), rebuildAll(js, jsStripe, missing)), `${k}+${m}, ${length} bytes: rebuilt`).toEqual([]);
        }),
        { seed: SEED, numRuns: 60 },
      );
    });
  });
}
