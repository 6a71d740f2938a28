// A request body that the test produces only as the edge reads it, so a test can tell how much of a body the edge
// pulled before it answered: an edge that buffers a body answers only after the client sent all of it.

export const MIB = 1024 * 1024;

export function meteredBody(total: number, byte = 0x20): { stream: ReadableStream<Uint8Array>; pulled: () => number } {
  let pulled = 0;
  const chunk = new Uint8Array(64 * 1024).fill(byte);
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (pulled >= total) return controller.close();
        const n = Math.min(chunk.byteLength, total - pulled);
        pulled += n;
        controller.enqueue(chunk.slice(0, n));
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, pulled: () => pulled };
}
