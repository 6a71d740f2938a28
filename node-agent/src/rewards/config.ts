// Flags of `icn-node-agent rewards [claim]` (each with an ICN_* environment fallback, as in ../config.ts).

import { parseArgs } from "node:util";
import { privateKeyToAccount } from "viem/accounts";
import { z } from "zod";
import { ConfigError, parseFlagsAndEnv, resolveWalletKey } from "../config.ts";

export interface RewardsConfig {
  command: "show" | "claim";
  edgeUrl: string;
  /** The payout address: the wallet key's, or --address. */
  address: `0x${string}`;
  walletKey: `0x${string}` | undefined;
  chainRpcUrl: string | undefined;
  json: boolean;
}

const FLAG_ENV = {
  "edge-url": "ICN_EDGE_URL",
  address: "ICN_REWARDS_ADDRESS",
  "wallet-key": "ICN_WALLET_KEY",
  "wallet-key-file": "ICN_WALLET_KEY_FILE",
  "chain-rpc-url": "ICN_CHAIN_RPC_URL",
} as const;
type Flag = keyof typeof FLAG_ENV;

export const REWARDS_USAGE = `Usage: icn-node-agent rewards [claim] --edge-url URL (--wallet-key-file FILE | --wallet-key 0xHEX | --address 0xADDR)
                      [--chain-rpc-url URL] [--json]

  rewards                 shows, per settled period, what the address can claim and whether it did, and what it
                          has earned that no posted period pays yet
  rewards claim           claims every posted period not claimed yet (needs the wallet key and --chain-rpc-url)
  --edge-url URL          the ICN edge                                          (ICN_EDGE_URL)
  --wallet-key-file FILE  the payout wallet's key (an operator's wallet, a validator's stake key) (ICN_WALLET_KEY_FILE)
  --wallet-key 0xHEX      the same key inline                                   (ICN_WALLET_KEY)
  --address 0xADDR        only show this address (no key needed)                (ICN_REWARDS_ADDRESS)
  --chain-rpc-url URL     the chain, to read claim status and to claim          (ICN_CHAIN_RPC_URL)
  --json                  one JSON document instead of a table
`;

const schema = z.object({
  "edge-url": z.url({ protocol: /^https?$/ }).transform((u) => u.replace(/\/+$/, "")),
  address: z.string().regex(/^0x[0-9a-fA-F]{40}$/, "must be 0x followed by 40 hex digits").optional(),
  "wallet-key": z.string().regex(/^0x[0-9a-fA-F]{64}$/, "must be 0x followed by 64 hex digits").optional(),
  "wallet-key-file": z.string().min(1).optional(),
  "chain-rpc-url": z.url({ protocol: /^https?$/ }).optional(),
});

/** True when the command line is `rewards …` (main.ts dispatches on it first). */
export function isRewardsCommand(argv: readonly string[]): boolean {
  return argv[0] === "rewards";
}

export function parseRewardsConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): RewardsConfig {
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({
      args: [...argv.slice(1)],
      options: { json: { type: "boolean" }, ...Object.fromEntries(Object.keys(FLAG_ENV).map((f) => [f, { type: "string" as const }])) },
      strict: true,
      allowPositionals: true,
    }) as typeof parsed;
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  const [sub, ...extra] = parsed.positionals;
  if (extra.length > 0 || (sub !== undefined && sub !== "claim")) throw new ConfigError(`unknown rewards command: ${parsed.positionals.join(" ")}`);
  const raw = parseFlagsAndEnv(schema, FLAG_ENV, parsed.values as Partial<Record<Flag, string>>, env);
  const hasKey = raw["wallet-key"] !== undefined || raw["wallet-key-file"] !== undefined;
  const walletKey = hasKey ? resolveWalletKey(raw["wallet-key"], raw["wallet-key-file"]) : undefined;
  const keyAddress = walletKey ? privateKeyToAccount(walletKey).address : undefined;
  if (keyAddress && raw.address && raw.address.toLowerCase() !== keyAddress.toLowerCase()) {
    throw new ConfigError("--address differs from the wallet key's address; give one of them");
  }
  const address = (keyAddress ?? raw.address) as `0x${string}` | undefined;
  if (!address) throw new ConfigError("--wallet-key-file, --wallet-key or --address is required");
  const command = sub === "claim" ? "claim" : "show";
  if (command === "claim" && !walletKey) throw new ConfigError("rewards claim needs the wallet key (--wallet-key-file or --wallet-key)");
  if (command === "claim" && !raw["chain-rpc-url"]) throw new ConfigError("rewards claim needs --chain-rpc-url (or ICN_CHAIN_RPC_URL)");
  return { command, edgeUrl: raw["edge-url"], address, walletKey, chainRpcUrl: raw["chain-rpc-url"], json: parsed.values.json === true };
}
