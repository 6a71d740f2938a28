// The Reed-Solomon codec in Node, the node-agent's runtime (it decodes during repair), with both kernels; the cases
// are in test/protocol/. Node compiles the SIMD kernel from its source when the codec loads.

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { gfKernelBytes } from "../../src/protocol/gf-kernel-source.ts";
import { gfKernelInUse } from "../../src/protocol/reed-solomon.ts";
import { describeKernelAgreement, describeReedSolomon } from "../protocol/erasure-codec-cases.ts";

const gfKernel = new WebAssembly.Module(gfKernelBytes());

describe("the codec's SIMD kernel under Node", () => {
  it("is in use as soon as the codec loads", () => {
    expect(gfKernelInUse()).toBe("wasm-simd");
  });

  it("is rebuilt byte-identically from its source: the committed gf-kernel.wasm is what npm run build:kernel writes", () => {
    const committed = readFileSync(new URL("../../src/protocol/gf-kernel.wasm", import.meta.url));
    expect(Buffer.from(gfKernelBytes()).equals(committed), "src/protocol/gf-kernel.wasm is stale: run npm run build:kernel").toBe(true);
  });
});

describeReedSolomon(gfKernel, gfKernel);
describeReedSolomon(null, gfKernel);
describeKernelAgreement(gfKernel);
