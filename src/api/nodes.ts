// Node-facing control API: registration (EIP-712 signed by the operator's wallet), heartbeats and going offline.

import { clockMs, clockNow } from "../clock.ts";
import { configOf } from "../config.ts";
import { Hono } from "hono";
import { recoverTypedDataAddress } from "viem";
import { z } from "zod";
import { judgeNodeStake, type NodeStakeVerdict, type StakedNode } from "../chain/stake-gate.ts";
import { openDb } from "../db/client.ts";
import { countScrubReport, getNode, getOperator, recordHeartbeat, registerNode, setNodeStatus } from "../db/registry.ts";
import type { Env } from "../env.ts";
import { randomHex, randomSecret } from "../protocol/crypto.ts";
import {
  edgeIdSchema,
  heartbeatSchema,
  type HeartbeatResponse,
  type RegistrationDomainInfo,
  scrubReportSchema,
  NODE_SIGV4_REGION,
  nodeIdSchema,
  registrationDomain,
  registrationRequestSchema,
  registrationTypedMessage,
  registrationTypes,
  type RegistrationResponse,
} from "../protocol/node-protocol.ts";
import { NodeUrlError, parseNodeBaseUrl } from "../protocol/node-url.ts";
import { sealSecret } from "../services/secret-box.ts";
import { insertBlobFaults } from "../db/faults.ts";
import { placedOnNode } from "../db/placements.ts";
import { listNodeAuditOutcomes, readNodeReputation } from "../db/reputation.ts";
import { scoreOf } from "../services/reputation.ts";
import { ApiError, parseWith } from "./errors.ts";
import { parseJsonBody } from "./guards/json-body.ts";
import { anonymousCaller, enforceRateLimit } from "./guards/rate-limit.ts";
import { authenticateNode, readSignedNodeJson } from "./node-auth.ts";

/**
 * A scrub report lists blob ids and digests; it is read only once the node's signature verified (node-agents
 * declare x-amz-content-sha256), so this larger cap is open to registered nodes alone.
 */
const MAX_SCRUB_REPORT_BYTES = 4 * 1024 * 1024;

/** A registration signature may not be valid for longer than this, which bounds the stored nonces. */
export const MAX_REGISTRATION_VALIDITY_S = 3600;

export const nodesApi = new Hono<{ Bindings: Env }>();

/** This edge's registration domain: nodes sign for this edge only (finding 13 of issue 13: no cross-edge replay). */
function edgeDomainInfo(env: Env): RegistrationDomainInfo {
  const parsed = edgeIdSchema.safeParse(env.EDGE_ID);
  if (!parsed.success) throw new ApiError(503, "EdgeIdNotConfigured", "EDGE_ID is not set to a valid edge id; this edge cannot accept registrations.");
  return { edgeId: parsed.data, chainId: configOf(env).registrationChainId };
}

nodesApi.get("/registration-domain", (c) => c.json(edgeDomainInfo(c.env)));

nodesApi.post("/register", async (c) => {
  await enforceRateLimit(c.env.RATE_LIMIT_ANONYMOUS, anonymousCaller(c.req.raw));
  const req = await parseJsonBody(c.req.raw, registrationRequestSchema);
  const nowMs = await clockMs(c.env);
  const nowS = Math.floor(nowMs / 1000);
  const m = req.message;

  // Cheap guards first, then the signer, then the operator, then the replay window (Storj's order).
  if (m.expiry <= nowS) throw new ApiError(400, "SignatureExpired", `The registration expired at ${m.expiry}; sign a fresh one.`);
  if (m.expiry > nowS + MAX_REGISTRATION_VALIDITY_S) {
    throw new ApiError(400, "ExpiryTooFar", `expiry may be at most ${MAX_REGISTRATION_VALIDITY_S} seconds in the future.`);
  }
  let url: string;
  try {
    url = parseNodeBaseUrl(m.url, { allowPrivate: configOf(c.env).nodeUrlsAllowPrivate });
  } catch (error) {
    if (!(error instanceof NodeUrlError)) throw error;
    throw new ApiError(400, "InvalidNodeUrl", `The node URL is refused: ${error.message}.`);
  }
  const capacityBytes = Number(m.capacityBytes);
  if (!Number.isSafeInteger(capacityBytes)) throw new ApiError(400, "ValidationError", "capacityBytes is larger than this edge can account.");

  const domainInfo = edgeDomainInfo(c.env);
  let signer: string;
  try {
    signer = await recoverTypedDataAddress({
      domain: await registrationDomain(domainInfo.chainId, domainInfo.edgeId),
      types: registrationTypes,
      primaryType: "NodeRegistration",
      message: registrationTypedMessage(m),
      signature: req.signature as `0x${string}`,
    });
  } catch {
    throw new ApiError(400, "InvalidSignature", "The signature is not a valid EIP-712 signature.");
  }
  if (signer.toLowerCase() !== req.operator.toLowerCase()) {
    throw new ApiError(401, "WrongSigner", `The message was signed by ${signer}, not by operator ${req.operator}.`);
  }

  const db = openDb(c.env.DB);
  const operator = await getOperator(db, req.operator);
  if (!operator) throw new ApiError(403, "UnknownOperator", `Operator ${req.operator} is not registered; ask an admin to approve it.`);
  if (operator.status !== "approved") throw new ApiError(403, "OperatorNotApproved", `Operator ${req.operator} is ${operator.status}, not approved.`);

  const existing = await getNode(db, m.nodeId);
  if (existing && existing.operatorAddress !== operator.address) {
    throw new ApiError(409, "NodeIdTaken", `Node ${m.nodeId} belongs to another operator.`);
  }
  requireStake(await readStakeForRegistration({ id: m.nodeId, operatorAddress: operator.address, capacityBytes: BigInt(m.capacityBytes) }, c.env, nowMs), operator.address);

  const accessKeyId = `ICNN${randomHex(8).toUpperCase()}`;
  const secretAccessKey = randomSecret();
  const outcome = await registerNode(db, {
    id: m.nodeId,
    operatorAddress: operator.address,
    url,
    zone: m.zone,
    capacityBytes,
    agentVersion: m.agentVersion,
    accessKeyId,
    secretEnc: await sealSecret(c.env.KEY_ENCRYPTION_KEY, secretAccessKey),
    nonce: m.nonce.toLowerCase(),
    nonceExpiresAt: m.expiry * 1000,
    now: nowMs,
  });
  if (outcome === "replayed") throw new ApiError(409, "NonceReplayed", "This registration nonce was already used.");
  // A node coming back after being offline is active again (suspension and draining are kept).
  if (existing?.status === "offline") await setNodeStatus(db, m.nodeId, "active", nowMs);

  const body: RegistrationResponse = {
    nodeId: m.nodeId,
    accessKeyId,
    secretAccessKey,
    region: NODE_SIGV4_REGION,
    heartbeatIntervalSeconds: configOf(c.env).heartbeatIntervalMs / 1000,
    offlineAfterSeconds: configOf(c.env).nodeOfflineAfterMs / 1000,
  };
  return c.json(body, 200);
});

nodesApi.post("/:nodeId/heartbeat", async (c) => {
  const nodeId = parseWith(nodeIdSchema, c.req.param("nodeId"));
  const db = openDb(c.env.DB);
  const now = await clockNow(c.env);
  const { data: hb } = await readSignedNodeJson(c.req.raw, c.env, db, nodeId, now, heartbeatSchema);
  await recordHeartbeat(db, nodeId, { usedBytes: hb.usedBytes, freeBytes: hb.freeBytes, blobCount: hb.blobCount, healthy: hb.healthy, agentVersion: hb.agentVersion }, now.getTime());
  let node = await getNode(db, nodeId);
  if (node?.status === "active" && (await understakedAtHeartbeat(node, c.env, now.getTime()))) {
    await setNodeStatus(db, nodeId, "suspended", now.getTime());
    node = await getNode(db, nodeId);
  }
  // The standing travels with every answer, so the operator's agent can warn while there is time to act.
  const body: HeartbeatResponse = { ok: true, status: node?.status, standing: node?.standing };
  return c.json(body);
});

nodesApi.post("/:nodeId/offline", async (c) => {
  const nodeId = parseWith(nodeIdSchema, c.req.param("nodeId"));
  const db = openDb(c.env.DB);
  const now = await clockNow(c.env);
  const { node } = await authenticateNode(c.req.raw, c.env, db, nodeId, now);
  if (node.status === "active") await setNodeStatus(db, nodeId, "offline", now.getTime());
  return c.json({ ok: true });
});

// ---- Stake (README, Chain): a node registers only with enough stake, and is suspended when it drops below.

async function readStakeForRegistration(node: StakedNode, env: Env, now: number): Promise<NodeStakeVerdict> {
  try {
    return await judgeNodeStake(env, node, { now, fresh: true });
  } catch (error) {
    throw new ApiError(503, "ChainUnavailable", `The node's stake could not be read from the chain; try again. (${(error as Error).message.split("\n")[0]})`);
  }
}

function requireStake(verdict: NodeStakeVerdict, operator: string): void {
  if (verdict.kind === "skipped") {
    console.warn(JSON.stringify({ event: "stake_check_skipped", reason: verdict.reason }));
    return;
  }
  if (verdict.kind === "staked") return;
  const { stake } = verdict;
  const details = { nodeKey: stake.nodeKey, stakedBy: stake.stakedBy ?? null, bonded: stake.bonded.toString(), required: stake.required.toString() };
  if (stake.stakedBy !== undefined && stake.stakedBy.toLowerCase() !== operator.toLowerCase()) {
    throw new ApiError(403, "StakeOperatorMismatch", `The stake for this node is bound to ${stake.stakedBy}, not to the registering operator.`, details);
  }
  throw new ApiError(
    403,
    "InsufficientStake",
    `The node's stake is ${stake.bonded} ICNT base units; its capacity needs at least ${stake.required}. Stake for node key ${stake.nodeKey} in NodeStaking first.`,
    details,
  );
}

/** A failed read never suspends a node: the chore tries again within a minute. */
async function understakedAtHeartbeat(node: StakedNode, env: Env, now: number): Promise<boolean> {
  try {
    return (await judgeNodeStake(env, node, { now, fresh: false })).kind === "understaked";
  } catch (error) {
    console.warn(JSON.stringify({ event: "stake_read_failed", nodeId: node.id, message: (error as Error).message.split("\n")[0] }));
    return false;
  }
}

/** Scrub reports a node may send per window; one pass sends one, so this leaves room only for retries. */
export const SCRUB_REPORTS_PER_WINDOW = 10;
export const SCRUB_REPORT_WINDOW_MS = 60 * 60_000;

/**
 * Findings of a node's scrub pass: corrupt and missing blobs become faults the repair chore fixes. Only blobs the
 * edge placed on that node count (others are ignored and counted), and reports are bounded in size (the schema)
 * and per node per window, so a node cannot hand the repair chore work of its own invention.
 */
nodesApi.post("/:nodeId/scrub-report", async (c) => {
  const nodeId = parseWith(nodeIdSchema, c.req.param("nodeId"));
  const db = openDb(c.env.DB);
  const now = await clockNow(c.env);
  const { data: report } = await readSignedNodeJson(c.req.raw, c.env, db, nodeId, now, scrubReportSchema, MAX_SCRUB_REPORT_BYTES);
  if ((await countScrubReport(db, nodeId, now.getTime(), SCRUB_REPORT_WINDOW_MS)) > SCRUB_REPORTS_PER_WINDOW) {
    c.header("retry-after", String(SCRUB_REPORT_WINDOW_MS / 1000));
    throw new ApiError(429, "SlowDown", `At most ${SCRUB_REPORTS_PER_WINDOW} scrub reports per node per ${SCRUB_REPORT_WINDOW_MS / 60_000} minutes; send the findings again later.`);
  }
  const reported = [
    ...report.corrupt.map((f) => ({ nodeId, blobId: f.blobId, reason: "corrupt" as const })),
    ...report.missing.map((blobId) => ({ nodeId, blobId, reason: "missing" as const })),
  ];
  const placed = await placedOnNode(db, nodeId, [...new Set(reported.map((f) => f.blobId))]);
  const faults = reported.filter((f) => placed.has(f.blobId));
  await insertBlobFaults(db, faults, now.getTime());
  const ignored = reported.length - faults.length;
  console.log(JSON.stringify({ event: "scrub_report", nodeId, scanned: report.scanned, corrupt: report.corrupt.length, missing: report.missing.length, ignored }));
  return c.json({ ok: true, faultsRecorded: faults.length, ignored });
});

// ---- Reputation (public): what audits say about a node, for its operator and for anyone choosing nodes.

nodesApi.get("/:nodeId/reputation", async (c) => {
  const nodeId = parseWith(nodeIdSchema, c.req.param("nodeId"));
  const rep = await readNodeReputation(openDb(c.env.DB), nodeId, configOf(c.env).reputation);
  if (!rep) throw new ApiError(404, "NoSuchNode", `Node ${nodeId} does not exist.`);
  return c.json({
    nodeId,
    standing: rep.standing,
    auditScore: scoreOf(rep.audit),
    onlineScore: scoreOf(rep.online),
    audits: { passed: rep.passed, failed: rep.failed },
  });
});

const auditHistoryQuerySchema = z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) });

/** A node's recent audit outcomes, newest first; piece ids are opaque (no bucket ids). */
nodesApi.get("/:nodeId/audits", async (c) => {
  const nodeId = parseWith(nodeIdSchema, c.req.param("nodeId"));
  const { limit } = parseWith(auditHistoryQuerySchema, c.req.query());
  const db = openDb(c.env.DB);
  if (!(await getNode(db, nodeId))) throw new ApiError(404, "NoSuchNode", `Node ${nodeId} does not exist.`);
  return c.json({ nodeId, audits: await listNodeAuditOutcomes(db, nodeId, limit) });
});
