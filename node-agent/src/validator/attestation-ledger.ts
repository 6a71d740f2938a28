// Every attestation this validator signed, by (roundId, pieceId). Two different signed attestations for one challenge
// are objective grounds to slash the validator (issue 16), so a challenge is attested once: when the coordinator
// sends the assignment again (a reconnect, a Durable Object restart) the same signed message is sent again, never a
// new verdict. With a data dir the ledger is an append-only JSON-lines file, so this holds across restarts too; an
// entry is written (and fsynced) before the attestation leaves the process.

import { open, readFile, rename, mkdir, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { validatorMessageSchema, type ValidatorMessage } from "../../../src/protocol/validator-session.ts";
import type { Logger } from "../logger.ts";

export type AttestationMessage = Extract<ValidatorMessage, { type: "attestation" }>;

export interface LedgerEntry {
  message: AttestationMessage;
  /** The assignment's deadline (unix seconds): after it, plus a grace, the entry only guards against re-signing. */
  deadline: number;
  acked: boolean;
}

/** How long a signed attestation is remembered after its deadline; assignments older than this are refused anyway. */
export const LEDGER_RETENTION_SECONDS = 7 * 86_400;

export const LEDGER_FILE = "validator-attestations.jsonl";

const attestationMessageSchema = validatorMessageSchema.options[1];
const lineSchema = z.union([
  z.object({ signed: attestationMessageSchema, deadline: z.number().int().positive() }),
  z.object({ acked: z.string() }),
]);

export function challengeKey(roundId: number, pieceId: string): string {
  return `${roundId}:${pieceId}`;
}

export class AttestationLedger {
  private readonly entries = new Map<string, LedgerEntry>();
  private appendQueue: Promise<void> = Promise.resolve();
  private readonly file: FileHandle | undefined;
  private readonly log: Logger;

  private constructor(file: FileHandle | undefined, log: Logger) {
    this.file = file;
    this.log = log;
  }

  /** A ledger kept in memory only (no data dir). */
  static inMemory(log: Logger): AttestationLedger {
    return new AttestationLedger(undefined, log);
  }

  /** Loads `<dataDir>/validator-attestations.jsonl`, drops entries past retention, and rewrites it compacted. */
  static async open(dataDir: string, nowSeconds: number, log: Logger): Promise<AttestationLedger> {
    await mkdir(dataDir, { recursive: true });
    const path = join(dataDir, LEDGER_FILE);
    const kept = new Map<string, LedgerEntry>();
    let text = "";
    try {
      text = await readFile(path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
    let skipped = 0;
    for (const line of text.split("\n")) {
      if (line.trim() === "") continue;
      let parsed: z.infer<typeof lineSchema>;
      try {
        parsed = lineSchema.parse(JSON.parse(line));
      } catch {
        skipped++; // a line torn by a crash mid-append: the attestation it held was never sent
        continue;
      }
      if ("signed" in parsed) {
        const key = challengeKey(parsed.signed.attestation.roundId, parsed.signed.attestation.pieceId);
        if (!kept.has(key)) kept.set(key, { message: parsed.signed, deadline: parsed.deadline, acked: false });
      } else {
        const entry = kept.get(parsed.acked);
        if (entry) entry.acked = true;
      }
    }
    for (const [key, entry] of kept) if (entry.deadline + LEDGER_RETENTION_SECONDS < nowSeconds) kept.delete(key);

    const compacted = [...kept.values()].flatMap((e) => {
      const lines = [JSON.stringify({ signed: e.message, deadline: e.deadline })];
      if (e.acked) lines.push(JSON.stringify({ acked: challengeKey(e.message.attestation.roundId, e.message.attestation.pieceId) }));
      return lines;
    });
    const tmp = `${path}.tmp`;
    const out = await open(tmp, "w", 0o600);
    await out.writeFile(compacted.map((l) => `${l}\n`).join(""));
    await out.sync();
    await out.close();
    await rename(tmp, path);

    const ledger = new AttestationLedger(await open(path, "a", 0o600), log);
    for (const [key, entry] of kept) ledger.entries.set(key, entry);
    if (skipped > 0) log.warn("attestation_ledger_lines_skipped", { file: path, skipped });
    return ledger;
  }

  get(roundId: number, pieceId: string): LedgerEntry | undefined {
    return this.entries.get(challengeKey(roundId, pieceId));
  }

  /** Remembers a signed attestation (durably, with a data dir) before anyone sends it. Refuses a second one. */
  async record(message: AttestationMessage, deadline: number): Promise<LedgerEntry> {
    const key = challengeKey(message.attestation.roundId, message.attestation.pieceId);
    const existing = this.entries.get(key);
    if (existing) return existing;
    const entry: LedgerEntry = { message, deadline, acked: false };
    this.entries.set(key, entry);
    await this.append({ signed: message, deadline });
    return entry;
  }

  /** The coordinator recorded it: no need to send it again. */
  async markAcked(roundId: number, pieceId: string): Promise<boolean> {
    const key = challengeKey(roundId, pieceId);
    const entry = this.entries.get(key);
    if (!entry || entry.acked) return false;
    entry.acked = true;
    await this.append({ acked: key });
    return true;
  }

  /** Signed attestations not yet acknowledged whose deadline has not long passed (the coordinator may still take them). */
  unacked(nowSeconds: number, graceSeconds: number): LedgerEntry[] {
    return [...this.entries.values()].filter((e) => !e.acked && e.deadline + graceSeconds >= nowSeconds);
  }

  /** Forgets entries past retention (the file is compacted at the next start). */
  prune(nowSeconds: number): void {
    for (const [key, entry] of this.entries) if (entry.deadline + LEDGER_RETENTION_SECONDS < nowSeconds) this.entries.delete(key);
  }

  async close(): Promise<void> {
    await this.appendQueue;
    await this.file?.close();
  }

  private append(line: object): Promise<void> {
    const file = this.file;
    if (file === undefined) return Promise.resolve();
    const step = this.appendQueue.then(async () => {
      await file.appendFile(`${JSON.stringify(line)}\n`);
      await file.sync();
    });
    // A failed write is logged; the attestation still goes out (refusing to attest would cost the node, not us).
    this.appendQueue = step.catch((error: unknown) => this.log.error("attestation_ledger_write_failed", { error }));
    return this.appendQueue;
  }
}
