// The edge Worker bundled as `wrangler deploy` uploads it: `wrangler deploy --dry-run --outdir DIR` builds the same
// single ES module (esbuild, with wrangler.toml's settings) and uploads nothing. The local edge runs this file
// (edge-runtime.ts), so what runs locally is what a deployment ships, bundled once per start.

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { trackChild } from "./children.ts";
import { REPO_ROOT } from "./paths.ts";
import { wranglerCommand } from "./wrangler-dev.ts";

/** Bundles the Worker of REPO_ROOT/wrangler.toml into `outDir` (emptied first); returns the module's path. */
export async function bundleEdgeWorker(outDir: string, logDir: string): Promise<string> {
  await rm(outDir, { recursive: true, force: true });
  const { command, args } = wranglerCommand();
  const child = trackChild(spawn(command, [...args, "deploy", "--dry-run", "--outdir", outDir], {
    cwd: REPO_ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, CI: "true", WRANGLER_LOG_PATH: logDir, WRANGLER_SEND_METRICS: "false" },
  }));
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  const code = await new Promise<number | null>((r) => child.once("exit", r));
  const scriptPath = join(outDir, "index.js");
  if (code !== 0 || !existsSync(scriptPath)) throw new Error(`bundling the edge Worker failed (${code}):\n${output}`);
  return scriptPath;
}
