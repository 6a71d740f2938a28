// HTTP Range requests for blob reads (RFC 9110 §14): a single `bytes=` range in any of its three forms.

/** Inclusive byte offsets within a blob. */
export interface ByteRange {
  start: number;
  end: number;
}

export type RangeResolution =
  | { kind: "whole" }
  | { kind: "partial"; range: ByteRange }
  | { kind: "unsatisfiable" };

const SINGLE_RANGE = /^bytes=(\d*)-(\d*)$/;

/**
 * Resolves a Range header against a blob of `size` bytes. A header we cannot parse (or a multi-range
 * request) is ignored and the whole blob is served, as RFC 9110 §14.2 allows.
 */
export function resolveRange(header: string | undefined, size: number): RangeResolution {
  if (header === undefined) return { kind: "whole" };
  const m = SINGLE_RANGE.exec(header.trim());
  if (!m) return { kind: "whole" };
  const [first, last] = [m[1]!, m[2]!];
  if (first === "" && last === "") return { kind: "whole" };

  if (first === "") {
    // bytes=-n: the final n bytes; a suffix longer than the blob means the whole blob.
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return { kind: "unsatisfiable" };
    return { kind: "partial", range: { start: Math.max(0, size - suffix), end: size - 1 } };
  }

  const start = Number(first);
  const end = last === "" ? size - 1 : Number(last);
  if (last !== "" && end < start) return { kind: "whole" };
  if (start >= size) return { kind: "unsatisfiable" };
  return { kind: "partial", range: { start, end: Math.min(end, size - 1) } };
}
