// Blobs on local disk. A put streams into tmp/, hashing as it goes, fsyncs, then renames into
// blobs/<2-char fanout>/<blobId> next to a <blobId>.meta.json sidecar and fsyncs the directory: a blob is
// visible only once it is complete and durable, and a crash at any point leaves either the old state or
// garbage in tmp/ that the next start deletes. No HTTP here.

import { createHash, randomBytes } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { z } from "zod";
import { BLOB_ID_PATTERN } from "../../src/protocol/node-protocol.ts";
import { DurableFileWriter, fsyncDirectory, writeFileDurably } from "./durable-fs.ts";
import { AgentError } from "./errors.ts";
import { KeyedMutex } from "./keyed-mutex.ts";
import { silentLogger, type Logger } from "./logger.ts";

const SIDECAR_SUFFIX = ".meta.json";
/** Bigger writes mean fewer syscalls on multi-GiB blobs; 1 MiB keeps memory per upload small. */
const WRITE_HIGH_WATER_MARK = 1024 * 1024;
export const READ_HIGH_WATER_MARK = 1024 * 1024;

const blobRecordSchema = z.object({
  blobId: z.string().regex(BLOB_ID_PATTERN),
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  createdAt: z.string(),
});
/** What the sidecar records about a stored blob. */
export type BlobRecord = z.infer<typeof blobRecordSchema>;

export interface BlobStoreStats {
  usedBytes: number;
  blobCount: number;
}

export interface PutBlobOptions {
  /** Content-Length the sender declared; a body of any other length is refused and never stored. */
  expectedLength?: number;
  /** Hex SHA-256 the sender committed to; a mismatch is refused and never stored. */
  expectedSha256?: string;
}

/** A blob opened for reading: the handle stays valid even if the blob is deleted or overwritten meanwhile. */
export interface OpenedBlob {
  record: BlobRecord;
  file: FileHandle;
}

export interface BlobStoreOptions {
  /** Bytes this node promised the edge; puts that would exceed it are refused with InsufficientStorage. */
  capacityBytes?: number;
  log?: Logger;
  now?: () => Date;
}

export class BlobStore {
  readonly blobsDir: string;
  readonly tmpDir: string;
  private readonly capacityBytes: number;
  private readonly log: Logger;
  private readonly now: () => Date;
  private readonly locks = new KeyedMutex();
  private usedBytes = 0;
  private blobCount = 0;
  /** Bytes promised to uploads still streaming, so concurrent puts cannot jointly overrun capacity. */
  private reservedBytes = 0;

  private constructor(dataDir: string, options: BlobStoreOptions) {
    this.blobsDir = join(dataDir, "blobs");
    this.tmpDir = join(dataDir, "tmp");
    this.capacityBytes = options.capacityBytes ?? Number.POSITIVE_INFINITY;
    this.log = options.log ?? silentLogger;
    this.now = options.now ?? (() => new Date());
  }

  /** Prepares the directories, deletes crash leftovers in tmp/, and counts what is stored. */
  static async open(dataDir: string, options: BlobStoreOptions = {}): Promise<BlobStore> {
    const store = new BlobStore(dataDir, options);
    await mkdir(store.blobsDir, { recursive: true });
    await mkdir(store.tmpDir, { recursive: true });
    await store.removeTmpLeftovers();
    await store.scan();
    return store;
  }

  get stats(): BlobStoreStats {
    return { usedBytes: this.usedBytes, blobCount: this.blobCount };
  }

  /**
   * Stores `body` under `blobId`. On failure `body` is left as it is (not destroyed), so an HTTP caller can
   * still answer on the same connection.
   */
  async put(blobId: string, body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options: PutBlobOptions = {}): Promise<BlobRecord> {
    assertBlobId(blobId);
    let reserved = 0;
    const reserve = (bytes: number) => {
      if (this.usedBytes + this.reservedBytes + bytes > this.capacityBytes) {
        throw new AgentError("InsufficientStorage", "This node does not have enough free capacity for the blob.");
      }
      this.reservedBytes += bytes;
      reserved += bytes;
    };
    if (options.expectedLength !== undefined) reserve(options.expectedLength);

    const tmpBlob = join(this.tmpDir, randomBytes(16).toString("hex"));
    const tmpSidecar = `${tmpBlob}${SIDECAR_SUFFIX}`;
    try {
      const hash = createHash("sha256");
      let size = 0;
      const file = await open(tmpBlob, "wx");
      try {
        const metered = async function* () {
          for await (const chunk of body) {
            size += chunk.length;
            if (size > reserved) reserve(size - reserved);
            hash.update(chunk);
            yield chunk;
          }
        };
        await pipeline(metered(), new DurableFileWriter(file, WRITE_HIGH_WATER_MARK));
      } finally {
        await file.close();
      }
      if (options.expectedLength !== undefined && size !== options.expectedLength) {
        throw new AgentError("IncompleteBody", `The body had ${size} bytes but Content-Length declared ${options.expectedLength}.`);
      }

      const record: BlobRecord = { blobId, size, sha256: hash.digest("hex"), createdAt: this.now().toISOString() };
      if (options.expectedSha256 !== undefined && options.expectedSha256 !== record.sha256) {
        throw new AgentError("XAmzContentSHA256Mismatch", "The body does not match the x-amz-content-sha256 the request was signed with.", {
          details: { ClientComputedContentSHA256: options.expectedSha256, S3ComputedContentSHA256: record.sha256 },
        });
      }
      await writeFileDurably(tmpSidecar, JSON.stringify(record));
      await this.locks.run(blobId, () => this.commit(record, tmpBlob, tmpSidecar));
      return record;
    } catch (error) {
      await Promise.all([rm(tmpBlob, { force: true }), rm(tmpSidecar, { force: true })]).catch(() => {});
      throw isOutOfSpace(error) ? new AgentError("InsufficientStorage", "The node's disk is full.") : error;
    } finally {
      this.reservedBytes -= reserved;
    }
  }

  /** Opens a blob for reading; undefined when it does not exist. The caller must close `file`. */
  async openBlob(blobId: string): Promise<OpenedBlob | undefined> {
    assertBlobId(blobId);
    return this.locks.run(blobId, async () => {
      let file: FileHandle;
      try {
        file = await open(this.blobFile(blobId), "r");
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
      try {
        const { size } = await file.stat();
        let record = await this.readSidecar(blobId);
        if (record === undefined || record.size !== size) record = await this.rebuildSidecar(blobId, file, size);
        return { record, file };
      } catch (error) {
        await file.close();
        throw error;
      }
    });
  }

  /** Removes a blob and its sidecar; false when there was nothing to remove. */
  async delete(blobId: string): Promise<boolean> {
    assertBlobId(blobId);
    return this.locks.run(blobId, async () => {
      const blobFile = this.blobFile(blobId);
      const size = await fileSize(blobFile);
      // Blob first: a crash in between leaves an orphan sidecar, which the next start removes.
      await rm(blobFile, { force: true });
      await rm(`${blobFile}${SIDECAR_SUFFIX}`, { force: true });
      if (size === undefined) return false;
      await fsyncDirectory(this.fanoutDir(blobId));
      this.usedBytes -= size;
      this.blobCount -= 1;
      return true;
    });
  }

  private async commit(record: BlobRecord, tmpBlob: string, tmpSidecar: string): Promise<void> {
    const dir = this.fanoutDir(record.blobId);
    if (await ensureDirectory(dir)) await fsyncDirectory(this.blobsDir);
    const blobFile = this.blobFile(record.blobId);
    const previousSize = await fileSize(blobFile);
    // Sidecar first, so a visible blob always has one; each rename replaces atomically (POSIX rename(2)).
    await rename(tmpSidecar, `${blobFile}${SIDECAR_SUFFIX}`);
    await rename(tmpBlob, blobFile);
    await fsyncDirectory(dir);
    this.usedBytes += record.size - (previousSize ?? 0);
    if (previousSize === undefined) this.blobCount += 1;
  }

  private async removeTmpLeftovers(): Promise<void> {
    const leftovers = await readdir(this.tmpDir);
    await Promise.all(leftovers.map((name) => rm(join(this.tmpDir, name), { recursive: true, force: true })));
    if (leftovers.length > 0) this.log.info("tmp_leftovers_removed", { count: leftovers.length });
  }

  /** Counts blobs and repairs what an interrupted put or delete can leave: sidecars without a blob, and the reverse. */
  private async scan(): Promise<void> {
    for (const fanout of await readdir(this.blobsDir, { withFileTypes: true })) {
      if (!fanout.isDirectory()) continue;
      const dir = join(this.blobsDir, fanout.name);
      const names = new Set(await readdir(dir));
      for (const name of names) {
        if (name.endsWith(SIDECAR_SUFFIX)) {
          const blobId = name.slice(0, -SIDECAR_SUFFIX.length);
          if (!names.has(blobId)) {
            await unlink(join(dir, name));
            this.log.warn("orphan_sidecar_removed", { blobId });
          }
          continue;
        }
        if (!BLOB_ID_PATTERN.test(name) || this.fanoutDir(name) !== dir) {
          this.log.warn("unexpected_file_ignored", { path: join(dir, name) });
          continue;
        }
        const { size } = await stat(join(dir, name));
        if (!names.has(`${name}${SIDECAR_SUFFIX}`)) {
          const file = await open(join(dir, name), "r");
          try {
            await this.rebuildSidecar(name, file, size);
          } finally {
            await file.close();
          }
        }
        this.usedBytes += size;
        this.blobCount += 1;
      }
    }
  }

  private async readSidecar(blobId: string): Promise<BlobRecord | undefined> {
    try {
      return blobRecordSchema.parse(JSON.parse(await readFile(`${this.blobFile(blobId)}${SIDECAR_SUFFIX}`, "utf8")));
    } catch (error) {
      if (isNotFound(error)) return undefined;
      this.log.warn("sidecar_unreadable", { blobId, error });
      return undefined;
    }
  }

  /** Re-derives a missing or stale sidecar (a crash between the two renames of an overwrite) from the blob itself. */
  private async rebuildSidecar(blobId: string, file: FileHandle, size: number): Promise<BlobRecord> {
    // Positional reads rather than a stream: the caller keeps using this handle afterwards.
    const hash = createHash("sha256");
    const buffer = Buffer.allocUnsafe(READ_HIGH_WATER_MARK);
    for (let position = 0; position < size; ) {
      const { bytesRead } = await file.read(buffer, 0, buffer.length, position);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      position += bytesRead;
    }
    const record: BlobRecord = { blobId, size, sha256: hash.digest("hex"), createdAt: this.now().toISOString() };
    const tmpSidecar = join(this.tmpDir, `${randomBytes(16).toString("hex")}${SIDECAR_SUFFIX}`);
    await writeFileDurably(tmpSidecar, JSON.stringify(record));
    await rename(tmpSidecar, `${this.blobFile(blobId)}${SIDECAR_SUFFIX}`);
    await fsyncDirectory(this.fanoutDir(blobId));
    this.log.warn("sidecar_rebuilt", { blobId, size });
    return record;
  }

  private fanoutDir(blobId: string): string {
    return join(this.blobsDir, blobId.slice(0, 2));
  }

  private blobFile(blobId: string): string {
    return join(this.fanoutDir(blobId), blobId);
  }
}

/** The path-traversal guard: only ids matching the protocol pattern ever become file names. */
function assertBlobId(blobId: string): void {
  if (!BLOB_ID_PATTERN.test(blobId)) {
    throw new AgentError("InvalidBlobId", "Blob ids must match [a-z0-9][a-z0-9_-]{15,127}.");
  }
}

/** Creates a directory if needed; true when it was created (its parent then needs an fsync). */
async function ensureDirectory(path: string): Promise<boolean> {
  try {
    await mkdir(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
}

async function fileSize(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
}

function isOutOfSpace(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === "ENOSPC" || code === "EDQUOT";
}
