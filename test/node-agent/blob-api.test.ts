// The blob API as the edge uses it: bytes round-trip with their SHA-256, ranged reads, HEAD, delete.

import { randomBytes } from "node:crypto";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BLOB_SHA256_HEADER, blobPutResponseSchema } from "../../src/protocol/node-protocol.ts";
import { newBlobId, sha256, startInProcessAgent, waitUntil, type InProcessAgent } from "./support/in-process-agent.ts";

let agent: InProcessAgent;
beforeAll(async () => {
  agent = await startInProcessAgent();
});
afterAll(async () => {
  await agent?.stop();
});

async function putBlob(blobId: string, bytes: Uint8Array<ArrayBuffer>): Promise<Response> {
  return agent.edgeFetch(`/blobs/${blobId}`, { method: "PUT", body: bytes, headers: { "content-length": String(bytes.length) } });
}

describe("blob round trip", () => {
  for (const size of [0, 1, 3 * 1024 * 1024 + 17]) {
    it(`stores a ${size}-byte blob and returns the same bytes with their sha256`, async () => {
      const bytes = randomBytes(size);
      const blobId = newBlobId();

      const put = await putBlob(blobId, bytes);
      expect(put.status).toBe(201);
      const stored = blobPutResponseSchema.parse(await put.json());
      expect(stored).toEqual({ blobId, size, sha256: sha256(bytes) });
      expect(put.headers.get(BLOB_SHA256_HEADER)).toBe(sha256(bytes));

      const get = await agent.edgeFetch(`/blobs/${blobId}`);
      expect(get.status).toBe(200);
      expect(get.headers.get("content-length")).toBe(String(size));
      expect(get.headers.get(BLOB_SHA256_HEADER)).toBe(sha256(bytes));
      expect(get.headers.get("accept-ranges")).toBe("bytes");
      expect(Buffer.from(await get.arrayBuffer()).equals(bytes)).toBe(true);
    });
  }

  it("streams a large chunked upload to disk while it is still arriving instead of buffering it", async () => {
    const blobId = newBlobId();
    const chunk = randomBytes(1024 * 1024);
    const totalChunks = 64;
    let sent = 0;
    let firstHalfOnDisk!: () => void;
    const halfOnDisk = new Promise<void>((resolve) => (firstHalfOnDisk = resolve));
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent === totalChunks / 2) await halfOnDisk;
        if (sent === totalChunks) return controller.close();
        sent++;
        controller.enqueue(chunk);
      },
    });
    const upload = agent.edgeFetch(`/blobs/${blobId}`, { method: "PUT", body });

    // The first half must reach a temp file before the client has even produced the second half.
    await waitUntil(async () => (await tmpBytes()) >= (totalChunks / 2) * chunk.length * 0.9, 10_000, "first half on disk");
    firstHalfOnDisk();

    const put = await upload;
    expect(put.status).toBe(201);
    const expected = sha256(Buffer.concat(Array.from({ length: totalChunks }, () => chunk)));
    expect(await put.json()).toEqual({ blobId, size: totalChunks * chunk.length, sha256: expected });
    const head = await agent.edgeFetch(`/blobs/${blobId}`, { method: "HEAD" });
    expect(head.headers.get(BLOB_SHA256_HEADER)).toBe(expected);
  });

  it("replaces a blob when the same id is written again, and counts it once", async () => {
    const blobId = newBlobId();
    const before = agent.store.stats;
    expect((await putBlob(blobId, Buffer.from("first version"))).status).toBe(201);
    expect((await putBlob(blobId, Buffer.from("second"))).status).toBe(201);
    const get = await agent.edgeFetch(`/blobs/${blobId}`);
    expect(await get.text()).toBe("second");
    expect(agent.store.stats).toEqual({ usedBytes: before.usedBytes + 6, blobCount: before.blobCount + 1 });
  });
});

describe("ranged reads", () => {
  const bytes = randomBytes(1000);
  const blobId = newBlobId();
  beforeAll(async () => {
    expect((await putBlob(blobId, bytes)).status).toBe(201);
  });

  const cases: [string, number, number][] = [
    ["bytes=100-199", 100, 199],
    ["bytes=990-", 990, 999],
    ["bytes=-10", 990, 999],
    ["bytes=0-0", 0, 0],
    ["bytes=900-5000", 900, 999],
    ["bytes=-5000", 0, 999],
  ];
  for (const [range, start, end] of cases) {
    it(`answers ${range} with 206 and bytes ${start}-${end}`, async () => {
      const res = await agent.edgeFetch(`/blobs/${blobId}`, { headers: { range } });
      expect(res.status).toBe(206);
      expect(res.headers.get("content-range")).toBe(`bytes ${start}-${end}/1000`);
      expect(res.headers.get("content-length")).toBe(String(end - start + 1));
      expect(res.headers.get(BLOB_SHA256_HEADER)).toBe(sha256(bytes));
      expect(Buffer.from(await res.arrayBuffer()).equals(bytes.subarray(start, end + 1))).toBe(true);
    });
  }

  for (const range of ["bytes=1000-", "bytes=5000-6000", "bytes=-0"]) {
    it(`refuses the unsatisfiable ${range} with 416 InvalidRange`, async () => {
      const res = await agent.edgeFetch(`/blobs/${blobId}`, { headers: { range } });
      expect(res.status).toBe(416);
      expect(res.headers.get("content-range")).toBe("bytes */1000");
      expect(await res.json()).toMatchObject({ code: "InvalidRange" });
    });
  }

  it("serves the whole blob when the Range header is not one it understands", async () => {
    const res = await agent.edgeFetch(`/blobs/${blobId}`, { headers: { range: "bytes=0-1,5-6" } });
    expect(res.status).toBe(200);
    expect((await res.arrayBuffer()).byteLength).toBe(1000);
  });

  it("answers HEAD with the same headers as GET and no body", async () => {
    const res = await agent.edgeFetch(`/blobs/${blobId}`, { method: "HEAD", headers: { range: "bytes=10-19" } });
    expect(res.status).toBe(206);
    expect(res.headers.get("content-length")).toBe("10");
    expect(res.headers.get("content-range")).toBe("bytes 10-19/1000");
    expect(res.headers.get(BLOB_SHA256_HEADER)).toBe(sha256(bytes));
    expect(await res.text()).toBe("");
  });
});

describe("missing blobs and deletes", () => {
  it("answers 404 NoSuchBlob for a blob it does not hold", async () => {
    const res = await agent.edgeFetch(`/blobs/${newBlobId()}`);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: "NoSuchBlob" });
    const head = await agent.edgeFetch(`/blobs/${newBlobId()}`, { method: "HEAD" });
    expect(head.status).toBe(404);
  });

  it("deletes a blob, its sidecar and its tree, and answers 204 again when it is already gone", async () => {
    const blobId = newBlobId();
    expect((await putBlob(blobId, Buffer.from("to be deleted"))).status).toBe(201);
    const fanout = join(agent.dataDir, "blobs", blobId.slice(-2));
    const stored = `blobs/${blobId.slice(-2)}/${blobId}`;
    expect((await agent.listFiles()).filter((f) => f.includes(blobId))).toEqual([stored, `${stored}.meta.json`, `${stored}.tree`]);
    const before = agent.store.stats;

    expect((await agent.edgeFetch(`/blobs/${blobId}`, { method: "DELETE" })).status).toBe(204);
    expect((await agent.listFiles()).filter((f) => f.includes(blobId))).toEqual([]);
    expect((await stat(fanout)).isDirectory()).toBe(true);
    expect(agent.store.stats).toEqual({ usedBytes: before.usedBytes - 13, blobCount: before.blobCount - 1 });
    expect((await agent.edgeFetch(`/blobs/${blobId}`)).status).toBe(404);

    expect((await agent.edgeFetch(`/blobs/${blobId}`, { method: "DELETE" })).status).toBe(204);
    expect(agent.store.stats).toEqual({ usedBytes: before.usedBytes - 13, blobCount: before.blobCount - 1 });
  });

  it("answers GET /health unsigned with the node id", async () => {
    const res = await fetch(`${agent.url}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, nodeId: "node_00112233aabbccdd" });
  });
});

async function tmpBytes(): Promise<number> {
  let total = 0;
  for (const name of await agent.listFiles()) {
    if (name.startsWith("tmp/") && !name.endsWith("/")) total += (await stat(join(agent.dataDir, name)).catch(() => ({ size: 0 }))).size;
  }
  return total;
}
