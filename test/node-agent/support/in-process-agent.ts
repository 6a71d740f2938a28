// Starts the agent's blob server in the test process on 127.0.0.1:0 with a fresh data dir and its own
// credentials, plus an edge-like signer, so tests drive it over real HTTP exactly as the edge will. With
// `edgeUrl` it registers with that (fake) edge first and sends its scrub reports there, signed like heartbeats.

import { createHash } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AwsClient } from "aws4fetch";
import { privateKeyToAccount } from "viem/accounts";
import { randomHex, randomSecret } from "../../../src/protocol/crypto.ts";
import { NODE_BLOB_SERVICE, NODE_SIGV4_REGION, type ScrubReport } from "../../../src/protocol/node-protocol.ts";
import type { NodeCredentials } from "../../../node-agent/src/auth.ts";
import { BlobStore, type BlobStoreOptions } from "../../../node-agent/src/blob-store.ts";
import { EdgeClient } from "../../../node-agent/src/edge-client.ts";
import { listen } from "../../../node-agent/src/http-listener.ts";
import { MIB } from "../../../node-agent/src/rate-limiter.ts";
import type { ReplicationOptions } from "../../../node-agent/src/replicator.ts";
import { startScrubChore, type ScrubChore } from "../../../node-agent/src/scrub-chore.ts";
import { createAgentApp, type AgentAppOptions } from "../../../node-agent/src/server.ts";
import { TEST_WALLET_KEY } from "./agent-process.ts";

export const TEST_NODE_ID = "node_00112233aabbccdd";

export interface InProcessAgent {
  url: string;
  dataDir: string;
  store: BlobStore;
  server: Server;
  credentials: NodeCredentials;
  nodeId: string;
  scrub: ScrubChore;
  /** Scrub reports, when there is no edge to send them to. */
  scrubReports: ScrubReport[];
  /** Signs like the edge (aws4fetch, service "s3", region "icn") and sends with plain fetch. */
  edgeFetch(path: string, init?: RequestInit): Promise<Response>;
  /** Every file under the data dir, relative, sorted: the "nothing was touched" oracle. */
  listFiles(): Promise<string[]>;
  /** Stops the server; with `keepData` the data dir survives for a restart. */
  stop(options?: { keepData?: boolean }): Promise<void>;
}

export interface InProcessAgentOptions extends BlobStoreOptions {
  dataDir?: string;
  /** Leave the node unregistered (signed routes answer 503). */
  unregistered?: boolean;
  now?: () => Date;
  /** Register with this edge (for credentials) and deliver scrub reports to it. */
  edgeUrl?: string;
  /** Node id to register as; each agent sharing an edge needs its own. */
  nodeId?: string;
  /** Scrub read rate [1024 MiB/s]. */
  scrubRateMiBps?: number;
  /** Scheduled scrub passes [0: only on POST /scrub]. */
  scrubIntervalSeconds?: number;
  scrubDanglingGraceMs?: number;
  replication?: ReplicationOptions;
  /** Answer storage challenges (POST /audit/challenges) with what this makes of the agent's store. */
  audit?: (store: BlobStore, nodeId: string) => AgentAppOptions["audit"];
}

/** A fresh id in the edge's blob id format. */
export function newBlobId(): string {
  return `blob-${randomHex(12)}`;
}

export function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

export function edgeSigner(credentials: NodeCredentials): AwsClient {
  return new AwsClient({ ...credentials, service: NODE_BLOB_SERVICE, region: NODE_SIGV4_REGION });
}

export async function makeDataDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), "icn-node-agent-test-"));
}

export async function startInProcessAgent(options: InProcessAgentOptions = {}): Promise<InProcessAgent> {
  const dataDir = options.dataDir ?? (await makeDataDir());
  const store = await BlobStore.open(dataDir, options);
  const nodeId = options.nodeId ?? TEST_NODE_ID;
  let credentials: NodeCredentials = { accessKeyId: `NK${randomHex(8).toUpperCase()}`, secretAccessKey: randomSecret() };
  const edge = options.edgeUrl === undefined ? undefined : new EdgeClient({ edgeUrl: options.edgeUrl, account: privateKeyToAccount(TEST_WALLET_KEY), chainId: 31337 });
  const scrubReports: ScrubReport[] = [];
  const scrub = startScrubChore({
    store,
    rateBytesPerSecond: (options.scrubRateMiBps ?? 1024) * MIB,
    intervalSeconds: options.scrubIntervalSeconds ?? 0,
    deliver: async (report, signal) => {
      if (edge === undefined) scrubReports.push(report);
      else await edge.scrubReport(nodeId, credentials, report, signal);
    },
    ...(options.scrubDanglingGraceMs === undefined ? {} : { danglingGraceMs: options.scrubDanglingGraceMs }),
    ...(options.now ? { now: options.now } : {}),
  });
  const app = createAgentApp({
    store,
    nodeId,
    credentials: () => (options.unregistered ? undefined : credentials),
    scrub,
    // Test peers listen on 127.0.0.1.
    replication: { allowPrivateSources: true, ...options.replication },
    ...(options.audit ? { audit: options.audit(store, nodeId) } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
  const listening = await listen(app.fetch, "127.0.0.1", 0);
  const { server, port } = listening;
  const url = `http://127.0.0.1:${port}`;
  if (edge !== undefined) {
    credentials = await edge.register({ nodeId, url, zone: "test-zone", capacityBytes: 1n << 40n, agentVersion: "0.1.0" });
  }
  const signer = edgeSigner(credentials);
  return {
    url,
    dataDir,
    store,
    server,
    credentials,
    nodeId,
    scrub,
    scrubReports,
    edgeFetch: async (path, init = {}) => fetch(await signer.sign(`${url}${path}`, init)),
    listFiles: () => listFiles(dataDir),
    stop: async ({ keepData = false } = {}) => {
      await scrub.stop();
      await listening.close(1_000);
      if (!keepData) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export async function listFiles(root: string, under = ""): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(root, under), { withFileTypes: true })) {
    const rel = under ? `${under}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(`${rel}/`, ...(await listFiles(root, rel)));
    else out.push(rel);
  }
  return out.sort();
}

/** Polls `check` every 20 ms until it returns true or `timeoutMs` passes. */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs = 5_000, what = "condition"): Promise<void> {
  const giveUpAt = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > giveUpAt) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
