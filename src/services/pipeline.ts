// The edge's streaming body pipeline. A request body is read once, in large chunks, and every chunk is
// handed to each stage in order: hashers, checksum validators, (later) the encryptor, and the fan-out to
// replica uploads. Stages see bytes exactly once and never hold a whole object.
//
// workerd hands JS 4 KiB chunks from a default reader, and a TransformStream in the path caps throughput
// near 100 MiB/s; BYOB reads into large buffers are several times faster (../shared/TOOLCHAIN.md).

/** One step a body passes through. `finish` runs after the last byte and may reject the body (bad digest). */
export interface BodyStage {
  write(chunk: Uint8Array): void | Promise<void>;
  finish(): void | Promise<void>;
  /** Called when the body fails part way; must release resources and never throw. */
  abort?(reason: unknown): void | Promise<void>;
}

/** Where a read delivers plaintext, in order; a rejected write means the client went away. */
export interface ChunkWriter {
  write(chunk: Uint8Array): Promise<void>;
}

const READ_SIZE = 1024 * 1024;

/** The read buffer for a body of known length: no bigger than the body (small objects are the common case). */
export function readSizeFor(expectedBytes: number): number {
  return Math.min(READ_SIZE, Math.max(expectedBytes, 1));
}

/**
 * Yields a stream's bytes in chunks of up to 1 MiB, each in its own buffer (stages may keep a reference to it).
 * Uses a BYOB reader where the stream supports one.
 */
export async function* readChunks(stream: ReadableStream<Uint8Array>, chunkSize = READ_SIZE): AsyncGenerator<Uint8Array> {
  let byob: ReadableStreamBYOBReader | undefined;
  try {
    byob = stream.getReader({ mode: "byob" });
  } catch {
    byob = undefined;
  }
  if (!byob) {
    const reader = stream.getReader();
    try {
      while (true) {
        const { done, value } = await reader.read();
        if (done) return;
        if (value.byteLength > 0) yield value;
      }
    } finally {
      reader.releaseLock();
    }
  }
  try {
    while (true) {
      const buffer = new Uint8Array(chunkSize);
      // readAtLeast (workerd) fills the buffer instead of returning 4 KiB slivers.
      const reader = byob as ReadableStreamBYOBReader & {
        readAtLeast?: (min: number, view: Uint8Array) => Promise<ReadableStreamReadResult<Uint8Array>>;
      };
      const result = reader.readAtLeast ? await reader.readAtLeast(chunkSize, buffer) : await reader.read(buffer);
      if (result.value && result.value.byteLength > 0) yield result.value;
      if (result.done) return;
    }
  } finally {
    byob.releaseLock();
  }
}

/** Feeds every chunk of `source` through `stages`, then finishes them in order. Returns the byte count. */
export async function pump(source: AsyncIterable<Uint8Array>, stages: readonly BodyStage[]): Promise<number> {
  let total = 0;
  try {
    for await (const chunk of source) {
      total += chunk.byteLength;
      for (const stage of stages) await stage.write(chunk);
    }
    for (const stage of stages) await stage.finish();
    return total;
  } catch (error) {
    await Promise.all(stages.map(async (s) => {
      try {
        await s.abort?.(error);
      } catch {
        // abort must not mask the original failure
      }
    }));
    throw error;
  }
}

/** A stage that hashes the bytes with a workerd DigestStream (MD5, SHA-1, SHA-256 ...). */
export class DigestStage implements BodyStage {
  private readonly stream: DigestStream;
  private readonly writer: WritableStreamDefaultWriter<Uint8Array>;
  private result?: ArrayBuffer;

  constructor(algorithm: "MD5" | "SHA-1" | "SHA-256") {
    this.stream = new crypto.DigestStream(algorithm);
    this.writer = this.stream.getWriter();
  }

  async write(chunk: Uint8Array): Promise<void> {
    await this.writer.write(chunk);
  }

  async finish(): Promise<void> {
    await this.writer.close();
    this.result = await this.stream.digest;
  }

  abort(reason: unknown): void {
    void this.writer.abort(reason).catch(() => {});
  }

  /** The digest; only valid after `finish`. */
  get digest(): ArrayBuffer {
    if (!this.result) throw new Error("digest read before the body finished");
    return this.result;
  }
}

/** Fails the body when it is not exactly `expected` bytes long (Content-Length or x-amz-decoded-content-length). */
export class LengthStage implements BodyStage {
  private seen = 0;
  private readonly expected: number;
  private readonly onMismatch: (seen: number) => Error;
  constructor(expected: number, onMismatch: (seen: number) => Error) {
    this.expected = expected;
    this.onMismatch = onMismatch;
  }
  write(chunk: Uint8Array): void {
    this.seen += chunk.byteLength;
    if (this.seen > this.expected) throw this.onMismatch(this.seen);
  }
  finish(): void {
    if (this.seen !== this.expected) throw this.onMismatch(this.seen);
  }
}
