// Starts the agent's blob server in the test process on 127.0.0.1:0 with a fresh data dir and known
// credentials, plus an edge-like signer, so tests drive it over real HTTP exactly as the edge will.

import { createHash } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AwsClient } from "aws4fetch";
import { randomHex } from "../../../src/protocol/crypto.ts";
import { NODE_BLOB_SERVICE, NODE_SIGV4_REGION } from "../../../src/protocol/node-protocol.ts";
import type { NodeCredentials } from "../../../node-agent/src/auth.ts";
import { BlobStore, type BlobStoreOptions } from "../../../node-agent/src/blob-store.ts";
import { listen } from "../../../node-agent/src/http-listener.ts";
import { createAgentApp } from "../../../node-agent/src/server.ts";

export const TEST_NODE_ID = "node_00112233aabbccdd";

export interface InProcessAgent {
  url: string;
  dataDir: string;
  store: BlobStore;
  server: Server;
  credentials: NodeCredentials;
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
  const credentials: NodeCredentials = { accessKeyId: "NKTESTNODEKEY0001", secretAccessKey: "test-secret-0123456789abcdefghijklmnopqr" };
  const app = createAgentApp({
    store,
    nodeId: TEST_NODE_ID,
    credentials: () => (options.unregistered ? undefined : credentials),
    ...(options.now ? { now: options.now } : {}),
  });
  const listening = await listen(app.fetch, "127.0.0.1", 0);
  const { server, port } = listening;
  const url = `http://127.0.0.1:${port}`;
  const signer = edgeSigner(credentials);
  return {
    url,
    dataDir,
    store,
    server,
    credentials,
    edgeFetch: async (path, init = {}) => fetch(await signer.sign(`${url}${path}`, init)),
    listFiles: () => listFiles(dataDir),
    stop: async ({ keepData = false } = {}) => {
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
