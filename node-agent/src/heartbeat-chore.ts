// The heartbeat chore: every heartbeatIntervalSeconds, tell the edge this node is alive and how full it is.
// Failures are logged and never fatal; a credentials refusal (the edge forgot us or rotated our keys) makes
// the node register once more. The edge answers with the node's audit standing: warned, suspended or
// disqualified is logged as a warning each time it changes, and a recovery once, so the operator can act.

import type { Heartbeat, NodeStanding, RegistrationResponse } from "../../src/protocol/node-protocol.ts";
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
  /** Remembers the last standing the edge reported (startHeartbeatChore makes one when not given). */
  standing?: StandingWatch;
}

/** Standings an operator must act on. */
const BAD_STANDINGS: readonly NodeStanding[] = ["warned", "suspended", "disqualified"];

const STANDING_ADVICE: Record<string, string> = {
  warned: "this node is failing audits: check its disk and its data directory before it is suspended",
  suspended: "this node failed too many audits: it gets no new data and its pieces are being repaired elsewhere; it recovers as it passes audits",
  disqualified: "this node is disqualified for failed audits: it gets no data, its stake was slashed, and this is final",
};

export interface StandingWatch {
  /** Logs a warning when the standing turns warned/suspended/disqualified (or changes among them), and one info line on recovery. */
  observe(standing: NodeStanding | undefined): void;
}

export function createStandingWatch(log: Logger): StandingWatch {
  let last: NodeStanding | undefined;
  return {
    observe(standing) {
      if (standing === undefined || standing === last) return;
      const wasBad = last !== undefined && BAD_STANDINGS.includes(last);
      if (BAD_STANDINGS.includes(standing)) log.warn("node_standing", { standing, previous: last ?? null, message: STANDING_ADVICE[standing] });
      else if (wasBad) log.info("node_standing_recovered", { standing, previous: last });
      last = standing;
    },
  };
}

export type HeartbeatOutcome = "sent" | "reregistered" | "failed";

export async function sendHeartbeatOnce(deps: HeartbeatChoreDeps, signal: AbortSignal): Promise<HeartbeatOutcome> {
  const heartbeat = await describeNode(deps);
  try {
    const answer = await deps.edge.heartbeat(deps.nodeId, deps.registration(), heartbeat, signal);
    deps.standing?.observe(answer?.standing);
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
export function startHeartbeatChore(chore: HeartbeatChoreDeps): RunningChore {
  const deps = { ...chore, standing: chore.standing ?? createStandingWatch(chore.log) };
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
