// Only the edge may use a node: every blob request needs a valid SigV4 signature made with this node's
// credentials, and a refused request never creates, reads or deletes a file.

import { randomBytes } from "node:crypto";
import { AwsClient } from "aws4fetch";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/protocol/crypto.ts";
import { toAmzDate } from "../../src/protocol/sigv4.ts";
import { edgeSigner, newBlobId, startInProcessAgent, type InProcessAgent } from "./support/in-process-agent.ts";

let agent: InProcessAgent;
let existingBlobId: string;
beforeAll(async () => {
  agent = await startInProcessAgent();
  existingBlobId = newBlobId();
  const put = await agent.edgeFetch(`/blobs/${existingBlobId}`, { method: "PUT", body: "precious bytes" });
  expect(put.status).toBe(201);
});
afterAll(async () => {
  await agent?.stop();
});

/** Runs `request` and asserts it was refused with `status`/`code` and the data dir is exactly as before. */
async function expectRefusedWithoutTouchingFiles(request: () => Promise<Response>, status: number, code: string): Promise<void> {
  const before = await agent.listFiles();
  const res = await request();
  expect(res.status).toBe(status);
  expect(await res.json()).toMatchObject({ code });
  expect(await agent.listFiles()).toEqual(before);
  const stillThere = await agent.edgeFetch(`/blobs/${existingBlobId}`);
  expect(await stillThere.text()).toBe("precious bytes");
}

function signerWith(overrides: Partial<ConstructorParameters<typeof AwsClient>[0]>): AwsClient {
  return new AwsClient({ ...agent.credentials, service: "s3", region: "icn", ...overrides });
}

const body = () => randomBytes(256 * 1024);

describe("requests the edge did not sign", () => {
  it("refuses an unsigned PUT with 403 AccessDenied and writes nothing", async () => {
    await expectRefusedWithoutTouchingFiles(() => fetch(`${agent.url}/blobs/${newBlobId()}`, { method: "PUT", body: body() }), 403, "AccessDenied");
  });

  it("refuses an unsigned GET and an unsigned DELETE, leaving the blob in place", async () => {
    await expectRefusedWithoutTouchingFiles(() => fetch(`${agent.url}/blobs/${existingBlobId}`), 403, "AccessDenied");
    await expectRefusedWithoutTouchingFiles(() => fetch(`${agent.url}/blobs/${existingBlobId}`, { method: "DELETE" }), 403, "AccessDenied");
  });

  it("refuses a request whose signature was tampered with", async () => {
    const signed = await edgeSigner(agent.credentials).sign(`${agent.url}/blobs/${existingBlobId}`, { method: "DELETE" });
    const headers = new Headers(signed.headers);
    headers.set("authorization", headers.get("authorization")!.replace(/Signature=([0-9a-f])/, (_m, c: string) => `Signature=${c === "0" ? "1" : "0"}`));
    await expectRefusedWithoutTouchingFiles(() => fetch(signed.url, { method: "DELETE", headers }), 403, "SignatureDoesNotMatch");
  });

  it("refuses a request signed with the wrong secret", async () => {
    const forger = signerWith({ secretAccessKey: "not-the-node-secret-000000000000000000000" });
    await expectRefusedWithoutTouchingFiles(
      async () => fetch(await forger.sign(`${agent.url}/blobs/${newBlobId()}`, { method: "PUT", body: body() })),
      403,
      "SignatureDoesNotMatch",
    );
  });

  it("refuses a request signed with another access key id", async () => {
    const stranger = signerWith({ accessKeyId: "NKSOMEOTHERNODE00" });
    await expectRefusedWithoutTouchingFiles(
      async () => fetch(await stranger.sign(`${agent.url}/blobs/${existingBlobId}`, { method: "DELETE" })),
      403,
      "InvalidAccessKeyId",
    );
  });

  it("refuses a request signed 20 minutes ago", async () => {
    const twentyMinutesAgo = toAmzDate(new Date(Date.now() - 20 * 60 * 1000));
    const signer = edgeSigner(agent.credentials);
    await expectRefusedWithoutTouchingFiles(
      async () => fetch(await signer.sign(`${agent.url}/blobs/${existingBlobId}`, { method: "DELETE", aws: { datetime: twentyMinutesAgo } })),
      403,
      "RequestTimeTooSkewed",
    );
  });

  it("refuses a signature replayed against another blob", async () => {
    const signed = await edgeSigner(agent.credentials).sign(`${agent.url}/blobs/${newBlobId()}`, { method: "DELETE" });
    await expectRefusedWithoutTouchingFiles(
      () => fetch(`${agent.url}/blobs/${existingBlobId}`, { method: "DELETE", headers: signed.headers }),
      403,
      "SignatureDoesNotMatch",
    );
  });

  it("refuses a request signed for the control service instead of the blob service", async () => {
    const control = signerWith({ service: "icn" });
    await expectRefusedWithoutTouchingFiles(
      async () => fetch(await control.sign(`${agent.url}/blobs/${existingBlobId}`, { method: "DELETE", headers: { "x-amz-content-sha256": "UNSIGNED-PAYLOAD" } })),
      403,
      "AuthorizationHeaderMalformed",
    );
  });
});

describe("bodies and blob ids", () => {
  it("refuses a body that does not match the SHA-256 the edge signed, storing nothing", async () => {
    const blobId = newBlobId();
    const signedFor = await sha256Hex("the bytes the edge meant");
    await expectRefusedWithoutTouchingFiles(
      async () =>
        fetch(
          await edgeSigner(agent.credentials).sign(`${agent.url}/blobs/${blobId}`, {
            method: "PUT",
            body: "some other bytes",
            headers: { "x-amz-content-sha256": signedFor },
          }),
        ),
      400,
      "XAmzContentSHA256Mismatch",
    );
    expect((await agent.edgeFetch(`/blobs/${blobId}`)).status).toBe(404);
  });

  it("accepts a body signed with its real SHA-256", async () => {
    const blobId = newBlobId();
    const res = await agent.edgeFetch(`/blobs/${blobId}`, {
      method: "PUT",
      body: "signed in full",
      headers: { "x-amz-content-sha256": await sha256Hex("signed in full") },
    });
    expect(res.status).toBe(201);
  });

  for (const [label, blobId] of [
    ["a path-traversal id", "..%2F..%2Fetc%2Fpasswd"],
    ["an encoded traversal inside an id", "abcdefghijklmnop%2F..%2F..%2Fx"],
    ["an uppercase id", "BLOB-0123456789ABCDEF"],
    ["a too-short id", "abc123"],
    ["an id with a dot", "blob.0123456789abcdef"],
  ] as const) {
    it(`answers 400 InvalidBlobId to a signed PUT, GET and DELETE with ${label}, touching no file`, async () => {
      await expectRefusedWithoutTouchingFiles(() => agent.edgeFetch(`/blobs/${blobId}`, { method: "PUT", body: body() }), 400, "InvalidBlobId");
      await expectRefusedWithoutTouchingFiles(() => agent.edgeFetch(`/blobs/${blobId}`), 400, "InvalidBlobId");
      await expectRefusedWithoutTouchingFiles(() => agent.edgeFetch(`/blobs/${blobId}`, { method: "DELETE" }), 400, "InvalidBlobId");
    });
  }
});

describe("before registration", () => {
  it("answers signed blob requests with 503 until the node has credentials, but still serves /health", async () => {
    const pending = await startInProcessAgent({ unregistered: true });
    try {
      const before = await pending.listFiles();
      const res = await pending.edgeFetch(`/blobs/${newBlobId()}`, { method: "PUT", body: "early" });
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ code: "NotRegistered" });
      expect(await pending.listFiles()).toEqual(before);
      expect((await fetch(`${pending.url}/health`)).status).toBe(200);
    } finally {
      await pending.stop();
    }
  });
});
