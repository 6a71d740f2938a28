// Repair of an erasure-coded piece: pull k other pieces of the segment through the presigned GETs the edge made,
// stripe by stripe (src/protocol/piece-layout.ts), rebuild this node's piece with the Reed-Solomon code
// (src/protocol/reed-solomon.ts) and store it like a PUT, keeping it only when its Merkle root is the one the edge
// recorded when the segment was written. Pieces are ciphertext: no key is involved. No HTTP routing here; see
// POST /blobs/:blobId/reconstruct in server.ts.

import type { ReconstructRequest } from "../../src/protocol/node-protocol.ts";
import { checkNodeFetchUrl, NodeUrlError } from "../../src/protocol/node-url.ts";
import { pieceBytes, SHARD_BYTES, stripesOf } from "../../src/protocol/piece-layout.ts";
import { ReedSolomon } from "../../src/protocol/reed-solomon.ts";
import type { BlobRecord, BlobStore } from "./blob-store.ts";
import { AgentError } from "./errors.ts";
import { silentLogger } from "./logger.ts";
import { DEFAULT_REPLICATION_IDLE_TIMEOUT_MS, DEFAULT_REPLICATION_TOTAL_TIMEOUT_MS, type ReplicationOptions } from "./replicator.ts";

/** Rebuilds piece `request.piece` into the store as `blobId`. Throws AgentError SourceFailed (502) or BadDigest (422). */
export async function reconstructPiece(store: BlobStore, blobId: string, request: ReconstructRequest, options: ReplicationOptions = {}): Promise<BlobRecord> {
  const log = options.log ?? silentLogger;
  const code = { k: request.k, m: request.m };
  const size = pieceBytes(code, request.segmentBytes);
  const stripes = stripesOf(code, request.segmentBytes);
  const urls = request.sources.map((s) => {
    try {
      return checkNodeFetchUrl(s.url, { allowPrivate: options.allowPrivateSources ?? false });
    } catch (error) {
      if (!(error instanceof NodeUrlError)) throw error;
      throw new AgentError("SourceRefused", `Reconstruction refused, nothing was stored: a source URL is refused: ${error.message}.`);
    }
  });
  const existing = await store.openBlob(blobId);
  if (existing !== undefined) {
    await existing.file.close();
    // The edge retries repairs it is unsure about: the piece we already hold is the answer.
    if (existing.record.merkleRoot === request.merkleRoot && existing.record.size === size) return existing.record;
  }

  const abort = new AbortController();
  const totalMs = options.minTotalTimeoutMs ?? DEFAULT_REPLICATION_TOTAL_TIMEOUT_MS;
  const total = setTimeout(() => abort.abort(new Error(`the reconstruction took longer than ${Math.round(totalMs / 1000)} s`)), Math.max(totalMs, (size * request.k) / 1000));
  const idleMs = options.idleTimeoutMs ?? DEFAULT_REPLICATION_IDLE_TIMEOUT_MS;
  const started = performance.now();
  const readers: ShardSource[] = [];
  try {
    const responses = await Promise.all(
      urls.map(async (url, i) => {
        let response: Response;
        try {
          // A presigned URL carries its own authorization; a redirect would lead somewhere the edge did not choose.
          response = await fetch(url, { signal: abort.signal, redirect: "error" });
        } catch (error) {
          throw sourceFailed(`cannot reach the source of piece ${request.sources[i]!.piece}: ${String(abort.signal.reason ?? error)}`);
        }
        if (!response.ok || !response.body) {
          await response.body?.cancel().catch(() => {});
          throw sourceFailed(`the source of piece ${request.sources[i]!.piece} answered ${response.status}`);
        }
        const length = response.headers.get("content-length");
        if (length !== null && Number(length) !== size) throw badDigest(`the source of piece ${request.sources[i]!.piece} has ${length} bytes, not ${size}`);
        return response.body;
      }),
    );
    for (const [i, body] of responses.entries()) readers.push(new ShardSource(body, request.sources[i]!.piece, idleMs, abort));
    const rs = new ReedSolomon(request.k, request.m);
    const bandwidth = options.bandwidth;
    const rebuilt = async function* (): AsyncGenerator<Uint8Array> {
      for (let s = 0; s < stripes; s++) {
        const shards: (Uint8Array | undefined)[] = new Array(request.k + request.m).fill(undefined);
        const read = await Promise.all(readers.map((r) => r.next()));
        readers.forEach((r, i) => (shards[r.piece] = read[i]));
        if (bandwidth !== undefined) await bandwidth.consume(SHARD_BYTES * request.k, abort.signal);
        const out = new Uint8Array(SHARD_BYTES);
        rs.reconstruct(shards, [request.piece], [out]);
        yield out;
      }
    };
    let record: BlobRecord;
    try {
      record = await store.put(blobId, rebuilt(), { expectedLength: size, merkleLeafBytes: SHARD_BYTES, expectedMerkleRoot: request.merkleRoot });
    } catch (error) {
      if (error instanceof AgentError && error.code === "BadDigest") {
        throw badDigest(`the rebuilt piece's Merkle root is not ${request.merkleRoot} (a source served other bytes)`);
      }
      throw error;
    }
    log.info("piece_reconstructed", { blobId, piece: request.piece, size: record.size, ms: Math.round(performance.now() - started) });
    return record;
  } catch (error) {
    if (error instanceof AgentError) log.warn("reconstruction_failed", { blobId, code: error.code, message: error.message });
    throw error;
  } finally {
    clearTimeout(total);
    for (const r of readers) r.close();
    abort.abort();
  }
}

/** One source piece, read exactly one shard at a time; a source silent for `idleMs` fails the reconstruction. */
class ShardSource {
  readonly piece: number;
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly idleMs: number;
  private readonly abort: AbortController;
  private pending: Uint8Array = new Uint8Array(0);

  constructor(body: ReadableStream<Uint8Array>, piece: number, idleMs: number, abort: AbortController) {
    this.reader = body.getReader();
    this.piece = piece;
    this.idleMs = idleMs;
    this.abort = abort;
  }

  async next(): Promise<Uint8Array> {
    const shard = new Uint8Array(SHARD_BYTES);
    let filled = 0;
    while (filled < SHARD_BYTES) {
      if (this.pending.length === 0) {
        const timer = setTimeout(() => this.abort.abort(new Error(`the source of piece ${this.piece} sent nothing for ${Math.round(this.idleMs / 1000)} s`)), this.idleMs);
        let result: ReadableStreamReadResult<Uint8Array>;
        try {
          result = await this.reader.read();
        } catch (error) {
          throw sourceFailed(`the transfer of piece ${this.piece} failed: ${String(this.abort.signal.reason ?? error)}`);
        } finally {
          clearTimeout(timer);
        }
        if (result.done) throw sourceFailed(`the source of piece ${this.piece} ended early`);
        this.pending = result.value;
      }
      const take = Math.min(SHARD_BYTES - filled, this.pending.length);
      shard.set(this.pending.subarray(0, take), filled);
      this.pending = this.pending.subarray(take);
      filled += take;
    }
    return shard;
  }

  close(): void {
    void this.reader.cancel().catch(() => {});
  }
}

function sourceFailed(message: string): AgentError {
  return new AgentError("SourceFailed", `Reconstruction failed, nothing was stored: ${message}.`);
}

function badDigest(message: string): AgentError {
  return new AgentError("BadDigest", `Reconstruction refused, nothing was stored: ${message}.`);
}
