// GET /blobs: the edge pages through every blob a node holds (to find orphans) and must see each exactly once,
// in order, described by its sidecar.

import { createHash } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomHex } from "../../src/protocol/crypto.ts";
import { blobListingSchema, type BlobListing } from "../../src/protocol/node-protocol.ts";
import { makeDataDir, startInProcessAgent, type InProcessAgent } from "./support/in-process-agent.ts";

interface Fixture {
  blobId: string;
  size: number;
  sha256: string;
  createdAt: number;
}

let agent: InProcessAgent;
const fixtures: Fixture[] = [];

/**
 * 2,500 blobs written straight into the store's layout (fsyncing each through the API would take seconds):
 * 1,500 edge-style ids, which crowd 16 fan-out directories, 1,000 spread over many, and a few ids that only
 * differ in '-', digits and '_', which sort in that (byte) order.
 */
beforeAll(async () => {
  const dataDir = await makeDataDir();
  const ids = new Set<string>(["a-00000000000000000", "a000000000000000000", "a_00000000000000000"]);
  while (ids.size < 1_503) ids.add(`b${randomHex(16)}`);
  while (ids.size < 2_500) ids.add(randomHex(12));
  const createdAt = Date.parse("2025-01-02T03:04:05.678Z");
  const all = [...ids];
  for (const fanout of new Set(all.map((id) => id.slice(-2)))) await mkdir(join(dataDir, "blobs", fanout), { recursive: true });
  const writeBlob = async (blobId: string, i: number) => {
    const bytes = Buffer.from(`blob ${i} ${blobId}`.repeat((i % 5) + 1));
    const record = { blobId, size: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex"), createdAt: new Date(createdAt + i).toISOString() };
    const dir = join(dataDir, "blobs", blobId.slice(-2));
    await Promise.all([writeFile(join(dir, blobId), bytes), writeFile(join(dir, `${blobId}.meta.json`), JSON.stringify(record))]);
    fixtures.push({ blobId, size: record.size, sha256: record.sha256, createdAt: createdAt + i });
  };
  for (let i = 0; i < all.length; i += 100) await Promise.all(all.slice(i, i + 100).map((blobId, j) => writeBlob(blobId, i + j)));
  fixtures.sort((a, b) => (a.blobId < b.blobId ? -1 : 1));
  agent = await startInProcessAgent({ dataDir });
});
afterAll(async () => {
  await agent?.stop();
});

async function listPage(query: string): Promise<BlobListing> {
  const res = await agent.edgeFetch(`/blobs${query}`);
  expect(res.status).toBe(200);
  return blobListingSchema.parse(await res.json());
}

/** Follows `next` from the start; bounded so a listing that never ends fails instead of hanging. */
async function listEverything(limit: number | undefined): Promise<{ ids: string[]; pages: number; listed: BlobListing["blobs"] }> {
  const listed: BlobListing["blobs"] = [];
  let after: string | undefined;
  let pages = 0;
  for (; pages < 1_000; ) {
    const params = new URLSearchParams();
    if (after !== undefined) params.set("after", after);
    if (limit !== undefined) params.set("limit", String(limit));
    const page = await listPage(params.size > 0 ? `?${params}` : "");
    pages++;
    expect(page.blobs.length).toBeLessThanOrEqual(limit ?? 1000);
    listed.push(...page.blobs);
    if (page.next === undefined) break;
    after = page.next;
  }
  return { ids: listed.map((b) => b.blobId), pages, listed };
}

describe("listing a node's blobs", () => {
  it("pages through 2,500 blobs in pages of 1,000, each exactly once, in ascending order, as their sidecars describe them", async () => {
    const { listed, pages } = await listEverything(undefined);
    expect(pages).toBe(3);
    expect(listed).toEqual(fixtures);
  });

  it("gives the same sequence in small pages, and an empty last page after the final id", async () => {
    const { ids, pages } = await listEverything(37);
    expect(pages).toBe(Math.ceil(2_500 / 37));
    expect(ids).toEqual(fixtures.map((f) => f.blobId));
    expect(await listPage(`?after=${fixtures.at(-1)!.blobId}`)).toEqual({ blobs: [] });
  });

  it("starts right after `after`, even when that id is not stored", async () => {
    const page = await listPage("?after=b8000000000000000&limit=5");
    const expected = fixtures.filter((f) => f.blobId > "b8000000000000000").slice(0, 5);
    expect(page.blobs).toEqual(expected);
    expect(page.next).toBe(expected.at(-1)!.blobId);
  });

  it("leaves out half-lost blobs: a sidecar without its data", async () => {
    const lost = `c${randomHex(16)}`;
    const dir = join(agent.dataDir, "blobs", lost.slice(-2));
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, `${lost}.meta.json`), JSON.stringify({ blobId: lost, size: 1, sha256: "0".repeat(64), createdAt: new Date().toISOString() }));
    const page = await listPage("?after=c000000000000000&limit=1000");
    expect(page.blobs.map((b) => b.blobId)).not.toContain(lost);
  });

  it("answers 400 to a limit outside 1..1000 or a malformed cursor, and 403 to an unsigned listing", async () => {
    for (const query of ["?limit=0", "?limit=1001", "?limit=ten", "?limit=1.5", "?after=NOT-AN-ID", "?after=short"]) {
      const res = await agent.edgeFetch(`/blobs${query}`);
      expect(res.status, query).toBe(400);
      expect(await res.json()).toMatchObject({ code: "InvalidRequest" });
    }
    const unsigned = await fetch(`${agent.url}/blobs`);
    expect(unsigned.status).toBe(403);
  });
});
