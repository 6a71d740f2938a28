// The edge's configuration: the Worker's string vars (wrangler.toml [vars]) parsed once into typed values.
// Durations are milliseconds, lists are trimmed arrays, flags are booleans. A bad var fails with its name and
// the value it holds, not as a NaN deep inside a chore. The chain vars keep their own parser (src/chain/config.ts)
// because a half-configured chain must only break the paths that use it, not every request.

import { z } from "zod";
import type { Env } from "./env.ts";
import { EdgeError } from "./protocol/errors.ts";
import { parseErasureCode, type ErasureCode } from "./protocol/piece-layout.ts";
import type { BuybackPolicy } from "./finance/buyback-guard.ts";
import type { SplitPolicy } from "./finance/split.ts";
import type { ReputationParams } from "./services/reputation.ts";

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

  // ---- Audit reputation (issue 16; src/services/reputation.ts). Optional vars: none is in wrangler.toml yet.
  /** Beta-reputation parameters and standing thresholds of nodes (validators share lambda, weight and alpha). */
  reputation: ReputationParams;
  /** Basis points of a node's held stake slashed once when it is disqualified (capped by NodeStaking's maxSlashBps). */
  disqualificationSlashBps: number;
  /** Challenge rounds (README, Validators). */
  audit: AuditConfig;
  finance: {
    /** How far a payment event's signed timestamp may be from the edge's clock. */
    webhookToleranceSeconds: number;
    /** Minutes per accounting period; undefined for UTC calendar months. */
    periodMinutes: number | undefined;
    /** What the settlement chore does with a period's revenue (README, Finance: Settlement). */
    settlement: SettlementConfig;
  };
}

export interface SettlementConfig {
  /** Share of a period's fiat revenue (basis points) that buys ICNT for the period's rewards. */
  buybackShareBps: bigint;
  /** How the buyback's stablecoin reaches the protocol's account: already there (finance ops converted the fiat
   * off-chain and deposited it), or minted from the local network's TestUSDC (the local stand-in for that). */
  usdcFunding: "treasury" | "mint-test-usdc";
  /** The buyback guard's bounds. */
  buyback: BuybackPolicy;
  /** The split's pools and weights. */
  split: SplitPolicy;
  /** How often the every-minute tick stores an observation of the pool's price accumulators (the TWAP's window starts). */
  poolObservationIntervalMs: number;
}

export interface AuditConfig {
  /** Time from one round's opening to the next one's. */
  roundIntervalMs: number;
  /** Rounds per epoch: every active node is challenged at least once per epoch, and each epoch is anchored on chain. */
  roundsPerEpoch: number;
  /** Challenges per round at least (more when the epoch's coverage needs them). */
  challengesPerRound: number;
  leavesPerChallenge: number;
  validatorsPerChallenge: number;
  /** How long the first validators of a challenge have to attest; missing ones are then replaced for as long again. */
  responseMs: number;
  /** Blocks between a round's commitment and the block whose hash seeds it. */
  seedDelayBlocks: number;
  /** Share of its stake (basis points) a validator loses for each piece of objective misconduct. */
  validatorSlashBps: number;
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
const bigCount = z.string().trim().regex(/^\d{1,30}$/, "must be an integer ≥ 0").transform(BigInt);
const bps = bigCount.refine((n) => n <= 10_000n, "must be basis points, 0..10000");
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
  AUDIT_ROUND_INTERVAL_SECONDS: seconds.prefault("300"),
  AUDIT_ROUNDS_PER_EPOCH: positiveInteger.prefault("12"),
  AUDIT_CHALLENGES_PER_ROUND: positiveInteger.prefault("8"),
  AUDIT_LEAVES_PER_CHALLENGE: positiveInteger.pipe(z.number().max(64)).prefault("16"),
  AUDIT_VALIDATORS_PER_CHALLENGE: positiveInteger.prefault("3"),
  AUDIT_RESPONSE_SECONDS: seconds.prefault("30"),
  AUDIT_SEED_DELAY_BLOCKS: positiveInteger.prefault("2"),
  AUDIT_VALIDATOR_SLASH_BPS: count.pipe(z.number().max(10_000)).prefault("1000"),
});

// Storj's tuned values (forum.storj.io/t/tuning-audit-scoring/14084/77): lambda 0.999, disqualified below 0.96,
// and a new node starting at the steady state alpha = 1/(1 - lambda) (the default when AUDIT_INITIAL_ALPHA is
// unset). From a perfect score it takes ~10 failures in a row to be warned (0.99), ~20 to be suspended (0.98) and
// ~41 to be disqualified; a suspended node needs ~290 passes to climb back to 0.985. Vetting after 100 passed
// audits and 3 re-challenges of a timed-out piece are Storj's too.
const unitInterval = z.string().trim().regex(/^\d+(\.\d+)?$/, "must be a number").transform(Number).pipe(z.number().gt(0).lte(1));
const positiveNumber = z.string().trim().regex(/^\d+(\.\d+)?$/, "must be a number").transform(Number).pipe(z.number().gt(0));
const optionalVars = {
    AUDIT_LAMBDA: unitInterval.prefault("0.999"),
    AUDIT_WEIGHT: positiveNumber.prefault("1"),
    AUDIT_INITIAL_ALPHA: positiveNumber.optional(),
    AUDIT_WARN_BELOW: unitInterval.prefault("0.99"),
    AUDIT_SUSPEND_BELOW: unitInterval.prefault("0.98"),
    AUDIT_DISQUALIFY_BELOW: unitInterval.prefault("0.96"),
    AUDIT_SUSPENSION_RECOVERY_MARGIN: z.string().trim().regex(/^\d+(\.\d+)?$/, "must be a number").transform(Number).pipe(z.number().lt(1)).prefault("0.005"),
    AUDIT_VETTING_AUDITS: count.prefault("100"),
    AUDIT_CONTAINMENT_RETRIES: count.prefault("3"),
    AUDIT_DISQUALIFICATION_SLASH_BPS: count.pipe(z.number().max(10_000)).prefault("1000"),
    // Finance (README, Finance): how far a payment event's signed timestamp may be from the edge's clock, and
    // accounting periods of this many minutes instead of UTC calendar months (unset).
    FINANCE_WEBHOOK_TOLERANCE_SECONDS: count.pipe(z.number().max(999_999)).prefault("300"),
    FINANCE_PERIOD_MINUTES: positiveInteger.optional(),
    // Settlement (README, Finance: Settlement). Basis points, seconds, and USDC base units (6 decimals).
    SETTLEMENT_BUYBACK_SHARE_BPS: bps.prefault("5000"),
    SETTLEMENT_USDC_FUNDING: z.enum(["treasury", "mint-test-usdc"], { error: "must be \"treasury\" or \"mint-test-usdc\"" }).prefault("treasury"),
    SETTLEMENT_PROTOCOL_SHARE_BPS: bps.prefault("1000"),
    SETTLEMENT_VALIDATOR_SHARE_BPS: bps.prefault("1500"),
    SETTLEMENT_STORAGE_WEIGHT: bigCount.prefault("3"),
    SETTLEMENT_EGRESS_WEIGHT: bigCount.prefault("1"),
    BUYBACK_MIN_WINDOW_SECONDS: bigCount.prefault("1800"),
    BUYBACK_MAX_SPOT_DEVIATION_BPS: bps.prefault("200"),
    BUYBACK_MAX_PRICE_IMPACT_BPS: bps.prefault("100"),
    BUYBACK_MIN_USDC_RESERVE: bigCount.prefault("10000000000"),
    BUYBACK_SLIPPAGE_BPS: bps.prefault("300"),
    BUYBACK_DEADLINE_SECONDS: bigCount.prefault("600"),
    POOL_OBSERVATION_INTERVAL_SECONDS: seconds.prefault("300"),
};
const allVarsSchema = varsSchema.extend(optionalVars).superRefine((v, ctx) => {
    if (v.SETTLEMENT_PROTOCOL_SHARE_BPS + v.SETTLEMENT_VALIDATOR_SHARE_BPS > 10_000n) {
      ctx.addIssue({ code: "custom", path: ["SETTLEMENT_VALIDATOR_SHARE_BPS"], message: "plus SETTLEMENT_PROTOCOL_SHARE_BPS must be at most 10000" });
    }
    if (v.SETTLEMENT_STORAGE_WEIGHT + v.SETTLEMENT_EGRESS_WEIGHT === 0n) {
      ctx.addIssue({ code: "custom", path: ["SETTLEMENT_STORAGE_WEIGHT"], message: "and SETTLEMENT_EGRESS_WEIGHT must not both be 0" });
    }
    if (!(v.AUDIT_WARN_BELOW >= v.AUDIT_SUSPEND_BELOW && v.AUDIT_SUSPEND_BELOW > v.AUDIT_DISQUALIFY_BELOW)) {
      ctx.addIssue({ code: "custom", path: ["AUDIT_SUSPEND_BELOW"], message: "must lie between AUDIT_DISQUALIFY_BELOW (exclusive) and AUDIT_WARN_BELOW" });
    }
    if (v.AUDIT_LAMBDA === 1 && v.AUDIT_INITIAL_ALPHA === undefined) {
      ctx.addIssue({ code: "custom", path: ["AUDIT_INITIAL_ALPHA"], message: "must be set when AUDIT_LAMBDA is 1 (no steady state to start from)" });
    }
  });

/** The vars configOf reads; a structural type so tests can pass plain objects. */
export type ConfigVars = Record<keyof z.input<typeof varsSchema>, string | undefined>;
/** Vars with defaults that wrangler.toml need not name (a Worker's Env has them only when set). */
export type OptionalConfigVars = Partial<Record<keyof typeof optionalVars, string>>;

/** Parses vars into an EdgeConfig; throws ConfigError naming every bad var. */
export function parseConfig(vars: Partial<ConfigVars> & OptionalConfigVars): EdgeConfig {
  const result = allVarsSchema.safeParse(vars);
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
    reputation: {
      lambda: v.AUDIT_LAMBDA,
      weight: v.AUDIT_WEIGHT,
      initialAlpha: v.AUDIT_INITIAL_ALPHA ?? v.AUDIT_WEIGHT / (1 - v.AUDIT_LAMBDA),
      warnBelow: v.AUDIT_WARN_BELOW,
      suspendBelow: v.AUDIT_SUSPEND_BELOW,
      disqualifyBelow: v.AUDIT_DISQUALIFY_BELOW,
      suspensionRecoveryMargin: v.AUDIT_SUSPENSION_RECOVERY_MARGIN,
      vettingAudits: v.AUDIT_VETTING_AUDITS,
      containmentRetries: v.AUDIT_CONTAINMENT_RETRIES,
    },
    disqualificationSlashBps: v.AUDIT_DISQUALIFICATION_SLASH_BPS,
    finance: {
      webhookToleranceSeconds: v.FINANCE_WEBHOOK_TOLERANCE_SECONDS,
      periodMinutes: v.FINANCE_PERIOD_MINUTES,
      settlement: {
        buybackShareBps: v.SETTLEMENT_BUYBACK_SHARE_BPS,
        usdcFunding: v.SETTLEMENT_USDC_FUNDING,
        buyback: {
          minWindowSeconds: v.BUYBACK_MIN_WINDOW_SECONDS,
          maxSpotDeviationBps: v.BUYBACK_MAX_SPOT_DEVIATION_BPS,
          maxPriceImpactBps: v.BUYBACK_MAX_PRICE_IMPACT_BPS,
          minUsdcReserve: v.BUYBACK_MIN_USDC_RESERVE,
          slippageBps: v.BUYBACK_SLIPPAGE_BPS,
          deadlineSeconds: v.BUYBACK_DEADLINE_SECONDS,
        },
        split: {
          protocolShareBps: v.SETTLEMENT_PROTOCOL_SHARE_BPS,
          validatorShareBps: v.SETTLEMENT_VALIDATOR_SHARE_BPS,
          storageWeight: v.SETTLEMENT_STORAGE_WEIGHT,
          egressWeight: v.SETTLEMENT_EGRESS_WEIGHT,
        },
        poolObservationIntervalMs: v.POOL_OBSERVATION_INTERVAL_SECONDS,
      },
    },
    audit: {
      roundIntervalMs: v.AUDIT_ROUND_INTERVAL_SECONDS,
      roundsPerEpoch: v.AUDIT_ROUNDS_PER_EPOCH,
      challengesPerRound: v.AUDIT_CHALLENGES_PER_ROUND,
      leavesPerChallenge: v.AUDIT_LEAVES_PER_CHALLENGE,
      validatorsPerChallenge: v.AUDIT_VALIDATORS_PER_CHALLENGE,
      responseMs: v.AUDIT_RESPONSE_SECONDS,
      seedDelayBlocks: v.AUDIT_SEED_DELAY_BLOCKS,
      validatorSlashBps: v.AUDIT_VALIDATOR_SLASH_BPS,
    },
  };
}

// The env object lives as long as the isolate, so this parses once per isolate (and once per test env object).
const parsed = new WeakMap<object, EdgeConfig>();

/** The typed configuration of this Worker's env, parsed on first use. */
export function configOf(env: (Pick<Env, keyof ConfigVars> | Partial<ConfigVars>) & OptionalConfigVars): EdgeConfig {
  let config = parsed.get(env);
  if (!config) {
    config = parseConfig(env as Partial<ConfigVars>);
    parsed.set(env, config);
  }
  return config;
}
