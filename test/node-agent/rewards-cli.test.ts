// How `icn-node-agent rewards [claim]` reads its settings: the payout address from the wallet key or --address, the
// edge and chain from flags or ICN_* variables; claiming needs the key and the chain. Amounts print exactly.

import { describe, expect, it } from "vitest";
import { privateKeyToAccount } from "viem/accounts";
import { ConfigError } from "../../node-agent/src/config.ts";
import { isRewardsCommand, parseRewardsConfig } from "../../node-agent/src/rewards/config.ts";
import { formatIcnt } from "../../node-agent/src/rewards/rewards.ts";
import { claimsResponseSchema } from "../../src/protocol/reward-claims.ts";
import { TEST_WALLET_KEY } from "./support/agent-process.ts";

const ADDRESS = privateKeyToAccount(TEST_WALLET_KEY as `0x${string}`).address;

function parseError(argv: string[], env: Record<string, string> = {}): string {
  try {
    parseRewardsConfig(argv, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error("expected a ConfigError");
}

describe("icn-node-agent rewards", () => {
  it("is the command only as the first word", () => {
    expect(isRewardsCommand(["rewards", "--edge-url", "http://127.0.0.1:1"])).toBe(true);
    expect(isRewardsCommand(["--data-dir", "rewards"])).toBe(false);
  });

  it("shows the wallet key's address, or --address without a key, from flags or ICN_* variables", () => {
    expect(parseRewardsConfig(["rewards", "--edge-url", "http://127.0.0.1:8787/", "--wallet-key", TEST_WALLET_KEY], {})).toEqual({
      command: "show",
      edgeUrl: "http://127.0.0.1:8787",
      address: ADDRESS,
      walletKey: TEST_WALLET_KEY,
      chainRpcUrl: undefined,
      json: false,
    });
    const other = "0x00000000000000000000000000000000000000aa";
    expect(parseRewardsConfig(["rewards", "--json"], { ICN_EDGE_URL: "https://edge.example", ICN_REWARDS_ADDRESS: other })).toMatchObject({ address: other, walletKey: undefined, json: true });
    expect(parseRewardsConfig(["rewards", "claim", "--wallet-key", TEST_WALLET_KEY], { ICN_EDGE_URL: "https://edge.example", ICN_CHAIN_RPC_URL: "http://127.0.0.1:8545" })).toMatchObject({
      command: "claim",
      chainRpcUrl: "http://127.0.0.1:8545",
    });
  });

  it("refuses what it cannot do, naming the flag", () => {
    expect(parseError(["rewards", "--edge-url", "http://127.0.0.1:1"])).toContain("--wallet-key-file, --wallet-key or --address is required");
    expect(parseError(["rewards", "claim", "--edge-url", "http://127.0.0.1:1", "--address", ADDRESS])).toContain("needs the wallet key");
    expect(parseError(["rewards", "claim", "--edge-url", "http://127.0.0.1:1", "--wallet-key", TEST_WALLET_KEY])).toContain("--chain-rpc-url");
    expect(parseError(["rewards", "--edge-url", "ftp://x", "--address", ADDRESS])).toContain("--edge-url (or ICN_EDGE_URL)");
    expect(parseError(["rewards", "--edge-url", "http://127.0.0.1:1", "--address", "0x12"])).toContain("--address (or ICN_REWARDS_ADDRESS)");
    expect(parseError(["rewards", "withdraw", "--edge-url", "http://127.0.0.1:1", "--address", ADDRESS])).toContain("unknown rewards command");
    expect(parseError(["rewards", "--edge-url", "http://127.0.0.1:1", "--wallet-key", TEST_WALLET_KEY, "--address", "0x00000000000000000000000000000000000000aa"])).toContain(
      "differs from the wallet key's address",
    );
  });

  it("prints ICNT exactly, from base units", () => {
    expect(formatIcnt(0n)).toBe("0");
    expect(formatIcnt(123n * 10n ** 18n + 7n)).toBe("123.000000000000000007");
    expect(formatIcnt(5n * 10n ** 17n)).toBe("0.5");
  });

  it("reads the edge's claims document, and refuses one that is not", () => {
    const good = { address: ADDRESS, chainId: 31337, distributor: ADDRESS, unposted: "0", claims: [{ period: "2026-10", chainPeriod: "1790812800", amount: "5", proof: [], postedIn: `0x${"ab".repeat(32)}` }] };
    expect(claimsResponseSchema.parse(good)).toEqual(good);
    expect(claimsResponseSchema.safeParse({ ...good, unposted: "-1" }).success).toBe(false);
    expect(claimsResponseSchema.safeParse({ ...good, claims: [{ ...good.claims[0], amount: "1.5" }] }).success).toBe(false);
  });
});
