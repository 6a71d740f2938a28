// Queries over the test clock's one-row offset table (src/clock.ts decides when it is read).

import { eq, sql } from "drizzle-orm";
import type { Db } from "./client.ts";
import { testClock } from "./schema.ts";

const ROW_ID = 1;

export async function readClockOffset(db: Db): Promise<number> {
  const row = await db.select({ offsetMs: testClock.offsetMs }).from(testClock).where(eq(testClock.id, ROW_ID)).get();
  return row?.offsetMs ?? 0;
}

/** Adds `ms` to the offset in one statement (two advances never lose each other); returns the new offset. */
export async function addClockOffset(db: Db, ms: number): Promise<number> {
  const [row] = await db
    .insert(testClock)
    .values({ id: ROW_ID, offsetMs: ms })
    .onConflictDoUpdate({ target: testClock.id, set: { offsetMs: sql`${testClock.offsetMs} + ${ms}` } })
    .returning({ offsetMs: testClock.offsetMs });
  return row!.offsetMs;
}

export async function clearClockOffset(db: Db): Promise<void> {
  await db.delete(testClock).where(eq(testClock.id, ROW_ID));
}
