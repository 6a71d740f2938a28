// The local chain of the local network: a real anvil EVM with the protocol's contracts, a Uniswap v2 ICNT/USDC
// pool seeded with liquidity, and staked node operators and validators. Used by `npm start`, the e2e tests and the
// contract tests. anvil's state lives in STATE_DIR/chain/ and survives restarts; a deployment is reused while the
// compiled contracts are unchanged and redeployed when they changed.
//
// anvil starts in automine (each transaction mined at once), so deploying and staking take milliseconds; the local
// network then switches it to interval mining (`mineOnInterval`), so that no one (edge, node, validator) chooses
// when the block that seeds a challenge round is mined. Contract tests stay in automine.
//
// Accounts come from anvil's deterministic mnemonic: 0 deploys and is the protocol key (slasher, auditor, rewards
// distributor, escrow settler), 1..64 are node operators (network.ts's operatorWallet), 71..78 the validators'
// operational keys and 91..98 their stake addresses (same order, the first N used), 99 the treasury.

import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { createTestClient, getAddress, http, toHex, zeroAddress, type Abi, type Address, type Hex } from "viem";
import { mnemonicToAccount } from "viem/accounts";
import { readOperationalKey, setOperationalKey } from "../chain/audit-log.ts";
import { createChainPublicClient, createChainSigner, type ChainPublicClient, type ChainSigner } from "../chain/clients.ts";
import * as abis from "../chain/generated/abis.ts";
import * as bytecode from "../chain/generated/bytecode.ts";
import { nodeKeyOf, readNodeStake, type NodeStakeStatus } from "../chain/node-stake.ts";
import { slashNode } from "../chain/slashing.ts";
import { sendContractTransaction } from "../chain/transactions.ts";
import { stopChild, trackChild } from "./children.ts";
import { REPO_ROOT } from "./paths.ts";

export const ANVIL_BIN = join(REPO_ROOT, "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");

/** anvil's deterministic test mnemonic: every local wallet is derived from it. */
export const TEST_MNEMONIC = "test test test test test test test test test test test junk";
export const LOCAL_CHAIN_ID = 31337;
const ANVIL_ACCOUNTS = 100;
export const PROTOCOL_ACCOUNT_INDEX = 0;
/** Validators' stake addresses; validator i authorizes VALIDATOR_OPERATIONAL_ACCOUNT_INDEXES[i] to sign for it. */
export const VALIDATOR_STAKE_ACCOUNT_INDEXES = [91, 92, 93, 94, 95, 96, 97, 98] as const;
export const VALIDATOR_OPERATIONAL_ACCOUNT_INDEXES = [71, 72, 73, 74, 75, 76, 77, 78] as const;
export const MAX_LOCAL_VALIDATORS = VALIDATOR_STAKE_ACCOUNT_INDEXES.length;
/** Four: a quorum of 2/3 of the stake still stands when one of them drops out of a round. */
export const DEFAULT_LOCAL_VALIDATORS = 4;
/** The local network's block time: one block a second. */
export const DEFAULT_BLOCK_TIME_SECONDS = 1;
export const TREASURY_ACCOUNT_INDEX = 99;

export const ICNT = 10n ** 18n;
export const USDC = 10n ** 6n;

/** Protocol parameters of the local network (governance sets them on a real network). */
export const LOCAL_PARAMETERS = {
  icntSupply: 1_000_000_000n * ICNT,
  nodeStakePerTiB: 1_000n * ICNT,
  minValidatorStake: 100_000n * ICNT,
  unbondingPeriodSeconds: 7n * 24n * 3600n,
  maxSlashBps: 5_000n,
  /** Buyback pool seed: 1,000,000 ICNT against 250,000 USDC, a price of 0.25 USDC. */
  poolIcnt: 1_000_000n * ICNT,
  poolUsdc: 250_000n * USDC,
} as const;

export interface ChainContracts {
  icnt: Address;
  auditLog: Address;
  nodeStaking: Address;
  rewardsDistributor: Address;
  serviceEscrow: Address;
  usdc: Address;
  weth: Address;
  uniswapV2Factory: Address;
  uniswapV2Router02: Address;
  icntUsdcPair: Address;
}

/** What network.json's `chain` field holds. */
export interface ChainDescription {
  rpcUrl: string;
  chainId: number;
  pid: number;
  stateFile: string;
  contracts: ChainContracts;
  protocolAccount: Address;
  treasury: Address;
  /** The local validators, staked and with their operational keys authorized in AuditLog. */
  validators: LocalValidator[];
}

export interface LocalValidator {
  /** Stake address (NodeStaking's validator). */
  address: Address;
  /** The operational key's address: what the validator signs attestations with, authorized by `address`. */
  operationalAddress: Address;
  /**
   * The operational key itself (0x hex), derived from the test mnemonic like every local wallet: a local network's
   * secret only, in network.json (owner-readable, like the admin token there) and in its 0600 key file.
   */
  operationalKey: Hex;
  /** Bonded stake in ICNT base units, as a decimal string (JSON has no bigint). */
  stake: string;
}

export function mnemonicKey(index: number): Hex {
  return toHex(mnemonicToAccount(TEST_MNEMONIC, { addressIndex: index }).getHdKey().privateKey!);
}

interface DeploymentRecord {
  chainId: number;
  /** SHA-256 of the deployed creation code: a different build means a fresh deployment. */
  codeHash: string;
  contracts: ChainContracts;
}

/** Stake and operational wallets of local validator `i` (0-based). */
export function localValidatorKeys(i: number): { stakeKey: Hex; operationalKey: Hex } {
  if (!Number.isInteger(i) || i < 0 || i >= MAX_LOCAL_VALIDATORS) throw new Error(`a local network has at most ${MAX_LOCAL_VALIDATORS} validators`);
  return { stakeKey: mnemonicKey(VALIDATOR_STAKE_ACCOUNT_INDEXES[i]!), operationalKey: mnemonicKey(VALIDATOR_OPERATIONAL_ACCOUNT_INDEXES[i]!) };
}

export interface StartLocalChainOptions {
  /** anvil's state and the deployment record go to stateDir/chain/. */
  stateDir: string;
  /** 0 picks a free port. */
  port: number;
  logFile: string;
}

export class LocalChain {
  readonly rpcUrl: string;
  readonly client: ChainPublicClient;
  readonly protocol: ChainSigner;
  contracts!: ChainContracts;
  /** Set by ensureValidatorsStaked. */
  validators: LocalValidator[] = [];
  private readonly process: ChildProcess;
  private readonly stateFile: string;
  private readonly deploymentFile: string;

  private constructor(process: ChildProcess, rpcUrl: string, chainDir: string) {
    this.process = process;
    this.rpcUrl = rpcUrl;
    this.stateFile = join(chainDir, "anvil-state.json");
    this.deploymentFile = join(chainDir, "deployment.json");
    this.client = createChainPublicClient({ rpcUrl, chainId: LOCAL_CHAIN_ID, pollingIntervalMs: 50 });
    this.protocol = this.signer(mnemonicKey(PROTOCOL_ACCOUNT_INDEX));
  }

  /** Starts anvil on 127.0.0.1, loading the state a previous run saved. */
  static async start(options: StartLocalChainOptions): Promise<LocalChain> {
    const chainDir = join(options.stateDir, "chain");
    await mkdir(chainDir, { recursive: true });
    await mkdir(dirname(options.logFile), { recursive: true });
    const child = trackChild(spawn(
      ANVIL_BIN,
      [
        "--host", "127.0.0.1",
        "--port", String(options.port),
        "--chain-id", String(LOCAL_CHAIN_ID),
        "--mnemonic", TEST_MNEMONIC,
        "--accounts", String(ANVIL_ACCOUNTS),
        "--state", join(chainDir, "anvil-state.json"),
        // Also saved every 10 s, so a SIGKILL loses at most that much.
        "--state-interval", "10",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    ));
    const port = await readListeningPort(child, options.logFile, 30_000);
    return new LocalChain(child, `http://127.0.0.1:${port}`, chainDir);
  }

  get pid(): number {
    return this.process.pid!;
  }

  signer(privateKey: Hex): ChainSigner {
    return createChainSigner({ rpcUrl: this.rpcUrl, chainId: LOCAL_CHAIN_ID, pollingIntervalMs: 50 }, privateKey);
  }

  describe(): ChainDescription {
    return {
      rpcUrl: this.rpcUrl,
      chainId: LOCAL_CHAIN_ID,
      pid: this.pid,
      stateFile: this.stateFile,
      contracts: this.contracts,
      protocolAccount: this.protocol.account.address,
      treasury: this.signer(mnemonicKey(TREASURY_ACCOUNT_INDEX)).account.address,
      validators: this.validators,
    };
  }

  /** The Worker vars that point the edge at this chain (public: addresses and the RPC URL). */
  workerVars(): Record<string, string> {
    return {
      CHAIN_RPC_URL: this.rpcUrl,
      CHAIN_ID: String(LOCAL_CHAIN_ID),
      ICNT_ADDRESS: this.contracts.icnt,
      NODE_STAKING_ADDRESS: this.contracts.nodeStaking,
      REWARDS_DISTRIBUTOR_ADDRESS: this.contracts.rewardsDistributor,
      SERVICE_ESCROW_ADDRESS: this.contracts.serviceEscrow,
      AUDIT_LOG_ADDRESS: this.contracts.auditLog,
      USDC_ADDRESS: this.contracts.usdc,
      UNISWAP_V2_ROUTER_ADDRESS: this.contracts.uniswapV2Router02,
      ICNT_USDC_PAIR_ADDRESS: this.contracts.icntUsdcPair,
    };
  }

  /** The Worker secret that signs the protocol's transactions on this chain. */
  workerSecrets(): { PROTOCOL_SIGNER_KEY: Hex } {
    return { PROTOCOL_SIGNER_KEY: mnemonicKey(PROTOCOL_ACCOUNT_INDEX) };
  }

  /** Reuses the recorded deployment when its code is on chain and unchanged; deploys everything otherwise. */
  async deployOrReuse(): Promise<ChainContracts> {
    const codeHash = createHash("sha256").update(JSON.stringify(bytecode)).digest("hex");
    const record = await readJson<DeploymentRecord>(this.deploymentFile);
    if (record && record.chainId === LOCAL_CHAIN_ID && record.codeHash === codeHash && (await this.allDeployed(record.contracts))) {
      this.contracts = record.contracts;
      return this.contracts;
    }
    this.contracts = await deployProtocol(this.protocol, this.signer(mnemonicKey(TREASURY_ACCOUNT_INDEX)).account.address);
    await writeFile(this.deploymentFile, `${JSON.stringify({ chainId: LOCAL_CHAIN_ID, codeHash, contracts: this.contracts }, null, 2)}\n`);
    return this.contracts;
  }

  /** Sends `amount` ICNT from the protocol's holdings to `to` unless it already holds that much. */
  async fundIcnt(to: Address, amount: bigint): Promise<void> {
    const balance = await this.client.readContract({ address: this.contracts.icnt, abi: abis.icntAbi, functionName: "balanceOf", args: [to] });
    if (balance >= amount) return;
    await sendContractTransaction(this.protocol, { address: this.contracts.icnt, abi: abis.icntAbi, functionName: "transfer", args: [to, amount - balance] });
  }

  /** Tops the node's bond up to the minimum for `capacityBytes`, funding the operator first. */
  async ensureNodeStake(operatorKey: Hex, nodeId: string, capacityBytes: bigint): Promise<NodeStakeStatus> {
    const operator = this.signer(operatorKey);
    const params = { stakingAddress: this.contracts.nodeStaking, nodeId, capacityBytes, operator: operator.account.address };
    const before = await readNodeStake(this.client, params);
    if (before.sufficient) return before;
    await this.stakeNode(operatorKey, nodeId, before.required - before.bonded);
    return readNodeStake(this.client, params);
  }

  /** Adds `amount` to the node's bond from its operator's wallet (funded by the protocol account when short). */
  async stakeNode(operatorKey: Hex, nodeId: string, amount: bigint): Promise<void> {
    const operator = this.signer(operatorKey);
    await this.fundIcnt(operator.account.address, amount);
    await sendContractTransaction(operator, { address: this.contracts.icnt, abi: abis.icntAbi, functionName: "approve", args: [this.contracts.nodeStaking, amount] });
    await sendContractTransaction(operator, {
      address: this.contracts.nodeStaking,
      abi: abis.nodeStakingAbi,
      functionName: "stakeNode",
      args: [nodeKeyOf(nodeId), amount],
    });
  }

  /**
   * Makes the first `count` local validators the validator set: each staked up to the validator minimum and with
   * its operational key authorized in AuditLog. Validators beyond `count` that an earlier, larger run set up have
   * their keys revoked, so the edge never assigns work to one that is not running.
   */
  async ensureValidatorsStaked(count = DEFAULT_LOCAL_VALIDATORS): Promise<LocalValidator[]> {
    if (!Number.isInteger(count) || count < 0 || count > MAX_LOCAL_VALIDATORS) throw new Error(`a local network has 0..${MAX_LOCAL_VALIDATORS} validators, not ${count}`);
    // Validators send from different accounts, so they are set up side by side.
    const all = await Promise.all(
      VALIDATOR_STAKE_ACCOUNT_INDEXES.map(async (_, i) => {
        const { stakeKey, operationalKey } = localValidatorKeys(i);
        const validator = this.signer(stakeKey);
        if (i >= count) {
          const key = await readOperationalKey(this.client, { auditLog: this.contracts.auditLog, validator: validator.account.address });
          if (key) await setOperationalKey(validator, { auditLog: this.contracts.auditLog, key: zeroAddress });
          return undefined;
        }
        const operationalAddress = this.signer(operationalKey).account.address;
        const stake = await this.ensureValidatorStake(validator);
        await setOperationalKey(validator, { auditLog: this.contracts.auditLog, key: operationalAddress });
        return { address: validator.account.address, operationalAddress, operationalKey, stake: stake.toString() };
      }),
    );
    this.validators = all.filter((v) => v !== undefined);
    return this.validators;
  }

  private async ensureValidatorStake(validator: ChainSigner): Promise<bigint> {
    const [bonded] = await this.client.readContract({
      address: this.contracts.nodeStaking,
      abi: abis.nodeStakingAbi,
      functionName: "validatorStake",
      args: [validator.account.address],
    });
    const missing = LOCAL_PARAMETERS.minValidatorStake - bonded;
    if (missing <= 0n) return bonded;
    await this.fundIcnt(validator.account.address, missing);
    await sendContractTransaction(validator, { address: this.contracts.icnt, abi: abis.icntAbi, functionName: "approve", args: [this.contracts.nodeStaking, missing] });
    await sendContractTransaction(validator, { address: this.contracts.nodeStaking, abi: abis.nodeStakingAbi, functionName: "stakeValidator", args: [missing] });
    return bonded + missing;
  }

  /**
   * From now on anvil mines a block every `seconds` (whole seconds, anvil's evm_setIntervalMining), whether or not
   * there are transactions, and no longer when one arrives: the same as starting it with `--block-time`, after the
   * setup ran at automine speed. Lasts until anvil stops; a restarted anvil starts in automine again.
   */
  async mineOnInterval(seconds = DEFAULT_BLOCK_TIME_SECONDS): Promise<void> {
    if (!Number.isInteger(seconds) || seconds < 1) throw new Error(`anvil's block time is a whole number of seconds ≥ 1, not ${seconds}`);
    await createTestClient({ mode: "anvil", transport: http(this.rpcUrl) }).setIntervalMining({ interval: seconds });
  }

  /** Slashes a node with the protocol key, as the validator quorum would. */
  async slashNode(nodeId: string, amount: bigint, reason = "local test slash"): Promise<void> {
    await slashNode(this.protocol, { stakingAddress: this.contracts.nodeStaking, nodeId, amount, reason });
  }

  /** SIGTERM (anvil saves its state), SIGKILL after `graceMs`; at once if anvil already died. */
  async stop(graceMs = 5_000): Promise<void> {
    await stopChild(this.process, { graceMs });
  }

  private async allDeployed(contracts: ChainContracts): Promise<boolean> {
    const codes = await Promise.all(Object.values(contracts).map((address) => this.client.getCode({ address })));
    return codes.every((code) => code !== undefined && code !== "0x");
  }
}

async function deployContract(deployer: ChainSigner, abi: Abi, code: Hex, args: readonly unknown[]): Promise<Address> {
  const hash = await deployer.walletClient.deployContract({ abi, bytecode: code, args } as Parameters<typeof deployer.walletClient.deployContract>[0]);
  const receipt = await deployer.publicClient.waitForTransactionReceipt({ hash });
  if (receipt.status !== "success" || !receipt.contractAddress) throw new Error(`deploying contract failed in transaction ${hash}`);
  return getAddress(receipt.contractAddress);
}

/** Deploys ICNT, the audit log, staking, rewards, escrow, a test USDC and a Uniswap v2 pool, and seeds the pool. */
export async function deployProtocol(deployer: ChainSigner, treasury: Address): Promise<ChainContracts> {
  const me = deployer.account.address;
  const p = LOCAL_PARAMETERS;
  const icnt = await deployContract(deployer, abis.icntAbi, bytecode.icntBytecode, [me, p.icntSupply]);
  const nodeStaking = await deployContract(deployer, abis.nodeStakingAbi, bytecode.nodeStakingBytecode, [
    icnt, me, me, treasury, p.nodeStakePerTiB, p.minValidatorStake, p.unbondingPeriodSeconds, p.maxSlashBps,
  ]);
  const rewardsDistributor = await deployContract(deployer, abis.rewardsDistributorAbi, bytecode.rewardsDistributorBytecode, [icnt, me, me]);
  // Escrow draws are paid to the protocol key: settlement's ICNT treasury, whose balance funds RewardsDistributor
  // (the slash treasury, account 99, is not one the edge can spend from).
  const serviceEscrow = await deployContract(deployer, abis.serviceEscrowAbi, bytecode.serviceEscrowBytecode, [icnt, me, me, me]);
  const usdc = await deployContract(deployer, abis.testUsdcAbi, bytecode.testUsdcBytecode, [me]);
  const weth = await deployContract(deployer, abis.weth9Abi, bytecode.weth9Bytecode, []);
  const uniswapV2Factory = await deployContract(deployer, abis.uniswapV2FactoryAbi, bytecode.uniswapV2FactoryBytecode, [me]);
  const uniswapV2Router02 = await deployContract(deployer, abis.uniswapV2Router02Abi, bytecode.uniswapV2Router02Bytecode, [uniswapV2Factory, weth]);
  // The protocol key is the auditor: it commits rounds and anchors epochs.
  const auditLog = await deployContract(deployer, abis.auditLogAbi, bytecode.auditLogBytecode, [me, me]);

  await sendContractTransaction(deployer, { address: usdc, abi: abis.testUsdcAbi, functionName: "mint", args: [me, 10n * p.poolUsdc] });
  await sendContractTransaction(deployer, { address: icnt, abi: abis.icntAbi, functionName: "approve", args: [uniswapV2Router02, p.poolIcnt] });
  await sendContractTransaction(deployer, { address: usdc, abi: abis.testUsdcAbi, functionName: "approve", args: [uniswapV2Router02, p.poolUsdc] });
  const block = await deployer.publicClient.getBlock();
  await sendContractTransaction(deployer, {
    address: uniswapV2Router02,
    abi: abis.uniswapV2Router02Abi,
    functionName: "addLiquidity",
    args: [icnt, usdc, p.poolIcnt, p.poolUsdc, p.poolIcnt, p.poolUsdc, me, block.timestamp + 600n],
  });
  const icntUsdcPair = await deployer.publicClient.readContract({ address: uniswapV2Factory, abi: abis.uniswapV2FactoryAbi, functionName: "getPair", args: [icnt, usdc] });
  if (icntUsdcPair === zeroAddress) throw new Error("addLiquidity did not create the ICNT/USDC pair");
  return { icnt, auditLog, nodeStaking, rewardsDistributor, serviceEscrow, usdc, weth, uniswapV2Factory, uniswapV2Router02, icntUsdcPair: getAddress(icntUsdcPair) };
}

/** Waits for anvil's "Listening on 127.0.0.1:PORT" line; every output line also goes to `logFile`. */
async function readListeningPort(child: ChildProcess, logFile: string, timeoutMs: number): Promise<number> {
  const output = createInterface({ input: child.stdout! });
  const errors = createInterface({ input: child.stderr! });
  let pending = Promise.resolve();
  const log = (line: string) => (pending = pending.then(() => writeFile(logFile, `${line}\n`, { flag: "a" })).catch(() => {}));
  errors.on("line", log);
  return new Promise((resolvePort, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`anvil did not start listening within ${timeoutMs} ms (see ${logFile})`));
    }, timeoutMs);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot start anvil at ${ANVIL_BIN}: ${error.message}`));
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`anvil exited with ${code} before listening (see ${logFile})`));
    });
    output.on("line", (line) => {
      log(line);
      const match = /Listening on 127\.0\.0\.1:(\d+)/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolvePort(Number(match[1]));
      }
    });
  });
}

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, "utf8")) as T;
  } catch {
    return undefined;
  }
}
