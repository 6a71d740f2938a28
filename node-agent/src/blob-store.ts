// Blobs on local disk. A put streams into tmp/, hashing as it goes, fsyncs, then renames into
// blobs/<last 2 chars of the id>/<blobId> next to a <blobId>.meta.json sidecar and fsyncs the directory: a blob is
// visible only once it is complete and durable, and a crash at any point leaves either the old state or
// garbage in tmp/ that the next start deletes. The sidecar is the authority on what a blob must be: a data
// file that disagrees with it is never served, and the scrub moves it to quarantine/. Every non-empty blob also
// gets its Merkle tree over audit leaves, <blobId>.tree (piece-tree.ts), built in the same pass and made durable
// with it, so a storage proof reads a few hashes instead of the whole blob. No HTTP here.

import { createHash, randomBytes } from "node:crypto";
import { mkdir, open, opendir, readdir, readFile, rename, rm, stat, unlink, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { z } from "zod";
import { AUDIT_LEAF_BYTES } from "../../src/protocol/audit.ts";
import { BLOB_ID_PATTERN } from "../../src/protocol/node-protocol.ts";
import { DurableFileWriter, fsyncDirectory, writeFileDurably } from "./durable-fs.ts";
import { LeafHasher } from "./leaf-hasher.ts";
import { encodeTree, MemoryTree, PieceTree, TREE_SUFFIX, treeOfFile, type LeafPaths } from "./piece-tree.ts";
import { AgentError } from "./errors.ts";
import { KeyedMutex } from "./keyed-mutex.ts";
import { silentLogger, type Logger } from "./logger.ts";

const SIDECAR_SUFFIX = ".meta.json";
/** Bigger writes mean fewer syscalls on multi-GiB blobs; 1 MiB keeps memory per upload small. */
const WRITE_HIGH_WATER_MARK = 1024 * 1024;
export const READ_HIGH_WATER_MARK = 1024 * 1024;
/** Scrub reads are smaller: each hash update runs on the event loop, so short ones keep request latency low. */
const SCRUB_READ_BYTES = 256 * 1024;
/** Sidecars read at once when answering a listing page. */
const LISTING_READ_CONCURRENCY = 32;

const blobRecordSchema = z.object({
  blobId: z.string().regex(BLOB_ID_PATTERN),
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** Merkle root of the blob's leaves, when the writer asked for one (a piece of an erasure-coded segment). */
  merkleRoot: z.string().regex(/^[0-9a-f]{64}$/).optional(),
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
  /** Leaf size of the Merkle root to compute while storing (the record then carries `merkleRoot`). */
  merkleLeafBytes?: number;
  /** Hex Merkle root the blob must have (needs merkleLeafBytes); a mismatch is refused and never stored. */
  expectedMerkleRoot?: string;
}

/** One page of the listing: blob ids in ascending (byte) order; `next` is set when more may follow. */
export interface BlobPage {
  blobs: BlobRecord[];
  next?: string;
}

/** What one scrub check found out about a blob id. */
export type ScrubVerdict =
  | { kind: "healthy"; size: number }
  /** Deleted or replaced while it was being checked: there is nothing to say about it. */
  | { kind: "gone" }
  /** A data file without a sidecar, younger than the grace period: left alone this time. */
  | { kind: "recent" }
  /** The bytes no longer match the sidecar (hash or size): moved to quarantine. */
  | { kind: "corrupt"; expectedSha256: string; actualSha256: string; expectedSize: number; actualSize: number }
  /** Half a blob: the sidecar without its data (sidecar removed) or data without a readable sidecar (data quarantined). */
  | { kind: "missing"; lost: "data" | "sidecar" };

export interface ScrubBlobOptions {
  /** Called after each chunk read, with its size: where the scrub's rate cap waits. */
  consume: (bytes: number, signal?: AbortSignal) => Promise<void>;
  signal?: AbortSignal;
  /** A data file without a sidecar younger than this is left alone (not yet worth calling lost). */
  danglingGraceMs: number;
}

/** A blob opened for reading: the handle stays valid even if the blob is deleted or overwritten meanwhile. */
export interface OpenedBlob {
  record: BlobRecord;
  file: FileHandle;
}

/** A blob opened to prove: its data file and its tree, seen together under the blob's lock. Close both. */
export interface ProvableBlob extends OpenedBlob {
  /** Undefined for an empty blob: it has no leaves. */
  tree: LeafPaths | undefined;
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
  /** Corrupt or half-lost blobs end up here (created on first use), for the operator to inspect and delete. */
  readonly quarantineDir: string;
  private readonly dataDir: string;
  private readonly capacityBytes: number;
  private readonly log: Logger;
  private readonly now: () => Date;
  private readonly locks = new KeyedMutex();
  /** One tree build at a time per blob, so concurrent challenges of an old blob read it once. */
  private readonly treeBuilds = new KeyedMutex();
  private usedBytes = 0;
  private blobCount = 0;
  /** Bytes promised to uploads still streaming, so concurrent puts cannot jointly overrun capacity. */
  private reservedBytes = 0;

  private constructor(dataDir: string, options: BlobStoreOptions) {
    this.blobsDir = join(dataDir, "blobs");
    this.tmpDir = join(dataDir, "tmp");
    this.quarantineDir = join(dataDir, "quarantine");
    this.dataDir = dataDir;
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
    const tmpTree = `${tmpBlob}${TREE_SUFFIX}`;
    try {
      const hash = createHash("sha256");
      const auditTree = new LeafHasher(AUDIT_LEAF_BYTES);
      // The edge asks for the root at the audit leaf size (an erasure piece's chunk): then it is the tree's root.
      const leaves =
        options.merkleLeafBytes === undefined ? undefined : options.merkleLeafBytes === AUDIT_LEAF_BYTES ? auditTree : new LeafHasher(options.merkleLeafBytes);
      let size = 0;
      const file = await open(tmpBlob, "wx");
      try {
        const metered = async function* () {
          for await (const chunk of body) {
            size += chunk.length;
            if (size > reserved) reserve(size - reserved);
            hash.update(chunk);
            auditTree.update(chunk);
            if (leaves !== undefined && leaves !== auditTree) leaves.update(chunk);
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
      const merkleRoot = leaves?.root();
      if (merkleRoot !== undefined) record.merkleRoot = merkleRoot;
      if (options.expectedMerkleRoot !== undefined && options.expectedMerkleRoot !== merkleRoot) {
        throw new AgentError("BadDigest", "The blob's Merkle root is not the one expected; nothing was stored.", {
          details: { expectedMerkleRoot: options.expectedMerkleRoot, merkleRoot: merkleRoot ?? "none" },
        });
      }
      if (options.expectedSha256 !== undefined && options.expectedSha256 !== record.sha256) {
        throw new AgentError("XAmzContentSHA256Mismatch", "The body does not match the x-amz-content-sha256 the request was signed with.", {
          details: { ClientComputedContentSHA256: options.expectedSha256, S3ComputedContentSHA256: record.sha256 },
        });
      }
      const levels = auditTree.tree();
      if (levels !== undefined) await writeFileDurably(tmpTree, encodeTree({ leafBytes: AUDIT_LEAF_BYTES, size, sha256: record.sha256 }, levels));
      await writeFileDurably(tmpSidecar, JSON.stringify(record));
      await this.locks.run(blobId, () => this.commit(record, tmpBlob, tmpSidecar, levels === undefined ? undefined : tmpTree));
      return record;
    } catch (error) {
      await Promise.all([rm(tmpBlob, { force: true }), rm(tmpSidecar, { force: true }), rm(tmpTree, { force: true })]).catch(() => {});
      throw isOutOfSpace(error) ? new AgentError("InsufficientStorage", "The node's disk is full.") : error;
    } finally {
      this.reservedBytes -= reserved;
    }
  }

  /**
   * Opens a blob for reading; undefined when it does not exist. The caller must close `file`.
   * A data file whose sidecar is missing, unreadable or records another size is not a blob this node can vouch
   * for (its bytes changed behind the store's back): it is never served, and the scrub quarantines it.
   */
  async openBlob(blobId: string): Promise<OpenedBlob | undefined> {
    assertBlobId(blobId);
    return this.locks.run(blobId, async () => {
      const file = await openIfExists(this.blobFile(blobId));
      if (file === undefined) return undefined;
      try {
        const { size } = await file.stat();
        const record = await this.readSidecar(blobId);
        if (record === undefined || record.size !== size) {
          this.log.warn("blob_unservable", { blobId, size, recordedSize: record?.size });
          await file.close();
          return undefined;
        }
        return { record, file };
      } catch (error) {
        await file.close();
        throw error;
      }
    });
  }

  /**
   * Opens a blob with its Merkle tree over audit leaves, for a storage proof; undefined when the blob does not
   * exist (or is not servable, as for openBlob). A blob without a usable tree (stored before trees existed, or its
   * tree lost) gets one built from its bytes now, kept on disk when those bytes still match the sidecar's SHA-256;
   * when they do not, the tree of the bytes actually on disk answers this once (and cannot prove the recorded root).
   */
  async openForProof(blobId: string): Promise<ProvableBlob | undefined> {
    assertBlobId(blobId);
    return this.treeBuilds.run(blobId, async () => {
      const opened = await this.openBlob(blobId);
      if (opened === undefined) return undefined;
      const { record, file } = opened;
      try {
        if (record.size === 0) return { record, file, tree: undefined };
        const identity = { leafBytes: AUDIT_LEAF_BYTES, size: record.size, sha256: record.sha256 };
        const stored = await this.openTree(blobId, identity);
        if (stored !== undefined) return { record, file, tree: stored };
        const started = performance.now();
        const { ino } = await file.stat();
        const built = await treeOfFile(file, record.size, AUDIT_LEAF_BYTES);
        if (built.sha256 === record.sha256) await this.keepTree(blobId, ino, encodeTree(identity, built.levels));
        this.log.info("tree_built", { blobId, size: record.size, kept: built.sha256 === record.sha256, ms: Math.round(performance.now() - started) });
        return { record, file, tree: new MemoryTree(built.levels) };
      } catch (error) {
        await file.close();
        throw error;
      }
    });
  }

  /**
   * Up to `limit` blobs with ids greater than `after`, in ascending order, as their sidecars describe them.
   * Memory stays proportional to `limit`: each fan-out directory is streamed, keeping only the smallest ids.
   */
  async listBlobs(after: string | undefined, limit: number): Promise<BlobPage> {
    const page = await this.entryPage(after, limit);
    const complete = page.entries.filter((entry) => entry.data && entry.sidecar);
    const blobs: BlobRecord[] = [];
    for (let i = 0; i < complete.length; i += LISTING_READ_CONCURRENCY) {
      const records = await Promise.all(complete.slice(i, i + LISTING_READ_CONCURRENCY).map((entry) => this.readSidecar(entry.blobId)));
      // A sidecar deleted since the directory was read just drops out of the page.
      for (const record of records) if (record !== undefined) blobs.push(record);
    }
    const last = page.entries.at(-1);
    return page.more && last !== undefined ? { blobs, next: last.blobId } : { blobs };
  }

  /** Every blob id with a data file or a sidecar, in ascending order, read `pageSize` ids at a time. */
  async *blobIds(pageSize = 4096): AsyncGenerator<string> {
    let after: string | undefined;
    for (;;) {
      const page = await this.entryPage(after, pageSize);
      for (const entry of page.entries) yield entry.blobId;
      const last = page.entries.at(-1);
      if (!page.more || last === undefined) return;
      after = last.blobId;
    }
  }

  /**
   * Re-reads a blob and checks it against its sidecar. The file is opened under the blob's lock (so it is
   * seen together with its own sidecar) but hashed outside it, so reads, writes and deletes of the blob are
   * never held up by the scrub; a blob deleted or replaced meanwhile is reported as `gone`, never quarantined.
   */
  async scrubBlob(blobId: string, options: ScrubBlobOptions): Promise<ScrubVerdict> {
    assertBlobId(blobId);
    const opened = await this.locks.run(blobId, () => this.openForScrub(blobId, options.danglingGraceMs));
    if (!("file" in opened)) return opened;

    const { file, record, size, ino } = opened;
    let actualSha256: string;
    try {
      actualSha256 = await hashFile(file, size, SCRUB_READ_BYTES, options.consume, options.signal);
    } finally {
      await file.close();
    }
    if (size === record.size && actualSha256 === record.sha256) return { kind: "healthy", size };

    return this.locks.run(blobId, async () => {
      const current = await statIfExists(this.blobFile(blobId));
      const currentRecord = await this.readSidecar(blobId);
      if (current === undefined || current.ino !== ino || currentRecord?.sha256 !== record.sha256) return { kind: "gone" };
      await this.quarantine(blobId, record.size);
      return { kind: "corrupt", expectedSha256: record.sha256, actualSha256, expectedSize: record.size, actualSize: size };
    });
  }

  /** Removes a blob and its sidecar; false when there was nothing to remove. */
  async delete(blobId: string): Promise<boolean> {
    assertBlobId(blobId);
    return this.locks.run(blobId, async () => {
      const blobFile = this.blobFile(blobId);
      const size = await fileSize(blobFile);
      // Blob first: a crash in between leaves an orphan sidecar or tree, which the next start removes.
      await rm(blobFile, { force: true });
      await rm(`${blobFile}${TREE_SUFFIX}`, { force: true });
      await rm(`${blobFile}${SIDECAR_SUFFIX}`, { force: true });
      if (size === undefined) return false;
      await fsyncDirectory(this.fanoutDir(blobId));
      this.usedBytes -= size;
      this.blobCount -= 1;
      return true;
    });
  }

  private async commit(record: BlobRecord, tmpBlob: string, tmpSidecar: string, tmpTree: string | undefined): Promise<void> {
    const dir = this.fanoutDir(record.blobId);
    if (await ensureDirectory(dir)) await fsyncDirectory(this.blobsDir);
    const blobFile = this.blobFile(record.blobId);
    const previousSize = await fileSize(blobFile);
    // Sidecar and tree first, so a visible blob always has them; each rename replaces atomically (POSIX rename(2)).
    // A tree names the SHA-256 of its blob, so one left beside other bytes by a crash is never used for them.
    await rename(tmpSidecar, `${blobFile}${SIDECAR_SUFFIX}`);
    if (tmpTree !== undefined) await rename(tmpTree, `${blobFile}${TREE_SUFFIX}`);
    else await rm(`${blobFile}${TREE_SUFFIX}`, { force: true });
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
        if (name.endsWith(TREE_SUFFIX)) {
          const blobId = name.slice(0, -TREE_SUFFIX.length);
          if (!names.has(blobId)) {
            await unlink(join(dir, name));
            this.log.warn("orphan_tree_removed", { blobId });
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

  /** The blob's stored tree when it is the tree of `identity`; undefined when missing or stale. */
  private async openTree(blobId: string, identity: { leafBytes: number; size: number; sha256: string }): Promise<PieceTree | undefined> {
    const file = await openIfExists(`${this.blobFile(blobId)}${TREE_SUFFIX}`);
    if (file === undefined) return undefined;
    try {
      const tree = await PieceTree.check(file, identity);
      if (tree === undefined) {
        this.log.warn("tree_stale", { blobId });
        await file.close();
      }
      return tree;
    } catch (error) {
      await file.close();
      throw error;
    }
  }

  /** Stores a tree built after the fact, unless the blob was replaced or deleted while it was being built. */
  private async keepTree(blobId: string, ino: number, bytes: Uint8Array): Promise<void> {
    const tmpTree = join(this.tmpDir, `${randomBytes(16).toString("hex")}${TREE_SUFFIX}`);
    try {
      await writeFileDurably(tmpTree, bytes);
      await this.locks.run(blobId, async () => {
        if ((await statIfExists(this.blobFile(blobId)))?.ino !== ino) return;
        await rename(tmpTree, `${this.blobFile(blobId)}${TREE_SUFFIX}`);
        await fsyncDirectory(this.fanoutDir(blobId));
      });
    } finally {
      await rm(tmpTree, { force: true });
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

  /** Re-derives a sidecar missing at startup from the blob itself (only the startup scan does this). */
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

  /** The first step of a scrub check, under the blob's lock: settle half-lost blobs, or open a whole one. */
  private async openForScrub(
    blobId: string,
    danglingGraceMs: number,
  ): Promise<Exclude<ScrubVerdict, { kind: "healthy" | "corrupt" }> | { file: FileHandle; record: BlobRecord; size: number; ino: number }> {
    const sidecarFile = `${this.blobFile(blobId)}${SIDECAR_SUFFIX}`;
    const file = await openIfExists(this.blobFile(blobId));
    if (file === undefined) {
      const sidecarSize = await fileSize(sidecarFile);
      if (sidecarSize === undefined) return { kind: "gone" };
      // The data is gone but the store still counts the blob (at the size its sidecar records).
      const record = await this.readSidecar(blobId);
      await rm(`${this.blobFile(blobId)}${TREE_SUFFIX}`, { force: true });
      await rm(sidecarFile, { force: true });
      await fsyncDirectory(this.fanoutDir(blobId));
      this.uncount(record?.size ?? 0);
      this.log.warn("scrub_data_missing", { blobId });
      return { kind: "missing", lost: "data" };
    }
    try {
      const { size, ino, mtimeMs } = await file.stat();
      const record = await this.readSidecar(blobId);
      if (record !== undefined) return { file, record, size, ino };
      await file.close();
      if (this.now().getTime() - mtimeMs < danglingGraceMs) return { kind: "recent" };
      // Nothing says what these bytes should be, so they cannot be verified or served.
      await this.quarantine(blobId, size);
      this.log.warn("scrub_sidecar_missing", { blobId, size });
      return { kind: "missing", lost: "sidecar" };
    } catch (error) {
      await file.close().catch(() => {});
      throw error;
    }
  }

  /**
   * Moves a blob (and its sidecar, if any) to quarantine/ under a unique name and stops counting it. Must run
   * under the blob's lock. Data first: it stops being served at once, and a crash in between leaves an orphan
   * sidecar, which the next start removes.
   */
  private async quarantine(blobId: string, countedBytes: number): Promise<void> {
    if (await ensureDirectory(this.quarantineDir)) await fsyncDirectory(this.dataDir);
    const target = join(this.quarantineDir, `${blobId}.${this.now().getTime()}-${randomBytes(4).toString("hex")}`);
    await rename(this.blobFile(blobId), target);
    // The tree is derived from the bytes, so quarantine keeps only the data and what it should have been.
    await rm(`${this.blobFile(blobId)}${TREE_SUFFIX}`, { force: true });
    try {
      await rename(`${this.blobFile(blobId)}${SIDECAR_SUFFIX}`, `${target}${SIDECAR_SUFFIX}`);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    await fsyncDirectory(this.fanoutDir(blobId));
    await fsyncDirectory(this.quarantineDir);
    this.uncount(countedBytes);
    this.log.warn("blob_quarantined", { blobId, path: target });
  }

  /**
   * Stops counting a blob that left the store other than by delete(). `bytes` is the size its sidecar records,
   * which is what put() counted; the file's current size may differ when it was damaged.
   */
  private uncount(bytes: number): void {
    this.usedBytes = Math.max(0, this.usedBytes - bytes);
    this.blobCount = Math.max(0, this.blobCount - 1);
  }

  /**
   * The `limit` smallest ids above `after` that have a data file or a sidecar, and whether more exist. Fan-out
   * directories are visited in order (every id in one sorts before every id in the next) and streamed.
   */
  private async entryPage(after: string | undefined, limit: number): Promise<{ entries: StoredEntry[]; more: boolean }> {
    const fanouts = (await readdir(this.blobsDir, { withFileTypes: true }))
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name)
      .sort();
    // Fan-out is by the ids' tails, so ids in order are spread over every directory: each page reads them all,
    // keeping only the `limit` smallest ids above `after`.
    const smallest = new SmallestEntries(limit + 1, after);
    for (const fanout of fanouts) {
      let dir;
      try {
        dir = await opendir(join(this.blobsDir, fanout), { bufferSize: 256 });
      } catch (error) {
        if (isNotFound(error)) continue;
        throw error;
      }
      for await (const entry of dir) {
        if (entry.name.endsWith(TREE_SUFFIX)) continue; // a blob's tree, never a blob of its own
        const isSidecar = entry.name.endsWith(SIDECAR_SUFFIX);
        const blobId = isSidecar ? entry.name.slice(0, -SIDECAR_SUFFIX.length) : entry.name;
        if (BLOB_ID_PATTERN.test(blobId) && blobId.endsWith(fanout)) smallest.offer(blobId, isSidecar ? "sidecar" : "data");
      }
    }
    const entries = smallest.sorted();
    return { entries: entries.slice(0, limit), more: entries.length > limit };
  }

  /**
   * Fan-out by the id's last two characters: edge ids start with their bucket's id, so a prefix would put a
   * whole bucket in one directory, while the random tail spreads blobs evenly.
   */
  private fanoutDir(blobId: string): string {
    return join(this.blobsDir, blobId.slice(-2));
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

/** What a fan-out directory holds for one blob id. */
interface StoredEntry {
  blobId: string;
  data: boolean;
  sidecar: boolean;
}

/**
 * Keeps the `capacity` smallest blob ids offered (above `after`), in memory proportional to `capacity`:
 * when the set grows to twice that, it is cut back and anything above the cut is refused from then on.
 */
class SmallestEntries {
  private readonly entries = new Map<string, StoredEntry>();
  private readonly capacity: number;
  private readonly after: string | undefined;
  private ceiling: string | undefined;

  constructor(capacity: number, after: string | undefined) {
    this.capacity = capacity;
    this.after = after;
  }

  get size(): number {
    return this.entries.size;
  }

  offer(blobId: string, kind: "data" | "sidecar"): void {
    if (this.after !== undefined && blobId <= this.after) return;
    if (this.ceiling !== undefined && blobId > this.ceiling) return;
    let entry = this.entries.get(blobId);
    if (entry === undefined) {
      entry = { blobId, data: false, sidecar: false };
      this.entries.set(blobId, entry);
    }
    entry[kind] = true;
    if (this.entries.size >= 2 * this.capacity) this.cut();
  }

  sorted(): StoredEntry[] {
    this.cut();
    return [...this.entries.keys()].sort().map((id) => this.entries.get(id)!);
  }

  private cut(): void {
    if (this.entries.size <= this.capacity) return;
    const dropped = [...this.entries.keys()].sort().slice(this.capacity);
    for (const id of dropped) this.entries.delete(id);
    this.ceiling = [...this.entries.keys()].reduce((max, id) => (id > max ? id : max));
  }
}

/** SHA-256 of the first `size` bytes of an open file, read positionally `chunkBytes` at a time. */
async function hashFile(
  file: FileHandle,
  size: number,
  chunkBytes: number,
  consume: (bytes: number, signal?: AbortSignal) => Promise<void>,
  signal?: AbortSignal,
): Promise<string> {
  const hash = createHash("sha256");
  const buffer = Buffer.allocUnsafe(chunkBytes);
  for (let position = 0; position < size; ) {
    signal?.throwIfAborted();
    const { bytesRead } = await file.read(buffer, 0, Math.min(buffer.length, size - position), position);
    if (bytesRead === 0) break;
    hash.update(buffer.subarray(0, bytesRead));
    position += bytesRead;
    await consume(bytesRead, signal);
  }
  return hash.digest("hex");
}

async function openIfExists(path: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, "r");
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

async function statIfExists(path: string): Promise<{ ino: number } | undefined> {
  try {
    return await stat(path);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}
