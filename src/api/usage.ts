// Usage reads: a customer's usage by bucket and UTC day (GET /api/v1/usage, SigV4 with the account's own S3 access
// key, as the KMS API), and an operator's node usage (GET /api/v1/nodes/:nodeId/usage, SigV4 with the node's
// credentials, as every node route that is not public). Both read what the flush chore has written to D1
// (workers/cron/usage-flush.ts): usage of the last hour may not be there yet. Amounts are decimal strings.

import { Hono } from "hono";
import { z } from "zod";
import { clockNow } from "../clock.ts";
import { configOf } from "../config.ts";
import { openDb } from "../db/client.ts";
import { nodeAuditCountsByPeriod, readNodeReputation } from "../db/reputation.ts";
import { accountUsageByDay, nodeUsageByDay } from "../db/usage.ts";
import type { Env } from "../env.ts";
import { nodeIdSchema } from "../protocol/node-protocol.ts";
import { scoreOf } from "../services/reputation.ts";
import { authenticateAccount } from "./account-auth.ts";
import { ApiError, parseWith } from "./errors.ts";
import { authenticateNode } from "./node-auth.ts";

/**
 * Customers sign usage reads as S3 requests (service "s3", any region the edge accepts) over the empty body's hash,
 * as curl --aws-sigv4 "aws:amz:<region>:s3" does; UNSIGNED-PAYLOAD is refused, as on every signed control route.
 */
export const USAGE_SIGV4_SERVICE = "s3";

/** The longest span one read may cover. */
export const MAX_USAGE_DAYS = 366;

const DAY_MS = 86_400_000;
const daySchema = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "must be a UTC day, YYYY-MM-DD").refine((d) => !Number.isNaN(Date.parse(`${d}T00:00:00Z`)) && new Date(`${d}T00:00:00Z`).toISOString().startsWith(d), "must be a real day");

export const usageQuerySchema = z
  .object({ from: daySchema, to: daySchema })
  .refine((q) => q.from <= q.to, "from must not be after to")
  .refine((q) => (Date.parse(`${q.to}T00:00:00Z`) - Date.parse(`${q.from}T00:00:00Z`)) / DAY_MS < MAX_USAGE_DAYS, `at most ${MAX_USAGE_DAYS} days at once`);

export const usageApi = new Hono<{ Bindings: Env }>();

usageApi.get("/usage", async (c) => {
  const db = openDb(c.env.DB);
  const { accountId } = await authenticateAccount(c.req.raw, c.env, db, { service: USAGE_SIGV4_SERVICE, regions: configOf(c.env).s3Regions, now: await clockNow(c.env) });
  const { from, to } = parseWith(usageQuerySchema, c.req.query());
  const days = await accountUsageByDay(db, accountId, from, to);
  return c.json({
    accountId,
    from,
    to,
    usage: days.map((u) => ({
      bucket: u.bucket,
      day: u.day,
      storageByteHours: u.storageByteHours.toString(),
      bytesIn: u.bytesIn.toString(),
      bytesOut: u.bytesOut.toString(),
      classARequests: u.classARequests.toString(),
      classBRequests: u.classBRequests.toString(),
    })),
  });
});

usageApi.get("/nodes/:nodeId/usage", async (c) => {
  const nodeId = parseWith(nodeIdSchema, c.req.param("nodeId"));
  const db = openDb(c.env.DB);
  await authenticateNode(c.req.raw, c.env, db, nodeId, await clockNow(c.env));
  const { from, to } = parseWith(usageQuerySchema, c.req.query());
  const rep = await readNodeReputation(db, nodeId, configOf(c.env).reputation);
  if (!rep) throw new ApiError(404, "NoSuchNode", `Node ${nodeId} does not exist.`);
  const days = await nodeUsageByDay(db, nodeId, from, to);
  const fromMs = Date.parse(`${from}T00:00:00Z`);
  const auditPeriods = await nodeAuditCountsByPeriod(db, nodeId, fromMs, Date.parse(`${to}T00:00:00Z`) + DAY_MS, configOf(c.env).finance.periodMinutes);
  return c.json({
    nodeId,
    from,
    to,
    // bytesServed: what the node delivered to the edge for clients' GETs (the egress share of its rewards).
    usage: days.map((d) => ({ day: d.day, heldByteHours: d.heldByteHours.toString(), bytesServed: d.bytesServed.toString() })),
    // Audit results: the score and all-time counts (what settlement weighs holding by), and the audits of these days
    // counted per finance period.
    audits: { standing: rep.standing, auditScore: scoreOf(rep.audit), passed: rep.passed, failed: rep.failed, timeouts: rep.timeouts, periods: auditPeriods },
  });
});
