// The erasure codec's speed under Node, the node-agent's runtime (it decodes during repair):
//   node test/protocol/erasure-speed.ts [k] [m] [mebibytes]      (Node ≥ 22.18 runs TypeScript; npm's node@24 does)
// The edge's isolate is measured by POST /api/v1/admin/diagnostics/erasure-speed with the same code.

import { measureErasureSpeed } from "../../src/protocol/erasure-speed.ts";

const [k = 4, m = 2, mebibytes = 64] = process.argv.slice(2).map(Number);
const stopwatch = async (work: () => void) => {
  const start = performance.now();
  work();
  return performance.now() - start;
};
for (const kernel of ["best", "js"] as const) {
  // A warm-up run first, so the numbers are of compiled code.
  await measureErasureSpeed({ k, m, mebibytes: 4, kernel }, stopwatch);
  const runs: Awaited<ReturnType<typeof measureErasureSpeed>>[] = [];
  for (let i = 0; i < 3; i++) runs.push(await measureErasureSpeed({ k, m, mebibytes, kernel }, stopwatch));
  const median = (key: "encodeMiBps" | "decodeMiBps") => runs.map((r) => r[key]).sort((a, b) => a - b)[1];
  console.log(JSON.stringify({ runtime: `node ${process.version}`, ...runs[0], encodeMiBps: median("encodeMiBps"), decodeMiBps: median("decodeMiBps"), runs: 3 }));
}
