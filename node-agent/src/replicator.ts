// Repair: pull a blob from a peer node through the presigned GET URL the edge made for it, and store it exactly
// like a PUT (temp file, fsync, rename, fsync dir) with the size and SHA-256 the edge expects. Nothing is stored
// unless every byte arrived and matched. No HTTP routing here; see POST /blobs/:blobId/replicate in server.ts.

import { BLOB_SHA256_HEADER, type ReplicateRequest } from "../../src/protocol/node-protocol.ts";
import { checkNodeFetchUrl, NodeUrlError } from "../../src/protocol/node-url.ts";
import type { BlobRecord, BlobStore } from "./blob-store.ts";
import { AgentError } from "./errors.ts";
import { silentLogger, type Logger } from "./logger.ts";
import { MIB, type ByteRateLimiter } from "./rate-limiter.ts";

export interface ReplicationOptions {
  /** Shared by every pull, so concurrent repairs together stay under the operator's cap; undefined = no cap. */
  bandwidth?: ByteRateLimiter;
  /**
   * Time a pull may spend waiting for the source, not counting waits for the bandwidth cap: this, or the time
   * the blob needs at 1 MiB/s when that is longer, so big blobs from a slow peer still get through.
   */
  minTotalTimeoutMs?: number;
  /** Time the source may go without sending a byte (waits for the bandwidth cap excluded). */
  idleTimeoutMs?: number;
  /**
   * Pull from loopback, private and link-local addresses and localhost names too (a local network, tests). By
   * default a source URL must name a public host, like every URL the edge fetches (src/protocol/node-url.ts).
   */
  allowPrivateSources?: boolean;
  log?: Logger;
}

export const DEFAULT_REPLICATION_TOTAL_TIMEOUT_MS = 10 * 60_000;
export const DEFAULT_REPLICATION_IDLE_TIMEOUT_MS = 30_000;
/** The slowest average a pull longer than the minimum total timeout may have. */
const SLOWEST_ACCEPTED_BYTES_PER_MS = MIB / 1000;

/** Pulls `request.sourceUrl` into the store as `blobId`. Throws AgentError SourceFailed (502) or BadDigest (422). */
export async function replicateBlob(store: BlobStore, blobId: string, request: ReplicateRequest, options: ReplicationOptions = {}): Promise<BlobRecord> {
  const log = options.log ?? silentLogger;
  let sourceUrl: URL;
  try {
    sourceUrl = checkNodeFetchUrl(request.sourceUrl, { allowPrivate: options.allowPrivateSources ?? false });
  } catch (error) {
    if (!(error instanceof NodeUrlError)) throw error;
    throw new AgentError("SourceRefused", `Replication refused, nothing was stored: the source URL is refused: ${error.message}.`);
  }
  const existing = await store.openBlob(blobId);
  if (existing !== undefined) {
    await existing.file.close();
    // The edge retries repairs it is unsure about: a copy we already hold is the answer.
    if (existing.record.sha256 === request.sha256 && existing.record.size === request.size) return existing.record;
  }

  const abort = new AbortController();
  const totalMs = Math.max(options.minTotalTimeoutMs ?? DEFAULT_REPLICATION_TOTAL_TIMEOUT_MS, request.size / SLOWEST_ACCEPTED_BYTES_PER_MS);
  const idleMs = options.idleTimeoutMs ?? DEFAULT_REPLICATION_IDLE_TIMEOUT_MS;
  const total = new PausableTimer(totalMs, () => abort.abort(new Error(`the transfer took longer than ${Math.round(totalMs / 1000)} s`)));
  const idle = new PausableTimer(idleMs, () => abort.abort(new Error(`the source sent nothing for ${Math.round(idleMs / 1000)} s`)));
  const started = performance.now();
  try {
    let response: Response;
    try {
      // A presigned URL carries its own authorization; a redirect would lead somewhere the edge did not choose.
      response = await fetch(sourceUrl, { signal: abort.signal, redirect: "error" });
    } catch (error) {
      throw sourceFailed(`cannot reach the source: ${describe(abort.signal.reason ?? error)}`);
    }
    if (!response.ok) {
      const text = await response.text().catch(() => "");
      throw sourceFailed(`the source answered ${response.status}${text ? `: ${text.slice(0, 200)}` : ""}`);
    }
    idle.restart();
    // Cheap early refusals: the source already says it holds something else.
    const declaredLength = response.headers.get("content-length");
    if (declaredLength !== null && Number(declaredLength) !== request.size) {
      throw badDigest(`the source has ${declaredLength} bytes, not the expected ${request.size}`);
    }
    const declaredSha = response.headers.get(BLOB_SHA256_HEADER);
    if (declaredSha !== null && declaredSha !== request.sha256) {
      throw badDigest(`the source's blob has SHA-256 ${declaredSha}, not the expected ${request.sha256}`);
    }

    const body = pull(response.body, request.size, { abort: abort.signal, idle, total, bandwidth: options.bandwidth });
    let record: BlobRecord;
    try {
      record = await store.put(blobId, body, { expectedLength: request.size, expectedSha256: request.sha256 });
    } catch (error) {
      if (error instanceof AgentError && (error.code === "IncompleteBody" || error.code === "XAmzContentSHA256Mismatch")) {
        throw badDigest(`the bytes received do not match the expected size ${request.size} and SHA-256 ${request.sha256}`);
      }
      throw error;
    }
    log.info("blob_replicated", { blobId, size: record.size, ms: Math.round(performance.now() - started) });
    return record;
  } catch (error) {
    if (error instanceof AgentError) log.warn("replication_failed", { blobId, code: error.code, message: error.message });
    throw error;
  } finally {
    total.cancel();
    idle.cancel();
    // Releases the connection when the store gave up before reading the body (e.g. 507).
    abort.abort();
  }
}

interface PullControls {
  abort: AbortSignal;
  idle: PausableTimer;
  total: PausableTimer;
  bandwidth: ByteRateLimiter | undefined;
}

/** The source's body as chunks, refusing more than `size` bytes and pacing to the bandwidth cap. */
async function* pull(body: ReadableStream<Uint8Array> | null, size: number, controls: PullControls): AsyncGenerator<Uint8Array> {
  if (body === null) return;
  const reader = body.getReader();
  let received = 0;
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (error) {
        throw sourceFailed(`the transfer from the source failed after ${received} bytes: ${describe(controls.abort.reason ?? error)}`);
      }
      if (chunk.done) return;
      received += chunk.value.length;
      if (received > size) throw badDigest(`the source sent more than the expected ${size} bytes`);
      if (controls.bandwidth !== undefined) {
        // Waiting for our own cap is not the source's slowness.
        controls.idle.pause();
        controls.total.pause();
        try {
          await controls.bandwidth.consume(chunk.value.length, controls.abort);
        } finally {
          controls.total.resume();
        }
      }
      controls.idle.restart();
      yield chunk.value;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

/** A one-shot timeout that can stop the clock (while we wait on ourselves) and be restarted from full. */
class PausableTimer {
  private readonly durationMs: number;
  private readonly onTimeout: () => void;
  private timer: NodeJS.Timeout | undefined;
  private remainingMs: number;
  private startedAt = 0;
  private done = false;

  constructor(durationMs: number, onTimeout: () => void) {
    this.durationMs = durationMs;
    this.onTimeout = onTimeout;
    this.remainingMs = durationMs;
    this.resume();
  }

  pause(): void {
    if (this.timer === undefined) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.remainingMs -= performance.now() - this.startedAt;
  }

  resume(): void {
    if (this.done || this.timer !== undefined) return;
    this.startedAt = performance.now();
    this.timer = setTimeout(() => {
      this.done = true;
      this.onTimeout();
    }, Math.max(0, this.remainingMs));
  }

  restart(): void {
    this.pause();
    this.remainingMs = this.durationMs;
    this.resume();
  }

  cancel(): void {
    this.pause();
    this.done = true;
  }
}

function sourceFailed(message: string): AgentError {
  return new AgentError("SourceFailed", `Replication failed, nothing was stored: ${message}.`);
}

function badDigest(message: string): AgentError {
  return new AgentError("BadDigest", `Replication refused, nothing was stored: ${message}.`);
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as Error & { cause?: unknown }).cause;
  return cause instanceof Error ? `${error.message} (${cause.message})` : error.message;
}
