// What the bench reads about the edge's processes from /proc (Linux): which processes serve it, their CPU time and
// their resident memory. Every read tolerates a process that exits meanwhile.

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { commandLineOf, descendantsOf } from "../helpers/processes.ts";

/** Clock ticks per second, the unit of utime/stime in /proc/<pid>/stat. */
const CLK_TCK = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/**
 * The workerd processes that run the edge's Worker: `root` itself or its descendants whose command line names
 * workerd. Under wrangler dev that is its proxy worker and the user worker; under Miniflare, one process.
 */
export function workerdProcesses(root: number): number[] {
  return [root, ...descendantsOf(root)].filter((pid) => /workerd/.test(commandLineOf(pid)));
}

/** utime + stime of `pids`, in milliseconds (a process that is gone counts 0). */
export function cpuMs(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      // Fields after the command name's closing ")": state(3) ppid ... utime(14) stime(15), counted from 1.
      const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(")").pop()!.trim().split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // exited
    }
  }
  return (ticks * 1000) / CLK_TCK;
}

/** Summed VmRSS of `pids`, in bytes. */
export function rssBytes(pids: readonly number[]): number {
  let kib = 0;
  for (const pid of pids) {
    try {
      kib += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
    } catch {
      // exited
    }
  }
  return kib * 1024;
}

/** Samples rssBytes(pids()) every `everyMs` until stopped; reports the first sample, the peak and the last. */
export function sampleRss(pids: () => readonly number[], everyMs = 100): { stop(): { start: number; peak: number; end: number } } {
  const start = rssBytes(pids());
  let peak = start;
  let end = start;
  const timer = setInterval(() => {
    end = rssBytes(pids());
    peak = Math.max(peak, end);
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      end = rssBytes(pids());
      peak = Math.max(peak, end);
      return { start, peak, end };
    },
  };
}
