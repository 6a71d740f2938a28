// `npm run bench [-- options]`: the edge (a local network this starts itself, as `npm start` runs it) and, in the
// same run, any other S3 endpoint, in interleaved rounds (edge, peer, edge, peer, ...), medians of the rounds.
// Every request goes through @aws-sdk/client-s3 with its default checksums and one attempt; every GET's bytes are
// compared. The issue's targets are reported here, never asserted in a timed test.
//
//   --quick                    a short full run (1 round, small counts, a 256 MiB streamed object instead of 2 GiB);
//                              exits non-zero on any failed request or integrity mismatch, as does a full run
//   --rounds N                 rounds per metric (default 3; --quick 1)
//   --compare URL,ACCESS,SECRET[,REGION]   another running S3 endpoint (repeatable)
//   --compare-peer radosgw|s3rver          starts ../shared/peers/start-<name>.sh in a temp dir, stops it after
//   --nodes N                  node-agents in the edge's network (default 6: the default erasure code's network)
//   --json FILE                writes every measurement as JSON
//
// Metrics: large PUT/GET at 4 streams (16 MiB objects), multipart upload (8 MiB parts, 4 in flight), 4 KiB PUT and
// GET p50 at 1 client, 4 KiB GET ops/s at 16 clients, storage written per byte stored, the edge's memory while one
// big object streams up and down, the edge's Worker CPU ms per operation (utime+stime of its workerd processes over
// a phase / its operations), the erasure code's speed in the edge's isolate (admin diagnostics, when present), and a
// node's CPU to answer a storage challenge of 16 leaves of a 1 GiB piece (proof-cost.ts; 256 MiB with --quick).
// What proofs cost a write: large PUT to a replicated bucket (unique masked copies, Merkle roots) beside the
// erasure-coded bucket's, in the same rounds.

import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { AwsClient } from "aws4fetch";
import { spawnSync } from "node:child_process";
import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { LocalNetwork, type NetworkDescription } from "../../src/localnet/network.ts";
import { descendantsOf } from "../helpers/processes.ts";
import { parseCompare, PEER_NAMES, startPeer, type Endpoint, type PeerName, type StartedPeer } from "./peers.ts";
import { sampleRss, workerdProcesses } from "./proc-stats.ts";
import { MiB, s3Client, Workload, type Measured, type Target } from "./workload.ts";

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    rounds: { type: "string" },
    compare: { type: "string", multiple: true, default: [] },
    "compare-peer": { type: "string", multiple: true, default: [] },
    nodes: { type: "string", default: "6" },
    json: { type: "string" },
  },
});

const quick = args.quick!;
const rounds = Number(args.rounds ?? (quick ? 1 : 3));
const nodes = Number(args.nodes);
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 9) throw new Error("--rounds must be 1..9");
if (!Number.isInteger(nodes) || nodes < 1 || nodes > 12) throw new Error("--nodes must be 1..12");
for (const name of args["compare-peer"]!) if (!PEER_NAMES.includes(name as PeerName)) throw new Error(`--compare-peer: one of ${PEER_NAMES.join(", ")}`);

/** Sizes and counts per round; every phase also stops starting requests after PHASE_DEADLINE_MS. */
const P = quick
  ? { largeSize: 16 * MiB, streams: 4, perStream: 1, multipartSize: 32 * MiB, smallC1: 40, smallC16: 240, streamSize: 256 * MiB }
  : { largeSize: 16 * MiB, streams: 4, perStream: 2, multipartSize: 64 * MiB, smallC1: 150, smallC16: 1200, streamSize: 2048 * MiB };
const PHASE_DEADLINE_MS = quick ? 60_000 : 180_000;
const PART_SIZE = 8 * MiB;
const PARTS_IN_FLIGHT = 4;
/** The whole run gives up (and stops everything it started) after this long. */
const RUN_DEADLINE_MS = quick ? 20 * 60_000 : 60 * 60_000;

const started: { network?: LocalNetwork; peers: StartedPeer[]; dirs: string[] } = { peers: [], dirs: [] };
async function cleanUp(): Promise<void> {
  const { network, peers, dirs } = started;
  started.network = undefined;
  started.peers = [];
  await Promise.all([network?.stop(), ...peers.map((p) => p.stop())]);
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true, maxRetries: 5 });
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => void cleanUp().finally(() => process.exit(130)));
}
const runTimer = setTimeout(() => {
  console.error(`bench: gave up after ${RUN_DEADLINE_MS / 60_000} minutes`);
  void cleanUp().finally(() => process.exit(124));
}, RUN_DEADLINE_MS);
runTimer.unref();

/** Bytes of blob data (sidecars excluded) under every node's data dir. */
async function blobBytes(d: NetworkDescription): Promise<number> {
  let total = 0;
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile() && !entry.name.endsWith(".json")) total += (await stat(path).catch(() => ({ size: 0 }))).size;
    }
  };
  for (const node of d.nodes) await walk(join(node.dataDir, "blobs"));
  return total;
}

function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

async function erasureSpeed(d: NetworkDescription): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${d.edgeUrl}/api/v1/admin/diagnostics/erasure-speed`, {
    method: "POST",
    headers: { authorization: `Bearer ${d.adminToken}`, "content-type": "application/json" },
    body: "{}",
    signal: AbortSignal.timeout(120_000),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: kept as text
  }
  return { status: res.status, body };
}

/** A bucket whose objects are stored as full replicas (x-icn-erasure-code: none), as an S3 client creates one. */
async function createReplicatedBucket(d: NetworkDescription, name: string): Promise<void> {
  const signer = new AwsClient({ accessKeyId: d.accounts.default.accessKeyId, secretAccessKey: d.accounts.default.secretAccessKey, service: "s3", region: d.region, retries: 0 });
  const res = await fetch(await signer.sign(`${d.edgeUrl}/${name}`, { method: "PUT", headers: { "x-icn-erasure-code": "none" } }));
  if (res.status !== 200) throw new Error(`creating the replicated bucket answered ${res.status}: ${await res.text()}`);
}

async function main(): Promise<number> {
  const compare: Endpoint[] = args.compare!.map(parseCompare);
  const stateDir = await mkdtemp(join(tmpdir(), "icn-bench-net-"));
  started.dirs.push(stateDir);
  console.log(`bench: starting the edge (${nodes} nodes)${args["compare-peer"]!.length ? ` and ${args["compare-peer"]!.join(", ")}` : ""}…`);
  const network = new LocalNetwork({ stateDir, edgePort: 0, nodeCount: nodes, quiet: true, cron: false });
  started.network = network;
  const [d, ...peers] = await Promise.all([
    network.start(),
    ...args["compare-peer"]!.map(async (name) => {
      const peer = await startPeer(name as PeerName);
      started.peers.push(peer);
      return peer;
    }),
  ]);
  const bucket = `bench-${Date.now().toString(36)}`;
  const edge: Target = {
    name: "edge",
    client: s3Client({ url: d.edgeUrl, accessKeyId: d.accounts.default.accessKeyId, secretAccessKey: d.accounts.default.secretAccessKey, region: d.region }),
    bucket,
    serverPids: () => workerdProcesses(network.description.worker.pid),
    backendPids: () => network.description.nodes.map((n) => n.pid),
    storedBytes: 0,
  };
  const others: Target[] = [...peers, ...compare].map((e) => ({
    name: e.name,
    client: s3Client(e),
    bucket,
    serverPids: () => [...e.pids, ...e.pids.flatMap(descendantsOf)],
    backendPids: () => [],
    storedBytes: 0,
  }));
  const targets = [edge, ...others];
  const w = new Workload(PHASE_DEADLINE_MS);
  for (const t of targets) await t.client.send(new CreateBucketCommand({ Bucket: t.bucket }));
  console.log(`bench: edge ${d.edgeUrl} (Worker pids ${edge.serverPids().join(",")}), ${others.map((o) => o.name).join(", ") || "no peer"}; ${rounds} round(s)${quick ? ", quick" : ""}`);

  // Warm every connection pool, isolate and cache the same way before anything is measured.
  for (const t of targets) {
    await w.smallPut(t, "warmup", 16, 4);
    await w.smallGet(t, "warmup", 16, 16, 4);
  }
  const blobsBefore = await blobBytes(d);
  const storedBefore = edge.storedBytes;

  type Phase = { metric: string; run: (t: Target, round: number) => Promise<Measured> };
  const phases: Phase[] = [
    { metric: "large PUT", run: (t, r) => w.largePut(t, `large/${r}`, P.largeSize, P.streams, P.perStream) },
    { metric: "large GET", run: (t, r) => w.largeGet(t, `large/${r}`, P.largeSize, P.streams, P.perStream) },
    { metric: "multipart", run: (t, r) => w.multipart(t, `multipart/${r}`, P.multipartSize, PART_SIZE, PARTS_IN_FLIGHT) },
    { metric: "small PUT c1", run: (t, r) => w.smallPut(t, `small/${r}`, P.smallC1, 1) },
    { metric: "small GET c1", run: (t, r) => w.smallGet(t, `small/${r}`, P.smallC1, P.smallC1, 1) },
    { metric: "small GET c16", run: (t, r) => w.smallGet(t, `small/${r}`, P.smallC1, P.smallC16, 16) },
  ];
  const results = new Map<string, Map<string, Measured[]>>();
  for (let r = 0; r < rounds; r++) {
    for (const phase of phases) {
      for (const t of targets) {
        const m = await phase.run(t, r);
        const byTarget = results.get(phase.metric) ?? new Map<string, Measured[]>();
        results.set(phase.metric, byTarget.set(t.name, [...(byTarget.get(t.name) ?? []), m]));
        console.log(`  round ${r + 1} ${phase.metric.padEnd(14)} ${t.name.padEnd(8)} ${m.ops}/${m.attempted} ops in ${(m.ms / 1000).toFixed(1)} s: ${m.mibPerSec.toFixed(1)} MiB/s, ${m.opsPerSec.toFixed(0)} ops/s, p50 ${m.p50.toFixed(1)} ms, server CPU ${m.serverCpuMs.toFixed(0)} ms`);
      }
    }
  }
  // Replicas or pieces the edge writes after answering (none today) land within a moment.
  await new Promise((r) => setTimeout(r, 2_000));
  const storageOverhead = (await blobBytes(d) - blobsBefore) / (edge.storedBytes - storedBefore);

  // What proofs of storage cost a write: a replicated bucket's large PUT (every copy masked for its node and its
  // Merkle root computed by the edge and the node) beside the erasure-coded bucket's (pieces with their roots), in
  // the same interleaved rounds. Measured after the storage overhead, which is the default (erasure) bucket's.
  const replicated: Target = { ...edge, name: "edge, replicated", bucket: `${bucket}-replicated`, storedBytes: 0 };
  await createReplicatedBucket(d, replicated.bucket);
  const proofRounds = { erasure: [] as Measured[], replicated: [] as Measured[] };
  for (let r = 0; r < rounds; r++) {
    for (const [name, t] of [["erasure", edge], ["replicated", replicated]] as const) {
      const m = await w.largePut(t, `proofs/${name}/${r}`, P.largeSize, P.streams, P.perStream);
      proofRounds[name].push(m);
      console.log(`  round ${r + 1} large PUT      ${t.name.padEnd(16)} ${m.ops}/${m.attempted} ops in ${(m.ms / 1000).toFixed(1)} s: ${m.mibPerSec.toFixed(1)} MiB/s, server CPU ${m.serverCpuMs.toFixed(0)} ms`);
    }
  }

  // Memory: one big object streamed up, then down, while the edge's workerd RSS is sampled.
  console.log(`bench: streaming one ${P.streamSize / MiB} MiB object through the edge (PUT, then GET)…`);
  const rss = sampleRss(() => edge.serverPids(), 100);
  const stream = await w.streamRoundTrip(edge, "stream/big", P.streamSize);
  const memory = rss.stop();

  const erasure = await erasureSpeed(d).catch((error: unknown) => ({ status: 0, body: String(error) }));

  // The table: medians per target, and edge / peer.
  const med = (metric: string, name: string, pick: (m: Measured) => number) => median((results.get(metric)?.get(name) ?? []).map(pick));
  const mibps = (m: Measured) => m.mibPerSec;
  const p50 = (m: Measured) => m.p50;
  const ops = (m: Measured) => m.opsPerSec;
  type Row = { metric: string; unit: string; values: Record<string, number | string>; lowerIsBetter?: boolean; note?: string };
  const rows: Row[] = [];
  const row = (metric: string, label: string, unit: string, pick: (m: Measured) => number, lowerIsBetter = false) =>
    rows.push({ metric: label, unit, lowerIsBetter, values: Object.fromEntries(targets.map((t) => [t.name, med(metric, t.name, pick)])) });
  row("large PUT", `large PUT, ${P.streams} streams (${P.largeSize / MiB} MiB)`, "MiB/s", mibps);
  row("large GET", `large GET, ${P.streams} streams (${P.largeSize / MiB} MiB)`, "MiB/s", mibps);
  row("multipart", `multipart upload (${PART_SIZE / MiB} MiB parts, ${PARTS_IN_FLIGHT} in flight, ${P.multipartSize / MiB} MiB)`, "MiB/s", mibps);
  row("small PUT c1", "4 KiB PUT, 1 client, p50", "ms", p50, true);
  row("small GET c1", "4 KiB GET, 1 client, p50", "ms", p50, true);
  row("small GET c16", "4 KiB GET, 16 clients", "ops/s", ops);
  const proofPut = (name: "erasure" | "replicated") => median(proofRounds[name].map(mibps));
  const proofCpu = (name: "erasure" | "replicated") => median(proofRounds[name].map((m) => m.serverCpuMs / (m.bytes / MiB)));
  rows.push({
    metric: `large PUT, replicated bucket (3 unique masked copies, Merkle roots), ${P.streams} streams`,
    unit: "MiB/s",
    note: "the erasure-coded bucket in the same rounds beside it",
    values: { edge: proofPut("replicated") },
  });
  rows.push({ metric: `large PUT, erasure-coded bucket (pieces with Merkle roots), same rounds`, unit: "MiB/s", values: { edge: proofPut("erasure") } });
  rows.push({ metric: "server CPU ms: large PUT per MiB, replicated bucket", unit: "ms", lowerIsBetter: true, values: { edge: proofCpu("replicated") } });
  rows.push({ metric: "server CPU ms: large PUT per MiB, erasure-coded bucket, same rounds", unit: "ms", lowerIsBetter: true, values: { edge: proofCpu("erasure") } });
  rows.push({ metric: "storage written per byte stored", unit: "×", values: { edge: storageOverhead, ...Object.fromEntries(others.map((o) => [o.name, o.name === "radosgw" ? "1× (one OSD, pool size 1)" : "n/a"])) } });
  const perOp = (metric: string, name: string, pick: (m: Measured) => number, per: (m: Measured) => number) =>
    median((results.get(metric)?.get(name) ?? []).map((m) => pick(m) / per(m)));
  for (const [metric, label, per] of [
    ["small PUT c1", "4 KiB PUT", (m: Measured) => m.ops],
    ["small GET c1", "4 KiB GET", (m: Measured) => m.ops],
    ["large PUT", "large PUT, per MiB", (m: Measured) => m.bytes / MiB],
    ["large GET", "large GET, per MiB", (m: Measured) => m.bytes / MiB],
  ] as const) {
    rows.push({
      metric: `server CPU ms: ${label}`,
      unit: "ms",
      lowerIsBetter: true,
      note: "edge: its workerd process(es); peer: every process it started",
      values: Object.fromEntries(targets.map((t) => [t.name, t.serverPids().length ? perOp(metric, t.name, (m) => m.serverCpuMs, per) : NaN])),
    });
    rows.push({ metric: `edge node-agents CPU ms: ${label}`, unit: "ms", values: { edge: perOp(metric, "edge", (m) => m.backendCpuMs, per) } });
  }

  const fmt = (v: number | string | undefined) => (typeof v === "number" ? (Number.isFinite(v) ? (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(v < 1 ? 3 : 1)) : "n/a") : (v ?? ""));
  const header = ["metric", "unit", ...targets.map((t) => t.name), ...others.map((o) => `edge/${o.name}`)];
  const lines = rows.map((r) => [
    r.metric,
    r.unit,
    ...targets.map((t) => fmt(r.values[t.name])),
    ...others.map((o) => {
      const e = r.values.edge;
      const p = r.values[o.name];
      if (typeof e !== "number" || typeof p !== "number" || !Number.isFinite(e) || !Number.isFinite(p) || p === 0) return "";
      return `${(e / p).toFixed(2)}×${r.lowerIsBetter ? " (lower is better)" : ""}`;
    }),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const show = (cells: string[]) => console.log(`| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`);
  console.log("");
  show(header);
  show(widths.map((n) => "-".repeat(n)));
  for (const l of lines) show(l);

  const growthMiB = (memory.peak - memory.start) / MiB;
  console.log(`\nedge memory while one ${P.streamSize / MiB} MiB object streamed up then down${quick ? " (--quick: not the 2 GiB of a full run)" : ""}: ` +
    `workerd RSS ${(memory.start / MiB).toFixed(0)} MiB at start, peak +${growthMiB.toFixed(1)} MiB, end +${((memory.end - memory.start) / MiB).toFixed(1)} MiB; ` +
    `PUT ${stream.putMs ? (P.streamSize / MiB / (stream.putMs / 1000)).toFixed(1) : "failed"} MiB/s, GET ${stream.getMs ? (P.streamSize / MiB / (stream.getMs / 1000)).toFixed(1) : "failed"} MiB/s`);
  if (erasure.status === 200) console.log(`erasure code in the edge's isolate: ${JSON.stringify(erasure.body)}`);
  else console.log(`erasure code speed: not available (POST /api/v1/admin/diagnostics/erasure-speed answered ${erasure.status || String(erasure.body)})`);

  let bad = 0;
  for (const t of targets) {
    const tally = w.tallyOf(t);
    bad += tally.failures + tally.mismatches;
    console.log(`${t.name}: ${tally.failures} failed requests (each would have been a retry), ${tally.mismatches} integrity failures${tally.firstErrors.length ? `\n  ${tally.firstErrors.join("\n  ")}` : ""}`);
  }
  console.log("(2 shared cores: the peer and the edge take turns, but other work on the machine shows up as noise)");

  if (args.json) {
    const raw = Object.fromEntries([...results].map(([metric, byTarget]) => [metric, Object.fromEntries(byTarget)]));
    const report = {
      startedAt: d.startedAt, quick, rounds, nodes, params: P, targets: targets.map((t) => t.name),
      rows, raw, storage: { overhead: storageOverhead, storedBytes: edge.storedBytes - storedBefore },
      memory: { ...memory, objectBytes: P.streamSize, ...stream }, erasure, tally: Object.fromEntries(w.tally),
    };
    await writeFile(args.json, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`results written to ${args.json}`);
  }
  return bad === 0 ? 0 : 1;
}

let code = 1;
try {
  code = await main();
} catch (error) {
  console.error(`bench failed: ${(error as Error).stack ?? error}`);
} finally {
  await cleanUp();
}
// What a node pays to answer a storage challenge, measured once the network is stopped (test/bench/proof-cost.ts).
const proofs = spawnSync(process.execPath, [fileURLToPath(new URL("./proof-cost.ts", import.meta.url)), ...(quick ? ["--mib", "256", "--challenges", "3"] : [])], { stdio: "inherit" });
if (proofs.status !== 0) code ||= 1;
process.exit(code);
