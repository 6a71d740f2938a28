// End to end: a network and data written by the previous release still start and read. That release ran the edge
// under `wrangler dev --persist-to <state>/wrangler-state`; this one runs the bundled Worker in workerd through
// Miniflare on the same files (edge-runtime.ts). The old state is produced here by the old way itself (the
// launcher's "wrangler-dev" runtime, kept for this), then the new launcher starts on that state dir.

import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { LocalNetwork } from "../../src/localnet/network.ts";
import { edgeS3Client, startTestNetwork } from "../helpers/test-support.ts";

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

let stateDir: string | undefined;
let running: LocalNetwork | undefined;
afterAll(async () => {
  await running?.stop();
  if (stateDir) await rm(stateDir, { recursive: true, force: true, maxRetries: 5 });
}, 60_000);

describe("upgrading from the release that ran the edge under wrangler dev", () => {
  it("starts on the old state dir with the same accounts, and reads every object back byte-identical", async () => {
    stateDir = await mkdtemp(join(tmpdir(), "icn-upgrade-e2e-"));
    const objects = new Map<string, Uint8Array>([
      ["small.txt", randomBytes(1_000)],
      ["dir/one-mib.bin", randomBytes(1024 * 1024)],
      ["five-mib.bin", randomBytes(5 * 1024 * 1024 + 7)],
    ]);

    // The previous release: wrangler dev, its D1 and Durable Object files under wrangler-state/.
    const old = await startTestNetwork("", { stateDir, nodeCount: 2, runtime: "wrangler-dev" });
    running = old.network;
    expect(old.d.worker.runtime).toBe("wrangler-dev");
    const oldClient = edgeS3Client(old.d);
    await oldClient.send(new CreateBucketCommand({ Bucket: "upgrade" }));
    for (const [key, body] of objects) await oldClient.send(new PutObjectCommand({ Bucket: "upgrade", Key: key, Body: body }));
    await old.network.stop();
    running = undefined;

    // This release on the same state dir.
    const current = await startTestNetwork("", { stateDir, nodeCount: 2 });
    running = current.network;
    expect(current.d.worker.runtime).toBe("workerd");
    // The accounts in network.json are still known to the edge's D1, so they are reused, not created again.
    expect(current.d.accounts.default.accessKeyId).toBe(old.d.accounts.default.accessKeyId);
    expect(current.d.nodes.map((n) => n.id)).toEqual(old.d.nodes.map((n) => n.id));

    const client = edgeS3Client(current.d);
    const listed = await client.send(new ListObjectsV2Command({ Bucket: "upgrade" }));
    expect((listed.Contents ?? []).map((o) => o.Key).sort()).toEqual([...objects.keys()].sort());
    for (const [key, body] of objects) {
      const got = await client.send(new GetObjectCommand({ Bucket: "upgrade", Key: key }));
      const bytes = await got.Body!.transformToByteArray();
      expect({ key, length: bytes.length, sha256: sha256(bytes) }).toEqual({ key, length: body.length, sha256: sha256(body) });
    }
    // And it still writes.
    await client.send(new PutObjectCommand({ Bucket: "upgrade", Key: "after-upgrade", Body: "new" }));
    const after = await client.send(new GetObjectCommand({ Bucket: "upgrade", Key: "after-upgrade" }));
    expect(await after.Body!.transformToString()).toBe("new");
  }, 300_000);
});
