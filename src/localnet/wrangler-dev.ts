// `wrangler dev` as the local network runs it: under the repo's Node 24, on 127.0.0.1, in its own process group,
// with its output piped. The upgrade test and the hop measurement start
// and stop it through these helpers (npm start runs the edge through Miniflare: edge-runtime.ts).

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { hasExited, stopChild, trackChild } from "./children.ts";
import { REPO_ROOT } from "./paths.ts";

/** wrangler under the repo's Node 24 (wrangler needs Node >= 22; plain `node` here may be 20). */
export function wranglerCommand(): { command: string; args: string[] } {
  const nodeBin = join(REPO_ROOT, "node_modules/node/bin/node");
  return { command: existsSync(nodeBin) ? nodeBin : process.execPath, args: [join(REPO_ROOT, "node_modules/wrangler/bin/wrangler.js")] };
}

export interface WranglerDevOptions {
  cwd: string;
  port: number;
  persistDir: string;
  logDir: string;
  /** Plain vars, set with `--var NAME:value`: they show in the process list, so never a secret. */
  vars?: Record<string, string>;
  /** `.dev.vars`-format files of secrets (mode 0600, see secrets.ts), later files winning; only these are read. */
  secretFiles?: string[];
}

/**
 * `wrangler dev` for the Worker in `cwd` on 127.0.0.1:`port`, in its own process group (so stopping it stops
 * workerd too), its output piped. The edge and the bench's floor Worker both run this way.
 */
export async function spawnWranglerDev(options: WranglerDevOptions): Promise<ChildProcess> {
  const { command, args } = wranglerCommand();
  const child = spawn(
    command,
    [
      ...args, "dev",
      "--ip", "127.0.0.1",
      "--port", String(options.port),
      "--inspector-port", String(await freePort()),
      "--persist-to", options.persistDir,
      "--show-interactive-dev-session=false",
      "--log-level", "warn",
      ...Object.entries(options.vars ?? {}).flatMap(([name, value]) => ["--var", `${name}:${value}`]),
      // Given --env-file, wrangler reads these files and not the .dev.vars beside wrangler.toml.
      ...(options.secretFiles ?? []).flatMap((file) => ["--env-file", file]),
    ],
    {
      cwd: options.cwd,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        CLOUDFLARE_CF_FETCH_ENABLED: "false",
        // The secret files are the Worker's only secrets: read them even if the caller's environment says not
        // to, and never turn the rest of the environment into bindings.
        CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV: "true",
        CLOUDFLARE_INCLUDE_PROCESS_ENV: "false",
        WRANGLER_LOG_PATH: options.logDir,
        WRANGLER_SEND_METRICS: "false",
      },
    },
  );
  return trackChild(child, { group: true });
}

/**
 * Stops a `spawnWranglerDev` process group (wrangler and its workerd): SIGTERM, SIGKILL after `graceMs`, done when
 * no process of the group is left, whether or not wrangler itself had already died.
 */
export async function stopWranglerDev(child: ChildProcess, graceMs = 5_000): Promise<void> {
  await stopChild(child, { graceMs });
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function waitForHttp(url: string, timeoutMs: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (hasExited(child)) throw new Error(`wrangler dev exited with ${child.exitCode ?? child.signalCode} before serving ${url}`);
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not up yet
    }
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${url}`);
}

