// The heartbeat chore: every heartbeatIntervalSeconds, tell the edge this node is alive and how full it is.
// Failures are logged and never fatal; a credentials refusal (the edge forgot us or rotated our keys) makes
// the node register once more.

import type { Heartbeat, RegistrationResponse } from "../../src/protocol/node-protocol.ts";
import type { BlobStoreStats } from "./blob-store.ts";
import { measureDiskSpace } from "./disk-space.ts";
import { EdgeRequestError, type EdgeClient } from "./edge-client.ts";
import type { Logger } from "./logger.ts";

export interface HeartbeatChoreDeps {
  edge: EdgeClient;
  nodeId: string;
  dataDir: string;
  agentVersion: string;
  blobStats: () => BlobStoreStats;
  /** The registration currently in force (credentials and interval). */
  registration: () => RegistrationResponse;
  /** One registration attempt that replaces the credentials on success. */
  reRegister: (signal: AbortSignal) => Promise<void>;
  log: Logger;
}

export type HeartbeatOutcome = "sent" | "reregistered" | "failed";

export async function sendHeartbeatOnce(deps: HeartbeatChoreDeps, signal: AbortSignal): Promise<HeartbeatOutcome> {
  const heartbeat = await describeNode(deps);
  try {
    await deps.edge.heartbeat(deps.nodeId, deps.registration(), heartbeat, signal);
    return "sent";
  } catch (error) {
    if (!(error instanceof EdgeRequestError) || !error.credentialsRejected) {
      deps.log.warn("heartbeat_failed", { error });
      return "failed";
    }
    deps.log.warn("heartbeat_refused_reregistering", { status: error.status, code: error.code });
    try {
      await deps.reRegister(signal);
      return "reregistered";
    } catch (registerError) {
      deps.log.error("reregistration_failed", { error: registerError });
      return "failed";
    }
  }
}

async function describeNode(deps: HeartbeatChoreDeps): Promise<Heartbeat> {
  const { usedBytes, blobCount } = deps.blobStats();
  const base = { usedBytes, blobCount, agentVersion: deps.agentVersion };
  try {
    const disk = await measureDiskSpace(deps.dataDir);
    return { ...base, totalBytes: Number(disk.totalBytes), freeBytes: Number(disk.freeBytes), healthy: true };
  } catch (error) {
    deps.log.error("disk_unreadable", { error });
    return { ...base, totalBytes: 0, freeBytes: 0, healthy: false };
  }
}

export interface RunningChore {
  /** Stops scheduling, aborts a heartbeat in flight and waits for it to settle. */
  stop(): Promise<void>;
}

/** Sends a heartbeat now, then one every interval (re-read each time: re-registration may change it). */
export function startHeartbeatChore(deps: HeartbeatChoreDeps): RunningChore {
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();

  const tick = () => {
    running = sendHeartbeatOnce(deps, abort.signal)
      .catch((error: unknown) => deps.log.error("heartbeat_crashed", { error }))
      .finally(() => {
        if (!abort.signal.aborted) timer = setTimeout(tick, Math.max(1, deps.registration().heartbeatIntervalSeconds) * 1000);
      });
  };
  tick();

  return {
    async stop() {
      abort.abort();
      clearTimeout(timer);
      await running;
    },
  };
}
