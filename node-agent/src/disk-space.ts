// Size and free space of the filesystem holding the data directory, as statfs(2) reports them.

import { statfs } from "node:fs/promises";

export interface DiskSpace {
  totalBytes: bigint;
  /** Space available to this (unprivileged) process: blocks * bavail, not bfree. */
  freeBytes: bigint;
}

export async function measureDiskSpace(path: string): Promise<DiskSpace> {
  const s = await statfs(path, { bigint: true });
  return { totalBytes: s.bsize * s.blocks, freeBytes: s.bsize * s.bavail };
}
