// The scrub chore: re-reads every blob at a bounded rate and checks it against its sidecar, so bit rot and
// damaged files are found before a client needs the bytes. Corrupt blobs go to quarantine (never served again);
// half-lost blobs are cleaned up; the edge hears about both in a ScrubReport after each pass and repairs them
// from other replicas. Passes run on a schedule and on demand (POST /scrub), one at a time.
// Findings the edge has not acknowledged are kept (on disk too) and sent again with the next pass: a quarantined
// blob is not rediscovered, so its report is the edge's only news of it.

import { randomBytes } from "node:crypto";
import { readFile, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { z } from "zod";
import { blobIdSchema, MAX_SCRUB_FINDINGS_PER_REPORT, type ScrubReport } from "../../src/protocol/node-protocol.ts";
import type { BlobStore } from "./blob-store.ts";
import { fsyncDirectory, writeFileDurably } from "./durable-fs.ts";
import { silentLogger, type Logger } from "./logger.ts";
import { ByteRateLimiter } from "./rate-limiter.ts";

/** A data file without a sidecar this young may be a file an operator is restoring by hand: leave it alone. */
export const DANGLING_GRACE_MS = 5 * 60_000;
/** setTimeout cannot wait longer than 2^31-1 ms; longer intervals are waited in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export type CorruptBlob = ScrubReport["corrupt"][number];

/** What one pass found; filled in as the pass goes, so a pass cut short still accounts for what it did. */
export interface ScrubPass {
  startedAt: number;
  scanned: number;
  corrupt: CorruptBlob[];
  missing: string[];
}

export interface ScrubPassOptions {
  store: BlobStore;
  /** Caps the bytes read per second; shared by nothing else. */
  limiter: ByteRateLimiter;
  signal?: AbortSignal;
  danglingGraceMs?: number;
  log?: Logger;
}

/** One pass over every blob, in id order. Blobs deleted or replaced meanwhile are skipped, not reported. */
export async function runScrubPass(options: ScrubPassOptions, pass: ScrubPass = { startedAt: Date.now(), scanned: 0, corrupt: [], missing: [] }): Promise<ScrubPass> {
  const { store, limiter, signal } = options;
  const log = options.log ?? silentLogger;
  const check = { consume: (bytes: number, s?: AbortSignal) => limiter.consume(bytes, s), signal, danglingGraceMs: options.danglingGraceMs ?? DANGLING_GRACE_MS };
  for await (const blobId of store.blobIds()) {
    signal?.throwIfAborted();
    let verdict;
    try {
      verdict = await store.scrubBlob(blobId, check);
    } catch (error) {
      if (signal?.aborted) throw error;
      // An unreadable blob is left for the next pass rather than condemned on one I/O error.
      log.error("scrub_check_failed", { blobId, error });
      continue;
    }
    switch (verdict.kind) {
      case "healthy":
        pass.scanned++;
        break;
      case "corrupt":
        pass.scanned++;
        pass.corrupt.push({ blobId, expectedSha256: verdict.expectedSha256, actualSha256: verdict.actualSha256 });
        log.warn("scrub_found_corrupt_blob", { blobId, ...verdict });
        break;
      case "missing":
        pass.scanned++;
        pass.missing.push(blobId);
        break;
      case "gone":
      case "recent":
        break;
    }
  }
  return pass;
}

export interface ScrubChoreDeps {
  store: BlobStore;
  rateBytesPerSecond: number;
  /** Seconds between scheduled passes, the first one interval after start; 0 = only on request. */
  intervalSeconds: number;
  /** Sends a report to the edge; throws when it was not accepted. */
  deliver: (report: ScrubReport, signal: AbortSignal) => Promise<void>;
  /** Where undelivered findings survive a restart; undefined keeps them in memory only. */
  pendingFile?: string;
  danglingGraceMs?: number;
  now?: () => Date;
  log?: Logger;
}

export type ScrubRequestOutcome = "started" | "already-running" | "stopped";

export interface ScrubChore {
  /** Starts a pass now, unless one is running or the chore was stopped (the agent is shutting down). */
  requestPass(): ScrubRequestOutcome;
  /** The pass (and its report) in progress, if any. */
  readonly running: Promise<void> | undefined;
  /** Stops the schedule, aborts a pass in progress and waits for it (its findings are kept for later). */
  stop(): Promise<void>;
}

const pendingSchema = z.object({
  corrupt: z.array(z.object({ blobId: blobIdSchema, expectedSha256: z.string(), actualSha256: z.string() })),
  missing: z.array(blobIdSchema),
});
type PendingFindings = z.infer<typeof pendingSchema>;

export function startScrubChore(deps: ScrubChoreDeps): ScrubChore {
  const log = deps.log ?? silentLogger;
  const now = deps.now ?? (() => new Date());
  const limiter = new ByteRateLimiter(deps.rateBytesPerSecond);
  const abort = new AbortController();
  const pending = new PendingReport(deps.pendingFile, deps.store.tmpDir, log);
  let running: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;

  const passAndReport = async () => {
    const pass: ScrubPass = { startedAt: now().getTime(), scanned: 0, corrupt: [], missing: [] };
    log.info("scrub_started");
    let completed = false;
    try {
      await runScrubPass({ store: deps.store, limiter, signal: abort.signal, danglingGraceMs: deps.danglingGraceMs, log }, pass);
      completed = true;
    } catch (error) {
      if (!abort.signal.aborted) log.error("scrub_pass_failed", { error });
    }
    await pending.add(pass);
    if (!completed) return; // findings so far wait for the next pass's report
    const report = pending.report({ startedAt: pass.startedAt, finishedAt: now().getTime(), scanned: pass.scanned });
    log.info("scrub_finished", { scanned: report.scanned, corrupt: pass.corrupt.length, missing: pass.missing.length, ms: report.finishedAt - report.startedAt });
    try {
      await deps.deliver(report, abort.signal);
      await pending.delivered(report);
    } catch (error) {
      log.warn("scrub_report_failed", { error, undelivered: report.corrupt.length + report.missing.length });
    }
  };

  const requestPass = (): ScrubRequestOutcome => {
    if (abort.signal.aborted) return "stopped";
    if (running !== undefined) return "already-running";
    running = passAndReport()
      .catch((error: unknown) => log.error("scrub_crashed", { error }))
      .finally(() => (running = undefined));
    return "started";
  };

  const schedule = (waitMs: number) => {
    if (abort.signal.aborted) return;
    timer = setTimeout(() => {
      if (waitMs > MAX_TIMER_MS) return schedule(waitMs - MAX_TIMER_MS);
      requestPass();
      schedule(deps.intervalSeconds * 1000);
    }, Math.min(waitMs, MAX_TIMER_MS));
    // The schedule alone never keeps the process alive; the HTTP server does.
    timer.unref();
  };
  if (deps.intervalSeconds > 0) schedule(deps.intervalSeconds * 1000);

  return {
    requestPass,
    get running() {
      return running;
    },
    async stop() {
      abort.abort();
      clearTimeout(timer);
      await running;
    },
  };
}

/** Findings not yet acknowledged by the edge, deduplicated by blob id, mirrored to `file` when given. */
class PendingReport {
  private readonly corrupt = new Map<string, CorruptBlob>();
  private readonly missing = new Set<string>();
  private readonly file: string | undefined;
  private readonly tmpDir: string;
  private readonly log: Logger;
  private loaded: boolean;

  constructor(file: string | undefined, tmpDir: string, log: Logger) {
    this.file = file;
    this.tmpDir = tmpDir;
    this.log = log;
    this.loaded = file === undefined;
  }

  async add(pass: ScrubPass): Promise<void> {
    await this.load();
    for (const finding of pass.corrupt) this.corrupt.set(finding.blobId, finding);
    for (const blobId of pass.missing) this.missing.add(blobId);
    if (pass.corrupt.length + pass.missing.length > 0) await this.save();
  }

  report(pass: Pick<ScrubReport, "startedAt" | "finishedAt" | "scanned">): ScrubReport {
    return {
      ...pass,
      corrupt: [...this.corrupt.values()].slice(0, MAX_SCRUB_FINDINGS_PER_REPORT),
      missing: [...this.missing].slice(0, MAX_SCRUB_FINDINGS_PER_REPORT),
    };
  }

  async delivered(report: ScrubReport): Promise<void> {
    if (report.corrupt.length + report.missing.length === 0) return;
    for (const finding of report.corrupt) this.corrupt.delete(finding.blobId);
    for (const blobId of report.missing) this.missing.delete(blobId);
    await this.save();
  }

  private async load(): Promise<void> {
    if (this.loaded || this.file === undefined) return;
    this.loaded = true;
    let text: string;
    try {
      text = await readFile(this.file, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") this.log.warn("scrub_pending_unreadable", { error });
      return;
    }
    const parsed = pendingSchema.safeParse(safeJson(text));
    if (!parsed.success) return this.log.warn("scrub_pending_unreadable", { message: "malformed", file: this.file });
    for (const finding of parsed.data.corrupt) this.corrupt.set(finding.blobId, finding);
    for (const blobId of parsed.data.missing) this.missing.add(blobId);
  }

  /** Replaces the file atomically (temp file, fsync, rename, fsync dir); removes it when nothing is pending. */
  private async save(): Promise<void> {
    if (this.file === undefined) return;
    try {
      if (this.corrupt.size + this.missing.size === 0) {
        await rm(this.file, { force: true });
      } else {
        const contents: PendingFindings = { corrupt: [...this.corrupt.values()], missing: [...this.missing] };
        const tmp = join(this.tmpDir, `scrub-pending-${randomBytes(8).toString("hex")}`);
        await writeFileDurably(tmp, JSON.stringify(contents));
        await rename(tmp, this.file);
      }
      await fsyncDirectory(dirname(this.file));
    } catch (error) {
      // Still held in memory; only a restart before the next delivery would lose them.
      this.log.error("scrub_pending_unsaved", { error });
    }
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
