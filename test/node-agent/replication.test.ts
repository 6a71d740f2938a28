// Repair between nodes: the edge presigns a GET on a node that holds a blob and asks another node to pull it.
// What must hold: the copy is byte-identical or absent, a bad source never leaves a partial blob, and only the
// edge can start a pull.

import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BLOB_SHA256_HEADER, blobPutResponseSchema, type ReplicateRequest } from "../../src/protocol/node-protocol.ts";
import { toAmzDate } from "../../src/protocol/sigv4.ts";
import { ByteRateLimiter, MIB } from "../../node-agent/src/rate-limiter.ts";
import { edgeSigner, newBlobId, sha256, startInProcessAgent, type InProcessAgent } from "./support/in-process-agent.ts";

let source: InProcessAgent;
let target: InProcessAgent;
let stored: { blobId: string; bytes: Buffer<ArrayBuffer> };
const fakeSources: FakeSource[] = [];

beforeAll(async () => {
  source = await startInProcessAgent();
  target = await startInProcessAgent({ replication: { idleTimeoutMs: 300 } });
  stored = { blobId: newBlobId(), bytes: randomBytes(3 * MIB + 17) };
  expect((await source.edgeFetch(`/blobs/${stored.blobId}`, { method: "PUT", body: stored.bytes })).status).toBe(201);
});
afterAll(async () => {
  await Promise.all([source?.stop(), target?.stop(), ...fakeSources.map((s) => s.close())]);
});

/** What the edge hands a peer: a GET on `agent` presigned with that node's credentials (aws4fetch signQuery). */
async function presignedGet(agent: InProcessAgent, blobId: string, options: { expiresSeconds?: number; signedAt?: Date } = {}): Promise<string> {
  const url = `${agent.url}/blobs/${blobId}?X-Amz-Expires=${options.expiresSeconds ?? 300}`;
  const aws = { signQuery: true, ...(options.signedAt ? { datetime: toAmzDate(options.signedAt) } : {}) };
  return (await edgeSigner(agent.credentials).sign(url, { method: "GET", aws })).url;
}

function replicate(agent: InProcessAgent, blobId: string, request: ReplicateRequest | unknown): Promise<Response> {
  return agent.edgeFetch(`/blobs/${blobId}/replicate`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(request),
  });
}

/** Runs `request` and asserts the refusal and that the target's data dir is exactly as before. */
async function expectNothingStored(agent: InProcessAgent, blobId: string, request: () => Promise<Response>, status: number, code: string): Promise<void> {
  const before = await agent.listFiles();
  const statsBefore = agent.store.stats;
  const res = await request();
  expect(res.status).toBe(status);
  expect(await res.json()).toMatchObject({ code });
  expect(await agent.listFiles()).toEqual(before);
  expect(agent.store.stats).toEqual(statsBefore);
  expect((await agent.edgeFetch(`/blobs/${blobId}`, { method: "HEAD" })).status).toBe(404);
}

interface FakeSource {
  url: string;
  requests: number;
  close(): Promise<void>;
}

/** A misbehaving peer: answers every request with `respond`. */
async function fakeSource(respond: (req: IncomingMessage, res: ServerResponse) => void): Promise<FakeSource> {
  const server: Server = createServer((req, res) => {
    state.requests++;
    respond(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const state: FakeSource = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/blobs/whatever`,
    requests: 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  fakeSources.push(state);
  return state;
}

describe("replicating a blob from a peer", () => {
  it("copies the blob through a presigned GET: the target serves the same bytes and sha256", async () => {
    const { blobId, bytes } = stored;
    const res = await replicate(target, blobId, { sourceUrl: await presignedGet(source, blobId), sha256: sha256(bytes), size: bytes.length });
    expect(res.status).toBe(201);
    expect(blobPutResponseSchema.parse(await res.json())).toEqual({ blobId, size: bytes.length, sha256: sha256(bytes) });
    expect(res.headers.get(BLOB_SHA256_HEADER)).toBe(sha256(bytes));

    const get = await target.edgeFetch(`/blobs/${blobId}`);
    expect(get.headers.get(BLOB_SHA256_HEADER)).toBe(sha256(bytes));
    expect(Buffer.from(await get.arrayBuffer()).equals(bytes)).toBe(true);
    expect(target.store.stats).toEqual({ usedBytes: bytes.length, blobCount: 1 });
  });

  it("answers 201 at once, without contacting the source, when it already holds the blob", async () => {
    const { blobId, bytes } = stored;
    const unreachable = await fakeSource((_req, res) => res.writeHead(500).end());
    const before = await target.listFiles();
    const res = await replicate(target, blobId, { sourceUrl: unreachable.url, sha256: sha256(bytes), size: bytes.length });
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ blobId, size: bytes.length, sha256: sha256(bytes) });
    expect(unreachable.requests).toBe(0);
    expect(await target.listFiles()).toEqual(before);
  });

  it("refuses with 422 BadDigest, storing nothing, when the bytes do not hash to the sha256 asked for", async () => {
    const { blobId, bytes } = stored;
    const other = newBlobId();
    // The source still announces its own hash; with the header gone the body itself must be checked.
    const sourceUrl = await presignedGet(source, blobId);
    const stripping = await fakeSource((_req, res) => {
      void fetch(sourceUrl).then(async (upstream) => {
        res.writeHead(200, { "content-length": String(bytes.length) }).end(Buffer.from(await upstream.arrayBuffer()));
      });
    });
    const wrongSha = sha256(Buffer.from("something else"));
    await expectNothingStored(target, other, () => replicate(target, other, { sourceUrl, sha256: wrongSha, size: bytes.length }), 422, "BadDigest");
    await expectNothingStored(target, other, () => replicate(target, other, { sourceUrl: stripping.url, sha256: wrongSha, size: bytes.length }), 422, "BadDigest");
  });

  it("refuses with 422 BadDigest when the source holds fewer bytes than expected", async () => {
    const other = newBlobId();
    const half = stored.bytes.subarray(0, stored.bytes.length / 2);
    // Chunked, so the shortfall only shows when the body ends.
    const short = await fakeSource((_req, res) => {
      res.writeHead(200, { "content-type": "application/octet-stream" });
      res.end(half);
    });
    const request = { sourceUrl: short.url, sha256: sha256(stored.bytes), size: stored.bytes.length };
    await expectNothingStored(target, other, () => replicate(target, other, request), 422, "BadDigest");
  });

  it("answers 502 SourceFailed, storing nothing and leaving no temp file, when the source cuts the transfer short", async () => {
    const other = newBlobId();
    const cut = await fakeSource((_req, res) => {
      res.writeHead(200, { "content-length": String(stored.bytes.length) });
      res.write(stored.bytes.subarray(0, MIB), () => setTimeout(() => res.socket?.destroy(), 20));
    });
    const request = { sourceUrl: cut.url, sha256: sha256(stored.bytes), size: stored.bytes.length };
    await expectNothingStored(target, other, () => replicate(target, other, request), 502, "SourceFailed");
  });

  it("answers 502 SourceFailed when the source stalls, refuses, or cannot be reached", async () => {
    const { blobId, bytes } = stored;
    const other = newBlobId();
    const expect502 = (sourceUrl: string) =>
      expectNothingStored(target, other, () => replicate(target, other, { sourceUrl, sha256: sha256(bytes), size: bytes.length }), 502, "SourceFailed");

    const stalled = await fakeSource((_req, res) => {
      res.writeHead(200, { "content-length": String(bytes.length) });
      res.write(bytes.subarray(0, 1000)); // and then nothing: the target's 300 ms idle timeout must end it
    });
    const started = Date.now();
    await expect502(stalled.url);
    expect(Date.now() - started).toBeLessThan(5_000);

    // Presigned with the wrong node's credentials: the source refuses it.
    const forged = (await edgeSigner(target.credentials).sign(`${source.url}/blobs/${blobId}`, { method: "GET", aws: { signQuery: true } })).url;
    await expect502(forged);
    await expect502(await presignedGet(source, newBlobId())); // the source does not have it

    const gone = await fakeSource(() => {});
    await gone.close();
    await expect502(gone.url);
  });

  it("refuses an unsigned replicate request with 403 and never contacts the source", async () => {
    const watched = await fakeSource((_req, res) => res.writeHead(200).end(stored.bytes));
    const other = newBlobId();
    const body = JSON.stringify({ sourceUrl: watched.url, sha256: sha256(stored.bytes), size: stored.bytes.length });
    await expectNothingStored(
      target,
      other,
      () => fetch(`${target.url}/blobs/${other}/replicate`, { method: "POST", headers: { "content-type": "application/json" }, body }),
      403,
      "AccessDenied",
    );
    // Signed for another node is no better.
    const stranger = edgeSigner(source.credentials);
    await expectNothingStored(
      target,
      other,
      async () => fetch(await stranger.sign(`${target.url}/blobs/${other}/replicate`, { method: "POST", body })),
      403,
      "InvalidAccessKeyId",
    );
    expect(watched.requests).toBe(0);
  });

  it("checks a replicate body against the SHA-256 the edge signed for it, when it signed one", async () => {
    const { blobId, bytes } = stored;
    const other = newBlobId();
    const body = JSON.stringify({ sourceUrl: await presignedGet(source, blobId), sha256: sha256(bytes), size: bytes.length });
    const signedFor = (text: string) => ({ "x-amz-content-sha256": sha256(Buffer.from(text)), "content-type": "application/json" });
    const tampered = body.replace(`"size":${bytes.length}`, `"size":${bytes.length - 1}`);
    await expectNothingStored(
      target,
      other,
      () => target.edgeFetch(`/blobs/${other}/replicate`, { method: "POST", body: tampered, headers: signedFor(body) }),
      400,
      "XAmzContentSHA256Mismatch",
    );
    const res = await target.edgeFetch(`/blobs/${other}/replicate`, { method: "POST", body, headers: signedFor(body) });
    expect(res.status).toBe(201);
    expect((await target.edgeFetch(`/blobs/${other}`, { method: "DELETE" })).status).toBe(204);
  });

  it("answers 400 to a malformed replicate request", async () => {
    const other = newBlobId();
    const good = { sourceUrl: "http://127.0.0.1:9/blobs/x", sha256: sha256(stored.bytes), size: 5 };
    for (const bad of [
      { ...good, sha256: "ABC" },
      { ...good, size: -1 },
      { ...good, sourceUrl: "ftp://127.0.0.1/blob" },
      { sha256: good.sha256, size: 5 },
    ]) {
      await expectNothingStored(target, other, () => replicate(target, other, bad), 400, "InvalidRequest");
    }
    await expectNothingStored(target, other, () => target.edgeFetch(`/blobs/${other}/replicate`, { method: "POST", body: "{not json" }), 400, "InvalidRequest");
  });

  it("refuses with 400 SourceRefused, never contacting it, a source on a private address unless allowed, and never follows a redirect", async () => {
    const strict = await startInProcessAgent({ replication: { allowPrivateSources: false } });
    try {
      const peer = await fakeSource((_req, res) => res.writeHead(500).end());
      fakeSources.push(peer);
      const request = { sourceUrl: peer.url, sha256: sha256(stored.bytes), size: stored.bytes.length };
      await expectNothingStored(strict, stored.blobId, () => replicate(strict, stored.blobId, request), 400, "SourceRefused");
      for (const sourceUrl of ["http://169.254.169.254/latest/meta-data", "http://[::ffff:7f00:1]:9/x", "http://0x7f.1:9/x", "http://node.localhost:9/x"]) {
        await expectNothingStored(strict, stored.blobId, () => replicate(strict, stored.blobId, { ...request, sourceUrl }), 400, "SourceRefused");
      }
      expect(peer.requests).toBe(0);
    } finally {
      await strict.stop();
    }
    // A peer that redirects (here to a real holder of the blob) is a failed source, not a way elsewhere.
    const blob = { blobId: newBlobId(), bytes: randomBytes(4096) };
    expect((await source.edgeFetch(`/blobs/${blob.blobId}`, { method: "PUT", body: blob.bytes })).status).toBe(201);
    const holder = await presignedGet(source, blob.blobId);
    const redirecting = await fakeSource((_req, res) => res.writeHead(302, { location: holder }).end());
    fakeSources.push(redirecting);
    const request = { sourceUrl: redirecting.url, sha256: sha256(blob.bytes), size: blob.bytes.length };
    await expectNothingStored(target, blob.blobId, () => replicate(target, blob.blobId, request), 502, "SourceFailed");
  });

  it("paces pulls to the repair bandwidth cap", async () => {
    const capped = await startInProcessAgent({ replication: { bandwidth: new ByteRateLimiter(4 * MIB) } });
    try {
      const blobId = newBlobId();
      const bytes = randomBytes(2 * MIB);
      expect((await source.edgeFetch(`/blobs/${blobId}`, { method: "PUT", body: bytes })).status).toBe(201);
      const started = performance.now();
      const res = await replicate(capped, blobId, { sourceUrl: await presignedGet(source, blobId), sha256: sha256(bytes), size: bytes.length });
      const seconds = (performance.now() - started) / 1000;
      expect(res.status).toBe(201);
      expect(seconds).toBeGreaterThanOrEqual(0.9 * (2 / 4));
    } finally {
      await capped.stop();
    }
  });
});

describe("presigned GETs from peers", () => {
  it("serves a GET presigned with the node's own credentials, to anyone holding the URL", async () => {
    const res = await fetch(await presignedGet(source, stored.blobId));
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(stored.bytes)).toBe(true);
  });

  it("refuses an expired presigned GET with 403", async () => {
    const expired = await presignedGet(source, stored.blobId, { expiresSeconds: 60, signedAt: new Date(Date.now() - 5 * 60_000) });
    const res = await fetch(expired);
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ code: "AccessDenied", message: "Request has expired" });
  });

  it("refuses a presigned URL used for another blob or another method", async () => {
    const url = new URL(await presignedGet(source, stored.blobId));
    const otherBlob = new URL(url);
    otherBlob.pathname = `/blobs/${newBlobId()}`;
    expect((await fetch(otherBlob)).status).toBe(403);
    expect((await fetch(url, { method: "DELETE" })).status).toBe(403);
    expect((await source.edgeFetch(`/blobs/${stored.blobId}`, { method: "HEAD" })).status).toBe(200);
  });
});
