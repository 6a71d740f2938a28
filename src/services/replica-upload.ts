// One unique replica on its way to its node: the sealed blob masked for that node (replica-mask.ts), its Merkle
// root computed from the masked bytes as they leave, and the node asked for the root of what it stored. The write
// path fans a segment out to several of these; repair and the audit-roots chore copy an existing replica into one.

import { hex } from "../protocol/crypto.ts";
import { SHARD_BYTES } from "../protocol/piece-layout.ts";
import { BlobTreeStage } from "./blob-tree.ts";
import { deleteBlob, fetchBlob, NodeRequestError, startBlobUpload, type BlobUploadStage, type NodeEndpoint } from "./node-client.ts";
import type { BlobReplica } from "./object-model.ts";
import { DigestStage, readChunks, type BodyStage } from "./pipeline.ts";
import { maskOf, REPLICA_MASK, ReplicaMask } from "./replica-mask.ts";

export class ReplicaUpload implements BodyStage {
  readonly nodeId: string;
  readonly blobId: string;
  readonly size: number;
  readonly upload: BlobUploadStage;
  private readonly mask: ReplicaMask;
  private readonly tree = new BlobTreeStage();
  private offset = 0;

  private constructor(nodeId: string, blobId: string, size: number, upload: BlobUploadStage, mask: ReplicaMask) {
    this.nodeId = nodeId;
    this.blobId = blobId;
    this.size = size;
    this.upload = upload;
    this.mask = mask;
  }

  /** Opens the upload of a `size`-byte blob (sealed bytes, before masking) to `node` as `blobId`. */
  static async start(node: NodeEndpoint, kek: string, blobId: string, size: number): Promise<ReplicaUpload> {
    const [mask, upload] = await Promise.all([ReplicaMask.of(kek, node.id, blobId), startBlobUpload(node, kek, blobId, size, { merkleLeafBytes: SHARD_BYTES })]);
    return new ReplicaUpload(node.id, blobId, size, upload, mask);
  }

  /** Sealed bytes in order; each write gets its own masked buffer (the upload may hold it while in flight). */
  async write(chunk: Uint8Array): Promise<void> {
    const masked = await this.mask.apply(chunk, this.offset);
    this.offset += chunk.byteLength;
    await this.tree.write(masked);
    await this.upload.write(masked);
  }

  async finish(): Promise<void> {
    await this.tree.finish();
    await this.upload.finish();
  }

  abort(reason: unknown): void {
    this.upload.abort(reason);
  }

  /** The edge's Merkle root of what it sent (hex); only after `finish`. */
  get merkleRoot(): string {
    return this.tree.root;
  }

  /**
   * After `finish`: the replica's record when the node stored exactly the bytes sent (its root is the edge's), or
   * undefined. The SHA-256 is the node's: the matching root vouches that it is of these bytes.
   */
  get stored(): BlobReplica | undefined {
    const s = this.upload.stored;
    if (s.size !== this.size || s.merkleRoot !== this.tree.root) return undefined;
    return { nodeId: this.nodeId, blobId: this.blobId, sha256: s.sha256, merkleRoot: this.tree.root, mask: REPLICA_MASK };
  }
}

/** A copy's source replica did not hold what the index records (missing, short, or other bytes). */
export class SourceReplicaError extends NodeRequestError {
  constructor(nodeId: string, message: string) {
    super(nodeId, 502, message);
    this.name = "SourceReplicaError";
  }
}

export interface ReplicaCopy {
  kek: string;
  source: { node: NodeEndpoint; replica: BlobReplica };
  target: NodeEndpoint;
  /** The new copy's blob id (a fresh one: its mask and root are its own). */
  blobId: string;
  /** Bytes of the sealed blob. */
  size: number;
}

/**
 * Makes a fresh unique replica on `target` from an existing one, through the edge: the source's bytes are read
 * whole (streamed, never held), checked against the SHA-256 its record names, unmasked when masked, masked for the
 * target and uploaded, the target proving the root of what it stored. The last chunk is held back until the source
 * proved good, so a bad source never leaves a committed copy. Resolves with the new replica's record; throws
 * SourceReplicaError when the source is bad, and NodeRequestError when the target failed (its copy then deleted).
 */
export async function copyAsUniqueReplica(c: ReplicaCopy): Promise<BlobReplica> {
  const res = await fetchBlob(c.source.node, c.kek, c.source.replica.blobId).catch((error: unknown) => {
    if (error instanceof NodeRequestError && error.status === 404) throw new SourceReplicaError(error.nodeId, "the source replica is missing");
    throw error;
  });
  if (!res.body) throw new SourceReplicaError(c.source.node.id, "the source replica has no body");
  const sourceMask = await maskOf(c.kek, c.source.replica);
  const upload = await ReplicaUpload.start(c.target, c.kek, c.blobId, c.size);
  // The record's SHA-256 is of the bytes as stored: masked or not, it is checked before anything is unmasked.
  const check = new DigestStage("SHA-256");
  let held: Uint8Array | undefined;
  let read = 0;
  try {
    for await (const raw of readChunks(res.body)) {
      await check.write(raw);
      const sealed = sourceMask ? await sourceMask.apply(raw, read) : raw;
      read += raw.byteLength;
      if (read > c.size) throw new SourceReplicaError(c.source.node.id, `the source replica is longer than ${c.size} bytes`);
      if (held) await upload.write(held);
      held = sealed;
    }
    await check.finish();
    if (read !== c.size || hex(check.digest) !== c.source.replica.sha256) {
      throw new SourceReplicaError(c.source.node.id, `the source replica of ${c.source.replica.blobId} does not match its SHA-256`);
    }
    if (held) await upload.write(held);
    await upload.finish();
  } catch (error) {
    upload.abort(error);
    await res.body.cancel().catch(() => {});
    throw error;
  }
  const stored = upload.stored;
  if (!stored) {
    await deleteBlob(c.target, c.kek, c.blobId).catch(() => {});
    throw new NodeRequestError(c.target.id, 502, `the copy of ${c.blobId} does not prove against the root the edge sent`);
  }
  return stored;
}
