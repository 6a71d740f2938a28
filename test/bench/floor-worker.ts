// The floor of the local stack, for the bench: a Worker that does no work (returns a constant, or reads and
// drops an upload), run exactly as `npm start` runs the edge: in workerd through Miniflare (edge-runtime.ts)
// behind the same front proxy.
// Whatever this Worker cannot reach on this machine, the edge cannot either; the bench prints both.

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startEdgeFront, type EdgeFront } from "../../src/localnet/edge-front.ts";
import { spawnEdgeRuntime, stopEdgeRuntime, type EdgeRuntimeProcess } from "../../src/localnet/edge-process.ts";

const WORKER = `
const MiB = 1024 * 1024;
export default {
  async fetch(request) {
    if (request.method === "PUT") {
      // Read like the edge does (BYOB, 1 MiB at a time), keep nothing.
      const reader = request.body.getReader({ mode: "byob" });
      let buffer = new Uint8Array(MiB);
      let bytes = 0;
      while (true) {
        const { done, value } = await reader.readAtLeast(MiB, buffer);
        if (value) { bytes += value.byteLength; buffer = new Uint8Array(value.buffer); }
        if (done) break;
      }
      return new Response(String(bytes));
    }
    const size = Number(new URL(request.url).searchParams.get("size") ?? 4096);
    if (request.method === "HEAD" || size <= MiB) return new Response(request.method === "HEAD" ? null : new Uint8Array(size), { headers: { "content-length": String(size) } });
    // Large bodies stream as the edge's do: 1 MiB writes into a FixedLengthStream.
    const { readable, writable } = new FixedLengthStream(size);
    const writer = writable.getWriter();
    (async () => {
      for (let sent = 0; sent < size; sent += MiB) await writer.write(new Uint8Array(Math.min(MiB, size - sent)));
      await writer.close();
    })();
    return new Response(readable);
  },
};
`;

export interface FloorWorker {
  url: string;
  stop(): Promise<void>;
}

export async function startFloorWorker(): Promise<FloorWorker> {
  const dir = await mkdtemp(join(tmpdir(), "icn-bench-floor-"));
  await writeFile(join(dir, "index.js"), WORKER);
  let runtime: EdgeRuntimeProcess | undefined;
  let front: EdgeFront | undefined;
  const stop = async () => {
    await front?.close();
    if (runtime) await stopEdgeRuntime(runtime.child);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    runtime = await spawnEdgeRuntime({
      config: { name: "floor", scriptPath: join(dir, "index.js"), compatibilityDate: "2026-11-01", port: 0, vars: {} },
      configFile: join(dir, "runtime.json"),
    });
    front = await startEdgeFront({ port: 0, upstream: runtime.url });
    return { url: `http://127.0.0.1:${front.port}`, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
