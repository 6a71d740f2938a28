// Small helpers the end-to-end tests share.

import { S3Client, S3ServiceException, type S3ClientConfig } from "@aws-sdk/client-s3";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalNetwork, type LocalNetworkOptions, type NetworkDescription } from "../../src/localnet/network.ts";

/** The S3 error a request ends with (its code and HTTP status), or "no error". Other failures are rethrown. */
export async function errorOf(promise: Promise<unknown>): Promise<{ name: string; status?: number }> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof S3ServiceException) return { name: error.name, status: error.$metadata.httpStatusCode };
    throw error;
  }
  return { name: "no error" };
}

/** Every regular file below `dir` (none when it does not exist). */
export async function filesUnder(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(path)));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

/**
 * The whole local network for one test file: a fresh temp dir (named from `prefix`, or `stateDir` to start on state
 * a previous network left), free ports, quiet logs. A network that fails to start is stopped and its dir deleted
 * before the error is rethrown.
 */
export async function startTestNetwork(
  prefix: string,
  options: Pick<LocalNetworkOptions, "nodeCount" | "vars" | "cron" | "runtime" | "validatorCount"> & { stateDir?: string },
): Promise<{ network: LocalNetwork; d: NetworkDescription }> {
  const stateDir = options.stateDir ?? (await mkdtemp(join(tmpdir(), prefix)));
  // End-to-end networks are test mode: the admin API may advance the edge's clock (src/clock.ts). npm start is not.
  // Their chores run when a test says (POST /admin/chores/:name/run), so cron triggers are off unless asked for:
  // a chore firing at a minute boundary must not race a test's own steps.
  // Validator processes only where a test asks for them (the validators' own tests): the others need none.
  const network = new LocalNetwork({
    edgePort: 0,
    quiet: true,
    ...options,
    stateDir,
    cron: options.cron ?? false,
    validatorCount: options.validatorCount ?? 0,
    vars: { TEST_CLOCK: "true", CONNECTION_LIMIT_ENFORCED: "true", ...options.vars },
  });
  try {
    return { network, d: await network.start() };
  } catch (error) {
    await stopTestNetwork(network);
    throw error;
  }
}

/** Stops a network from `startTestNetwork` and deletes its state. */
export async function stopTestNetwork(network: LocalNetwork | undefined): Promise<void> {
  if (!network) return;
  await network.stop();
  // ICN_KEEP_TEST_STATE=1 keeps the state dir (logs, disks) of a failing run for a look afterwards.
  if (process.env.ICN_KEEP_TEST_STATE === "1") return;
  await rm(network.options.stateDir, { recursive: true, force: true, maxRetries: 5 });
}

/** An SDK client for the network's edge, path-style, as the default account unless `keys` say otherwise. */
export function edgeS3Client(d: NetworkDescription, config: Partial<S3ClientConfig> & { keys?: { accessKeyId: string; secretAccessKey: string } } = {}): S3Client {
  const { keys = d.accounts.default, ...rest } = config;
  return new S3Client({
    endpoint: d.edgeUrl,
    region: d.region,
    forcePathStyle: true,
    credentials: { accessKeyId: keys.accessKeyId, secretAccessKey: keys.secretAccessKey },
    maxAttempts: 1,
    ...rest,
  });
}
