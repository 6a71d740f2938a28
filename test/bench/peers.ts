// Other S3 servers the bench measures in the same run: `--compare URL,ACCESS,SECRET` names a running one;
// `--compare-peer radosgw|s3rver` starts one with ../shared/peers/start-<name>.sh into a fresh temp dir and
// stops it afterwards with the script's own --stop, which signals only the pids it recorded there.

import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { REPO_ROOT } from "../../src/localnet/paths.ts";

const run = promisify(execFile);

export interface Endpoint {
  name: string;
  url: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  /** Server processes whose CPU time the bench may read (started peers only). */
  pids: number[];
}

export interface StartedPeer extends Endpoint {
  stop(): Promise<void>;
}

export const PEER_NAMES = ["radosgw", "s3rver"] as const;
export type PeerName = (typeof PEER_NAMES)[number];

/** `URL,ACCESS,SECRET[,REGION]` as given to --compare. */
export function parseCompare(spec: string, index: number): Endpoint {
  const [url, accessKeyId, secretAccessKey, region = "us-east-1"] = spec.split(",");
  if (!url || !accessKeyId || !secretAccessKey || !/^https?:\/\//.test(url)) {
    throw new Error(`--compare wants URL,ACCESS,SECRET[,REGION], got ${JSON.stringify(spec)}`);
  }
  return { name: `peer${index + 1}`, url: url.replace(/\/$/, ""), accessKeyId, secretAccessKey, region, pids: [] };
}

/** The shared peers directory: $ICN_PEERS_DIR, or `shared/peers` beside the checkout or one level up (worktrees). */
export function peersDir(): string {
  const candidates = [process.env.ICN_PEERS_DIR, resolve(REPO_ROOT, "../shared/peers"), resolve(REPO_ROOT, "../../shared/peers")];
  const found = candidates.find((dir) => dir !== undefined && existsSync(join(dir, "start-s3rver.sh")));
  if (!found) throw new Error(`no peers directory (looked in ${candidates.filter(Boolean).join(", ")}; set ICN_PEERS_DIR)`);
  return found;
}

/** Starts peer `name` on a free-looking port (radosgw needs PORT..PORT+40), up to 3 tries; `timeoutMs` each. */
export async function startPeer(name: PeerName, timeoutMs = 180_000): Promise<StartedPeer> {
  const script = join(peersDir(), `start-${name}.sh`);
  const parent = await mkdtemp(join(tmpdir(), `icn-bench-${name}-`));
  const dir = join(parent, "state"); // the script refuses a non-empty dir it did not create
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    try {
      await run(script, ["--port", String(port), "--dir", dir], { timeout: timeoutMs });
      const env = parseEnvFile(await readFile(join(dir, "peer.env"), "utf8"));
      const stop = async () => {
        await run(script, ["--stop", "--dir", dir], { timeout: 30_000 }).catch((error: unknown) => console.error(`stopping ${name}: ${error}`));
        await rm(parent, { recursive: true, force: true });
      };
      return {
        name: env.NAME ?? name,
        url: env.ENDPOINT!,
        accessKeyId: env.ACCESS!,
        secretAccessKey: env.SECRET!,
        region: "us-east-1",
        pids: (env.PIDS ?? "").split(" ").filter(Boolean).map(Number),
        stop,
      };
    } catch (error) {
      lastError = error;
      // A half-started peer is stopped by its recorded pids before the next try.
      await run(script, ["--stop", "--dir", dir], { timeout: 30_000 }).catch(() => {});
    }
  }
  await rm(parent, { recursive: true, force: true });
  throw new Error(`could not start ${name}: ${(lastError as Error & { stderr?: string })?.stderr ?? lastError}`);
}

function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!.replace(/^'(.*)'$/, "$1").replace(/^"(.*)"$/, "$1");
  }
  return out;
}
