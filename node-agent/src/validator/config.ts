// Flags of `icn-node-agent --validator` (each with an ICN_* environment fallback, as in ../config.ts), validated
// once with zod at startup. The operational key comes from a file only: a key on the command line is visible to
// every user of the machine through the process list.

import { statSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { addressSchema } from "../../../src/protocol/audit.ts";
import { ConfigError, nonEmpty, parseFlagsAndEnv } from "../config.ts";
import { parseTestFault, TEST_FAULT_ENV, type TestFault } from "./test-faults.ts";

export interface ValidatorConfig {
  /** Edge base URL without a trailing slash. */
  edgeUrl: string;
  /** The staked address (NodeStaking.isValidator) this validator logs in as. */
  validatorAddress: `0x${string}`;
  /** The key the stake address authorized on chain (AuditLog.setOperationalKey); signs logins and attestations. */
  operationalKey: `0x${string}`;
  /** Where the attestations it signed are remembered across restarts; undefined = memory only. */
  dataDir: string | undefined;
  /** Challenges run at once; more assignments wait their turn. */
  maxConcurrentChallenges: number;
  /** A deliberate misbehaviour for end-to-end tests only (ICN_VALIDATOR_FAULT with --allow-test-faults). */
  testFault: TestFault | undefined;
}

const FLAG_ENV = {
  "edge-url": "ICN_EDGE_URL",
  "validator-address": "ICN_VALIDATOR_ADDRESS",
  "operational-key-file": "ICN_OPERATIONAL_KEY_FILE",
  "data-dir": "ICN_DATA_DIR",
  "max-concurrent-challenges": "ICN_MAX_CONCURRENT_CHALLENGES",
} as const;
type Flag = keyof typeof FLAG_ENV;

export const DEFAULT_MAX_CONCURRENT_CHALLENGES = 8;

export const VALIDATOR_USAGE = `Usage: icn-node-agent --validator --edge-url URL --validator-address 0xADDR --operational-key-file FILE
                      [--data-dir DIR] [--max-concurrent-challenges N]

  --validator                  run as a validator (HyperNode): audit nodes for the edge; no blob store, no HTTP server
  --edge-url URL               the ICN edge, e.g. https://edge.example             (ICN_EDGE_URL)
  --validator-address 0xADDR   the staked validator address (NodeStaking)          (ICN_VALIDATOR_ADDRESS)
  --operational-key-file FILE  file (mode 0600) holding the operational private key the stake
                               address authorized on chain; it signs logins and attestations
                                                                                   (ICN_OPERATIONAL_KEY_FILE)
  --data-dir DIR               remembers signed attestations across restarts [memory only] (ICN_DATA_DIR)
  --max-concurrent-challenges N  challenges run at once [${DEFAULT_MAX_CONCURRENT_CHALLENGES}]  (ICN_MAX_CONCURRENT_CHALLENGES)
  --allow-test-faults          honour ${TEST_FAULT_ENV} (end-to-end tests only; never in production)
`;

const requiredOr = (message: string) => ({ error: (issue: { input?: unknown }) => (issue.input === undefined ? "is required" : message) });

const rawConfigSchema = z.object({
  "edge-url": z.url({ protocol: /^https?$/, ...requiredOr("must be an http:// or https:// URL") }).transform((u) => u.replace(/\/+$/, "")),
  "validator-address": z.string(requiredOr("must be an address")).pipe(addressSchema),
  "operational-key-file": z.string(requiredOr("must be a path")).min(1, "is required"),
  "data-dir": z.string().min(1).optional(),
  "max-concurrent-challenges": z
    .string()
    .regex(/^[1-9]\d{0,3}$/, "must be a whole number from 1 to 9999")
    .transform(Number)
    .default(DEFAULT_MAX_CONCURRENT_CHALLENGES),
});

/** True when the command line asks for validator mode (main.ts dispatches on it before parsing anything else). */
export function isValidatorCommand(argv: readonly string[]): boolean {
  return argv.includes("--validator");
}

/** Parses argv (without the node and script paths) plus the environment. Throws ConfigError. */
export function parseValidatorConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): ValidatorConfig {
  let values: Record<string, string | boolean | undefined>;
  try {
    const options = {
      validator: { type: "boolean" as const },
      "allow-test-faults": { type: "boolean" as const },
      ...Object.fromEntries(Object.keys(FLAG_ENV).map((flag) => [flag, { type: "string" as const }])),
    };
    values = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  if (values.validator !== true) throw new ConfigError("validator flags need --validator");

  const raw = parseFlagsAndEnv(rawConfigSchema, FLAG_ENV, values as Partial<Record<Flag, string>>, env);
  return {
    edgeUrl: raw["edge-url"],
    validatorAddress: raw["validator-address"] as `0x${string}`,
    operationalKey: readOperationalKey(raw["operational-key-file"]),
    dataDir: raw["data-dir"] === undefined ? undefined : resolve(raw["data-dir"]),
    maxConcurrentChallenges: raw["max-concurrent-challenges"],
    testFault: parseTestFault(nonEmpty(env[TEST_FAULT_ENV]), values["allow-test-faults"] === true),
  };
}

/** Reads the key as ssh reads a private key: refused when group or others may read the file. */
function readOperationalKey(file: string): `0x${string}` {
  let contents: string;
  try {
    const mode = statSync(file).mode;
    if (process.platform !== "win32" && (mode & 0o077) !== 0) {
      throw new ConfigError(`--operational-key-file: ${file} is readable by others (mode ${(mode & 0o777).toString(8)}); chmod 600 it`);
    }
    contents = readFileSync(file, "utf8").trim();
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`--operational-key-file: cannot read ${file}: ${(error as Error).message}`);
  }
  // With or without 0x, as wallets export both; never echo the contents.
  const normalized = contents.startsWith("0x") ? contents : `0x${contents}`;
  if (!/^0x[0-9a-fA-F]{64}$/.test(normalized)) throw new ConfigError(`--operational-key-file: ${file} must hold one private key: 64 hex digits`);
  return normalized as `0x${string}`;
}
