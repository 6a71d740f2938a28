// The whole ICN Edge network on one machine, in one helper (Storj's testplanet): the bundled edge Worker in workerd
// (edge-runtime.ts: local D1, Durable Objects, rate limits, no dev proxy), the launcher firing its cron triggers, a
// small front proxy that does what Cloudflare's edge does before a Worker (answers `Expect: 100-continue`), and N
// real node-agent processes in different zones, each with its own operator wallet and data dir.
// `npm start` (start.ts) and the end-to-end tests (test/helpers/test-support.ts) both use it. Node tooling: the
// Worker never imports it.

import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { toHex, type Address } from "viem";
import { mnemonicToAccount, privateKeyToAccount } from "viem/accounts";
import { measureDiskSpace } from "../../node-agent/src/disk-space.ts";
import { loadOrCreateNodeIdentity } from "../../node-agent/src/node-identity.ts";
import { DEFAULT_BLOCK_TIME_SECONDS, DEFAULT_LOCAL_VALIDATORS, LocalChain, TEST_MNEMONIC, type ChainDescription, type LocalValidator } from "./chain.ts";
import { readTriggerCrons } from "./cron.ts";
import { CronDispatcher, triggerEndpointDispatch } from "./cron-dispatcher.ts";
import { startEdgeFront, type EdgeFront } from "./edge-front.ts";
import { stopChild, trackChild } from "./children.ts";
import { REPO_ROOT } from "./paths.ts";
import { loadOrCreateSecrets, writePrivateFile, writeSecrets, type Secrets } from "./secrets.ts";
import { bundleEdgeWorker } from "./edge-bundle.ts";
import { spawnEdgeRuntime } from "./edge-process.ts";
import { freePort, spawnWranglerDev, waitForHttp, wranglerCommand } from "./wrangler-dev.ts";

/** anvil's deterministic test mnemonic: operator wallets match the local chain's funded accounts. */
export { TEST_MNEMONIC };
export const ZONES = ["zone-a", "zone-b", "zone-c"];
export const REGION = "us-east-1";

export interface AccountKeys {
  id: string;
  name: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export interface NodeInfo {
  index: number;
  id: string;
  url: string;
  pid: number;
  dataDir: string;
  zone: string;
  operator: string;
}

/** The shape of `.icn/network.json`: everything a script needs to drive the running network. */
export interface NetworkDescription {
  edgeUrl: string;
  region: string;
  adminToken: string;
  accounts: { default: AccountKeys; second: AccountKeys };
  nodes: NodeInfo[];
  /**
   * The edge Worker's process group (pid leads it; workerd is in it), the URL it answers on directly (behind the
   * front), how it runs, and its D1/Durable Object state, laid out as `wrangler dev --persist-to persistDir` does.
   */
  worker: { pid: number; url: string; persistDir: string; runtime: EdgeRuntimeKind };
  /** The local chain: RPC URL, chain id, contract addresses and the staked validators (chain.ts). */
  chain: ChainDescription;
  /**
   * The address of the edge's AUDIT_SIGNER_KEY: every challenge assignment is signed by it, and nodes accept only
   * assignments it signed (the edge also publishes it at GET /api/v1/validators/domain).
   */
  assignmentSigner: Address;
  /** The running validator processes (`icn-node-agent --validator`): which of chain.validators, and their pids. */
  validatorProcesses: { index: number; address: Address; pid: number }[];
  /** The finance role's token and the payment webhook's signing secret (README, Finance). */
  finance: { token: string; webhookSecret: string };
  startedAt: string;
}

/**
 * How the edge Worker runs. "workerd": the bundled Worker through Miniflare's API (edge-runtime.ts), as production
 * runs it, for `npm start`, the tests and the bench. "wrangler-dev": the previous release's way (`wrangler dev`, its
 * hot-reload proxy in the path), kept only to produce that release's state in the upgrade test and to measure the
 * proxy's cost (README, Local network); `npm run dev` runs wrangler dev itself.
 */
export type EdgeRuntimeKind = "workerd" | "wrangler-dev";

export interface LocalNetworkOptions {
  /** Where state lives: secrets, wrangler's D1/DO state, node data dirs, network.json. */
  stateDir: string;
  /** Port of the edge (the front proxy); 0 picks a free one. */
  edgePort: number;
  nodeCount: number;
  /** Extra wrangler vars (e.g. a shorter offline window for tests); public values only, they go on wrangler's command line. */
  vars?: Record<string, string>;
  /** The edge's secrets (ADMIN_TOKEN, KEY_ENCRYPTION_KEY, MASTER_KEYS), generated when missing; default stateDir/dev.vars. */
  secretsFile?: string;
  /** Child output always goes to stateDir/logs; unless quiet, error lines are echoed to stderr too. */
  quiet?: boolean;
  /** Port of the local chain's RPC (anvil); 0 or absent picks a free one. */
  chainPort?: number;
  /**
   * The Worker's cron triggers (wrangler.toml `[triggers] crons`), which `wrangler dev` never fires: by default
   * the network dispatches them on their schedule (cron-dispatcher.ts); false turns that off; `everyMs` fires
   * every expression every that many ms instead (tests, a compressed clock). Each dispatch is logged to
   * stateDir/logs/cron.log.
   */
  cron?: false | { everyMs?: number };
  /** Default "workerd". */
  runtime?: EdgeRuntimeKind;
  /** Validators staked, with operational keys, on the local chain: default 4, at most 8 (chain.ts). */
  validatorCount?: number;
  /**
   * Seconds between the local chain's blocks once the network is set up (default 1): blocks come on a clock, so
   * no one chooses the block that seeds a challenge round. 0 keeps automine (a block per transaction).
   */
  chainBlockTimeSeconds?: number;
}

export class LocalNetwork {
  readonly options: LocalNetworkOptions;
  description!: NetworkDescription;
  private worker?: ChildProcess;
  private front?: EdgeFront;
  private readonly agents = new Map<number, ChildProcess>();
  /** Validator processes by index in description.chain.validators (see startValidators). */
  private readonly validatorProcesses = new Map<number, ChildProcess>();
  private cron?: CronDispatcher;
  private descriptionWrites: Promise<void> = Promise.resolve();
  /** The bundled Worker (runtime "workerd"), built once per start and reused by restartEdge. */
  private bundle?: string;
  private secrets!: Secrets;
  /** Started before the Worker, stopped after it. */
  chain?: LocalChain;

  constructor(options: LocalNetworkOptions) {
    this.options = options;
  }

  get edgeUrl(): string {
    return this.description.edgeUrl;
  }

  get secretsFile(): string {
    return this.options.secretsFile ?? join(this.options.stateDir, "dev.vars");
  }

  get networkFile(): string {
    return join(this.options.stateDir, "network.json");
  }

  async start(): Promise<NetworkDescription> {
    const { stateDir } = this.options;
    await mkdir(join(stateDir, "logs"), { recursive: true });
    this.secrets = await loadOrCreateSecrets(this.secretsFile);
    // The previous release's state dir and this one's are the same: wrangler dev's --persist-to layout.
    const persistDir = join(stateDir, "wrangler-state");
    const [chain] = await Promise.all([
      this.startChain(),
      this.runtime === "workerd" ? bundleEdgeWorker(join(stateDir, "edge-bundle"), join(stateDir, "logs")).then((b) => void (this.bundle = b)) : this.applyMigrations(persistDir),
    ]);

    const { child, url: workerUrl } = await this.startWorker(persistDir);
    this.worker = child;
    this.front = await startEdgeFront({ port: this.options.edgePort, upstream: workerUrl });
    const edgeUrl = `http://127.0.0.1:${this.front.port}`;
    this.description = {
      edgeUrl,
      region: REGION,
      adminToken: this.secrets.ADMIN_TOKEN,
      accounts: await this.ensureAccounts(edgeUrl),
      nodes: [],
      worker: { pid: this.worker.pid!, url: workerUrl, persistDir, runtime: this.runtime },
      chain: chain.describe(),
      assignmentSigner: privateKeyToAccount(this.secrets.AUDIT_SIGNER_KEY as `0x${string}`).address,
      validatorProcesses: [],
      finance: { token: this.secrets.FINANCE_TOKEN, webhookSecret: this.secrets.FINANCE_WEBHOOK_SECRET },
      startedAt: new Date().toISOString(),
    };

    await Promise.all(Array.from({ length: this.options.nodeCount }, (_, i) => this.startNode(i)));
    await this.writeDescription();
    await this.startValidators();
    await this.startCron();
    return this.description;
  }

  get runtime(): EdgeRuntimeKind {
    return this.options.runtime ?? "workerd";
  }

  /** Dispatches the Worker's cron triggers (unless options.cron is false), to whichever Worker runs now. */
  private async startCron(): Promise<void> {
    if (this.options.cron === false) return;
    const crons = readTriggerCrons(await readFile(join(REPO_ROOT, "wrangler.toml"), "utf8"));
    const logFile = join(this.options.stateDir, "logs", "cron.log");
    let pending = Promise.resolve();
    this.cron = new CronDispatcher({
      crons,
      everyMs: this.options.cron?.everyMs,
      dispatch: triggerEndpointDispatch(() => this.description.worker.url),
      log: (line) => (pending = pending.then(() => writeFile(logFile, `${new Date().toISOString()} ${line}\n`, { flag: "a" })).catch(() => {})),
    });
    this.cron.start();
  }

  /** Calls the admin API of the running edge. */
  async admin<T = unknown>(method: string, path: string, body?: unknown, edgeUrl = this.description.edgeUrl): Promise<T> {
    const res = await fetch(`${edgeUrl}/api/v1/admin${path}`, {
      method,
      headers: { authorization: `Bearer ${this.secrets.ADMIN_TOKEN}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`admin ${method} ${path}: ${res.status} ${text}`);
    return JSON.parse(text) as T;
  }

  /**
   * Starts (or restarts) node `index`: approves its operator, stakes the minimum for the node's capacity (unless
   * `stake` is false), spawns the agent, waits until it registered.
   */
  async startNode(index: number, { stake = true }: { stake?: boolean } = {}): Promise<NodeInfo> {
    const operator = operatorWallet(index);
    await this.admin("PUT", `/operators/${operator.address}`, { status: "approved", name: `operator-${index}` });
    const { dataDir, capacityBytes } = stake ? await this.stakeNode(index) : await this.prepareNodeDir(index);
    const keyFile = join(dataDir, "operator.key");
    await writePrivateFile(keyFile, `${operator.privateKey}\n`);
    const zone = ZONES[index % ZONES.length]!;

    const child = trackChild(spawn(
      process.execPath,
      [
        join(REPO_ROOT, "node-agent/bin/icn-node-agent.js"),
        "--data-dir", dataDir,
        "--edge-url", this.description.edgeUrl,
        "--zone", zone,
        "--wallet-key-file", keyFile,
        "--listen", "127.0.0.1:0",
        // The capacity the stake was sized for, stated rather than measured twice.
        "--capacity", String(capacityBytes),
        // Its peers listen on 127.0.0.1 too.
        "--allow-private-urls", "true",
      ],
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env } },
    ));
    this.agents.set(index, child);
    this.pipeLog(child.stderr!, `node-${index}`);
    const ready = await readReadyLine(child, 60_000);
    const info: NodeInfo = { index, id: ready.nodeId, url: ready.url, pid: child.pid!, dataDir, zone, operator: operator.address };
    this.description.nodes = [...this.description.nodes.filter((n) => n.index !== index), info].sort((a, b) => a.index - b.index);
    await this.writeDescription();
    return info;
  }

  /**
   * Gives node `index` its identity before its agent first starts (the agent's own code writes node.json, so the
   * stake can be keyed on the id it will register with) and measures the capacity it will offer.
   */
  async prepareNodeDir(index: number): Promise<{ dataDir: string; nodeId: string; capacityBytes: bigint }> {
    const dataDir = join(this.options.stateDir, "nodes", `node-${index}`);
    await mkdir(dataDir, { recursive: true });
    const { nodeId } = await loadOrCreateNodeIdentity(dataDir);
    return { dataDir, nodeId, capacityBytes: (await measureDiskSpace(dataDir)).totalBytes };
  }

  /** Tops node `index`'s stake up to the minimum for its capacity, from its operator's wallet. */
  async stakeNode(index: number): Promise<{ dataDir: string; nodeId: string; capacityBytes: bigint }> {
    const prepared = await this.prepareNodeDir(index);
    await this.chain!.ensureNodeStake(operatorWallet(index).privateKey as `0x${string}`, prepared.nodeId, prepared.capacityBytes);
    return prepared;
  }

  /**
   * Sends `signal` to node `index` and waits for it to exit (SIGKILL after a few seconds); returns its exit code,
   * null if a signal ended it. A node that already died (by any signal) is not waited for.
   */
  async stopNode(index: number, signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    const child = this.agents.get(index);
    if (!child) return null;
    await stopChild(child, { signal, graceMs: 3_000 });
    this.agents.delete(index);
    return child.exitCode;
  }

  /**
   * Stops everything this network started, in seconds whatever state the children are in: node-agents and the
   * edge first (together), then the chain the edge talks to. Each step ends in SIGKILL if it must.
   */
  async stop(): Promise<void> {
    await this.cron?.stop();
    this.cron = undefined;
    await Promise.all([
      ...[...this.agents.keys()].map((i) => this.stopNode(i, "SIGTERM")),
      ...[...this.validatorProcesses.values()].map((child) => stopChild(child, { graceMs: 3_000 })),
      this.stopEdge(),
    ]);
    this.validatorProcesses.clear();
    await this.chain?.stop();
  }

  /**
   * Restarts the edge (its runtime, and the front proxy on the same public port) with all state kept. `secrets`
   * first replaces some of its secrets in the secrets file, as an operator would: e.g. a new master-key ring.
   */
  async restartEdge(secrets: Partial<Secrets> = {}): Promise<void> {
    await this.stopEdge();
    this.secrets = { ...this.secrets, ...secrets };
    await writeSecrets(this.secretsFile, { ...this.secrets });
    const { child, url: workerUrl } = await this.startWorker(this.description.worker.persistDir);
    this.worker = child;
    this.front = await startEdgeFront({ port: Number(new URL(this.description.edgeUrl).port), upstream: workerUrl });
    this.description.worker = { ...this.description.worker, pid: this.worker.pid!, url: workerUrl };
    await this.writeDescription();
  }

  /**
   * One `icn-node-agent --validator` per entry of description.chain.validators, each logged in to the edge's
   * challenge coordinator before this returns. Each validator's operational key is written to a 0600 file for
   * that process (`validatorKeyFile(i)`): like an operator's wallet key, it never goes on a command line.
   */
  private async startValidators(): Promise<void> {
    await Promise.all(this.description.chain.validators.map((_, i) => this.startValidator(i)));
  }

  /**
   * Starts (or restarts) local validator `i`. `env` adds environment variables to its process (the tests' fault
   * switches); it waits for the validator's ready line, printed once it is logged in.
   */
  async startValidator(i: number, { env = {}, args = [] }: { env?: Record<string, string>; args?: string[] } = {}): Promise<number> {
    const validator = this.description.chain.validators[i];
    if (!validator) throw new Error(`there is no local validator ${i}`);
    await this.writeValidatorKeyFile(i, validator);
    const child = trackChild(spawn(
      process.execPath,
      [
        join(REPO_ROOT, "node-agent/bin/icn-node-agent.js"),
        "--validator",
        "--edge-url", this.description.edgeUrl,
        "--validator-address", validator.address,
        "--operational-key-file", this.validatorKeyFile(i),
        "--data-dir", dirname(this.validatorKeyFile(i)),
        ...args,
      ],
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } },
    ));
    this.validatorProcesses.set(i, child);
    this.pipeLog(child.stderr!, `validator-${i}`);
    await readReadyEvent(child, 60_000, (event) => event.role === "validator");
    this.description.validatorProcesses = [...this.description.validatorProcesses.filter((v) => v.index !== i), { index: i, address: validator.address, pid: child.pid! }].sort((a, b) => a.index - b.index);
    await this.writeDescription();
    return child.pid!;
  }

  /** Stops local validator `i` (SIGKILL after a few seconds); a validator not running is left alone. */
  async stopValidator(i: number, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    const child = this.validatorProcesses.get(i);
    if (!child) return;
    await stopChild(child, { signal, graceMs: 3_000 });
    this.validatorProcesses.delete(i);
    this.description.validatorProcesses = this.description.validatorProcesses.filter((v) => v.index !== i);
    await this.writeDescription();
  }

  /** The operational key file of local validator `i` (0-based), written by startValidators. */
  validatorKeyFile(i: number): string {
    return join(this.options.stateDir, "validators", `validator-${i}`, "operational.key");
  }

  private async writeValidatorKeyFile(i: number, validator: LocalValidator): Promise<void> {
    await writePrivateFile(this.validatorKeyFile(i), `${validator.operationalKey}\n`);
  }

  private async stopEdge(): Promise<void> {
    await this.front?.close();
    if (this.worker) await stopChild(this.worker, { graceMs: 3_000 });
  }

  /**
   * anvil under stateDir/chain, the protocol deployed (or reused) and the local validators staked, all at automine
   * speed; then blocks on the clock (options.chainBlockTimeSeconds) before the edge can commit any round.
   */
  private async startChain(): Promise<LocalChain> {
    const { stateDir } = this.options;
    this.chain = await LocalChain.start({ stateDir, port: this.options.chainPort ?? 0, logFile: join(stateDir, "logs", "anvil.log") });
    await this.chain.deployOrReuse();
    await this.chain.ensureValidatorsStaked(this.options.validatorCount ?? DEFAULT_LOCAL_VALIDATORS);
    const blockTime = this.options.chainBlockTimeSeconds ?? DEFAULT_BLOCK_TIME_SECONDS;
    if (blockTime > 0) await this.chain.mineOnInterval(blockTime);
    return this.chain;
  }

  /** Writes queue behind each other, so network.json ends as the last description, never an older one. */
  private writeDescription(): Promise<void> {
    const text = `${JSON.stringify(this.description, null, 2)}\n`;
    this.descriptionWrites = this.descriptionWrites.catch(() => {}).then(() => writePrivateFile(this.networkFile, text));
    return this.descriptionWrites;
  }

  private async applyMigrations(persistDir: string): Promise<void> {
    const { command, args } = wranglerCommand();
    const child = trackChild(spawn(command, [...args, "d1", "migrations", "apply", "DB", "--local", "--persist-to", persistDir], {
      cwd: REPO_ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, CI: "true", WRANGLER_LOG_PATH: join(this.options.stateDir, "logs"), WRANGLER_SEND_METRICS: "false" },
    }));
    let output = "";
    child.stdout!.on("data", (d) => (output += d));
    child.stderr!.on("data", (d) => (output += d));
    const code = await new Promise<number | null>((r) => child.once("exit", r));
    if (code !== 0) throw new Error(`applying D1 migrations failed (${code}):\n${output}`);
  }

  /** The chain's signing key, for the edge, beside the operator's secrets file. */
  get chainSecretsFile(): string {
    return join(this.options.stateDir, "chain.dev.vars");
  }

  /**
   * The edge Worker on a free port, answering: its secrets in 0600 files (secrets.ts), its public values in its
   * settings. Under "workerd", D1 migrations are applied by the runtime before it reports ready.
   */
  private async startWorker(persistDir: string): Promise<{ child: ChildProcess; url: string }> {
    await writeSecrets(this.chainSecretsFile, this.chain!.workerSecrets());
    // The local network's nodes listen on 127.0.0.1.
    // The local stand-in for fiat converted off-chain is TestUSDC minted at settlement; the TWAP window is five
    // minutes of chain time (a deployment keeps the 30-minute default), observed every minute.
    const vars = {
      ...this.chain!.workerVars(),
      NODE_URLS_ALLOW_PRIVATE: "true",
      SETTLEMENT_USDC_FUNDING: "mint-test-usdc",
      BUYBACK_MIN_WINDOW_SECONDS: "300",
      POOL_OBSERVATION_INTERVAL_SECONDS: "60",
      ...this.options.vars,
    };
    const secretFiles = [this.secretsFile, this.chainSecretsFile];
    const logLine = this.logWriter("worker");
    if (this.runtime === "workerd") {
      return spawnEdgeRuntime({
        config: {
          scriptPath: this.bundle!,
          wranglerConfig: join(REPO_ROOT, "wrangler.toml"),
          port: await freePort(),
          persistDir,
          vars,
          migrationsDir: join(REPO_ROOT, "migrations"),
        },
        configFile: join(this.options.stateDir, "edge-runtime.json"),
        secretFiles,
        onLine: logLine,
      });
    }
    const port = await freePort();
    const child = await spawnWranglerDev({ cwd: REPO_ROOT, port, persistDir, logDir: join(this.options.stateDir, "logs"), vars, secretFiles });
    createInterface({ input: child.stdout! }).on("line", logLine);
    createInterface({ input: child.stderr! }).on("line", logLine);
    const url = `http://127.0.0.1:${port}`;
    await waitForHttp(`${url}/api/v1/openapi.json`, 60_000, child);
    return { child, url };
  }

  private pipeLog(stream: NodeJS.ReadableStream, name: string): void {
    createInterface({ input: stream }).on("line", this.logWriter(name));
  }

  /** Appends lines to stateDir/logs/<name>.log, in order; unless quiet, echoes error lines to stderr. */
  private logWriter(name: string): (line: string) => void {
    const file = join(this.options.stateDir, "logs", `${name}.log`);
    let pending = Promise.resolve();
    return (line) => {
      pending = pending.then(() => writeFile(file, `${line}\n`, { flag: "a" })).catch(() => {});
      if (!this.options.quiet && /error|fail/i.test(line)) process.stderr.write(`[${name}] ${line}\n`);
    };
  }

  /** Reuses the accounts recorded in network.json when the edge still knows them; creates them otherwise. */
  private async ensureAccounts(edgeUrl: string): Promise<NetworkDescription["accounts"]> {
    const previous = await readJson<NetworkDescription>(this.networkFile);
    const known = await this.admin<{ accounts: { id: string }[] }>("GET", "/accounts", undefined, edgeUrl);
    const ids = new Set(known.accounts.map((a) => a.id));
    const ensure = async (name: string, prior?: AccountKeys): Promise<AccountKeys> => {
      if (prior && ids.has(prior.id)) return prior;
      const account = await this.admin<{ id: string }>("POST", "/accounts", { name }, edgeUrl);
      const key = await this.admin<{ accessKeyId: string; secretAccessKey: string }>("POST", `/accounts/${account.id}/keys`, undefined, edgeUrl);
      return { id: account.id, name, accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey };
    };
    return {
      default: await ensure("default", previous?.accounts?.default),
      second: await ensure("second", previous?.accounts?.second),
    };
  }
}

/** The wallet of node `index`'s operator: anvil account index+1 (index 0 is the protocol's deployer). */
export function operatorWallet(index: number): { address: string; privateKey: string } {
  const account = mnemonicToAccount(TEST_MNEMONIC, { addressIndex: index + 1 });
  return { address: account.address, privateKey: toHex(account.getHdKey().privateKey!) };
}

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, "utf8")) as T;
  } catch {
    return undefined;
  }
}

async function readReadyLine(child: ChildProcess, timeoutMs: number): Promise<{ nodeId: string; url: string }> {
  const event = await readReadyEvent(child, timeoutMs, (e) => typeof e.nodeId === "string" && typeof e.url === "string");
  return { nodeId: event.nodeId as string, url: event.url as string };
}

/** The first `{"event":"ready",...}` line on the child's stdout that `accept` takes. */
function readReadyEvent(child: ChildProcess, timeoutMs: number, accept: (event: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  const lines = createInterface({ input: child.stdout! });
  return new Promise((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error("node-agent did not become ready in time")), timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`node-agent exited with ${code} before it was ready`));
    });
    lines.on("line", (line) => {
      try {
        const event = JSON.parse(line) as Record<string, unknown>;
        if (event.event === "ready" && accept(event)) {
          clearTimeout(timer);
          resolveReady(event);
        }
      } catch {
        // not a JSON line
      }
    });
  });
}
