// How the agent reads its settings: flags first, then ICN_* variables, then defaults; mistakes name the flag.

import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, parseAgentConfig, urlForListenAddress } from "../../node-agent/src/config.ts";
import { TEST_WALLET_KEY } from "./support/agent-process.ts";
import { makeDataDir } from "./support/in-process-agent.ts";

const required = ["--data-dir", "/srv/icn", "--edge-url", "https://edge.example/", "--zone", "eu-1", "--wallet-key", TEST_WALLET_KEY];

describe("agent configuration", () => {
  it("uses safe defaults: loopback on a free port, chain 31337, the edge's own id, capacity from the disk, daily scrub at 64 MiB/s, uncapped repair from public peers only", () => {
    expect(parseAgentConfig(required, {})).toEqual({
      dataDir: "/srv/icn",
      edgeUrl: "https://edge.example",
      zone: "eu-1",
      walletKey: TEST_WALLET_KEY,
      listenHost: "127.0.0.1",
      listenPort: 0,
      publicUrl: undefined,
      capacityBytes: undefined,
      chainId: 31337,
      edgeId: undefined,
      allowPrivateUrls: false,
      repairBandwidthMiBps: undefined,
      scrubRateMiBps: 64,
      scrubIntervalSeconds: 86_400,
    });
  });

  it("lets flags override ICN_* variables and reads the rest from the environment", () => {
    const config = parseAgentConfig(["--zone", "from-flag"], {
      ICN_DATA_DIR: "/data",
      ICN_EDGE_URL: "http://127.0.0.1:8787",
      ICN_ZONE: "from-env",
      ICN_WALLET_KEY: TEST_WALLET_KEY,
      ICN_LISTEN: "[::1]:9000",
      ICN_PUBLIC_URL: "https://node.example/",
      ICN_CAPACITY: "123456789012345678901234",
      ICN_CHAIN_ID: "8453",
      ICN_EDGE_ID: "edge-eu.example",
      ICN_ALLOW_PRIVATE_URLS: "true",
      ICN_REPAIR_BANDWIDTH_MIBPS: "12.5",
      ICN_SCRUB_RATE_MIBPS: "8",
      ICN_SCRUB_INTERVAL_SECONDS: "0",
    });
    expect(config).toMatchObject({
      zone: "from-flag",
      dataDir: "/data",
      listenHost: "::1",
      listenPort: 9000,
      publicUrl: "https://node.example",
      capacityBytes: 123456789012345678901234n,
      chainId: 8453,
      edgeId: "edge-eu.example",
      allowPrivateUrls: true,
      repairBandwidthMiBps: 12.5,
      scrubRateMiBps: 8,
      scrubIntervalSeconds: 0,
    });
    expect(urlForListenAddress("::1", 9000)).toBe("http://[::1]:9000");
  });

  it("reads the wallet key from a file, with or without 0x, and refuses to be given two keys", async () => {
    const dir = await makeDataDir();
    try {
      const keyFile = join(dir, "key");
      await writeFile(keyFile, `  ${TEST_WALLET_KEY.slice(2)}\n`);
      const withFile = [...required.slice(0, 6), "--wallet-key-file", keyFile];
      expect(parseAgentConfig(withFile, {}).walletKey).toBe(TEST_WALLET_KEY);
      expect(() => parseAgentConfig([...withFile, "--wallet-key", TEST_WALLET_KEY], {})).toThrow(/mutually exclusive/);
      await writeFile(keyFile, "not a key");
      expect(() => parseAgentConfig(withFile, {})).toThrow(ConfigError);
      expect(() => parseAgentConfig([...required.slice(0, 6), "--wallet-key-file", join(dir, "missing")], {})).toThrow(/cannot read/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses a zero or malformed scrub rate, repair cap or scrub interval, naming the flag", () => {
    for (const [flag, value] of [
      ["--scrub-rate-mibps", "0"],
      ["--scrub-rate-mibps", "fast"],
      ["--repair-bandwidth-mibps", "-1"],
      ["--repair-bandwidth-mibps", "0.0"],
      ["--scrub-interval-seconds", "1.5"],
      ["--scrub-interval-seconds", "-60"],
    ] as const) {
      expect(() => parseAgentConfig([...required, flag, value], {}), `${flag} ${value}`).toThrow(new RegExp(`${flag}`));
    }
    expect(parseAgentConfig([...required, "--repair-bandwidth-mibps", "0.5", "--scrub-rate-mibps", ".25"], {})).toMatchObject({
      repairBandwidthMiBps: 0.5,
      scrubRateMiBps: 0.25,
    });
  });

  it("names every missing setting at once", () => {
    expect(() => parseAgentConfig([], {})).toThrow(/--data-dir.*is required[\s\S]*--edge-url.*is required[\s\S]*--zone.*is required/);
  });

  it("never echoes a malformed wallet key back", () => {
    const secretish = "0xdeadbeefdeadbeef";
    try {
      parseAgentConfig([...required.slice(0, 6), "--wallet-key", secretish], {});
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).toContain("--wallet-key");
      expect((error as Error).message).not.toContain(secretish);
    }
  });
});
