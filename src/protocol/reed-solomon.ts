// Systematic Reed-Solomon erasure code over GF(2^8), shared by the edge (encode on write, decode on degraded reads)
// and the node-agent (decode during repair). Runtime-free: typed arrays only.
//
// Field: GF(2^8) with the reducing polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11d) and generator 2, the field of
// most storage RS codes (Backblaze, klauspost/reedsolomon, ISA-L). Addition is XOR.
//
// Coding matrix: the generator is the (k+m) x k matrix [ I_k ; C ] where the m x k parity block is a Cauchy matrix
//   C[i][j] = 1 / (x_i + y_j),  x_i = 0x80 + i (i < m),  y_j = j (j < k),  "+" = XOR, "/" = field division.
// The x's and y's are distinct (x ≥ 0x80 > 31 ≥ y), so every square submatrix of C is invertible and [I; C] is
// MDS: any k of the k+m shards rebuild the rest. Because x_i XOR y_j ≥ 0x80, no coefficient is 0 or 1, so a parity
// shard is never a byte copy of a data shard when that is the only nonzero shard, and with k = 1 the pieces are
// d, C[0][0]·d, C[1][0]·d, ... — distinct nonzero multiples, all different for nonzero d. (Plain Cauchy with
// x_i = k + i, as klauspost's WithCauchyMatrix, gives coefficient 1 for k = 1 and copies the data shard.)
// Shard index: data shards 0..k-1, parity shards k..k+m-1 (parity i = row i of C). Parity byte b of shard k+i is
//   P_i[b] = XOR_j C[i][j] · D_j[b].
//
// Known answers (hex; checked by test/protocol/erasure-codec-cases.ts, and computed independently of this file):
//   data shards D_j[b] = 4j + b + 1, four bytes each
//   4+2: C = [1b 54 a1 1d ; 54 1b 1d a1]  D = 01020304 05060708 090a0b0c 0d0e0f10  P = 434bb8e4 a8a053cb
//   1+2: C = [1b ; 54]                     D = 01020304                             P = 1b362d6c 54a8fc4d
//   2+1: C = [1b 54]                       D = 01020304 05060708                    P = 02d39cf6
//   4+2, 1000-byte shards D_j[b] = (b·(j+1) + 7j) mod 256 (long enough for the SIMD kernel):
//     SHA-256(P_0) = 0aa793db4affb361407ac6663a5460a686f5bfa2fb26a62b59d92179f58ab679 (starts 958e60b655c41041)
//     SHA-256(P_1) = 0272dd47e4d5747f1e65bdf278cca5810948059889c69f838ff4644c05f21292 (starts 3a4558f54dba0531)
//
// Speed: two kernels, same bytes. The WebAssembly SIMD kernel (gf-kernel-source.ts) multiplies 16 bytes by a
// coefficient with two i8x16.swizzle nibble-table lookups, over whole 16 KiB chunks per coefficient; Node compiles
// it when this module loads, a Worker installs its bundled gf-kernel.wasm (installGfKernel). Without it, the JS
// kernel uses a 64 KiB table of every product c·x, a whole shard per coefficient, four bytes per 32-bit word.
// Measured 4+2, 64 KiB shards (test/protocol/erasure-speed.ts, the erasure-speed admin endpoint): SIMD ~2-3 GiB/s,
// JS ~0.3-0.5 GiB/s of data, in Node and in workerd alike.

import { gfKernelBytes } from "./gf-kernel-source.ts";

/** The field's exponent and logarithm tables (generator 2, polynomial 0x11d). exp is doubled to skip a modulo. */
const EXP = new Uint8Array(512);
const LOG = new Uint8Array(256);
{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
  for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255]!;
}

export function gfMul(a: number, b: number): number {
  return a === 0 || b === 0 ? 0 : EXP[LOG[a]! + LOG[b]!]!;
}

export function gfInverse(a: number): number {
  if (a === 0) throw new Error("zero has no inverse in GF(2^8)");
  return EXP[255 - LOG[a]!]!;
}

/** MUL[c * 256 + x] = c·x: one 256-byte row per coefficient, read as a lookup table by the kernels. */
const MUL = new Uint8Array(65536);
for (let c = 1; c < 256; c++) for (let x = 1; x < 256; x++) MUL[(c << 8) | x] = EXP[LOG[c]! + LOG[x]!]!;

/** The most shards one stripe may have (data + parity); 32 keeps every x_i and y_j of the Cauchy matrix distinct. */
export const MAX_SHARDS = 32;

/** The parity coefficient C[i][j] of the coding matrix (see the comment at the top of this file). */
export function cauchyCoefficient(i: number, j: number): number {
  return gfInverse((0x80 + i) ^ j);
}

export class ReedSolomon {
  readonly k: number;
  readonly m: number;
  /** parity[i][j] = C[i][j]. */
  private readonly parityRows: Uint8Array[];
  /** Decoding matrices by the set of shards decoded from (a bit mask); a stripe's reads reuse one pattern. */
  private readonly inverses = new Map<number, Uint8Array[]>();

  /** "js" keeps this codec on the plain-JS kernel; "best" (the default) uses the SIMD kernel when one is installed. */
  private readonly jsOnly: boolean;

  constructor(k: number, m: number, options: { kernel?: "best" | "js" } = {}) {
    if (!Number.isInteger(k) || !Number.isInteger(m) || k < 1 || m < 0 || k + m > MAX_SHARDS) {
      throw new RangeError(`Reed-Solomon needs integers 1 ≤ k, 0 ≤ m, k + m ≤ ${MAX_SHARDS}; got k=${k}, m=${m}`);
    }
    this.k = k;
    this.m = m;
    this.jsOnly = options.kernel === "js";
    this.parityRows = [];
    for (let i = 0; i < m; i++) {
      const row = new Uint8Array(k);
      for (let j = 0; j < k; j++) row[j] = cauchyCoefficient(i, j);
      this.parityRows.push(row);
    }
  }

  /** The kernel this codec's encode and reconstruct run on now. */
  get kernel(): GfKernelName {
    return this.jsOnly || simd === undefined ? "js" : "wasm-simd";
  }

  /** Row `index` of the generator matrix [I; C]: the coefficients that make shard `index` from the data shards. */
  generatorRow(index: number): Uint8Array {
    if (index < this.k) {
      const row = new Uint8Array(this.k);
      row[index] = 1;
      return row;
    }
    return this.parityRows[index - this.k]!.slice();
  }

  /** Computes the m parity shards of k equal-length data shards into `parity` (m preallocated arrays of that length). */
  encode(data: readonly Uint8Array[], parity: readonly Uint8Array[]): void {
    if (data.length !== this.k) throw new RangeError(`encode needs ${this.k} data shards, got ${data.length}`);
    if (parity.length !== this.m) throw new RangeError(`encode needs ${this.m} parity shards, got ${parity.length}`);
    const length = data[0]!.length;
    for (const shard of [...data, ...parity]) {
      if (shard.length !== length) throw new RangeError(`every shard must have the same length (${length} bytes); one has ${shard.length}`);
    }
    combine(this.parityRows, data, parity, this.jsOnly ? undefined : simd);
  }

  /**
   * Rebuilds the shards at `wanted` (indexes 0..k+m-1) from `shards` (length k+m; undefined where missing; at least k
   * present, all the same length) into `out` (one preallocated array per wanted index). Throws a clear error when
   * fewer than k shards are present.
   */
  reconstruct(shards: readonly (Uint8Array | undefined)[], wanted: readonly number[], out: readonly Uint8Array[]): void {
    const n = this.k + this.m;
    if (shards.length !== n) throw new RangeError(`reconstruct needs ${n} shard slots (undefined where missing), got ${shards.length}`);
    if (wanted.length !== out.length) throw new RangeError(`reconstruct needs one output array per wanted shard: ${wanted.length} wanted, ${out.length} given`);
    const present: number[] = [];
    let length = -1;
    for (let i = 0; i < n; i++) {
      const shard = shards[i];
      if (shard === undefined) continue;
      if (length === -1) length = shard.length;
      else if (shard.length !== length) throw new RangeError(`every shard must have the same length (${length} bytes); shard ${i} has ${shard.length}`);
      present.push(i);
    }
    if (present.length < this.k) {
      throw new Error(`Reed-Solomon ${this.k}+${this.m} cannot reconstruct: ${present.length} of ${n} shards present, at least ${this.k} needed`);
    }
    for (let w = 0; w < wanted.length; w++) {
      const index = wanted[w]!;
      if (!Number.isInteger(index) || index < 0 || index >= n) throw new RangeError(`wanted shard index ${index} is outside 0..${n - 1}`);
      if (out[w]!.length !== length) throw new RangeError(`output for shard ${index} has ${out[w]!.length} bytes, shards have ${length}`);
    }
    // Decode from the first k present shards: data shards first, so a stripe missing only parity needs no inverse.
    const sources = present.slice(0, this.k);
    const inputs = sources.map((i) => shards[i]!);
    let inverse: Uint8Array[] | undefined;
    const rows: Uint8Array[] = [];
    const targets: Uint8Array[] = [];
    for (let w = 0; w < wanted.length; w++) {
      const index = wanted[w]!;
      const have = shards[index];
      if (have !== undefined) {
        out[w]!.set(have);
        continue;
      }
      inverse ??= this.decodingMatrix(sources);
      // Shard `index` = generatorRow(index) · data = generatorRow(index) · inverse · sources.
      rows.push(index < this.k ? inverse[index]! : multiplyRow(this.parityRows[index - this.k]!, inverse));
      targets.push(out[w]!);
    }
    if (rows.length > 0) combine(rows, inputs, targets, this.jsOnly ? undefined : simd);
  }

  /** The inverse of the generator rows of `sources` (k distinct indexes): it maps those shards back to the data. */
  private decodingMatrix(sources: readonly number[]): Uint8Array[] {
    let mask = 0;
    for (const s of sources) mask |= 1 << s;
    const cached = this.inverses.get(mask);
    if (cached) return cached;
    const inverse = invert(sources.map((s) => this.generatorRow(s)));
    if (this.inverses.size >= 64) this.inverses.clear();
    this.inverses.set(mask, inverse);
    return inverse;
  }
}

/** row · matrix (a 1 x k vector times a k x k matrix) over GF(2^8). */
function multiplyRow(row: Uint8Array, matrix: readonly Uint8Array[]): Uint8Array {
  const k = row.length;
  const result = new Uint8Array(k);
  for (let j = 0; j < k; j++) {
    const c = row[j]!;
    if (c === 0) continue;
    const mrow = matrix[j]!;
    for (let col = 0; col < k; col++) result[col]! ^= MUL[(c << 8) | mrow[col]!]!;
  }
  return result;
}

/** Gauss-Jordan inversion over GF(2^8); the rows come from an MDS generator, so they are always invertible. */
function invert(rows: readonly Uint8Array[]): Uint8Array[] {
  const k = rows.length;
  const a = rows.map((r) => r.slice());
  const inv = rows.map((_, i) => {
    const r = new Uint8Array(k);
    r[i] = 1;
    return r;
  });
  for (let col = 0; col < k; col++) {
    let pivot = col;
    while (pivot < k && a[pivot]![col] === 0) pivot++;
    if (pivot === k) throw new Error("Reed-Solomon decoding matrix is singular (the coding matrix is not MDS)");
    if (pivot !== col) {
      [a[col], a[pivot]] = [a[pivot]!, a[col]!];
      [inv[col], inv[pivot]] = [inv[pivot]!, inv[col]!];
    }
    const ar = a[col]!;
    const ir = inv[col]!;
    const scale = gfInverse(ar[col]!);
    for (let j = 0; j < k; j++) {
      ar[j] = gfMul(ar[j]!, scale);
      ir[j] = gfMul(ir[j]!, scale);
    }
    for (let r = 0; r < k; r++) {
      if (r === col) continue;
      const factor = a[r]![col]!;
      if (factor === 0) continue;
      const aRow = a[r]!;
      const iRow = inv[r]!;
      for (let j = 0; j < k; j++) {
        aRow[j]! ^= gfMul(factor, ar[j]!);
        iRow[j]! ^= gfMul(factor, ir[j]!);
      }
    }
  }
  return inv;
}

/** outs[r] = XOR_j rows[r][j] · inputs[j] for every r: whole 64-byte runs with the SIMD kernel if given, the rest in JS. */
function combine(rows: readonly Uint8Array[], inputs: readonly Uint8Array[], outs: readonly Uint8Array[], kernel: SimdKernel | undefined): void {
  if (rows.length > MAX_SHARDS) {
    // The SIMD kernel's memory holds 32 outputs at a time (reconstruct may be asked for one shard many times).
    for (let r = 0; r < rows.length; r += MAX_SHARDS) combine(rows.slice(r, r + MAX_SHARDS), inputs, outs.slice(r, r + MAX_SHARDS), kernel);
    return;
  }
  const length = inputs[0]?.length ?? 0;
  const done = kernel === undefined ? 0 : combineSimd(kernel, rows, inputs, outs, length);
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]!;
    const out = done === 0 ? outs[r]! : outs[r]!.subarray(done);
    let first = true;
    for (let j = 0; j < inputs.length; j++) {
      const c = row[j]!;
      if (c === 0) continue;
      mulShard(c, done === 0 ? inputs[j]! : inputs[j]!.subarray(done), out, first);
      first = false;
    }
    if (first) out.fill(0);
  }
}

/** out = c·input (assign) or out ^= c·input, four bytes per 32-bit word where the arrays are word-aligned. */
function mulShard(c: number, input: Uint8Array, out: Uint8Array, assign: boolean): void {
  const length = input.length;
  let done = 0;
  if ((input.byteOffset & 3) === 0 && (out.byteOffset & 3) === 0 && length >= 4) {
    const words = length >>> 2;
    const src = new Uint32Array(input.buffer, input.byteOffset, words);
    const dst = new Uint32Array(out.buffer, out.byteOffset, words);
    if (c === 1) {
      if (assign) dst.set(src);
      else for (let i = 0; i < words; i++) dst[i]! ^= src[i]!;
    } else {
      const t = MUL.subarray(c << 8, (c << 8) + 256);
      if (assign) {
        for (let i = 0; i < words; i++) {
          const w = src[i]!;
          dst[i] = t[w & 255]! | (t[(w >>> 8) & 255]! << 8) | (t[(w >>> 16) & 255]! << 16) | (t[w >>> 24]! << 24);
        }
      } else {
        for (let i = 0; i < words; i++) {
          const w = src[i]!;
          dst[i]! ^= t[w & 255]! | (t[(w >>> 8) & 255]! << 8) | (t[(w >>> 16) & 255]! << 16) | (t[w >>> 24]! << 24);
        }
      }
    }
    done = words << 2;
  }
  const t = MUL.subarray(c << 8, (c << 8) + 256);
  if (assign) for (let i = done; i < length; i++) out[i] = t[input[i]!]!;
  else for (let i = done; i < length; i++) out[i]! ^= t[input[i]!]!;
}

// The WebAssembly SIMD kernel (src/protocol/gf-kernel-source.ts): 16 bytes per two swizzles instead of one table
// lookup per byte. Shards are copied through the kernel's memory in chunks:
//   [0, 8 KiB)                      the nibble tables of every coefficient c, 32 bytes at c·32
//   [8 KiB, 8 KiB + 32·CHUNK)       up to 32 input chunks
//   [8 KiB + 32·CHUNK, + 32·CHUNK)  up to 32 output chunks
const SIMD_CHUNK = 16 * 1024;
const SIMD_TABLES = 0;
const SIMD_INPUTS = 8 * 1024;
const SIMD_OUTPUTS = SIMD_INPUTS + MAX_SHARDS * SIMD_CHUNK;
const SIMD_PAGES = Math.ceil((SIMD_OUTPUTS + MAX_SHARDS * SIMD_CHUNK) / 65536);

interface SimdKernel {
  heap: Uint8Array;
  mulSet: (tables: number, src: number, dst: number, n: number) => void;
  mulXor: (tables: number, src: number, dst: number, n: number) => void;
}

let simd: SimdKernel | undefined;

/**
 * Installs the WebAssembly SIMD kernel for every ReedSolomon in this isolate or process, or removes it (`null`: the
 * JS kernel, same bytes). Under Node the kernel is compiled from its source when this module loads; a Worker
 * passes the compiled src/protocol/gf-kernel.wasm it imports, since Workers compile no WebAssembly from bytes.
 * Returns the kernel now in use.
 */
export function installGfKernel(module: WebAssembly.Module | null): GfKernelName {
  if (module === null) {
    simd = undefined;
    return "js";
  }
  const memory = new WebAssembly.Memory({ initial: SIMD_PAGES, maximum: SIMD_PAGES });
  const exports = new WebAssembly.Instance(module, { env: { memory } }).exports as Record<string, unknown>;
  const heap = new Uint8Array(memory.buffer);
  for (let c = 0; c < 256; c++) {
    for (let i = 0; i < 16; i++) {
      heap[SIMD_TABLES + c * 32 + i] = MUL[(c << 8) | i]!;
      heap[SIMD_TABLES + c * 32 + 16 + i] = MUL[(c << 8) | (i << 4)]!;
    }
  }
  simd = { heap, mulSet: exports.mul_set as SimdKernel["mulSet"], mulXor: exports.mul_xor as SimdKernel["mulXor"] };
  return "wasm-simd";
}

export type GfKernelName = "wasm-simd" | "js";

/** The kernel encode and reconstruct use now. */
export function gfKernelInUse(): GfKernelName {
  return simd === undefined ? "js" : "wasm-simd";
}

/** Compiles the kernel from its source where the runtime allows it (Node); a Worker refuses, and installs its own. */
function installFromSource(): void {
  try {
    const bytes = gfKernelBytes();
    // workers-types declares Module abstract, as Workers refuse it; Node's constructor compiles synchronously.
    const compile = WebAssembly.Module as unknown as new (bytes: Uint8Array) => WebAssembly.Module;
    if (WebAssembly.validate(bytes)) installGfKernel(new compile(bytes));
  } catch {
    // "Wasm code generation disallowed by embedder" (workerd) or no SIMD: the JS kernel stays.
  }
}
installFromSource();

/** The SIMD part of combine: every whole 64 bytes; returns how many bytes of each shard it did (the rest is JS's). */
function combineSimd(kernel: SimdKernel, rows: readonly Uint8Array[], inputs: readonly Uint8Array[], outs: readonly Uint8Array[], length: number): number {
  const body = length - (length % 64);
  const { heap, mulSet, mulXor } = kernel;
  for (let at = 0; at < body; at += SIMD_CHUNK) {
    const n = Math.min(SIMD_CHUNK, body - at);
    for (let j = 0; j < inputs.length; j++) heap.set(inputs[j]!.subarray(at, at + n), SIMD_INPUTS + j * SIMD_CHUNK);
    for (let r = 0; r < rows.length; r++) {
      const row = rows[r]!;
      const dst = SIMD_OUTPUTS + r * SIMD_CHUNK;
      let first = true;
      for (let j = 0; j < inputs.length; j++) {
        const c = row[j]!;
        if (c === 0) continue;
        (first ? mulSet : mulXor)(SIMD_TABLES + c * 32, SIMD_INPUTS + j * SIMD_CHUNK, dst, n);
        first = false;
      }
      if (first) heap.fill(0, dst, dst + n);
      outs[r]!.set(heap.subarray(dst, dst + n), at);
    }
  }
  return body;
}
