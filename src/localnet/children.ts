// The processes the local network starts (anvil, wrangler and its workerd, node-agents, migrations), recorded by
// pid or process group so that stopping them is bounded in time whatever state they are in, and so that none of
// them outlives the launcher: when the launcher's process exits, for whatever reason Node still runs its 'exit'
// listeners (process.exit, an uncaught error), every recorded child still running is SIGKILLed synchronously.
// Only what was recorded here is ever signalled.

import type { ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";

interface Tracked {
  child: ChildProcess;
  /** Spawned `detached`: the child leads its own process group, signalled as a whole (wrangler and workerd). */
  group: boolean;
}

const running = new Set<Tracked>();
let exitHookInstalled = false;

/** Records a just-spawned child so `stopChild` and the exit hook can reach it (and, if `group`, its group). */
export function trackChild<T extends ChildProcess>(child: T, { group = false }: { group?: boolean } = {}): T {
  if (child.pid === undefined) return child; // spawn failed: its 'error' event says why
  const entry: Tracked = { child, group };
  running.add(entry);
  // A process group may outlive its leader (workerd after wrangler), so it stays recorded until stopChild.
  if (!group) child.once("exit", () => running.delete(entry));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on("exit", killAllChildrenNow);
  }
  return child;
}

/** Whether the child has exited: by its own exit code or killed by a signal (then exitCode stays null). */
export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

export interface StopChildOptions {
  /** How long the first signal has to work before SIGKILL. */
  graceMs?: number;
  /** The first signal; SIGKILL follows if the child (or its group) is still there after graceMs. */
  signal?: NodeJS.Signals;
}

/**
 * Stops a recorded child: `signal` (SIGTERM), then SIGKILL after `graceMs`, then a short wait for the kill to take.
 * Resolves within about graceMs + 2 s in every case: a child that already exited (by code or signal, its 'exit'
 * already emitted) resolves at once. A process group is done only when no process in it is left.
 */
export async function stopChild(child: ChildProcess, { graceMs = 5_000, signal = "SIGTERM" }: StopChildOptions = {}): Promise<void> {
  const entry = [...running].find((t) => t.child === child);
  const group = entry?.group ?? false;
  const gone = () => hasExited(child) && (!group || !groupAlive(child.pid!));
  if (child.pid === undefined) return;
  if (!gone()) {
    send(child.pid, group, signal);
    if (!(await waitUntil(gone, child, graceMs))) {
      send(child.pid, group, "SIGKILL");
      await waitUntil(gone, child, 2_000);
    }
  }
  if (entry && gone()) running.delete(entry);
}

/** SIGKILLs every recorded child still running (and each recorded process group), synchronously. */
export function killAllChildrenNow(): void {
  for (const entry of running) {
    if (entry.child.pid === undefined) continue;
    if (!entry.group && hasExited(entry.child)) continue;
    send(entry.child.pid, entry.group, "SIGKILL");
  }
}

function send(pid: number, group: boolean, signal: NodeJS.Signals): void {
  try {
    process.kill(group ? -pid : pid, signal);
  } catch {
    // already gone
  }
}

/**
 * Whether a live process is left in process group `pgid`. On Linux from /proc, skipping zombies: a workerd whose
 * parent died is reparented, and a PID 1 that does not reap (as in many containers) keeps it a zombie forever,
 * which signal 0 would still count. Elsewhere, signal 0 to the group.
 */
function groupAlive(pgid: number): boolean {
  if (!existsSync("/proc/self/stat")) {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === "EPERM";
    }
  }
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The name in parentheses may hold spaces; after the last ")" come "state ppid pgrp ...".
      const [state, , pgrp] = readFileSync(`/proc/${entry}/stat`, "utf8").split(")").pop()!.trim().split(" ");
      if (Number(pgrp) === pgid && state !== "Z") return true;
    } catch {
      // exited while we looked
    }
  }
  return false;
}

/** Waits for `done()` up to `ms`: woken by the child's 'exit', otherwise polled (a group has no event). */
function waitUntil(done: () => boolean, child: ChildProcess, ms: number): Promise<boolean> {
  if (done()) return Promise.resolve(true);
  return new Promise((resolve) => {
    const deadline = Date.now() + ms;
    const check = () => {
      if (done()) finish(true);
      else if (Date.now() >= deadline) finish(false);
    };
    const poll = setInterval(check, 50);
    const finish = (result: boolean) => {
      clearInterval(poll);
      child.off("exit", check);
      resolve(result);
    };
    child.on("exit", check);
  });
}
