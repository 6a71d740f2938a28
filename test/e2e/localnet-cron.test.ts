// End to end: chores fire on their own. Nothing local fires the Worker's cron trigger, so the launcher
// dispatches `scheduled` itself (src/localnet/cron-dispatcher.ts); here on a compressed clock, every 2 s instead of
// every minute. A node-agent SIGKILLed is marked offline by the node-liveness chore with no admin call at all.

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalNetwork, NetworkDescription } from "../../src/localnet/network.ts";
import { waitFor } from "../helpers/processes.ts";
import { startTestNetwork, stopTestNetwork } from "../helpers/test-support.ts";

const OFFLINE_AFTER_SECONDS = 4;
const TICK_MS = 2_000;

let network: LocalNetwork;
let d: NetworkDescription;

beforeAll(async () => {
  ({ network, d } = await startTestNetwork("icn-cron-e2e-", {
    nodeCount: 2,
    vars: { HEARTBEAT_INTERVAL_SECONDS: "1", NODE_OFFLINE_AFTER_SECONDS: String(OFFLINE_AFTER_SECONDS) },
    cron: { everyMs: TICK_MS },
  }));
}, 180_000);

afterAll(() => stopTestNetwork(network), 60_000);

async function nodeStatuses(): Promise<Record<string, string>> {
  const res = await fetch(`${d.edgeUrl}/api/v1/admin/nodes`, { headers: { authorization: `Bearer ${d.adminToken}` } });
  expect(res.status).toBe(200);
  const { nodes } = (await res.json()) as { nodes: { id: string; status: string }[] };
  return Object.fromEntries(nodes.map((n) => [n.id, n.status]));
}

describe("the local network's cron triggers", () => {
  it("mark a SIGKILLed node offline by themselves, within the offline window and a tick or two", async () => {
    const [victim, survivor] = d.nodes;
    expect(await nodeStatuses()).toMatchObject({ [victim!.id]: "active", [survivor!.id]: "active" });

    await network.stopNode(victim!.index, "SIGKILL");
    const killedAt = Date.now();
    // No admin call from here on but reads: only the dispatched `scheduled` runs chores.
    let statuses: Record<string, string> = {};
    const offline = await waitFor(async () => {
      statuses = await nodeStatuses();
      return statuses[victim!.id] === "offline";
    }, OFFLINE_AFTER_SECONDS * 1_000 + 3 * TICK_MS + 5_000);
    expect({ offline, statuses }).toMatchObject({ offline: true, statuses: { [victim!.id]: "offline", [survivor!.id]: "active" } });
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(OFFLINE_AFTER_SECONDS * 1_000 - 1_000);

    // Each dispatch is in the network's log, with the Worker's outcome.
    const log = await readFile(join(network.options.stateDir, "logs", "cron.log"), "utf8");
    expect(log).toMatch(/cron: dispatched "\* \* \* \* \*" scheduledTime \S+: ok in \d+ ms/);
  }, 120_000);
});
