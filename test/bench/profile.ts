// `node test/bench/profile.ts [--nodes N] [--ops N]`: where a 4 KiB PUT and GET spend their time, end to end.
// Starts a local network whose Worker reports Server-Timing (SERVER_TIMING=true: auth, D1, Durable Object and
// subrequest time per request, src/s3/server-timing.ts), runs `ops` PUTs then GETs at one client while the
// Worker's isolate is CPU-profiled through wrangler's inspector, and prints per step: the client's time, the
// Worker's spans, the node-agents' own request durations (their request log) and the isolate's hottest functions.

import { GetObjectCommand, PutObjectCommand, CreateBucketCommand } from "@aws-sdk/client-s3";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { LocalNetwork } from "../../src/localnet/network.ts";
import { descendantsOf } from "../helpers/processes.ts";
import { cpuMs, workerdProcesses } from "./proc-stats.ts";
import { s3Client } from "./workload.ts";

const { values: args } = parseArgs({ options: { nodes: { type: "string", default: "6" }, ops: { type: "string", default: "100" } } });
const OPS = Math.min(1000, Number(args.ops));

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }[];
  samples: number[];
  timeDeltas: number[];
}

/** A Chrome DevTools Protocol session with the edge's isolate, through workerd's inspector. */
async function inspectorSession(rootPid: number): Promise<{ send(method: string, params?: object): Promise<unknown>; close(): void } | undefined> {
  const pids = [rootPid, ...descendantsOf(rootPid)];
  const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
  // workerd's own inspector (wrangler's inspector proxy in front of it refuses plain WebSocket clients).
  const address = pids.map((pid) => /--inspector-addr[= ](\S+)/.exec(cmdline(pid))?.[1]).find(Boolean);
  if (!address) return undefined;
  const targets = (await (await fetch(`http://${address}/json`)).json()) as { id: string; webSocketDebuggerUrl: string }[];
  const target = targets.find((t) => t.id === "core:user:icn-edge") ?? targets.find((t) => t.id.startsWith("core:user:") && !/proxy/i.test(t.id));
  if (!target) return undefined;
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  let id = 0;
  const pending = new Map<number, (result: unknown) => void>();
  ws.onmessage = (event) => {
    const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown };
    if (message.id !== undefined) pending.get(message.id)?.(message.result);
  };
  return {
    send: (method, params = {}) =>
      new Promise((resolve, reject) => {
        const n = ++id;
        const timer = setTimeout(() => reject(new Error(`${method}: no answer`)), 30_000);
        pending.set(n, (result) => (clearTimeout(timer), resolve(result)));
        ws.send(JSON.stringify({ id: n, method, params }));
      }),
    close: () => ws.close(),
  };
}

/** Self time per function, as a share of the profile's sampled time. */
function hottest(profile: CpuProfile, top: number): string[] {
  const byNode = new Map<number, number>();
  profile.samples.forEach((node, i) => byNode.set(node, (byNode.get(node) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const byFunction = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const us = byNode.get(node.id) ?? 0;
    total += us;
    const f = node.callFrame;
    const name = `${f.functionName || "(anonymous)"} ${f.url.split("/").slice(-2).join("/")}:${f.lineNumber + 1}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + us);
  }
  const busy = total - [...byFunction].filter(([n]) => n.startsWith("(idle)")).reduce((a, [, us]) => a + us, 0);
  return [...byFunction]
    .filter(([n]) => !n.startsWith("(idle)"))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([n, us]) => `${((100 * us) / busy).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(5)} ms  ${n}`);
}

const median = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]! : NaN);

async function nodeLogLines(dir: string, nodes: number): Promise<string[][]> {
  return Promise.all(Array.from({ length: nodes }, (_, i) => readFile(join(dir, `node-${i}.log`), "utf8").then((t) => t.split("\n"), () => [])));
}

const stateDir = await mkdtemp(join(tmpdir(), "icn-profile-"));
const nodes = Number(args.nodes);
const network = new LocalNetwork({ stateDir, edgePort: 0, nodeCount: nodes, quiet: true, cron: false, vars: { SERVER_TIMING: "true" } });
try {
  const d = await network.start();
  const client = s3Client({ url: d.edgeUrl, accessKeyId: d.accounts.default.accessKeyId, secretAccessKey: d.accounts.default.secretAccessKey, region: d.region });
  const bucket = "profile";
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  const body = randomBytes(4096);
  const timingOf = new Map<string, number[]>();
  let serverTimingHeader = "";
  client.middlewareStack.add(
    (next) => async (input) => {
      const out = await next(input);
      serverTimingHeader = ((out.response as { headers: Record<string, string> }).headers["server-timing"]) ?? "";
      return out;
    },
    { step: "deserialize", name: "serverTiming" },
  );
  for (let i = 0; i < 20; i++) {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: `warm-${i}`, Body: body }));
    await (await client.send(new GetObjectCommand({ Bucket: bucket, Key: `warm-${i}` }))).Body!.transformToByteArray();
  }
  const session = await inspectorSession(d.worker.pid).catch(() => undefined);
  await session?.send("Profiler.enable");
  await session?.send("Profiler.setSamplingInterval", { interval: 200 });
  for (const op of ["PUT", "GET"] as const) {
    timingOf.clear();
    const client_ms: number[] = [];
    const logsBefore = await nodeLogLines(join(stateDir, "logs"), nodes);
    const pids = workerdProcesses(d.worker.pid);
    const cpuBefore = cpuMs(pids);
    const nodeCpuBefore = cpuMs(d.nodes.map((n) => n.pid));
    await session?.send("Profiler.start");
    for (let i = 0; i < OPS; i++) {
      const start = performance.now();
      if (op === "PUT") await client.send(new PutObjectCommand({ Bucket: bucket, Key: `k-${i}`, Body: body }));
      else await (await client.send(new GetObjectCommand({ Bucket: bucket, Key: `k-${i}` }))).Body!.transformToByteArray();
      client_ms.push(performance.now() - start);
      for (const part of serverTimingHeader.split(",").map((s) => s.trim()).filter(Boolean)) {
        const [name, ...params] = part.split(";");
        const dur = Number(params.find((p) => p.startsWith("dur="))?.slice(4));
        const calls = Number(/desc="(\d+)"/.exec(part)?.[1] ?? 1);
        timingOf.set(name!, [...(timingOf.get(name!) ?? []), dur]);
        timingOf.set(`${name} calls`, [...(timingOf.get(`${name} calls`) ?? []), calls]);
      }
    }
    const profile = (await session?.send("Profiler.stop")) as { profile: CpuProfile } | undefined;
    const workerCpu = (cpuMs(pids) - cpuBefore) / OPS;
    const nodeCpu = (cpuMs(d.nodes.map((n) => n.pid)) - nodeCpuBefore) / OPS;
    await new Promise((r) => setTimeout(r, 500)); // node-agent log lines are written asynchronously
    const logsAfter = await nodeLogLines(join(stateDir, "logs"), nodes);
    const agentMs: number[] = [];
    let agentRequests = 0;
    logsAfter.forEach((lines, i) => {
      for (const line of lines.slice(Math.max(0, logsBefore[i]!.length - 1))) {
        try {
          const event = JSON.parse(line) as { event?: string; method?: string; path?: string; ms?: number };
          if (event.event === "request" && event.path?.startsWith("/blobs/") && (event.method === op || (op === "GET" && event.method === "HEAD"))) {
            agentMs.push(event.ms!);
            agentRequests++;
          }
        } catch {
          // not a JSON line
        }
      }
    });
    console.log(`\n4 KiB ${op}, ${OPS} requests at 1 client (medians per request)`);
    console.log(`  client (SDK, signing, CRC32, HTTP)  ${median(client_ms).toFixed(1)} ms`);
      for (const [name, values] of timingOf) {
      if (!name.endsWith(" calls")) console.log(`  Worker ${name.padEnd(28)}${median(values).toFixed(1)} ms over ${median(timingOf.get(`${name} calls`) ?? [])} call(s)`);
    }
    console.log(`  node-agent requests                 ${(agentRequests / OPS).toFixed(1)} per ${op}, each ${median(agentMs).toFixed(1)} ms inside the agent`);
    console.log(`  CPU per ${op}: Worker (workerd) ${workerCpu.toFixed(1)} ms, node-agents ${nodeCpu.toFixed(1)} ms`);
    if (profile) for (const line of hottest(profile.profile, 15)) console.log(`    ${line}`);
    else console.log("    (no CPU profile: the Worker's inspector port was not found)");
  }
  session?.close();
} catch (error) {
  const log = await readFile(join(stateDir, "logs", "worker.log"), "utf8").catch(() => "");
  console.error(`profile failed: ${error}\nlast lines of the Worker's log:\n${log.split("\n").slice(-15).join("\n")}`);
  process.exitCode = 1;
} finally {
  await network.stop();
  await rm(stateDir, { recursive: true, force: true, maxRetries: 5 });
}
