// Spawns the real agent (node node-agent/bin/icn-node-agent.js ...) and waits for its ready line.
// ICN_AGENT_NODE picks the Node binary (e.g. a Node 20 to check the minimum version); default: this one.

import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

export const AGENT_BIN = fileURLToPath(new URL("../../../node-agent/bin/icn-node-agent.js", import.meta.url));
const NODE = process.env.ICN_AGENT_NODE ?? process.execPath;

/** Anvil's first well-known test account: never holds real funds. */
export const TEST_WALLET_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

export interface ReadyLine {
  event: "ready";
  nodeId: string;
  url: string;
  listen: string;
  dataDir: string;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface AgentProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<Exit>;
  /** Resolves with the ready line, or rejects if the agent exits (or `timeoutMs` passes) first. */
  ready(timeoutMs?: number): Promise<ReadyLine>;
  /** SIGKILLs the agent if it is still running; safe to call twice. */
  kill(): void;
}

const running = new Set<AgentProcess>();

export function spawnAgent(args: string[], env: Record<string, string> = {}): AgentProcess {
  const child = spawn(NODE, [AGENT_BIN, ...args], {
    // A clean ICN_* environment, so the developer's own settings cannot leak into a test.
    env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("ICN_"))), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout!.setEncoding("utf8").on("data", (s: string) => (out += s));
  child.stderr!.setEncoding("utf8").on("data", (s: string) => (err += s));
  const exited = new Promise<Exit>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  let exitedAlready = false;
  void exited.then(() => (exitedAlready = true));

  const agent: AgentProcess = {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    ready: (timeoutMs = 30_000) =>
      new Promise<ReadyLine>((resolve, reject) => {
        const giveUpAt = Date.now() + timeoutMs;
        const poll = () => {
          const line = out.split("\n")[0];
          if (out.includes("\n") && line) return resolve(JSON.parse(line) as ReadyLine);
          if (exitedAlready) return reject(new Error(`agent exited before ready:\n${err}`));
          if (Date.now() > giveUpAt) return reject(new Error(`agent not ready after ${timeoutMs} ms:\n${err}`));
          setTimeout(poll, 20);
        };
        poll();
      }),
    kill: () => {
      if (!exitedAlready && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    },
  };
  running.add(agent);
  void exited.then(() => running.delete(agent));
  return agent;
}

/** SIGKILLs every agent a test spawned that is still running (call from afterEach). */
export function killSpawnedAgents(): void {
  for (const agent of running) agent.kill();
}

/** Waits for exit, failing the test if it takes longer than `timeoutMs`. */
export async function exitWithin(agent: AgentProcess, timeoutMs: number): Promise<Exit> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`agent still running after ${timeoutMs} ms:\n${agent.stderr()}`)), timeoutMs);
  });
  try {
    return await Promise.race([agent.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
