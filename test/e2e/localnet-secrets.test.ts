// End to end: the local network keeps the edge's secrets out of the process list. Any local user can read every
// process's command line (/proc/<pid>/cmdline is world-readable), so the admin token, the master keys, the
// key-encryption key and the protocol's signing key reach the edge runtime only through files readable by their owner.

import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mnemonicKey, PROTOCOL_ACCOUNT_INDEX } from "../../src/localnet/chain.ts";
import { LocalNetwork, operatorWallet, type NetworkDescription } from "../../src/localnet/network.ts";
import { descendantsOf } from "../helpers/processes.ts";
import { edgeS3Client, stopTestNetwork } from "../helpers/test-support.ts";

const secrets = {
  ADMIN_TOKEN: randomBytes(24).toString("hex"),
  KEY_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
  MASTER_KEY: randomBytes(32).toString("base64"),
};

let network: LocalNetwork;
let d: NetworkDescription;

beforeAll(async () => {
  const stateDir = await mkdtemp(join(tmpdir(), "icn-secrets-e2e-"));
  // An operator's own secrets file, created readable by everyone, as a careless `echo >` would.
  await writeFile(
    join(stateDir, "dev.vars"),
    `ADMIN_TOKEN=${secrets.ADMIN_TOKEN}\nKEY_ENCRYPTION_KEY=${secrets.KEY_ENCRYPTION_KEY}\nMASTER_KEYS=k1:${secrets.MASTER_KEY}\n`,
    { mode: 0o644 },
  );
  network = new LocalNetwork({ stateDir, edgePort: 0, nodeCount: 1, quiet: true });
  try {
    d = await network.start();
  } catch (error) {
    await stopTestNetwork(network);
    throw error;
  }
}, 180_000);

afterAll(() => stopTestNetwork(network), 60_000);

/** A process's command line as `ps` shows it: its arguments joined by spaces. */
function commandLineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
  } catch {
    return "";
  }
}

describe("the local network's secrets", () => {
  it("appear on no command line of any process the network started: the edge runtime, workerd, node-agents, anvil", () => {
    const processes = descendantsOf(process.pid).map((pid) => ({ pid, commandLine: commandLineOf(pid) }));
    const pids = processes.map((p) => p.pid);
    // The test looks at the processes that matter, or it would pass by looking at nothing.
    expect(pids).toContain(d.worker.pid);
    expect(pids).toContain(d.chain.pid);
    for (const node of d.nodes) expect(pids).toContain(node.pid);
    expect(processes.some((p) => /workerd/.test(p.commandLine))).toBe(true);

    const secretValues = {
      ...secrets,
      // Without its 0x: found however it is spelled.
      PROTOCOL_SIGNER_KEY: mnemonicKey(PROTOCOL_ACCOUNT_INDEX).slice(2),
      OPERATOR_KEY: operatorWallet(0).privateKey.slice(2),
      SECRET_ACCESS_KEY: d.accounts.default.secretAccessKey,
    };
    const leaks = processes.flatMap((p) =>
      Object.entries(secretValues)
        .filter(([, value]) => p.commandLine.includes(value))
        .map(([name]) => `${name} in the command line of pid ${p.pid}: ${p.commandLine.slice(0, 120)}`),
    );
    expect(leaks).toEqual([]);
  });

  it("reach the edge runtime in files only their owner can read, the operator's secrets file included", async () => {
    const runtime = readFileSync(`/proc/${d.worker.pid}/cmdline`, "utf8").split("\0");
    const envFiles = runtime.flatMap((arg, i) => (arg === "--env-file" ? [runtime[i + 1]!] : []));
    expect(envFiles).toContain(network.secretsFile);
    for (const file of envFiles) expect({ file, mode: ((await stat(file)).mode & 0o777).toString(8) }).toEqual({ file, mode: "600" });
  });

  it("are the ones the edge uses: the file's admin token is accepted, buckets get keys under the master keys, the protocol key signs", async () => {
    const admin = { authorization: `Bearer ${secrets.ADMIN_TOKEN}`, "content-type": "application/json" };
    expect((await fetch(`${d.edgeUrl}/api/v1/admin/accounts`, { headers: admin })).status).toBe(200);
    await edgeS3Client(d).send(new CreateBucketCommand({ Bucket: "secrets-e2e" }));
    // A slash is a transaction the edge signs with PROTOCOL_SIGNER_KEY.
    const slash = await fetch(`${d.edgeUrl}/api/v1/admin/nodes/${d.nodes[0]!.id}/slash`, { method: "POST", headers: admin, body: JSON.stringify({ amount: "1", reason: "secrets e2e" }) });
    expect(slash.status).toBe(200);
    expect(((await slash.json()) as { transactionHash: string }).transactionHash).toMatch(/^0x[0-9a-f]{64}$/);
  });
});
