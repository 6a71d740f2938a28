// Queries over `chore_cursors`: where a chore that walks the whole network resumes, and whether it has finished.

import { eq } from "drizzle-orm";
import type { Db } from "./client.ts";
import { choreCursors } from "./schema.ts";

export interface ChoreCursor {
  /** The chore's own JSON, or null before its first page and after it finished. */
  cursor: string | null;
  doneAt: number | null;
}

export async function readChoreCursor(db: Db, chore: string): Promise<ChoreCursor | null> {
  const row = await db.select({ cursor: choreCursors.cursor, doneAt: choreCursors.doneAt }).from(choreCursors).where(eq(choreCursors.chore, chore)).get();
  return row ?? null;
}

export async function saveChoreCursor(db: Db, chore: string, cursor: string, now: number): Promise<void> {
  await db
    .insert(choreCursors)
    .values({ chore, cursor, doneAt: null, updatedAt: now })
    .onConflictDoUpdate({ target: choreCursors.chore, set: { cursor, doneAt: null, updatedAt: now } });
}

export async function markChoreDone(db: Db, chore: string, now: number): Promise<void> {
  await db
    .insert(choreCursors)
    .values({ chore, cursor: null, doneAt: now, updatedAt: now })
    .onConflictDoUpdate({ target: choreCursors.chore, set: { cursor: null, doneAt: now, updatedAt: now } });
}
