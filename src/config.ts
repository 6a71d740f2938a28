// The edge's configuration: the Worker's string vars (wrangler.toml [vars]) parsed once into typed values.
// Durations are milliseconds, lists are trimmed arrays, flags are booleans. A bad var fails with its name and
// the value it holds, not as a NaN deep inside a chore. The chain vars keep their own parser (src/chain/config.ts)
// because a half-configured chain must only break the paths that use it, not every request.

import { z } from "zod";
import type { Env } from "./env.ts";
import { EdgeError } from "./protocol/errors.ts";
import { parseErasureCode, type ErasureCode } from "./protocol/piece-layout.ts";

export interface EdgeConfig {
  /** Regions a SigV4 scope may name; the first is the edge's own (GetBucketLocation, key ARNs, errors). */
  s3Regions: [string, ...string[]];
  /** Host suffixes for virtual-hosted-style requests; empty means path-style only. */
  s3BaseDomains: string[];
  heartbeatIntervalMs: number;
  /** A node silent for longer than this is offline. */
  nodeOfflineAfterMs: number;
  /** Replicas on a node silent for longer than this are re-created elsewhere. */
  repairGraceMs: number;
  /** An unreferenced blob older than this is deleted by the orphan sweep. */
  orphanGraceMs: number;
  /** Multipart uploads older than this are aborted by the bucket-lifecycle chore. */
  multipartAbandonAfterMs: number;
  /** EIP-712 domain chain id of node registration signatures. */
  registrationChainId: number;
  /** Nodes may register loopback, private and link-local URLs (the local network; never a deployment). */
  nodeUrlsAllowPrivate: boolean;
  /** SSE-C over plain HTTP (TLS ends in front of the Worker). */
  sseCAllowHttp: boolean;
  /** The clock may be advanced through POST /api/v1/admin/clock (Worker and end-to-end tests only). */
  testClock: boolean;
  /** The erasure code of buckets that do not choose their own (README, Erasure coding). */
  erasureCode: ErasureCode;
  /** Pieces beyond k that must be durable before an erasure-coded write is acknowledged (k+1 by default). */
  erasureWriteExtraPieces: number;
  /** Objects (and parts) up to this many plaintext bytes are kept, encrypted, in the bucket's index. */
  inlineObjectMaxBytes: number;
  /** Queue a seventh simultaneous subrequest per invocation, as Cloudflare does (end-to-end tests). */
  connectionLimitEnforced: boolean;
}

/** A var that does not parse. Thrown by configOf; the message names the var and what it holds. */
export class ConfigError extends EdgeError {
  override name = "ConfigError";
  constructor(message: string, details: { issues: { variable: string; message: string }[] }) {
    super("ConfigInvalid", message, details);
  }
}

const list = z.string().transform((s) => s.split(",").map((item) => item.trim()).filter(Boolean));
const seconds = z
  .string()
  .trim()
  .regex(/^\d+(\.\d+)?$/, "must be a number of seconds ≥ 0")
  .transform((s) => Number(s) * 1000);
const hours = z
  .string()
  .trim()
  .regex(/^\d+(\.\d+)?$/, "must be a number of hours ≥ 0")
  .transform((s) => Number(s) * 3600 * 1000);
const positiveInteger = z.string().trim().regex(/^[1-9]\d*$/, "must be a positive integer").transform(Number).pipe(z.number().int().max(Number.MAX_SAFE_INTEGER));
const count = z.string().trim().regex(/^\d+$/, "must be an integer ≥ 0").transform(Number).pipe(z.number().int().max(Number.MAX_SAFE_INTEGER));
const erasureCode = z.string().transform((s, ctx) => {
  try {
    return parseErasureCode(s);
  } catch (error) {
    ctx.addIssue({ code: "custom", message: (error as Error).message });
    return z.NEVER;
  }
});
const flag = z.enum(["true", "false"], { error: 'must be "true" or "false"' }).default("false").transform((s) => s === "true");

const varsSchema = z.object({
  S3_REGIONS: list.refine((regions) => regions.length > 0, "must name at least one region"),
  S3_BASE_DOMAINS: list,
  HEARTBEAT_INTERVAL_SECONDS: seconds,
  NODE_OFFLINE_AFTER_SECONDS: seconds,
  REPAIR_GRACE_SECONDS: seconds,
  ORPHAN_GRACE_SECONDS: seconds,
  MULTIPART_ABANDON_AFTER_HOURS: hours,
  REGISTRATION_CHAIN_ID: positiveInteger,
  NODE_URLS_ALLOW_PRIVATE: flag,
  SSE_C_ALLOW_HTTP: flag,
  TEST_CLOCK: flag,
  ERASURE_CODE: erasureCode.prefault("4+2"),
  ERASURE_WRITE_EXTRA_PIECES: count.prefault("1"),
  // 4 KiB: Storj keeps segments up to 4 KiB inline in its metadata too (README, Small objects).
  INLINE_OBJECT_MAX_BYTES: count.pipe(z.number().max(64 * 1024)).prefault("4096"),
  CONNECTION_LIMIT_ENFORCED: flag,
});

/** The vars configOf reads; a structural type so tests can pass plain objects. */
export type ConfigVars = Record<keyof z.input<typeof varsSchema>, string | undefined>;

/** Parses vars into an EdgeConfig; throws ConfigError naming every bad var. */
export function parseConfig(vars: Partial<ConfigVars>): EdgeConfig {
  const result = varsSchema.safeParse(vars);
  if (!result.success) {
    const issues = result.error.issues.map((issue) => {
      const variable = String(issue.path[0] ?? "?");
      const value = (vars as Record<string, string | undefined>)[variable];
      return { variable, message: value === undefined ? `${variable} is not set` : `${variable} ${issue.message}, not "${value}"` };
    });
    throw new ConfigError(`Invalid Worker configuration: ${issues.map((i) => i.message).join("; ")}.`, { issues });
  }
  const v = result.data;
  return {
    s3Regions: v.S3_REGIONS as EdgeConfig["s3Regions"],
    s3BaseDomains: v.S3_BASE_DOMAINS,
    heartbeatIntervalMs: v.HEARTBEAT_INTERVAL_SECONDS,
    nodeOfflineAfterMs: v.NODE_OFFLINE_AFTER_SECONDS,
    repairGraceMs: v.REPAIR_GRACE_SECONDS,
    orphanGraceMs: v.ORPHAN_GRACE_SECONDS,
    multipartAbandonAfterMs: v.MULTIPART_ABANDON_AFTER_HOURS,
    registrationChainId: v.REGISTRATION_CHAIN_ID,
    nodeUrlsAllowPrivate: v.NODE_URLS_ALLOW_PRIVATE,
    sseCAllowHttp: v.SSE_C_ALLOW_HTTP,
    testClock: v.TEST_CLOCK,
    erasureCode: v.ERASURE_CODE,
    erasureWriteExtraPieces: v.ERASURE_WRITE_EXTRA_PIECES,
    inlineObjectMaxBytes: v.INLINE_OBJECT_MAX_BYTES,
    connectionLimitEnforced: v.CONNECTION_LIMIT_ENFORCED,
  };
}

// The env object lives as long as the isolate, so this parses once per isolate (and once per test env object).
const parsed = new WeakMap<object, EdgeConfig>();

/** The typed configuration of this Worker's env, parsed on first use. */
export function configOf(env: Pick<Env, keyof ConfigVars> | Partial<ConfigVars>): EdgeConfig {
  let config = parsed.get(env);
  if (!config) {
    config = parseConfig(env as Partial<ConfigVars>);
    parsed.set(env, config);
  }
  return config;
}
