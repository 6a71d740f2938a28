// Measures blob PUT and GET throughput over loopback against a real agent process (started like an operator
// would, registered with a fake edge), with curl as the client, signed like the edge.
// Run: node_modules/.bin/tsx test/node-agent/support/bench-loopback.ts [MiB=256] [runs=5]

import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { exitWithin, spawnAgent, TEST_WALLET_KEY } from "./agent-process.ts";
import { startFakeEdge } from "./fake-edge.ts";
import { edgeSigner, makeDataDir, newBlobId } from "./in-process-agent.ts";

const mib = Number(process.argv[2] ?? 256);
const runs = Number(process.argv[3] ?? 5);
const size = mib * 1024 * 1024;
const curl = promisify(execFile);

const source = join(tmpdir(), `icn-bench-${process.pid}.bin`);
const file = await open(source, "w");
const chunk = randomBytes(8 * 1024 * 1024);
for (let written = 0; written < size; written += chunk.length) await file.write(chunk, 0, Math.min(chunk.length, size - written));
await file.sync(); // so its writeback does not compete with the measured uploads
await file.close();

const edge = await startFakeEdge();
const dataDir = await makeDataDir();
const agent = spawnAgent(["--data-dir", dataDir, "--edge-url", edge.url, "--zone", "bench", "--wallet-key", TEST_WALLET_KEY]);
const { url } = await agent.ready();
const signer = edgeSigner(edge.issued[0]!);

async function curlArgs(method: string, path: string, headers: Record<string, string> = {}): Promise<string[]> {
  const signed = await signer.sign(`${url}${path}`, { method, headers });
  const args = ["-sS", "-f", "-X", method, "-H", "Expect:", "-o", "/dev/null"];
  signed.headers.forEach((value, name) => args.push("-H", `${name}: ${value}`));
  return [...args, `${url}${path}`];
}

async function seconds(args: string[]): Promise<number> {
  const started = process.hrtime.bigint();
  await curl("curl", args);
  return Number(process.hrtime.bigint() - started) / 1e9;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const puts: number[] = [];
const gets: number[] = [];
for (let i = 0; i < runs; i++) {
  const blobId = newBlobId();
  puts.push(await seconds([...(await curlArgs("PUT", `/blobs/${blobId}`, { "content-length": String(size) })), "-T", source]));
  gets.push(await seconds(await curlArgs("GET", `/blobs/${blobId}`)));
  await seconds(await curlArgs("DELETE", `/blobs/${blobId}`));
}
console.log(
  JSON.stringify({
    sizeMiB: mib,
    runs,
    putMiBps: Math.round(mib / median(puts)),
    getMiBps: Math.round(mib / median(gets)),
    putSeconds: puts.map((s) => +s.toFixed(3)),
    getSeconds: gets.map((s) => +s.toFixed(3)),
  }),
);
agent.child.kill("SIGTERM");
await exitWithin(agent, 30_000);
await edge.close();
await rm(source, { force: true });
await rm(dataDir, { recursive: true, force: true });
