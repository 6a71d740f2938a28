// `npm run bench:hops`: what each hop in front of the edge's code costs on this machine, in one run, rounds
// interleaved. A Worker that does no work (a 4 KiB constant GET, a PUT read and dropped in 1 MiB BYOB reads, as
// the edge reads bodies) runs two ways at once: the bundled module in workerd through Miniflare (edge-runtime.ts,
// how `npm start` runs the edge) and under `wrangler dev` (the previous release; `npm run dev`), each measured
// directly on its port and through the front proxy (edge-front.ts). With `--network`, the running network of
// .icn/network.json (`npm start`; ICN_STATE_DIR as for npm start) is measured the same way: its edge Worker directly and through its front.
// Prints a Markdown table; every loop is bounded in count.

import { AwsClient } from "aws4fetch";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { stopChild, trackChild } from "./children.ts";
import { startEdgeFront, type EdgeFront } from "./edge-front.ts";
import { spawnEdgeRuntime } from "./edge-process.ts";
import type { NetworkDescription } from "./network.ts";
import { REPO_ROOT } from "./paths.ts";
import { freePort, spawnWranglerDev, waitForHttp } from "./wrangler-dev.ts";

const MiB = 1024 * 1024;
const SMALL_GETS = 400;
const LARGE = 64 * MiB;
const ROUNDS = 3;

const NOOP_WORKER = `
export default {
  async fetch(request) {
    if (request.method === "PUT") {
      const reader = request.body.getReader({ mode: "byob" });
      let buffer = new Uint8Array(${MiB});
      let bytes = 0;
      while (true) {
        const { done, value } = await reader.readAtLeast(${MiB}, buffer);
        if (value) { bytes += value.byteLength; buffer = new Uint8Array(value.buffer); }
        if (done) break;
      }
      return new Response(String(bytes));
    }
    return new Response(new Uint8Array(4096));
  },
};
`;

interface Endpoint {
  name: string;
  url: string;
  /** S3 requests to a real edge are signed; the no-op Worker takes any request. */
  sign?: AwsClient;
  getPath: string;
  putPath: string;
}

async function send(e: Endpoint, method: string, path: string, body?: Uint8Array): Promise<void> {
  const init: RequestInit = { method, body: body as BodyInit | undefined };
  const req = e.sign ? await e.sign.sign(`${e.url}${path}`, init) : new Request(`${e.url}${path}`, init);
  const res = await fetch(req);
  await res.arrayBuffer();
  if (!res.ok) throw new Error(`${e.name} ${method} ${path}: ${res.status}`);
}

async function smallGetP50(e: Endpoint): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < SMALL_GETS; i++) {
    const t = performance.now();
    await send(e, "GET", e.getPath);
    samples.push(performance.now() - t);
  }
  return samples.sort((a, b) => a - b)[Math.floor(samples.length / 2)]!;
}

async function largePutMiBs(e: Endpoint, body: Uint8Array): Promise<number> {
  const t = performance.now();
  await send(e, "PUT", e.putPath, body);
  return body.length / MiB / ((performance.now() - t) / 1000);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const withNetwork = process.argv.includes("--network");
  const dir = await mkdtemp(join(tmpdir(), "icn-hops-"));
  const stops: (() => Promise<void>)[] = [];
  try {
    await writeFile(join(dir, "index.js"), NOOP_WORKER);
    await writeFile(join(dir, "wrangler.toml"), `name = "noop"\nmain = "index.js"\ncompatibility_date = "2026-11-01"\n`);
    const endpoints: Endpoint[] = [];
    // Each front in a process of its own, as under npm start (the launcher's), not on this client's event loop.
    const front = async (name: string, upstream: string, rest: Omit<Endpoint, "name" | "url">) => {
      const child = trackChild(spawn(process.execPath, [fileURLToPath(import.meta.url), "--front", upstream], { stdio: ["ignore", "pipe", "inherit"] }));
      stops.push(() => stopChild(child, { graceMs: 2_000 }));
      const [line] = (await once(createInterface({ input: child.stdout! }), "line")) as [string];
      endpoints.push({ name: `${name}, direct`, url: upstream, ...rest }, { name: `${name}, via front`, url: `http://127.0.0.1:${JSON.parse(line).port}`, ...rest });
    };

    const workerd = await spawnEdgeRuntime({
      config: { name: "noop", scriptPath: join(dir, "index.js"), compatibilityDate: "2026-11-01", port: 0, vars: {} },
      configFile: join(dir, "runtime.json"),
    });
    stops.push(() => stopChild(workerd.child, { graceMs: 3_000 }));
    await front("no-op Worker in workerd (npm start)", workerd.url, { getPath: "/", putPath: "/" });

    const port = await freePort();
    const wrangler = await spawnWranglerDev({ cwd: dir, port, persistDir: join(dir, "state"), logDir: dir });
    wrangler.stdout!.resume();
    wrangler.stderr!.resume();
    stops.push(() => stopChild(wrangler, { graceMs: 3_000 }));
    await waitForHttp(`http://127.0.0.1:${port}/`, 60_000, wrangler);
    await front("no-op Worker under wrangler dev (previous release)", `http://127.0.0.1:${port}`, { getPath: "/", putPath: "/" });

    if (withNetwork) {
      const stateDir = process.env.ICN_STATE_DIR ? resolve(process.env.ICN_STATE_DIR) : join(REPO_ROOT, ".icn");
      const d = JSON.parse(await readFile(join(stateDir, "network.json"), "utf8")) as NetworkDescription;
      const sign = new AwsClient({ accessKeyId: d.accounts.default.accessKeyId, secretAccessKey: d.accounts.default.secretAccessKey, service: "s3", region: d.region, retries: 0 });
      const bucket = `hops-${Date.now()}`;
      await send({ name: "edge", url: d.edgeUrl, sign, getPath: "", putPath: "" }, "PUT", `/${bucket}`);
      await send({ name: "edge", url: d.edgeUrl, sign, getPath: "", putPath: "" }, "PUT", `/${bucket}/small`, new Uint8Array(4096));
      endpoints.push(
        { name: `edge (${d.worker.runtime ?? "wrangler-dev"}), direct`, url: d.worker.url, sign, getPath: `/${bucket}/small`, putPath: `/${bucket}/large` },
        { name: `edge (${d.worker.runtime ?? "wrangler-dev"}), via front`, url: d.edgeUrl, sign, getPath: `/${bucket}/small`, putPath: `/${bucket}/large` },
      );
    }

    const body = new Uint8Array(LARGE);
    const results = new Map<string, { get: number[]; put: number[] }>(endpoints.map((e) => [e.name, { get: [], put: [] }]));
    for (const e of endpoints) await send(e, "GET", e.getPath); // warm up each path once
    for (let round = 0; round < ROUNDS; round++) {
      for (const e of endpoints) {
        results.get(e.name)!.get.push(await smallGetP50(e));
        results.get(e.name)!.put.push(await largePutMiBs(e, body));
      }
    }
    console.log(`| path | 4 KiB GET p50, 1 client (ms) | ${LARGE / MiB} MiB PUT (MiB/s) |\n|---|---|---|`);
    for (const e of endpoints) {
      const r = results.get(e.name)!;
      console.log(`| ${e.name} | ${median(r.get).toFixed(2)} | ${median(r.put).toFixed(0)} |`);
    }
    console.log(`\nmedians of ${ROUNDS} interleaved rounds; each round ${SMALL_GETS} sequential GETs and one PUT per path`);
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

/** `--front UPSTREAM`: a front proxy to UPSTREAM until SIGTERM; prints `{"port":…}`. */
async function serveFront(upstream: string): Promise<void> {
  const f: EdgeFront = await startEdgeFront({ port: 0, upstream });
  process.stdout.write(`${JSON.stringify({ port: f.port })}\n`);
  process.once("SIGTERM", () => void f.close().then(() => process.exit(0)));
}

const frontAt = process.argv.indexOf("--front");
if (frontAt >= 0) await serveFront(process.argv[frontAt + 1]!);
else await main();
