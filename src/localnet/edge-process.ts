// Starts and stops the edge runtime (edge-runtime.ts) as a child of the launcher: under the repo's Node 24 (wrangler's
// API needs Node >= 22), in its own process group with its workerd, so stopping the group leaves nothing running
// whatever state the Node process is in. Its settings go in a 0600 file, its secrets in the 0600 files named by
// --env-file; the command line holds paths only.

import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { hasExited, stopChild, trackChild } from "./children.ts";
import type { RuntimeConfig } from "./edge-runtime.ts";
import { REPO_ROOT } from "./paths.ts";
import { writePrivateFile } from "./secrets.ts";
import { wranglerCommand } from "./wrangler-dev.ts";

export interface EdgeRuntimeProcess {
  child: ChildProcess;
  /** Where the Worker answers: workerd's own socket, no proxy in between. */
  url: string;
}

export interface SpawnEdgeRuntimeOptions {
  config: RuntimeConfig;
  /** Where the settings file is written (0600). */
  configFile: string;
  /** `.dev.vars`-format secret files (0600, secrets.ts), later files winning. */
  secretFiles?: string[];
  /** Called with each line the runtime prints (the Worker's console, workerd's warnings). */
  onLine?: (line: string) => void;
  /** How long starting (migrations included) may take. */
  timeoutMs?: number;
}

export async function spawnEdgeRuntime(options: SpawnEdgeRuntimeOptions): Promise<EdgeRuntimeProcess> {
  await writePrivateFile(options.configFile, `${JSON.stringify(options.config, null, 2)}\n`);
  const node = wranglerCommand().command;
  const child = trackChild(
    spawn(node, [join(REPO_ROOT, "src/localnet/edge-runtime.ts"), "--config", options.configFile, ...(options.secretFiles ?? []).flatMap((f) => ["--env-file", f])], {
      cwd: REPO_ROOT,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" },
    }),
    { group: true },
  );
  try {
    const url = await readReady(child, options.timeoutMs ?? 60_000, options.onLine);
    return { child, url };
  } catch (error) {
    await stopEdgeRuntime(child);
    throw error;
  }
}

/** Stops the runtime's process group (the Node process and its workerd): SIGTERM, SIGKILL after `graceMs`. */
export async function stopEdgeRuntime(child: ChildProcess, graceMs = 3_000): Promise<void> {
  await stopChild(child, { graceMs });
}

function readReady(child: ChildProcess, timeoutMs: number, onLine?: (line: string) => void): Promise<string> {
  const stderr: string[] = [];
  createInterface({ input: child.stderr! }).on("line", (line) => {
    stderr.push(line);
    if (stderr.length > 40) stderr.shift();
    onLine?.(line);
  });
  return new Promise((resolveReady, reject) => {
    let ready = false;
    const fail = (why: string) => reject(new Error(`${why}\n${stderr.join("\n")}`));
    const timer = setTimeout(() => fail(`the edge runtime did not become ready in ${timeoutMs} ms`), timeoutMs);
    child.once("exit", () => {
      clearTimeout(timer);
      if (!ready) fail(`the edge runtime exited with ${child.exitCode ?? child.signalCode} before it was ready`);
    });
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (!ready && line.startsWith("{")) {
        try {
          const event = JSON.parse(line) as { event?: string; url?: string };
          if (event.event === "edge-ready" && event.url) {
            ready = true;
            clearTimeout(timer);
            resolveReady(event.url);
            return;
          }
        } catch {
          // a Worker's own JSON log line
        }
      }
      onLine?.(line);
    });
    if (hasExited(child)) fail("the edge runtime exited at once");
  });
}
