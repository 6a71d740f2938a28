// How `icn-node-agent --validator` reads its settings: the operational key from a private file only, the stake
// address and the edge from flags or ICN_* variables, and a test fault only when explicitly allowed.

import { chmod, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError } from "../../node-agent/src/config.ts";
import { isValidatorCommand, parseValidatorConfig } from "../../node-agent/src/validator/config.ts";
import { TEST_WALLET_KEY } from "./support/agent-process.ts";
import { makeDataDir } from "./support/in-process-agent.ts";

const STAKE = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function keyFile(contents: string, mode: number): Promise<string> {
  const dir = await makeDataDir();
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, "operational.key");
  await writeFile(file, contents);
  await chmod(file, mode);
  return file;
}

function parseError(argv: string[], env: Record<string, string> = {}): string {
  try {
    parseValidatorConfig(argv, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error("expected a ConfigError");
}

describe("validator configuration", () => {
  it("reads the edge, the stake address and the operational key file, with 8 challenges at once and memory-only state by default", async () => {
    const file = await keyFile(`${TEST_WALLET_KEY.slice(2)}\n`, 0o600);
    const argv = ["--validator", "--edge-url", "http://127.0.0.1:8787/", "--validator-address", STAKE, "--operational-key-file", file];
    expect(isValidatorCommand(argv)).toBe(true);
    expect(parseValidatorConfig(argv, {})).toEqual({
      edgeUrl: "http://127.0.0.1:8787",
      validatorAddress: STAKE,
      operationalKey: TEST_WALLET_KEY,
      dataDir: undefined,
      maxConcurrentChallenges: 8,
      testFault: undefined,
    });
  });

  it("falls back to ICN_* variables, a flag winning", async () => {
    const file = await keyFile(TEST_WALLET_KEY, 0o400);
    const config = parseValidatorConfig(["--validator", "--max-concurrent-challenges", "3"], {
      ICN_EDGE_URL: "https://edge.example",
      ICN_VALIDATOR_ADDRESS: STAKE,
      ICN_OPERATIONAL_KEY_FILE: file,
      ICN_DATA_DIR: "/var/lib/icn-validator",
      ICN_MAX_CONCURRENT_CHALLENGES: "16",
    });
    expect(config).toMatchObject({ edgeUrl: "https://edge.example", dataDir: "/var/lib/icn-validator", maxConcurrentChallenges: 3, operationalKey: TEST_WALLET_KEY });
  });

  it("refuses a key file others may read, naming the fix, and never echoes the key", async () => {
    const file = await keyFile(TEST_WALLET_KEY, 0o644);
    const message = parseError(["--validator", "--edge-url", "http://127.0.0.1:1", "--validator-address", STAKE, "--operational-key-file", file]);
    expect(message).toContain("chmod 600");
    expect(message).not.toContain(TEST_WALLET_KEY.slice(2, 20));
  });

  it("takes no key on the command line, and no node flags", async () => {
    expect(parseError(["--validator", "--operational-key", TEST_WALLET_KEY])).toMatch(/Unknown option '--operational-key'/);
    expect(parseError(["--validator", "--wallet-key", TEST_WALLET_KEY])).toMatch(/Unknown option '--wallet-key'/);
    expect(parseError(["--validator", "--zone", "eu-1"])).toMatch(/Unknown option '--zone'/);
  });

  it("names every missing or malformed setting", async () => {
    const message = parseError(["--validator", "--validator-address", "0x1234"]);
    expect(message).toContain("--edge-url (or ICN_EDGE_URL): is required");
    expect(message).toContain("--validator-address (or ICN_VALIDATOR_ADDRESS)");
    expect(message).toContain("--operational-key-file (or ICN_OPERATIONAL_KEY_FILE): is required");
  });

  it("refuses ICN_VALIDATOR_FAULT without --allow-test-faults, and an unknown fault even with it", async () => {
    const file = await keyFile(TEST_WALLET_KEY, 0o600);
    const argv = ["--validator", "--edge-url", "http://127.0.0.1:1", "--validator-address", STAKE, "--operational-key-file", file];
    expect(parseError(argv, { ICN_VALIDATOR_FAULT: "attest-pass-always" })).toMatch(/refused without --allow-test-faults/);
    expect(parseError([...argv, "--allow-test-faults"], { ICN_VALIDATOR_FAULT: "attest-fail-always" })).toMatch(/not a test fault/);
    expect(parseValidatorConfig([...argv, "--allow-test-faults"], { ICN_VALIDATOR_FAULT: "attest-pass-always" }).testFault).toBe("attest-pass-always");
    expect(parseValidatorConfig([...argv, "--allow-test-faults"], {}).testFault).toBeUndefined();
  });
});
