// End to end: the launcher stops everything it started within seconds, whatever state its children are in. A
// node-agent that died by a signal once made the stop wait forever for an 'exit' that had already happened, and
// wrangler's process group (wrangler and its workerd) kept running and holding the port when the launcher went.
// The edge runtime's process group (edge-runtime.ts and its workerd) is held to the same.

import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { NetworkDescription } from "../../src/localnet/network.ts";
import { REPO_ROOT } from "../../src/localnet/paths.ts";
import { freePort } from "../../src/localnet/wrangler-dev.ts";
import { commandLineOf, descendantsOf, isReaped, isRunning, killLeftovers, portIsFree, waitFor } from "../helpers/processes.ts";
import { startTestNetwork, stopTestNetwork } from "../helpers/test-support.ts";

const portOf = (url: string) => Number(new URL(url).port);
/** Processes of `pids` still running, with their command lines so a failure says what was left. */
const survivors = (pids: number[]) => pids.filter(isRunning).map((pid) => `${pid} ${commandLineOf(pid)}`);

let started: number[] = [];
let stateDir: string | undefined;
afterEach(async () => {
  // A failed run must not leave its processes to the next test.
  killLeftovers(started);
  started = [];
  if (stateDir) await rm(stateDir, { recursive: true, force: true, maxRetries: 5 });
  stateDir = undefined;
});

describe("stopping the local network", () => {
  it("after a node-agent was SIGKILLed, completes within seconds and leaves no process and no port behind", async () => {
    const { network, d } = await startTestNetwork("icn-lifecycle-e2e-", { nodeCount: 2 });
    stateDir = network.options.stateDir;
    started = descendantsOf(process.pid);
    // It looks at the processes that matter, or it would pass by looking at nothing.
    expect(started).toContain(d.worker.pid);
    expect(started).toContain(d.chain.pid);
    expect(started.some((pid) => /workerd/.test(commandLineOf(pid)))).toBe(true);

    const victim = d.nodes[0]!;
    process.kill(victim.pid, "SIGKILL");
    // Dead and reaped, as a node that died a while before the stop is.
    expect(await waitFor(() => isReaped(victim.pid), 5_000)).toBe(true);

    const began = Date.now();
    const outcome = await Promise.race([
      network.stop().then(() => "stopped"),
      new Promise((r) => setTimeout(() => r("still stopping after 20 s"), 20_000)),
    ]);
    expect(outcome).toBe("stopped");
    expect(Date.now() - began).toBeLessThan(15_000);
    expect(survivors(started)).toEqual([]);
    for (const url of [d.edgeUrl, d.worker.url, d.chain.rpcUrl]) expect({ url, free: await portIsFree(portOf(url)) }).toEqual({ url, free: true });
    await stopTestNetwork(network);
  }, 240_000);

  it("under `npm start`: Ctrl-C after a node-agent was SIGKILLed exits within 10 s and leaves nothing behind", async () => {
    stateDir = await mkdtemp(join(tmpdir(), "icn-lifecycle-start-e2e-"));
    const [edgePort, chainPort] = [await freePort(), await freePort()];
    // As `npm start` runs it (package.json), on its own ports and state dir.
    const launcher = spawn(process.execPath, [join(REPO_ROOT, "src/localnet/start.ts"), "--nodes", "2"], {
      cwd: REPO_ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ICN_EDGE_PORT: String(edgePort), ICN_CHAIN_PORT: String(chainPort), ICN_STATE_DIR: stateDir },
    });
    started = [launcher.pid!];
    let output = "";
    launcher.stdout!.on("data", (chunk) => (output += chunk));
    launcher.stderr!.on("data", (chunk) => (output += chunk));
    const exited = new Promise<void>((r) => launcher.once("exit", () => r()));

    expect(await waitFor(() => output.includes("Secret key") || launcher.exitCode !== null, 180_000)).toBe(true);
    expect(output).toContain("ICN Edge is running.");
    const d = JSON.parse(await readFile(join(stateDir, "network.json"), "utf8")) as NetworkDescription;
    started = [launcher.pid!, ...descendantsOf(launcher.pid!)];
    expect(started).toContain(d.worker.pid);
    expect(started.some((pid) => /workerd/.test(commandLineOf(pid)))).toBe(true);

    process.kill(d.nodes[0]!.pid, "SIGKILL");
    expect(await waitFor(() => isReaped(d.nodes[0]!.pid), 5_000)).toBe(true);
    launcher.kill("SIGINT");
    const outcome = await Promise.race([exited.then(() => "exited"), new Promise((r) => setTimeout(() => r("still running 10 s after Ctrl-C"), 10_000))]);
    expect(outcome).toBe("exited");
    // Whatever the launcher stopped is gone by the time it exits.
    expect(survivors(started)).toEqual([]);
    for (const port of [edgePort, chainPort, portOf(d.worker.url)]) expect({ port, free: await portIsFree(port) }).toEqual({ port, free: true });
  }, 240_000);
});
