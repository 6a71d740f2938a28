// Walking every bucket's replica index once, for chores that bring older data up to date (placement-backfill,
// audit-roots): a bounded number of index pages per run, the place saved in D1 (chore_cursors) after each page, so
// the walk resumes across runs and restarts; once through, a run costs one read. Buckets are walked in name order:
// one created after the walk passed its name holds only data written by this release, which needs nothing.

import { z } from "zod";
import { bucketAfter } from "../../src/db/accounts.ts";
import { markChoreDone, readChoreCursor, saveChoreCursor } from "../../src/db/chore-cursors.ts";
import type { Db } from "../../src/db/client.ts";
import type { Env } from "../../src/env.ts";
import { bucketIndexFor, type BucketIndexStub } from "../../src/services/bucket-indexes.ts";
import type { ReplicaCursor, ReplicaOnNode } from "../durable/bucket-index/bucket-index.ts";

export interface WalkBudget {
  /** Index pages (one Durable Object call each) a run reads at most. */
  pagesPerRun: number;
  /** Index rows per page: replica rows, or upload parts (a part holds each of its replicas). */
  pageSize: number;
}

export interface WalkPage {
  bucketId: string;
  index: BucketIndexStub;
  replicas: ReplicaOnNode[];
}

const replicaCursorSchema = z.discriminatedUnion("in", [
  z.object({ in: z.literal("replicas"), key: z.string(), versionId: z.string(), segment: z.number().int(), nodeId: z.string(), blobId: z.string() }),
  z.object({ in: z.literal("parts"), uploadId: z.string(), partNumber: z.number().int() }),
]) satisfies z.ZodType<ReplicaCursor>;

/** Buckets named up to `after` are done; `current` is the bucket being walked and where its walk resumes. */
const progressSchema = z.object({
  after: z.string(),
  current: z.object({ name: z.string(), id: z.string(), within: replicaCursorSchema.nullable() }).nullable(),
});
type Progress = z.infer<typeof progressSchema>;

const START: Progress = { after: "", current: null };

/** A cursor this release cannot read starts the walk over: slower, never wrong, as every visit is idempotent. */
function progressOf(saved: string | null | undefined): Progress {
  if (!saved) return START;
  try {
    return progressSchema.parse(JSON.parse(saved));
  } catch {
    return START;
  }
}

/**
 * Visits the next pages of the walk named `chore`. `visit` returns "stop" to end this run without moving past the
 * page (it is read again next run, so what it did must be harmless to repeat).
 */
export async function walkReplicaIndexes(
  env: Env,
  db: Db,
  chore: string,
  budget: WalkBudget,
  now: number,
  visit: (page: WalkPage) => Promise<"next" | "stop">,
): Promise<{ done: boolean; pages: number }> {
  const saved = await readChoreCursor(db, chore);
  if (saved?.doneAt != null) return { done: true, pages: 0 };
  let progress = progressOf(saved?.cursor);
  let pages = 0;
  while (pages < budget.pagesPerRun) {
    let current = progress.current;
    if (!current) {
      const bucket = await bucketAfter(db, progress.after);
      if (!bucket) {
        await markChoreDone(db, chore, now);
        return { done: true, pages };
      }
      current = { name: bucket.name, id: bucket.id, within: null };
    }
    const index = bucketIndexFor(env, current.id);
    const page = await index.listReplicaPage(current.within, budget.pageSize);
    pages++;
    if ((await visit({ bucketId: current.id, index, replicas: page.replicas })) === "stop") return { done: false, pages };
    progress = page.next ? { after: progress.after, current: { ...current, within: page.next } } : { after: current.name, current: null };
    // Saved after every page: a run cut short repeats at most one page, which changes nothing the second time.
    await saveChoreCursor(db, chore, JSON.stringify(progress), now);
  }
  return { done: false, pages };
}
