// Measures blob PUT and GET throughput over loopback: the agent's blob server in this process, curl as the
// client in another (signed like the edge). Run: node_modules/.bin/tsx test/node-agent/support/bench-loopback.ts [MiB] [runs]

import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { edgeSigner, newBlobId, startInProcessAgent } from "./in-process-agent.ts";

const mib = Number(process.argv[2] ?? 256);
const runs = Number(process.argv[3] ?? 3);
const size = mib * 1024 * 1024;

const agent = await startInProcessAgent();
const source = join(tmpdir(), `icn-bench-${process.pid}.bin`);
const file = await open(source, "w");
const chunk = randomBytes(8 * 1024 * 1024);
for (let written = 0; written < size; written += chunk.length) await file.write(chunk, 0, Math.min(chunk.length, size - written));
await file.close();

const signer = edgeSigner(agent.credentials);
async function curlArgs(method: string, path: string, extra: Record<string, string> = {}): Promise<string[]> {
  const signed = await signer.sign(`${agent.url}${path}`, { method, headers: extra });
  const args: string[] = ["-sS", "-f", "-X", method, "-H", "Expect:"];
  signed.headers.forEach((value, name) => args.push("-H", `${name}: ${value}`));
  return [...args, `${agent.url}${path}`];
}

function seconds(run: () => void): number {
  const started = process.hrtime.bigint();
  run();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const puts: number[] = [];
const gets: number[] = [];
for (let i = 0; i < runs; i++) {
  const blobId = newBlobId();
  const put = await curlArgs("PUT", `/blobs/${blobId}`, { "content-length": String(size) });
  puts.push(seconds(() => execFileSync("curl", [...put, "-T", source, "-o", "/dev/null"])));
  const get = await curlArgs("GET", `/blobs/${blobId}`);
  gets.push(seconds(() => execFileSync("curl", [...get, "-o", "/dev/null"])));
  await agent.store.delete(blobId);
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
await rm(source, { force: true });
await agent.stop();
