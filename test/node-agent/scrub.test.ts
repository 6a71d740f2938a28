// The scrub: bytes that rot or get damaged on disk are found, never served again, and reported to the edge
// (signed like heartbeats) so it can repair them; healthy blobs and the node's other work are left alone.

import { randomBytes } from "node:crypto";
import { readdir, readFile, rm, truncate, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BLOB_SHA256_HEADER, type ScrubReport } from "../../src/protocol/node-protocol.ts";
import { BlobStore } from "../../node-agent/src/blob-store.ts";
import { ByteRateLimiter, MIB } from "../../node-agent/src/rate-limiter.ts";
import { runScrubPass, startScrubChore } from "../../node-agent/src/scrub-chore.ts";
import { exitWithin, killSpawnedAgents, spawnAgent, TEST_WALLET_KEY } from "./support/agent-process.ts";
import { startFakeEdge, type FakeEdge } from "./support/fake-edge.ts";
import { edgeSigner, makeDataDir, newBlobId, sha256, startInProcessAgent, waitUntil, type InProcessAgent } from "./support/in-process-agent.ts";

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  killSpawnedAgents();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function fakeEdge(options: Parameters<typeof startFakeEdge>[0] = {}): Promise<FakeEdge> {
  const edge = await startFakeEdge(options);
  cleanups.push(() => edge.close());
  return edge;
}

async function agentWith(options: Parameters<typeof startInProcessAgent>[0]): Promise<InProcessAgent> {
  const agent = await startInProcessAgent(options);
  cleanups.push(() => agent.stop());
  return agent;
}

async function put(agent: InProcessAgent, bytes: Buffer<ArrayBuffer>, blobId = newBlobId()): Promise<string> {
  expect((await agent.edgeFetch(`/blobs/${blobId}`, { method: "PUT", body: bytes })).status).toBe(201);
  return blobId;
}

const blobFile = (dataDir: string, blobId: string) => join(dataDir, "blobs", blobId.slice(-2), blobId);

async function flipByte(path: string, at: number): Promise<Buffer> {
  const bytes = await readFile(path);
  bytes[at] = bytes[at]! ^ 0x01;
  await writeFile(path, bytes);
  return bytes;
}

const byId = <T extends { blobId: string }>(a: T, b: T) => (a.blobId < b.blobId ? -1 : 1);

describe("a scrub pass", () => {
  it("quarantines a blob with a flipped byte and a truncated one, reports them and the half-lost blobs to the edge, and leaves healthy blobs alone", async () => {
    const edge = await fakeEdge();
    const agent = await agentWith({ edgeUrl: edge.url });
    const healthy = new Map<string, Buffer>();
    for (const size of [0, 1, 300_000]) {
      const bytes = randomBytes(size);
      healthy.set(await put(agent, bytes), bytes);
    }
    const original = randomBytes(200_000);
    const flipped = await put(agent, original);
    const truncated = await put(agent, original);
    const dataLost = await put(agent, randomBytes(1000));
    const sidecarLost = await put(agent, randomBytes(2000));
    const sidecarJustLost = await put(agent, randomBytes(3000));

    const flippedBytes = await flipByte(blobFile(agent.dataDir, flipped), 123_456);
    await truncate(blobFile(agent.dataDir, truncated), 150_000);
    await rm(blobFile(agent.dataDir, dataLost));
    await rm(`${blobFile(agent.dataDir, sidecarLost)}.meta.json`);
    const tenMinutesAgo = new Date(Date.now() - 10 * 60_000);
    await utimes(blobFile(agent.dataDir, sidecarLost), tenMinutesAgo, tenMinutesAgo);
    await rm(`${blobFile(agent.dataDir, sidecarJustLost)}.meta.json`);

    const res = await agent.edgeFetch("/scrub", { method: "POST" });
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ scrub: "started" });
    await waitUntil(() => edge.scrubReports.length === 1, 10_000, "the scrub report");

    expect(edge.rejected).toEqual([]);
    const { nodeId, report } = edge.scrubReports[0]!;
    expect(nodeId).toBe(agent.nodeId);
    expect(report.scanned).toBe(3 + 2 + 2);
    expect(report.finishedAt).toBeGreaterThanOrEqual(report.startedAt);
    expect([...report.corrupt].sort(byId)).toEqual(
      [
        { blobId: flipped, expectedSha256: sha256(original), actualSha256: sha256(flippedBytes) },
        { blobId: truncated, expectedSha256: sha256(original), actualSha256: sha256(original.subarray(0, 150_000)) },
      ].sort(byId),
    );
    expect([...report.missing].sort()).toEqual([dataLost, sidecarLost].sort());

    // Corrupt and half-lost blobs are out of the store: never served, not counted, kept in quarantine/.
    for (const gone of [flipped, truncated, dataLost, sidecarLost]) {
      const get = await agent.edgeFetch(`/blobs/${gone}`);
      expect(get.status).toBe(404);
      expect(await get.json()).toMatchObject({ code: "NoSuchBlob" });
    }
    const files = await agent.listFiles();
    expect(files.filter((f) => f.includes(dataLost))).toEqual([]);
    const quarantined = await readdir(join(agent.dataDir, "quarantine"));
    for (const id of [flipped, truncated, sidecarLost]) expect(quarantined.some((name) => name.startsWith(`${id}.`))).toBe(true);
    expect(quarantined.filter((name) => !name.endsWith(".meta.json"))).toHaveLength(3);

    // Healthy blobs, and a sidecar-less file too young to call lost, are untouched.
    for (const [blobId, bytes] of healthy) {
      const get = await agent.edgeFetch(`/blobs/${blobId}`);
      expect(get.headers.get(BLOB_SHA256_HEADER)).toBe(sha256(bytes));
      expect(Buffer.from(await get.arrayBuffer()).equals(bytes)).toBe(true);
    }
    expect(files).toContain(`blobs/${sidecarJustLost.slice(-2)}/${sidecarJustLost}`);
    expect(agent.store.stats).toEqual({ usedBytes: 300_001 + 3000, blobCount: 4 });
    const listing = await (await agent.edgeFetch("/blobs")).json();
    expect(listing.blobs.map((b: { blobId: string }) => b.blobId).sort()).toEqual([...healthy.keys()].sort());

    // A second pass finds nothing new to say.
    expect((await agent.edgeFetch("/scrub", { method: "POST" })).status).toBe(202);
    await waitUntil(() => edge.scrubReports.length === 2, 10_000, "the second scrub report");
    expect(edge.scrubReports[1]!.report).toMatchObject({ scanned: 3, corrupt: [], missing: [] });
  });

  it("reports findings the edge refused again with the next pass, until it accepts them", async () => {
    const edge = await fakeEdge({ failScrubReports: 1 });
    const agent = await agentWith({ edgeUrl: edge.url });
    const rotten = await put(agent, randomBytes(5000));
    await flipByte(blobFile(agent.dataDir, rotten), 10);

    await agent.edgeFetch("/scrub", { method: "POST" });
    await waitUntil(() => edge.refusedScrubReports.length === 1 && agent.scrub.running === undefined, 10_000, "the refused report");
    expect(edge.refusedScrubReports[0]!.report.corrupt.map((c) => c.blobId)).toEqual([rotten]);

    await agent.edgeFetch("/scrub", { method: "POST" });
    await waitUntil(() => edge.scrubReports.length === 1, 10_000, "the retried report");
    expect(edge.scrubReports[0]!.report).toMatchObject({ scanned: 0, missing: [] });
    expect(edge.scrubReports[0]!.report.corrupt.map((c) => c.blobId)).toEqual([rotten]);

    await agent.edgeFetch("/scrub", { method: "POST" });
    await waitUntil(() => edge.scrubReports.length === 2, 10_000, "a report after delivery");
    expect(edge.scrubReports[1]!.report.corrupt).toEqual([]);
  });

  it("keeps undelivered findings across a restart of the agent", async () => {
    const dataDir = await makeDataDir();
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const store = await BlobStore.open(dataDir);
    const rotten = newBlobId();
    await store.put(rotten, [randomBytes(4096)]);
    await flipByte(blobFile(dataDir, rotten), 0);
    const pendingFile = join(dataDir, "scrub-pending.json");

    const failing = startScrubChore({
      store,
      rateBytesPerSecond: 100 * MIB,
      intervalSeconds: 0,
      pendingFile,
      deliver: async () => {
        throw new Error("edge unreachable");
      },
    });
    failing.requestPass();
    await failing.running;
    await failing.stop();

    const delivered: ScrubReport[] = [];
    const afterRestart = startScrubChore({
      store: await BlobStore.open(dataDir),
      rateBytesPerSecond: 100 * MIB,
      intervalSeconds: 0,
      pendingFile,
      deliver: async (report) => void delivered.push(report),
    });
    afterRestart.requestPass();
    await afterRestart.running;
    await afterRestart.stop();
    expect(delivered).toHaveLength(1);
    expect(delivered[0]!.corrupt.map((c) => c.blobId)).toEqual([rotten]);
    expect((await readdir(dataDir)).includes("scrub-pending.json")).toBe(false);
  });

  it("never quarantines a blob that was replaced while the scrub was hashing the old copy", async () => {
    const dataDir = await makeDataDir();
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const store = await BlobStore.open(dataDir);
    const blobId = newBlobId();
    await store.put(blobId, [randomBytes(MIB)]);
    const replacement = randomBytes(5000);
    let replaced = false;

    const verdict = await store.scrubBlob(blobId, {
      danglingGraceMs: 0,
      consume: async () => {
        if (replaced) return;
        replaced = true;
        // The old copy rots after the scrub opened it, and the edge writes a new one meanwhile.
        await flipByte(blobFile(dataDir, blobId), MIB - 1);
        await store.put(blobId, [replacement]);
      },
    });
    expect(verdict).toEqual({ kind: "gone" });
    const opened = await store.openBlob(blobId);
    expect(opened?.record.sha256).toBe(sha256(replacement));
    await opened?.file.close();
    expect(store.stats).toEqual({ usedBytes: 5000, blobCount: 1 });
  });

  it("reads no faster than its rate cap", async () => {
    const dataDir = await makeDataDir();
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const store = await BlobStore.open(dataDir);
    for (let i = 0; i < 3; i++) await store.put(newBlobId(), [randomBytes(MIB)]);

    const started = performance.now();
    const pass = await runScrubPass({ store, limiter: new ByteRateLimiter(4 * MIB) });
    const seconds = (performance.now() - started) / 1000;
    expect(pass.scanned).toBe(3);
    // 3 MiB at 4 MiB/s: at least 0.75 s, less the limiter's 50 ms of banked credit.
    expect(seconds).toBeGreaterThanOrEqual(0.7);
  });

  it("keeps PUT and GET fast during a slow pass, starts no second pass while one runs, and shrugs off blobs deleted under it", async () => {
    const agent = await agentWith({ scrubRateMiBps: 2 });
    const blobs = new Map<string, Buffer>();
    for (let i = 0; i < 6; i++) {
      const bytes = randomBytes(512 * 1024);
      blobs.set(await put(agent, bytes), bytes);
    }
    const ids = [...blobs.keys()].sort();

    expect(await (await agent.edgeFetch("/scrub", { method: "POST" })).json()).toEqual({ scrub: "started" });
    const second = await agent.edgeFetch("/scrub", { method: "POST" });
    expect(second.status).toBe(202);
    expect(await second.json()).toEqual({ scrub: "already-running" });

    // While the pass reads 3 MiB at 2 MiB/s (~1.5 s), the blob API answers at its usual speed.
    const started = performance.now();
    expect((await agent.edgeFetch(`/blobs/${ids[4]}`, { method: "DELETE" })).status).toBe(204);
    expect((await agent.edgeFetch(`/blobs/${ids[5]}`, { method: "DELETE" })).status).toBe(204);
    const fresh = randomBytes(512 * 1024);
    const freshId = await put(agent, fresh);
    const get = await agent.edgeFetch(`/blobs/${ids[0]}`);
    expect(Buffer.from(await get.arrayBuffer()).equals(blobs.get(ids[0]!)!)).toBe(true);
    expect(performance.now() - started).toBeLessThan(500);
    expect(agent.scrub.running).toBeDefined();

    await agent.scrub.running;
    expect(agent.scrubReports).toHaveLength(1);
    const report = agent.scrubReports[0]!;
    expect(report).toMatchObject({ corrupt: [], missing: [] });
    expect(report.scanned).toBeGreaterThanOrEqual(4);
    expect(report.scanned).toBeLessThanOrEqual(5);
    expect(agent.store.stats).toEqual({ usedBytes: 5 * 512 * 1024, blobCount: 5 });
    expect(Buffer.from(await (await agent.edgeFetch(`/blobs/${freshId}`)).arrayBuffer()).equals(fresh)).toBe(true);
  });
});

describe("the scrub in a running agent", () => {
  it("runs a first pass one interval after start and more on POST /scrub, reports with the node's credentials, and heartbeats count what is left", async () => {
    const edge = await fakeEdge({ heartbeatIntervalSeconds: 1 });
    const dataDir = await makeDataDir();
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const spawnedAt = Date.now();
    const agent = spawnAgent([
      ...["--data-dir", dataDir, "--edge-url", edge.url, "--zone", "test-zone", "--wallet-key", TEST_WALLET_KEY],
      ...["--scrub-interval-seconds", "2", "--scrub-rate-mibps", "100"],
    ]);
    const ready = await agent.ready();
    const signer = edgeSigner(edge.issued[0]!);
    const kept = randomBytes(10_000);
    const keptId = newBlobId();
    const rottenId = newBlobId();
    for (const [id, bytes] of [[keptId, kept], [rottenId, randomBytes(20_000)]] as const) {
      expect((await fetch(await signer.sign(`${ready.url}/blobs/${id}`, { method: "PUT", body: bytes }))).status).toBe(201);
    }
    await flipByte(blobFile(dataDir, rottenId), 19_999);

    await waitUntil(() => edge.scrubReports.some((r) => r.report.corrupt.length > 0), 10_000, "a scheduled pass to report the rotten blob");
    const first = edge.scrubReports[0]!;
    expect(first.nodeId).toBe(ready.nodeId);
    expect(first.report.startedAt - spawnedAt).toBeGreaterThanOrEqual(1_900);
    expect(edge.scrubReports.flatMap((r) => r.report.corrupt.map((c) => c.blobId))).toEqual([rottenId]);
    expect(edge.rejected).toEqual([]);
    expect((await fetch(await signer.sign(`${ready.url}/blobs/${rottenId}`))).status).toBe(404);

    const reportsBefore = edge.scrubReports.length;
    const scrub = await fetch(await signer.sign(`${ready.url}/scrub`, { method: "POST" }));
    expect(scrub.status).toBe(202);
    await waitUntil(() => edge.scrubReports.length > reportsBefore, 10_000, "the requested pass's report");
    expect(edge.scrubReports.at(-1)!.report).toMatchObject({ scanned: 1, corrupt: [], missing: [] });

    const heartbeatsBefore = edge.heartbeats.length;
    await waitUntil(() => edge.heartbeats.length > heartbeatsBefore, 5_000, "a heartbeat after the quarantine");
    expect(edge.heartbeats.at(-1)!.heartbeat).toMatchObject({ blobCount: 1, usedBytes: kept.length });

    agent.child.kill("SIGTERM");
    expect((await exitWithin(agent, 10_000)).code).toBe(0);
  });
});
