// The edge's side of the blob API: every request to a node is SigV4-signed with that node's credentials
// (aws4fetch, service "s3" so the body streams as UNSIGNED-PAYLOAD). aws4fetch's own fetch() retries, which
// cannot replay a streamed body, so requests are signed with sign() and sent with plain fetch(). URLs are built
// with new URL() under the node's registered base (src/protocol/node-url.ts), and redirects are never followed:
// a node's 3xx is a failure, never a way to point the edge somewhere else.

import { EdgeError } from "../protocol/errors.ts";
import { AwsClient } from "aws4fetch";
import {
  blobPath,
  blobPutResponseSchema,
  NODE_BLOB_SERVICE,
  NODE_SIGV4_REGION,
  type BlobPutResponse,
  blobListingSchema,
  MERKLE_LEAF_BYTES_HEADER,
  type BlobListing,
  type ReconstructRequest,
  type ReplicateRequest,
} from "../protocol/node-protocol.ts";
import { nodeRequestUrl } from "../protocol/node-url.ts";
import type { BodyStage } from "./pipeline.ts";
import { limitedFetch } from "./connection-limit.ts";
import { openSecret } from "./secret-box.ts";

export interface NodeEndpoint {
  id: string;
  url: string;
  accessKeyId: string;
  secretEnc: string;
}

export class NodeRequestError extends EdgeError<"NodeRequestFailed", { nodeId: string; status: number }> {
  readonly nodeId: string;
  readonly status: number;
  constructor(nodeId: string, status: number, message: string) {
    super("NodeRequestFailed", `node ${nodeId}: ${message}`, { nodeId, status });
    this.name = "NodeRequestError";
    this.nodeId = nodeId;
    this.status = status;
  }
}

const clients = new Map<string, { secretEnc: string; client: Promise<AwsClient> }>();

async function awsClientFor(node: NodeEndpoint, kek: string): Promise<AwsClient> {
  const cached = clients.get(node.id);
  if (cached && cached.secretEnc === node.secretEnc) return cached.client;
  const client = openSecret(kek, node.secretEnc).then(
    (secretAccessKey) =>
      new AwsClient({ accessKeyId: node.accessKeyId, secretAccessKey, service: NODE_BLOB_SERVICE, region: NODE_SIGV4_REGION }),
  );
  clients.set(node.id, { secretEnc: node.secretEnc, client });
  return client;
}

/** A path under the node's public URL, keeping any path prefix (a node behind a proxy at /icn). */
function nodeUrl(node: NodeEndpoint, path: string, query?: Record<string, string>): string {
  return nodeRequestUrl(node.url, path, query).toString();
}

function blobUrl(node: NodeEndpoint, blobId: string, suffix = ""): string {
  return nodeUrl(node, `${blobPath(blobId)}${suffix}`);
}

/** Every request to a node: its redirects are answers (failures), never followed. */
function fetchNode(request: Request): Promise<Response> {
  return limitedFetch(request, { redirect: "manual" });
}

/**
 * Starts streaming a blob of `size` bytes to a node and returns the pipeline stage that feeds it.
 * `result` resolves once the node has fsynced the blob and answered 201.
 */
export async function startBlobUpload(
  node: NodeEndpoint,
  kek: string,
  blobId: string,
  size: number,
  options: { merkleLeafBytes?: number } = {},
): Promise<BlobUploadStage> {
  const aws = await awsClientFor(node, kek);
  const { readable, writable } = new FixedLengthStream(size);
  const headers: Record<string, string> = { "content-length": String(size) };
  if (options.merkleLeafBytes !== undefined) headers[MERKLE_LEAF_BYTES_HEADER] = String(options.merkleLeafBytes);
  const request = await aws.sign(blobUrl(node, blobId), { method: "PUT", body: readable, headers });
  return new BlobUploadStage(node.id, writable.getWriter(), fetchNode(request));
}

export class BlobUploadStage implements BodyStage {
  readonly nodeId: string;
  private readonly writer: WritableStreamDefaultWriter<Uint8Array>;
  private readonly response: Promise<Response>;
  /** Rejects as soon as the node answers early with an error, so writes never wait on a dead upload. */
  private readonly failedEarly: Promise<never>;
  private outcome?: BlobPutResponse;

  constructor(nodeId: string, writer: WritableStreamDefaultWriter<Uint8Array>, response: Promise<Response>) {
    this.nodeId = nodeId;
    this.writer = writer;
    this.response = response;
    this.failedEarly = response.then(
      async (r) => {
        if (r.ok) return new Promise<never>(() => {});
        throw new NodeRequestError(nodeId, r.status, await r.text().catch(() => ""));
      },
      (e) => {
        throw new NodeRequestError(nodeId, 0, String(e));
      },
    );
    this.failedEarly.catch(() => {});
  }

  async write(chunk: Uint8Array): Promise<void> {
    await Promise.race([this.writer.write(chunk), this.failedEarly]);
  }

  async finish(): Promise<void> {
    await Promise.race([this.writer.close(), this.failedEarly]);
    let res: Response;
    try {
      res = await this.response;
    } catch (e) {
      throw new NodeRequestError(this.nodeId, 0, String(e));
    }
    if (res.status !== 201) throw new NodeRequestError(this.nodeId, res.status, await res.text().catch(() => ""));
    this.outcome = blobPutResponseSchema.parse(await res.json());
  }

  abort(reason: unknown): void {
    void this.writer.abort(reason).catch(() => {});
  }

  /** What the node stored; only valid after `finish`. */
  get stored(): BlobPutResponse {
    if (!this.outcome) throw new Error("upload not finished");
    return this.outcome;
  }
}

/**
 * Runs `step` (a write, or the finish) on every upload at once and sorts them: those that succeeded, and those
 * that failed, each already aborted. Both fan-outs (replicas, pieces) keep their write quorum with this.
 */
export async function settleUploads<T>(
  uploads: readonly T[],
  stageOf: (upload: T) => BlobUploadStage,
  step: (upload: T) => Promise<void>,
): Promise<{ ok: T[]; failed: { upload: T; error: unknown }[] }> {
  const outcomes = await Promise.all(uploads.map((u) => step(u).then(() => ({ ok: true as const }), (error: unknown) => ({ ok: false as const, error }))));
  const ok: T[] = [];
  const failed: { upload: T; error: unknown }[] = [];
  outcomes.forEach((outcome, i) => {
    const upload = uploads[i]!;
    if (outcome.ok) ok.push(upload);
    else {
      const error = outcome.error ?? new Error("upload failed");
      stageOf(upload).abort(error);
      failed.push({ upload, error });
    }
  });
  return { ok, failed };
}

/** GETs a blob (optionally a byte range `start..end` inclusive) from a node. */
export async function fetchBlob(node: NodeEndpoint, kek: string, blobId: string, range?: { start: number; end: number }): Promise<Response> {
  const aws = await awsClientFor(node, kek);
  const headers: Record<string, string> = {};
  if (range) headers.range = `bytes=${range.start}-${range.end}`;
  const res = await fetchNode(await aws.sign(blobUrl(node, blobId), { method: "GET", headers }));
  if (res.status !== 200 && res.status !== 206) {
    throw new NodeRequestError(node.id, res.status, await res.text().catch(() => ""));
  }
  return res;
}

export async function deleteBlob(node: NodeEndpoint, kek: string, blobId: string): Promise<void> {
  const aws = await awsClientFor(node, kek);
  const res = await fetchNode(await aws.sign(blobUrl(node, blobId), { method: "DELETE" }));
  if (res.status !== 204 && res.status !== 404) throw new NodeRequestError(node.id, res.status, await res.text().catch(() => ""));
}

/** A presigned GET of a blob on `node`, for a peer node to pull during repair (valid for `expiresS`). */
export async function presignBlobGet(node: NodeEndpoint, kek: string, blobId: string, expiresS = 900): Promise<string> {
  const aws = await awsClientFor(node, kek);
  const url = nodeRequestUrl(node.url, blobPath(blobId), { "X-Amz-Expires": String(expiresS) });
  return (await aws.sign(url.toString(), { method: "GET", aws: { signQuery: true } })).url;
}

/** Asks `target` to pull a blob from a presigned source URL, verifying size and SHA-256 as it writes. */
export function replicateBlob(target: NodeEndpoint, kek: string, blobId: string, request: ReplicateRequest): Promise<BlobPutResponse> {
  return postToBlob(target, kek, blobId, "/replicate", request);
}

/** Asks `target` to rebuild one piece of an erasure-coded segment from k others and store it as `blobId`. */
export function reconstructPiece(target: NodeEndpoint, kek: string, blobId: string, request: ReconstructRequest): Promise<BlobPutResponse> {
  return postToBlob(target, kek, blobId, "/reconstruct", request);
}

/** POSTs a JSON request to one of a blob's actions on `target`; the node answers 201 with what it stored. */
async function postToBlob(target: NodeEndpoint, kek: string, blobId: string, action: string, request: unknown): Promise<BlobPutResponse> {
  const aws = await awsClientFor(target, kek);
  const res = await fetchNode(
    await aws.sign(blobUrl(target, blobId, action), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(request),
    }),
  );
  if (res.status !== 201) throw new NodeRequestError(target.id, res.status, await res.text().catch(() => ""));
  return blobPutResponseSchema.parse(await res.json());
}

/** One page of the blobs a node holds, in id order, starting after `after`. */
export async function listNodeBlobs(node: NodeEndpoint, kek: string, after?: string, limit = 1000): Promise<BlobListing> {
  const aws = await awsClientFor(node, kek);
  const url = nodeUrl(node, "/blobs", { ...(after ? { after } : {}), limit: String(limit) });
  const res = await fetchNode(await aws.sign(url, { method: "GET" }));
  if (res.status !== 200) throw new NodeRequestError(node.id, res.status, await res.text().catch(() => ""));
  return blobListingSchema.parse(await res.json());
}

/** Asks a node to start a scrub pass now (it reports its findings to the edge when done). */
export async function requestScrub(node: NodeEndpoint, kek: string): Promise<void> {
  const aws = await awsClientFor(node, kek);
  const res = await fetchNode(await aws.sign(nodeUrl(node, "/scrub"), { method: "POST" }));
  if (res.status !== 202) throw new NodeRequestError(node.id, res.status, await res.text().catch(() => ""));
}
