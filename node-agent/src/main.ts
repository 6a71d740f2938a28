// icn-node-agent: stores blobs for the ICN edge. Startup order matters: the disk is made consistent and the
// HTTP server is listening before the node registers, so the edge can use it the moment it learns the URL.
// stdout carries exactly one line, {"event":"ready",...}, which launchers wait for; logs go to stderr.

import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { privateKeyToAccount } from "viem/accounts";
import type { RegistrationResponse } from "../../src/protocol/node-protocol.ts";
import { AGENT_VERSION } from "./agent-version.ts";
import { ChallengeResponder } from "./audit-challenge.ts";
import { AuditDomainCache } from "./audit-domain.ts";
import { BlobStore } from "./blob-store.ts";
import { ConfigError, parseAgentConfig, urlForListenAddress, USAGE, type AgentConfig } from "./config.ts";
import { measureDiskSpace } from "./disk-space.ts";
import { EdgeClient, EdgeRequestError, type NodeAnnouncement } from "./edge-client.ts";
import { startHeartbeatChore, type RunningChore } from "./heartbeat-chore.ts";
import { formatAddress, listen } from "./http-listener.ts";
import { createJsonLogger, type Logger } from "./logger.ts";
import { loadOrCreateNodeIdentity } from "./node-identity.ts";
import { limiterForMiBps, MIB } from "./rate-limiter.ts";
import { startScrubChore } from "./scrub-chore.ts";
import { createAgentApp } from "./server.ts";
import { isValidatorCommand } from "./validator/config.ts";
import { runValidatorCommand } from "./validator/main.ts";
import { isRewardsCommand } from "./rewards/config.ts";
import { runRewardsCommand } from "./rewards/main.ts";

/** How long startup keeps retrying an unreachable or failing edge before giving up. */
const REGISTRATION_DEADLINE_MS = 60_000;
/** How long shutdown waits for requests in flight (a blob upload finishing) before cutting them. */
const DRAIN_TIMEOUT_MS = 30_000;

/** Runs the agent. Resolves with an exit code when it must stop, or undefined once it is up and serving. */
async function runAgent(config: AgentConfig, log: Logger): Promise<number | undefined> {
  const account = privateKeyToAccount(config.walletKey);
  await mkdir(config.dataDir, { recursive: true });
  const { nodeId } = await loadOrCreateNodeIdentity(config.dataDir);
  const capacityBytes = config.capacityBytes ?? (await measureDiskSpace(config.dataDir)).totalBytes;
  const store = await BlobStore.open(config.dataDir, { capacityBytes: Number(capacityBytes), log });
  log.info("store_opened", { nodeId, dataDir: config.dataDir, ...store.stats, capacityBytes });

  let registration: RegistrationResponse | undefined;
  const edge = new EdgeClient({ edgeUrl: config.edgeUrl, account, chainId: config.chainId, edgeId: config.edgeId, log });
  const scrub = startScrubChore({
    store,
    rateBytesPerSecond: config.scrubRateMiBps * MIB,
    intervalSeconds: config.scrubIntervalSeconds,
    deliver: async (report, signal) => {
      if (registration === undefined) throw new Error("the node is not registered with the edge yet");
      await edge.scrubReport(nodeId, registration, report, signal);
    },
    pendingFile: join(config.dataDir, "scrub-pending.json"),
    log,
  });
  const app = createAgentApp({
    store,
    nodeId,
    credentials: () => registration,
    scrub,
    replication: { bandwidth: limiterForMiBps(config.repairBandwidthMiBps), allowPrivateSources: config.allowPrivateUrls },
    audit: { responder: new ChallengeResponder({ store, nodeId, domain: new AuditDomainCache((signal) => edge.auditDomain(signal)), log }) },
    log,
  });
  const listening = await listen(app.fetch, config.listenHost, config.listenPort);
  const { host, port } = listening;
  const publicUrl = config.publicUrl ?? urlForListenAddress(host, port);
  if (config.publicUrl === undefined && (host === "0.0.0.0" || host === "::")) {
    log.warn("public_url_unreachable", { message: `the edge cannot reach ${publicUrl}; pass --public-url` });
  }

  const announcement: NodeAnnouncement = { nodeId, url: publicUrl, zone: config.zone, capacityBytes, agentVersion: AGENT_VERSION };

  const stopping = new AbortController();
  let heartbeats: RunningChore | undefined;
  const shutdown = async (signal: string) => {
    if (stopping.signal.aborted) return;
    log.info("shutting_down", { signal });
    stopping.abort();
    await heartbeats?.stop();
    await scrub.stop();
    const drain = await listening.close(DRAIN_TIMEOUT_MS);
    if (registration !== undefined) {
      try {
        await edge.goOffline(nodeId, registration);
        log.info("offline_reported");
      } catch (error) {
        log.warn("offline_report_failed", { error });
      }
    }
    log.info("stopped", { drain });
    process.exit(0);
  };
  for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => void shutdown(signal));

  try {
    registration = await edge.registerWithRetry(announcement, REGISTRATION_DEADLINE_MS, stopping.signal);
  } catch (error) {
    if (stopping.signal.aborted) return undefined; // shutdown() exits
    if (error instanceof EdgeRequestError) {
      log.error("registration_failed", { status: error.status, code: error.code, message: error.message });
    } else {
      log.error("registration_failed", { error });
    }
    await scrub.stop();
    await listening.close(1_000);
    return 1;
  }
  log.info("registered", { nodeId, operator: account.address, url: publicUrl, heartbeatIntervalSeconds: registration.heartbeatIntervalSeconds });

  process.stdout.write(
    `${JSON.stringify({ event: "ready", nodeId, url: publicUrl, listen: formatAddress(host, port), dataDir: config.dataDir })}\n`,
  );

  heartbeats = startHeartbeatChore({
    edge,
    nodeId,
    dataDir: config.dataDir,
    agentVersion: AGENT_VERSION,
    blobStats: () => store.stats,
    registration: () => registration!,
    reRegister: async (signal) => {
      registration = await edge.register(announcement, signal);
      log.info("reregistered", { nodeId });
    },
    log,
  });
  return undefined;
}

async function main(argv: string[]): Promise<void> {
  // Validator mode (HyperNode) is its own program in validator/: no blob store, no HTTP server.
  if (isValidatorCommand(argv)) return runValidatorCommand(argv);
  // `rewards [claim]`: a one-shot command about the operator's (or validator's) earnings.
  if (isRewardsCommand(argv)) return runRewardsCommand(argv);
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(USAGE);
    return;
  }
  let config: AgentConfig;
  try {
    config = parseAgentConfig(argv, process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`icn-node-agent: ${error.message}\n\n${USAGE}`);
    process.exit(2);
  }
  const log = createJsonLogger();
  try {
    const code = await runAgent(config, log);
    if (code !== undefined) process.exit(code);
  } catch (error) {
    log.error("fatal", { error, message: error instanceof Error ? error.message : String(error) });
    process.exit(1);
  }
}

await main(process.argv.slice(2));
