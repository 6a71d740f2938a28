// Writes src/protocol/gf-kernel.wasm from its source (src/protocol/gf-kernel-source.ts): `npm run build:kernel`.
// The binary is committed so the Worker bundles it as a module (Workers compile no WebAssembly from bytes at run
// time); test/node-agent/erasure-codec.test.ts fails when it differs from what this writes.

import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { gfKernelBytes } from "../gf-kernel-source.ts";

const target = fileURLToPath(new URL("../gf-kernel.wasm", import.meta.url));
writeFileSync(target, gfKernelBytes());
console.log(`wrote ${target}`);
