// The two fsync steps that make a file appear durably: fsync the file before renaming it into place,
// then fsync the directory so the rename itself survives a power cut (see fsync(2), rename(2)).

import { open } from "node:fs/promises";

/** Creates `path` (it must not exist yet), writes `contents` and fsyncs it. */
export async function writeFileDurably(path: string, contents: string): Promise<void> {
  const file = await open(path, "wx");
  try {
    await file.writeFile(contents);
    await file.sync();
  } finally {
    await file.close();
  }
}

/** fsync(2) flushes the file itself, whichever descriptor wrote it. */
export async function fsyncFile(path: string): Promise<void> {
  const file = await open(path, "r+");
  try {
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
