// The Reed-Solomon codec in workerd, the edge's isolate (it encodes every write), with both kernels; the cases are
// in test/protocol/. Below them, the admin endpoint that measures the codec's speed in this isolate.

import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import gfKernel from "../../src/protocol/gf-kernel.wasm";
import { describeKernelAgreement, describeReedSolomon } from "../protocol/erasure-codec-cases.ts";
import { admin, EDGE } from "./helpers.ts";

describeReedSolomon(gfKernel, gfKernel);
describeReedSolomon(null, gfKernel);
describeKernelAgreement(gfKernel);

describe("erasure-speed diagnostics (for npm run bench)", () => {
  it("encodes and decodes in the edge's isolate with the SIMD kernel and reports positive speeds; refuses bad input", async () => {
    const res = await admin("POST", "/diagnostics/erasure-speed", { k: 4, m: 2, mebibytes: 8 });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, number | boolean | string>;
    console.log("erasure-speed in workerd", JSON.stringify(body));
    expect(body).toMatchObject({ k: 4, m: 2, shardBytes: 65536, stripes: 32, decodedShards: 2, verified: true, kernel: "wasm-simd" });
    expect(body.encodeMiBps).toBeGreaterThan(0);
    expect(body.decodeMiBps).toBeGreaterThan(0);
    const defaults = (await (await admin("POST", "/diagnostics/erasure-speed", { mebibytes: 1 })).json()) as Record<string, number>;
    expect(defaults).toMatchObject({ k: 4, m: 2 });
    for (const bad of [{ k: 0 }, { k: 30, m: 3 }, { mebibytes: 65 }, { mebibytes: 1.5 }, { m: "2" }, { kernel: "gpu" }]) {
      const refused = await admin("POST", "/diagnostics/erasure-speed", bad);
      expect(refused.status, JSON.stringify(bad)).toBe(400);
      expect(((await refused.json()) as { code: string }).code).toBe("ValidationError");
    }
    expect((await SELF.fetch(`${EDGE}/api/v1/admin/diagnostics/erasure-speed`, { method: "POST", body: "{}" })).status).toBe(401);
  });

  it("measures the plain-JS kernel on request", async () => {
    const js = (await (await admin("POST", "/diagnostics/erasure-speed", { mebibytes: 2, kernel: "js" })).json()) as Record<string, unknown>;
    console.log("erasure-speed in workerd, JS kernel", JSON.stringify(js));
    expect(js).toMatchObject({ kernel: "js", verified: true });
  });
});
