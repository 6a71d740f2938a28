// What processes and ports a test left behind, read from /proc (Linux) and by binding.

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";

/** Every process below `root` (its children, theirs, ...), from each process's parent in /proc/<pid>/stat. */
export function descendantsOf(root: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The command name in parentheses may hold spaces; the fields after the last ")" are "state ppid ...".
      const fields = readFileSync(`/proc/${entry}/stat`, "utf8").split(")").pop()!.trim().split(" ");
      parentOf.set(Number(entry), Number(fields[1]));
    } catch {
      // exited while we looked
    }
  }
  const found: number[] = [];
  let frontier = [root];
  while (frontier.length > 0) {
    const next = [...parentOf].filter(([, parent]) => frontier.includes(parent)).map(([pid]) => pid);
    found.push(...next);
    frontier = next;
  }
  return found;
}

/** Whether `pid` still runs: a zombie (exited, not yet reaped) does not. */
export function isRunning(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(")").pop()!.trim().split(" ")[0] !== "Z";
  } catch {
    return false;
  }
}

/**
 * Whether `pid` is gone entirely: exited and reaped by its parent, which (for a Node parent) has then already
 * emitted the child's 'exit'. A test that waits only for the zombie races the parent's own bookkeeping.
 */
export function isReaped(pid: number): boolean {
  return !existsSync(`/proc/${pid}`);
}

/** A process's command line as `ps` shows it, for messages. */
export function commandLineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").slice(0, 160);
  } catch {
    return "";
  }
}

/** Whether 127.0.0.1:`port` can be bound, i.e. nothing holds it any more. */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** Polls `done` every 100 ms until it holds or `ms` pass; returns whether it held. */
export async function waitFor(done: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await done()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** SIGKILLs what a failed test left running among `pids` (processes the test itself started). */
export function killLeftovers(pids: number[]): void {
  for (const pid of pids) {
    if (!isRunning(pid)) continue;
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
}
