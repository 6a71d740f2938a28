// Writing an erasure-coded segment: the encrypted blob is dealt out in stripes of k shards
// (src/protocol/piece-layout.ts), m parity shards are computed per stripe (src/protocol/reed-solomon.ts), and
// each of the k+m pieces streams to its own node, one connection per piece (k+m ≤ 6 keeps within Workers' six
// simultaneous connections per request). Every shard is a leaf of its piece's Merkle tree; the node computes the
// same root from what it stored, and only pieces whose roots match count. The write stands once k + extra pieces
// are durable; pieces that failed are left for the repair chore, which rebuilds them from the others.

import { recordPlacedBlobs } from "../db/placements.ts";
import type { NodeRow } from "../db/schema.ts";
import { hex } from "../protocol/crypto.ts";
import { MerkleBuilder, merkleLeafHash } from "../protocol/merkle.ts";
import { pieceBytes, SHARD_BYTES, type ErasureCode } from "../protocol/piece-layout.ts";
import { ReedSolomon } from "../protocol/reed-solomon.ts";
import { EncryptStage } from "./crypto/stream-format.ts";
import { deleteBlob, NodeRequestError, settleUploads, startBlobUpload, type BlobUploadStage } from "./node-client.ts";
import { nodeHealth } from "./node-health.ts";
import type { ObjectSegment } from "./object-model.ts";
import { pump, type BodyStage } from "./pipeline.ts";
import type { SegmentEncryption } from "./object-model.ts";
import type { StorageEnv } from "./replica-access.ts";
import type { SegmentKey } from "./segment-cipher.ts";

/** Pieces that must be durable before an erasure-coded write is acknowledged: k + extra, at most k + m. */
export function erasureWriteQuorum(code: ErasureCode, extraPieces: number): number {
  return Math.min(code.k + code.m, code.k + extraPieces);
}

/** One piece on its way to a node. */
interface PieceUpload {
  piece: number;
  node: NodeRow;
  stage: BlobUploadStage;
}

/**
 * Receives the blob from the encryptor (its 16-byte header first, then each sealed chunk) and turns every k
 * chunks into a stripe: k data shards, m parity shards, one to each piece's upload, every shard hashed as a
 * Merkle leaf. An upload that fails is dropped; the write fails once fewer than `quorum` remain.
 */
class StripeStage {
  private readonly code: ErasureCode;
  private readonly rs: ReedSolomon;
  private live: PieceUpload[];
  readonly failed: { piece: number; nodeId: string; error: unknown }[] = [];
  private readonly quorum: number;
  readonly trees: MerkleBuilder[];
  private data: Uint8Array[] = [];
  private headerSeen = false;
  private stripesWritten = 0;
  /** Opens the same piece on a spare node; used when a piece's node fails before any of it was sent. */
  private readonly spare: (piece: number) => Promise<PieceUpload | undefined>;

  constructor(code: ErasureCode, uploads: PieceUpload[], quorum: number, spare: (piece: number) => Promise<PieceUpload | undefined>) {
    this.code = code;
    this.rs = new ReedSolomon(code.k, code.m);
    this.live = uploads;
    this.quorum = quorum;
    this.spare = spare;
    this.trees = Array.from({ length: code.k + code.m }, () => new MerkleBuilder());
  }

  get succeeded(): PieceUpload[] {
    return this.live;
  }

  async write(frame: Uint8Array): Promise<void> {
    // The header is not stored: the index records the nonce prefix it is made of.
    if (!this.headerSeen) {
      this.headerSeen = true;
      return;
    }
    let shard = frame;
    if (shard.length !== SHARD_BYTES) {
      // The last chunk is shorter: padded with zeros to a full shard.
      shard = new Uint8Array(SHARD_BYTES);
      shard.set(frame);
    }
    this.data.push(shard);
    if (this.data.length === this.code.k) await this.flush();
  }

  async finish(): Promise<void> {
    if (this.data.length > 0) {
      while (this.data.length < this.code.k) this.data.push(new Uint8Array(SHARD_BYTES));
      await this.flush();
    }
    await this.each((u) => u.stage.finish());
  }

  abort(reason: unknown): void {
    for (const u of this.live) u.stage.abort(reason);
  }

  private async flush(): Promise<void> {
    const data = this.data;
    this.data = [];
    const parity = Array.from({ length: this.code.m }, () => new Uint8Array(SHARD_BYTES));
    this.rs.encode(data, parity);
    const shards = [...data, ...parity];
    const leaves = await Promise.all(shards.map((s) => merkleLeafHash(s)));
    for (let i = 0; i < shards.length; i++) await this.trees[i]!.add(leaves[i]!);
    await this.each((u) => u.stage.write(shards[u.piece]!), this.stripesWritten === 0 ? shards : undefined);
    this.stripesWritten++;
  }

  /**
   * Runs `step` on every live upload and drops those that fail. During the first stripe (`firstStripe` given) a
   * failed piece has sent nothing yet, so it moves to a spare node (a node that died since the registry last
   * heard from it must not cost the write its quorum).
   */
  private async each(step: (u: PieceUpload) => Promise<void>, firstStripe?: Uint8Array[]): Promise<void> {
    const { ok: survivors, failed } = await settleUploads(this.live, (u) => u.stage, step);
    for (const { upload, error } of failed) {
      this.failed.push({ piece: upload.piece, nodeId: upload.node.id, error });
      if (!firstStripe) continue;
      for (let tries = 0; tries < 2; tries++) {
        const replacement = await this.spare(upload.piece).catch(() => undefined);
        if (!replacement) break;
        if (await replacement.stage.write(firstStripe[upload.piece]!).then(() => true, () => false)) {
          survivors.push(replacement);
          break;
        }
        this.failed.push({ piece: replacement.piece, nodeId: replacement.node.id, error: new Error("spare failed") });
        replacement.stage.abort(new Error("spare failed"));
      }
    }
    this.live = survivors;
    if (this.live.length < this.quorum) {
      // Storage failing under the write is the edge's 503 (SDKs retry it), whatever the node's error looked like.
      const last = this.failed[this.failed.length - 1];
      throw new NodeRequestError(last?.nodeId ?? "unknown", 503, `fewer than ${this.quorum} pieces could be written: ${String(last?.error)}`);
    }
  }
}

export interface ErasureWrite {
  storage: Pick<StorageEnv, "db" | "kek" | "now">;
  /** The code this segment uses (codeForSegment). */
  code: ErasureCode;
  /**
   * Nodes for the pieces, best first: piece i goes to nodes[i]; pieces beyond the list wait for repair; nodes
   * after the first k+m are spares for pieces whose node fails before any of its bytes were sent.
   */
  nodes: NodeRow[];
  /** Pieces streamed at once (k+m, or fewer when the request needs connections for something else). */
  writePieces: number;
  quorum: number;
  pieceBlobIds: string[];
  key: SegmentKey & { encryption: SegmentEncryption };
  length: number;
  source: AsyncIterable<Uint8Array>;
  /** Stages that see the plaintext first (MD5, client checksums), and may fail the body. */
  before: BodyStage[];
  verify(): Promise<void>;
}

/** Streams one segment as pieces; resolves with the segment's record once a quorum of pieces is durable. */
export async function storeErasureSegment(w: ErasureWrite): Promise<Omit<ObjectSegment, "md5">> {
  const size = pieceBytes(w.code, w.length);
  // Data pieces first: a healthy read then needs no decoding even while a parity piece waits for repair.
  const assigned = w.nodes.slice(0, Math.min(w.writePieces, w.code.k + w.code.m));
  const uploads: PieceUpload[] = await Promise.all(
    assigned.map(async (node, piece) => ({ piece, node, stage: await startBlobUpload(node, w.storage.kek, w.pieceBlobIds[piece]!, size, { merkleLeafBytes: SHARD_BYTES }) })),
  );
  const spares = w.nodes.slice(assigned.length);
  // A spare keeps the placement's zone rule (placePieces): one that would put more than a zone's share of the
  // pieces in one zone is not taken, and the piece waits for repair, which places it by the same rule.
  const zoneCap = Math.ceil((w.code.k + w.code.m) / new Set(w.nodes.map((n) => n.zone)).size);
  const spare = async (piece: number): Promise<PieceUpload | undefined> => {
    const inZone = (zone: string) => uploads.filter((u) => u.piece !== piece && u.node.zone === zone).length;
    const at = spares.findIndex((n) => inZone(n.zone) < zoneCap);
    if (at < 0) return undefined;
    const [node] = spares.splice(at, 1);
    if (!node) return undefined;
    const upload = { piece, node, stage: await startBlobUpload(node, w.storage.kek, w.pieceBlobIds[piece]!, size, { merkleLeafBytes: SHARD_BYTES }) };
    uploads.push(upload);
    return upload;
  };
  const stripes = new StripeStage(w.code, uploads, w.quorum, spare);
  const removeAll = () => Promise.all([...uploads].map((u) => deleteBlob(u.node, w.storage.kek, w.pieceBlobIds[u.piece]!).catch(() => {})));
  const encrypt = new EncryptStage(w.key.dataKey, w.key.prefix, stripes);
  const encryptStage: BodyStage = {
    write: (chunk) => encrypt.write(chunk),
    finish: async () => {
      await encrypt.finish();
      await stripes.finish();
    },
    abort: (reason) => {
      encrypt.abort();
      stripes.abort(reason);
    },
  };
  await pump(w.source, [...w.before, encryptStage]).catch(async (error) => {
    await removeAll();
    throw error;
  });
  try {
    await w.verify();
    const roots = await Promise.all(stripes.trees.map(async (t) => hex(await t.root())));
    const good = stripes.succeeded.filter((u) => u.stage.stored.merkleRoot === roots[u.piece] && u.stage.stored.size === size);
    if (good.length < w.quorum) {
      throw new NodeRequestError(good[0]?.node.id ?? assigned[0]!.id, 502, `only ${good.length} pieces match what the edge sent (${w.quorum} needed)`);
    }
    for (const failure of stripes.failed) nodeHealth.recordFailure(failure.nodeId, w.storage.now);
    // A piece that stored other bytes than were sent is dropped at once; repair rebuilds it.
    for (const u of stripes.succeeded.filter((s) => !good.includes(s))) await deleteBlob(u.node, w.storage.kek, w.pieceBlobIds[u.piece]!).catch(() => {});
    await recordPlacedBlobs(w.storage.db, good.map((u) => ({ nodeId: u.node.id, blobId: w.pieceBlobIds[u.piece]!, bytes: size, merkleRoot: `0x${roots[u.piece]}` })), w.storage.now);
    return {
      size: w.length,
      replicas: good.map((u) => ({ nodeId: u.node.id, blobId: w.pieceBlobIds[u.piece]!, sha256: u.stage.stored.sha256, merkleRoot: roots[u.piece], piece: u.piece })),
      encryption: w.key.encryption,
      erasure: { k: w.code.k, m: w.code.m, pieceBlobIds: w.pieceBlobIds, pieceRoots: roots },
    };
  } catch (error) {
    await removeAll();
    throw error;
  }
}
