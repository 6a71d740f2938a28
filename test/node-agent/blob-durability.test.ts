// What an operator notices after crashes, dropped connections and full disks: a blob is either complete
// and readable or absent, temp files never pile up, and stored blobs survive a restart.

import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BLOB_SHA256_HEADER } from "../../src/protocol/node-protocol.ts";
import { BlobStore } from "../../node-agent/src/blob-store.ts";
import {
  edgeSigner,
  makeDataDir,
  newBlobId,
  sha256,
  startInProcessAgent,
  waitUntil,
  type InProcessAgent,
} from "./support/in-process-agent.ts";

const started: InProcessAgent[] = [];
async function start(options: Parameters<typeof startInProcessAgent>[0] = {}): Promise<InProcessAgent> {
  const agent = await startInProcessAgent(options);
  started.push(agent);
  return agent;
}
afterEach(async () => {
  await Promise.all(started.splice(0).map((agent) => agent.stop()));
});

async function tmpEntries(agent: InProcessAgent): Promise<string[]> {
  return readdir(join(agent.dataDir, "tmp"));
}

/**
 * Sends a signed PUT over a raw socket declaring `declaredLength` bytes, writes only `sent`, waits until
 * the node is writing it to a temp file, then cuts the connection the way `cut` says.
 */
async function putThenCutConnection(agent: InProcessAgent, blobId: string, declaredLength: number, sent: Buffer, cut: "reset" | "half-close"): Promise<void> {
  const url = new URL(`${agent.url}/blobs/${blobId}`);
  const signed = await edgeSigner(agent.credentials).sign(url.toString(), { method: "PUT", headers: { "content-length": String(declaredLength) } });
  const lines = [`PUT ${url.pathname} HTTP/1.1`, `host: ${url.host}`];
  signed.headers.forEach((value, name) => lines.push(`${name}: ${value}`));
  const socket = connect(Number(url.port), url.hostname);
  socket.on("error", () => {});
  socket.resume(); // consume the node's answer, or a half-closed socket never reaches "close"
  await new Promise<void>((resolve) => socket.once("connect", resolve));
  socket.write(`${lines.join("\r\n")}\r\n\r\n`);
  socket.write(sent);
  await waitUntil(async () => (await tmpEntries(agent)).length > 0, 5_000, "the upload to reach a temp file");
  if (cut === "reset") socket.resetAndDestroy();
  else socket.end();
  await new Promise<void>((resolve) => socket.once("close", () => resolve()));
}

describe("interrupted uploads", () => {
  for (const cut of ["reset", "half-close"] as const) {
    it(`leaves no blob and no temp file when the client's connection is cut mid-body (${cut})`, async () => {
      const agent = await start();
      const blobId = newBlobId();
      await putThenCutConnection(agent, blobId, 8 * 1024 * 1024, randomBytes(1024 * 1024), cut);

      await waitUntil(async () => (await tmpEntries(agent)).length === 0, 5_000, "the temp file to be removed");
      expect((await agent.edgeFetch(`/blobs/${blobId}`)).status).toBe(404);
      expect(await agent.listFiles()).toEqual(["blobs/", "tmp/"]);
      expect(agent.store.stats).toEqual({ usedBytes: 0, blobCount: 0 });
    });
  }

  it("keeps serving the previous version of a blob when an overwrite is cut off", async () => {
    const agent = await start();
    const blobId = newBlobId();
    const original = randomBytes(100_000);
    expect((await agent.edgeFetch(`/blobs/${blobId}`, { method: "PUT", body: original })).status).toBe(201);

    await putThenCutConnection(agent, blobId, 4 * 1024 * 1024, randomBytes(512 * 1024), "reset");
    await waitUntil(async () => (await tmpEntries(agent)).length === 0, 5_000, "the temp file to be removed");

    const get = await agent.edgeFetch(`/blobs/${blobId}`);
    expect(get.headers.get(BLOB_SHA256_HEADER)).toBe(sha256(original));
    expect(Buffer.from(await get.arrayBuffer()).equals(original)).toBe(true);
  });

  it("lets a reader that started before an overwrite finish reading the old bytes", async () => {
    const agent = await start();
    const blobId = newBlobId();
    const oldBytes = randomBytes(8 * 1024 * 1024);
    const newBytes = randomBytes(1000);
    expect((await agent.edgeFetch(`/blobs/${blobId}`, { method: "PUT", body: oldBytes })).status).toBe(201);

    const reading = await agent.edgeFetch(`/blobs/${blobId}`);
    const reader = reading.body!.getReader();
    const first = await reader.read();
    expect((await agent.edgeFetch(`/blobs/${blobId}`, { method: "PUT", body: newBytes })).status).toBe(201);
    const chunks = [first.value!];
    for (let next = await reader.read(); !next.done; next = await reader.read()) chunks.push(next.value);

    expect(Buffer.concat(chunks).equals(oldBytes)).toBe(true);
    expect(Buffer.from(await (await agent.edgeFetch(`/blobs/${blobId}`)).arrayBuffer()).equals(newBytes)).toBe(true);
  });
});

describe("restarts", () => {
  it("deletes leftover temp files at startup and keeps serving and counting stored blobs", async () => {
    const first = await start();
    const blobs = [randomBytes(10), randomBytes(70_000)];
    const ids = blobs.map(() => newBlobId());
    for (const [i, bytes] of blobs.entries()) {
      expect((await first.edgeFetch(`/blobs/${ids[i]}`, { method: "PUT", body: bytes })).status).toBe(201);
    }
    const dataDir = first.dataDir;
    await first.stop({ keepData: true });
    started.splice(started.indexOf(first), 1);
    // What a crash mid-upload leaves behind.
    await writeFile(join(dataDir, "tmp", "0123456789abcdef0123456789abcdef"), randomBytes(5000));
    await writeFile(join(dataDir, "tmp", "0123456789abcdef0123456789abcdef.meta.json"), "{");
    await mkdir(join(dataDir, "tmp", "stray-dir"));

    const second = await start({ dataDir });
    expect(await tmpEntries(second)).toEqual([]);
    expect(second.store.stats).toEqual({ usedBytes: 70_010, blobCount: 2 });
    for (const [i, bytes] of blobs.entries()) {
      const res = await second.edgeFetch(`/blobs/${ids[i]}`);
      expect(res.headers.get(BLOB_SHA256_HEADER)).toBe(sha256(bytes));
      expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);
    }
  });

  it("repairs at startup what a crash can leave (orphan sidecars go, missing sidecars are rebuilt) but never serves bytes that disagree with their sidecar", async () => {
    const dataDir = await makeDataDir();
    const withoutSidecar = newBlobId();
    const staleSidecar = newBlobId();
    const orphan = newBlobId();
    const bytes = randomBytes(3000);
    const store = await BlobStore.open(dataDir);
    for (const id of [withoutSidecar, staleSidecar]) await store.put(id, [bytes]);
    const fileOf = (id: string) => join(dataDir, "blobs", id.slice(-2), id);
    await rm(`${fileOf(withoutSidecar)}.meta.json`);
    const stale = { blobId: staleSidecar, size: 12, sha256: "0".repeat(64), createdAt: new Date().toISOString() };
    await writeFile(`${fileOf(staleSidecar)}.meta.json`, JSON.stringify(stale));
    await mkdir(join(dataDir, "blobs", orphan.slice(-2)), { recursive: true });
    await writeFile(`${fileOf(orphan)}.meta.json`, JSON.stringify({ ...stale, blobId: orphan }));

    const agent = await start({ dataDir });
    expect(agent.store.stats).toEqual({ usedBytes: 6000, blobCount: 2 });
    expect((await agent.listFiles()).filter((f) => f.includes(orphan))).toEqual([]);
    const rebuilt = await agent.edgeFetch(`/blobs/${withoutSidecar}`, { method: "HEAD" });
    expect(rebuilt.status).toBe(200);
    expect(rebuilt.headers.get(BLOB_SHA256_HEADER)).toBe(sha256(bytes));
    expect(rebuilt.headers.get("content-length")).toBe("3000");
    const sidecar = JSON.parse(await readFile(`${fileOf(withoutSidecar)}.meta.json`, "utf8"));
    expect(sidecar).toMatchObject({ blobId: withoutSidecar, size: 3000, sha256: sha256(bytes) });
    // A sidecar recording another size means the bytes changed behind the store's back: not served (the scrub
    // quarantines and reports it), rather than re-hashed and vouched for.
    expect((await agent.edgeFetch(`/blobs/${staleSidecar}`, { method: "HEAD" })).status).toBe(404);
  });
});

describe("running out of space", () => {
  it("refuses with 507 a blob larger than the capacity left, before writing anything", async () => {
    const agent = await start({ capacityBytes: 1_000_000 });
    const kept = newBlobId();
    expect((await agent.edgeFetch(`/blobs/${kept}`, { method: "PUT", body: randomBytes(600_000) })).status).toBe(201);
    const before = await agent.listFiles();

    const res = await agent.edgeFetch(`/blobs/${newBlobId()}`, { method: "PUT", body: randomBytes(500_000) });
    expect(res.status).toBe(507);
    expect(await res.json()).toMatchObject({ code: "InsufficientStorage" });
    expect(await agent.listFiles()).toEqual(before);
  });

  it("stops a chunked upload with 507 once it passes the capacity, and removes its temp file", async () => {
    const agent = await start({ capacityBytes: 1_000_000 });
    const chunk = randomBytes(64 * 1024);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ === 40) controller.close();
        else controller.enqueue(chunk);
      },
    });
    const res = await agent.edgeFetch(`/blobs/${newBlobId()}`, { method: "PUT", body });
    expect(res.status).toBe(507);
    expect(await agent.listFiles()).toEqual(["blobs/", "tmp/"]);
    expect(agent.store.stats).toEqual({ usedBytes: 0, blobCount: 0 });
  });

  // A real ENOSPC needs a small filesystem; mounting a tmpfs needs root, so elsewhere this is skipped.
  const canMount = process.platform === "linux" && process.getuid?.() === 0 && tryMountTmpfs();
  it.runIf(canMount)("answers 507 when the disk itself fills up, removes the temp file and keeps earlier blobs", async () => {
    const mountPoint = await makeDataDir();
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", mountPoint]);
    try {
      const agent = await start({ dataDir: mountPoint });
      const kept = newBlobId();
      const keptBytes = randomBytes(1024 * 1024);
      expect((await agent.edgeFetch(`/blobs/${kept}`, { method: "PUT", body: keptBytes })).status).toBe(201);

      const res = await agent.edgeFetch(`/blobs/${newBlobId()}`, { method: "PUT", body: randomBytes(6 * 1024 * 1024) });
      expect(res.status).toBe(507);
      expect(await res.json()).toMatchObject({ code: "InsufficientStorage" });
      expect(await tmpEntries(agent)).toEqual([]);
      expect(agent.store.stats).toEqual({ usedBytes: keptBytes.length, blobCount: 1 });
      const get = await agent.edgeFetch(`/blobs/${kept}`);
      expect(Buffer.from(await get.arrayBuffer()).equals(keptBytes)).toBe(true);
      await agent.stop({ keepData: true });
      started.splice(started.indexOf(agent), 1);
    } finally {
      execFileSync("umount", [mountPoint]);
      await rm(mountPoint, { recursive: true, force: true });
    }
  });
});

function tryMountTmpfs(): boolean {
  try {
    const probe = join("/tmp", `icn-mount-probe-${process.pid}`);
    execFileSync("mkdir", ["-p", probe]);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", probe], { stdio: "ignore" });
    execFileSync("umount", [probe]);
    execFileSync("rmdir", [probe]);
    return true;
  } catch {
    return false;
  }
}
