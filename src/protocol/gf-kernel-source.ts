// The source of the Reed-Solomon codec's WebAssembly SIMD kernel (src/protocol/gf-kernel.wasm), written as the
// instructions themselves and assembled here, so the binary is rebuilt from the repository with no toolchain:
// `node src/protocol/gf-kernel-build.ts` writes it, and a test checks the committed file equals this output.
//
// Multiplying 16 bytes by a constant c in GF(2^8) with two table lookups (the "nibble table" method of ISA-L and
// klauspost/reedsolomon): c·x = c·(x & 0x0f) XOR c·(x & 0xf0), so with lo[i] = c·i and hi[i] = c·(i << 4) for
// i < 16, i8x16.swizzle(lo, x & 0x0f) XOR i8x16.swizzle(hi, x >> 4) is c·x for each of the 16 lanes.
//
// Exports (pointers are byte offsets into the imported memory "env.memory"; n is a multiple of 64):
//   mul_set(tables, src, dst, n)  dst[0..n) = c·src[0..n)
//   mul_xor(tables, src, dst, n)  dst[0..n) ^= c·src[0..n)
// where `tables` holds lo (16 bytes) then hi (16 bytes) of c. The loops handle 64 bytes (four vectors) per turn.

const I32 = 0x7f;
const V128 = 0x7b;

/** Unsigned LEB128, the integer encoding of the WebAssembly binary format. */
function uleb(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
}

function sleb(value: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = value & 0x7f;
    value >>= 7;
    const done = (value === 0 && (byte & 0x40) === 0) || (value === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

const text = (s: string) => [...uleb(s.length), ...new TextEncoder().encode(s)];
const vector = (items: number[][]) => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];

// Instructions (WebAssembly core spec §5.4; SIMD opcodes are 0xfd followed by a LEB128 number).
const op = {
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  end: [0x0b],
  br: (depth: number) => [0x0c, ...uleb(depth)],
  brIf: (depth: number) => [0x0d, ...uleb(depth)],
  get: (local: number) => [0x20, ...uleb(local)],
  set: (local: number) => [0x21, ...uleb(local)],
  tee: (local: number) => [0x22, ...uleb(local)],
  i32: (value: number) => [0x41, ...sleb(value)],
  i32Add: [0x6a],
  i32GeU: [0x4f],
  simd: (code: number) => [0xfd, ...uleb(code)],
};
const v128Load = (offset: number) => [...op.simd(0x00), 4, ...uleb(offset)];
const v128Store = (offset: number) => [...op.simd(0x0b), 4, ...uleb(offset)];
const swizzle = op.simd(0x0e);
const splat8 = op.simd(0x0f);
const and = op.simd(0x4e);
const xor = op.simd(0x51);
const shrU8 = op.simd(0x6d);

// Locals: params tables=0 src=1 dst=2 n=3; then end=4 (i32), lo=5 hi=6 mask=7 x=8 (v128).
const [TABLES, SRC, DST, N, END, LO, HI, MASK, X] = [0, 1, 2, 3, 4, 5, 6, 7, 8];

/** c·src at `offset` bytes into the current 64-byte turn, left on the stack. */
function product(offset: number): number[] {
  return [
    ...op.get(LO), ...op.get(SRC), ...v128Load(offset), ...op.tee(X), ...op.get(MASK), ...and, ...swizzle,
    ...op.get(HI), ...op.get(X), ...op.i32(4), ...shrU8, ...swizzle,
    ...xor,
  ];
}

function kernel(accumulate: boolean): number[] {
  const turn: number[] = [];
  for (let offset = 0; offset < 64; offset += 16) {
    turn.push(...op.get(DST));
    if (accumulate) turn.push(...op.get(DST), ...v128Load(offset));
    turn.push(...product(offset));
    if (accumulate) turn.push(...xor);
    turn.push(...v128Store(offset));
  }
  const body = [
    ...op.get(TABLES), ...v128Load(0), ...op.set(LO),
    ...op.get(TABLES), ...v128Load(16), ...op.set(HI),
    ...op.i32(0x0f), ...splat8, ...op.set(MASK),
    ...op.get(SRC), ...op.get(N), ...op.i32Add, ...op.set(END),
    ...op.block, ...op.loop,
    ...op.get(SRC), ...op.get(END), ...op.i32GeU, ...op.brIf(1),
    ...turn,
    ...op.get(SRC), ...op.i32(64), ...op.i32Add, ...op.set(SRC),
    ...op.get(DST), ...op.i32(64), ...op.i32Add, ...op.set(DST),
    ...op.br(0),
    ...op.end, ...op.end,
    ...op.end,
  ];
  const locals = vector([[...uleb(1), I32], [...uleb(4), V128]]);
  const code = [...locals, ...body];
  return [...uleb(code.length), ...code];
}

/** The kernel module's bytes (deterministic: the same source always gives the same bytes). */
export function gfKernelBytes(): Uint8Array<ArrayBuffer> {
  const module = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
    ...section(1, vector([[0x60, ...vector([[I32], [I32], [I32], [I32]]), 0x00]])), // type 0: (i32 x4) -> ()
    ...section(2, vector([[...text("env"), ...text("memory"), 0x02, 0x00, ...uleb(1)]])), // import memory, min 1 page
    ...section(3, vector([uleb(0), uleb(0)])), // two functions of type 0
    ...section(7, vector([[...text("mul_set"), 0x00, ...uleb(0)], [...text("mul_xor"), 0x00, ...uleb(1)]])),
    ...section(10, vector([kernel(false), kernel(true)])),
  ];
  return Uint8Array.from(module);
}
