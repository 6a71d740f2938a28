// Command-line flags (each with an ICN_* environment fallback), validated once with zod at startup.

import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { edgeIdSchema, ZONE_PATTERN } from "../../src/protocol/node-protocol.ts";

export interface AgentConfig {
  dataDir: string;
  /** Edge base URL without a trailing slash. */
  edgeUrl: string;
  zone: string;
  walletKey: `0x${string}`;
  listenHost: string;
  /** 0 lets the OS pick a free port. */
  listenPort: number;
  /** URL the edge uses to reach this node; defaults to http://<listen host>:<bound port>. */
  publicUrl: string | undefined;
  /** Capacity offered to the edge; defaults to the size of the data directory's filesystem. */
  capacityBytes: bigint | undefined;
  chainId: number;
  /** The edge's id to sign registrations for; undefined = ask the edge. */
  edgeId: string | undefined;
  /** Pull repair copies from loopback, private and link-local peers (a local network); public only by default. */
  allowPrivateUrls: boolean;
  /** Cap on the bandwidth of replicate pulls from peers, all together; undefined = no cap. */
  repairBandwidthMiBps: number | undefined;
  /** Bytes the scrub may read per second, in MiB. */
  scrubRateMiBps: number;
  /** Seconds between scrub passes (the first one interval after start); 0 = only on POST /scrub. */
  scrubIntervalSeconds: number;
}

/** A flag problem the operator must fix; main prints it and exits 2. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

const FLAG_ENV = {
  "data-dir": "ICN_DATA_DIR",
  "edge-url": "ICN_EDGE_URL",
  zone: "ICN_ZONE",
  "wallet-key": "ICN_WALLET_KEY",
  "wallet-key-file": "ICN_WALLET_KEY_FILE",
  listen: "ICN_LISTEN",
  "public-url": "ICN_PUBLIC_URL",
  capacity: "ICN_CAPACITY",
  "chain-id": "ICN_CHAIN_ID",
  "edge-id": "ICN_EDGE_ID",
  "allow-private-urls": "ICN_ALLOW_PRIVATE_URLS",
  "repair-bandwidth-mibps": "ICN_REPAIR_BANDWIDTH_MIBPS",
  "scrub-rate-mibps": "ICN_SCRUB_RATE_MIBPS",
  "scrub-interval-seconds": "ICN_SCRUB_INTERVAL_SECONDS",
} as const;
type Flag = keyof typeof FLAG_ENV;

export const DEFAULT_LISTEN = "127.0.0.1:0";
export const DEFAULT_CHAIN_ID = 31337;
export const DEFAULT_SCRUB_RATE_MIBPS = 64;
export const DEFAULT_SCRUB_INTERVAL_SECONDS = 86_400;

export const USAGE = `Usage: icn-node-agent --data-dir DIR --edge-url URL --zone ZONE (--wallet-key 0xHEX | --wallet-key-file FILE)
                      [--listen HOST:PORT] [--public-url URL] [--capacity BYTES] [--chain-id ID] [--edge-id ID]
                      [--allow-private-urls true|false]
                      [--repair-bandwidth-mibps N] [--scrub-rate-mibps N] [--scrub-interval-seconds S]
       icn-node-agent --validator ...   (a validator; --validator --help lists its flags)

  --data-dir DIR          where blobs and node.json live                      (ICN_DATA_DIR)
  --edge-url URL          the ICN edge, e.g. https://edge.example             (ICN_EDGE_URL)
  --zone ZONE             placement zone: lowercase letters, digits, dashes   (ICN_ZONE)
  --wallet-key 0xHEX      operator wallet private key that signs registration (ICN_WALLET_KEY)
  --wallet-key-file FILE  file holding that key instead                       (ICN_WALLET_KEY_FILE)
  --listen HOST:PORT      address to bind; port 0 picks a free one  [${DEFAULT_LISTEN}] (ICN_LISTEN)
  --public-url URL        URL the edge reaches this node at [http://HOST:PORT] (ICN_PUBLIC_URL)
  --capacity BYTES        bytes offered to the network [filesystem size]      (ICN_CAPACITY)
  --chain-id ID           EIP-712 domain chain id                 [${DEFAULT_CHAIN_ID}] (ICN_CHAIN_ID)
  --edge-id ID            the edge's id registrations are signed for
                          [asked of the edge]                          (ICN_EDGE_ID)
  --allow-private-urls B  repair pulls may reach loopback, private and
                          link-local peers (local networks only) [false] (ICN_ALLOW_PRIVATE_URLS)
  --repair-bandwidth-mibps N   MiB/s for pulling blobs from peers during repair,
                               all pulls together [no cap]   (ICN_REPAIR_BANDWIDTH_MIBPS)
  --scrub-rate-mibps N         MiB/s the scrub may read while re-hashing every
                               blob [${DEFAULT_SCRUB_RATE_MIBPS}]                      (ICN_SCRUB_RATE_MIBPS)
  --scrub-interval-seconds S   seconds between scrub passes, the first S after
                               start; 0 = only on request [${DEFAULT_SCRUB_INTERVAL_SECONDS}]
                                                             (ICN_SCRUB_INTERVAL_SECONDS)
`;

/** Says "is required" for a missing value and `message` for a wrong one. */
const requiredOr = (message: string) => ({ error: (issue: { input?: unknown }) => (issue.input === undefined ? "is required" : message) });

/** A positive decimal such as 64 or 0.5 (MiB/s). */
const positiveRate = z
  .string()
  .regex(/^(?:\d{1,7}(?:\.\d+)?|\.\d+)$/, "must be a positive number of MiB/s, e.g. 64 or 0.5")
  .transform(Number)
  .refine((n) => n > 0, "must be greater than 0");

const httpUrl = z.url({ protocol: /^https?$/, ...requiredOr("must be an http:// or https:// URL") }).transform((u) => u.replace(/\/+$/, ""));

const rawConfigSchema = z.object({
  "data-dir": z.string(requiredOr("must be a path")).min(1, "is required"),
  "edge-url": httpUrl,
  zone: z.string(requiredOr("must be a string")).regex(ZONE_PATTERN, "must be lowercase letters, digits and dashes (max 63)"),
  "wallet-key": z.string().regex(/^0x[0-9a-fA-F]{64}$/, "must be 0x followed by 64 hex digits").optional(),
  "wallet-key-file": z.string().min(1).optional(),
  listen: z.string().default(DEFAULT_LISTEN),
  "public-url": httpUrl.optional(),
  capacity: z.string().regex(/^[1-9]\d{0,30}$/, "must be a positive whole number of bytes").optional(),
  "chain-id": z
    .string()
    .regex(/^[1-9]\d{0,15}$/, "must be a positive integer")
    .optional(),
  "edge-id": edgeIdSchema.optional(),
  "allow-private-urls": z.enum(["true", "false"], "must be true or false").default("false"),
  "repair-bandwidth-mibps": positiveRate.optional(),
  "scrub-rate-mibps": positiveRate.default(DEFAULT_SCRUB_RATE_MIBPS),
  "scrub-interval-seconds": z
    .string()
    .regex(/^\d{1,9}$/, "must be a whole number of seconds (0 disables scheduled passes)")
    .transform(Number)
    .default(DEFAULT_SCRUB_INTERVAL_SECONDS),
});

/** Parses argv (without the node and script paths) plus the environment. Throws ConfigError. */
export function parseAgentConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): AgentConfig {
  let flags: Partial<Record<Flag, string>>;
  try {
    const options = Object.fromEntries(Object.keys(FLAG_ENV).map((flag) => [flag, { type: "string" as const }])) as Record<Flag, { type: "string" }>;
    flags = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values as Partial<Record<Flag, string>>;
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }

  const raw = parseFlagsAndEnv(rawConfigSchema, FLAG_ENV, flags, env);
  const { host, port } = parseListen(raw.listen);
  return {
    dataDir: resolve(raw["data-dir"]),
    edgeUrl: raw["edge-url"],
    zone: raw.zone,
    walletKey: resolveWalletKey(raw["wallet-key"], raw["wallet-key-file"]),
    listenHost: host,
    listenPort: port,
    publicUrl: raw["public-url"],
    capacityBytes: raw.capacity === undefined ? undefined : BigInt(raw.capacity),
    chainId: raw["chain-id"] === undefined ? DEFAULT_CHAIN_ID : Number(raw["chain-id"]),
    edgeId: raw["edge-id"],
    allowPrivateUrls: raw["allow-private-urls"] === "true",
    repairBandwidthMiBps: raw["repair-bandwidth-mibps"],
    scrubRateMiBps: raw["scrub-rate-mibps"],
    scrubIntervalSeconds: raw["scrub-interval-seconds"],
  };
}

/** HOST:PORT, with IPv6 hosts in brackets ([::1]:8080). */
export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new ConfigError(`--listen (or ICN_LISTEN): '${value}' must look like 127.0.0.1:8080 (port 0 picks a free one)`);
  return { host: (m[1] ?? m[2])!, port };
}

/** The default public URL for a bound address. */
export function urlForListenAddress(host: string, port: number): string {
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

export function resolveWalletKey(key: string | undefined, file: string | undefined): `0x${string}` {
  if (key !== undefined && file !== undefined) {
    throw new ConfigError("--wallet-key and --wallet-key-file (or their ICN_* variables) are mutually exclusive; give one");
  }
  if (key !== undefined) return key as `0x${string}`;
  if (file === undefined) throw new ConfigError("--wallet-key or --wallet-key-file (or ICN_WALLET_KEY / ICN_WALLET_KEY_FILE) is required");
  let contents: string;
  try {
    contents = readFileSync(file, "utf8").trim();
  } catch (error) {
    throw new ConfigError(`--wallet-key-file: cannot read ${file}: ${(error as Error).message}`);
  }
  // Accept the key with or without 0x, as wallets export both; never echo the contents.
  const normalized = contents.startsWith("0x") ? contents : `0x${contents}`;
  if (!/^0x[0-9a-fA-F]{64}$/.test(normalized)) throw new ConfigError(`--wallet-key-file: ${file} must hold one private key: 64 hex digits`);
  return normalized as `0x${string}`;
}

export function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

/**
 * Each flag's value, or else its environment variable's (an empty variable counts as unset), parsed by `schema`;
 * a ConfigError names every bad flag with its variable. Shared by the node and validator modes.
 */
export function parseFlagsAndEnv<F extends string, S extends z.ZodType>(
  schema: S,
  flagEnv: Record<F, string>,
  flags: Partial<Record<F, string | boolean | undefined>>,
  env: Readonly<Record<string, string | undefined>>,
): z.infer<S> {
  const merged: Partial<Record<F, string>> = {};
  for (const [flag, envName] of Object.entries(flagEnv) as [F, string][]) {
    const given = flags[flag];
    const value = (typeof given === "string" ? given : undefined) ?? nonEmpty(env[envName]);
    if (value !== undefined) merged[flag] = value;
  }
  const parsed = schema.safeParse(merged);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const flag = String(issue.path[0]) as F;
      return `--${flag} (or ${flagEnv[flag]}): ${issue.message}`;
    });
    throw new ConfigError(lines.join("\n"));
  }
  return parsed.data;
}
