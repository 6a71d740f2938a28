// The validators' API: the public record of challenge rounds (anyone may re-verify every verdict from it), the
// EIP-712 domain and keys to do so, and the WebSocket validators hold to the challenge coordinator.

import { Hono } from "hono";
import { z } from "zod";
import { configOf } from "../config.ts";
import { chainConfigFromVars } from "../chain/config.ts";
import type { Env } from "../env.ts";
import { auditDomainInfoSchema, type AuditDomainInfo } from "../protocol/validator-session.ts";
import { auditDomain, auditSigner } from "../services/audit-keys.ts";
import { ApiError } from "./errors.ts";

export const validatorsApi = new Hono<{ Bindings: Env }>();

/** The one coordinator of this edge's rounds. */
export function coordinatorOf(env: Env) {
  return env.CHALLENGE_COORDINATOR.get(env.CHALLENGE_COORDINATOR.idFromName("global"));
}

const limitSchema = z.coerce.number().int().min(1).max(100).default(20);
const idSchema = z.coerce.number().int().positive();

function parseOr400<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new ApiError(400, "ValidationError", `${what}: ${parsed.error.issues.map((i) => i.message).join("; ")}`);
  return parsed.data;
}

validatorsApi.get("/domain", async (c) => {
  const chain = chainConfigFromVars(c.env);
  if (!chain) throw new ApiError(503, "ChainNotConfigured", "This edge runs without a chain: it has no validators.");
  const domain = await auditDomain(c.env);
  const body: AuditDomainInfo = {
    domain: { name: domain.name, version: domain.version, chainId: domain.chainId, salt: domain.salt },
    assignmentSigner: auditSigner(c.env).address,
    auditLog: chain.contracts.auditLog,
    nodeStaking: chain.contracts.nodeStaking,
    chainId: chain.chainId,
    seedDelayBlocks: configOf(c.env).audit.seedDelayBlocks,
  };
  return c.json(auditDomainInfoSchema.parse(body));
});

validatorsApi.get("/rounds", async (c) => {
  const limit = parseOr400(limitSchema, c.req.query("limit"), "limit must be an integer from 1 to 100");
  return c.json({ rounds: await coordinatorOf(c.env).listRounds(limit) });
});

validatorsApi.get("/rounds/:roundId", async (c) => {
  const id = parseOr400(idSchema, c.req.param("roundId"), "round id must be a positive integer");
  const round = await coordinatorOf(c.env).getRound(id);
  if (!round) throw new ApiError(404, "NoSuchRound", `Round ${id} does not exist.`);
  return c.json(round);
});

validatorsApi.get("/epochs/:epoch", async (c) => {
  const epoch = parseOr400(idSchema, c.req.param("epoch"), "epoch must be a positive integer");
  const found = await coordinatorOf(c.env).getEpoch(epoch);
  if (!found) throw new ApiError(404, "NoSuchEpoch", `Epoch ${epoch} has no verdicts yet.`);
  return c.json(found);
});

// A validator's session: the upgrade goes to the coordinator, which sends a nonce to log in over.
validatorsApi.get("/session", async (c) => {
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") throw new ApiError(426, "UpgradeRequired", "Open this path as a WebSocket.");
  return coordinatorOf(c.env).fetch(c.req.raw);
});
