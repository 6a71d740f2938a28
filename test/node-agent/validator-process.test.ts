// The validator as an operator runs it: one command, one ready line once logged in, attestations for its
// assignments, a clean exit on SIGTERM; and a refusal to start dishonest without the test-only flag.

import { chmod, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { privateKeyToAccount } from "viem/accounts";
import { afterEach, describe, expect, it } from "vitest";
import { AUDIT_LEAF_BYTES, evidenceHashOf } from "../../src/protocol/audit.ts";
import { exitWithin, killSpawnedAgents, spawnAgent, TEST_WALLET_KEY } from "./support/agent-process.ts";
import { startFakeCoordinator } from "./support/fake-coordinator.ts";
import { makeDataDir, newBlobId, waitUntil } from "./support/in-process-agent.ts";
import { assignmentFor, startProvingNode } from "./support/proving-node.ts";

const STAKE = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc";
const OPERATOR = privateKeyToAccount(TEST_WALLET_KEY).address;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  killSpawnedAgents();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function operationalKeyFile(): Promise<{ dir: string; file: string }> {
  const dir = await makeDataDir();
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, "operational.key");
  await writeFile(file, `${TEST_WALLET_KEY}\n`);
  await chmod(file, 0o600);
  return { dir, file };
}

describe("icn-node-agent --validator", () => {
  it("prints one ready line after logging in, attests its assignments, and exits 0 on SIGTERM", async () => {
    const coordinator = await startFakeCoordinator();
    cleanups.push(() => coordinator.close());
    const node = await startProvingNode();
    cleanups.push(() => node.close());
    const { dir, file } = await operationalKeyFile();

    const validator = spawnAgent(["--validator", "--edge-url", coordinator.url, "--validator-address", STAKE, "--operational-key-file", file, "--data-dir", join(dir, "state")]);
    const ready = (await validator.ready(60_000)) as unknown as Record<string, string>;
    expect(ready).toEqual({ event: "ready", role: "validator", validator: STAKE, operator: OPERATOR, edgeUrl: coordinator.url });
    expect(coordinator.logins.map((l) => l.signer)).toEqual([OPERATOR]);

    const piece = await node.store(newBlobId(), 3 * AUDIT_LEAF_BYTES);
    const assignment = await assignmentFor(piece, 7, Math.floor(Date.now() / 1000) + 10);
    coordinator.send({ type: "assignment", assignment, signature: await coordinator.signAssignment(assignment), blobId: piece.blobId, nodeUrl: node.url });
    await waitUntil(() => coordinator.attestations.length === 1, 15_000, "the attestation");
    const [recorded] = coordinator.attestations;
    expect(recorded!.attestation.verdict).toBe("pass");
    expect(recorded!.attestation.evidenceHash).toBe(await evidenceHashOf(await node.honestProof(piece.blobId, assignment)));
    expect(recorded!.signer).toBe(OPERATOR);

    // A dropped session is re-established; stdout still carries the one ready line.
    coordinator.dropAll();
    await waitUntil(() => coordinator.logins.length === 2 && coordinator.loggedIn() === 1, 15_000, "a second login");

    validator.child.kill("SIGTERM");
    expect(await exitWithin(validator, 15_000)).toEqual({ code: 0, signal: null });
    expect(validator.stdout().trim().split("\n")).toHaveLength(1);
    for (const line of validator.stderr().trim().split("\n")) expect(() => JSON.parse(line)).not.toThrow();
    // No blob store, no HTTP server: nothing but its attestation ledger in its data dir.
    expect(validator.stderr()).not.toContain("store_opened");
  });

  it("refuses to start dishonest: ICN_VALIDATOR_FAULT without --allow-test-faults exits 2 before contacting the edge", async () => {
    const coordinator = await startFakeCoordinator();
    cleanups.push(() => coordinator.close());
    const { file } = await operationalKeyFile();
    const validator = spawnAgent(["--validator", "--edge-url", coordinator.url, "--validator-address", STAKE, "--operational-key-file", file], {
      ICN_VALIDATOR_FAULT: "attest-pass-always",
    });
    expect(await exitWithin(validator, 60_000)).toEqual({ code: 2, signal: null });
    expect(validator.stderr()).toContain("--allow-test-faults");
    expect(coordinator.connections()).toBe(0);
  });
});
