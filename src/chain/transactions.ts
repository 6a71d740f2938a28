// Sends contract transactions: simulate first (a revert is reported with the contract's own error before any gas is
// spent), send under a nonce no concurrent caller holds, wait for the receipt, and treat a mined revert as an error.

import {
  BaseError,
  ContractFunctionRevertedError,
  encodeFunctionData,
  NonceTooLowError,
  type Abi,
  type Address,
  type ContractFunctionArgs,
  type ContractFunctionName,
  type Hash,
  type TransactionReceipt,
} from "viem";
import type { ChainSigner } from "./clients.ts";
import { ChainTransactionError } from "./errors.ts";
import { icntAbi } from "./generated/abis.ts";
import type { RelayEndpoint, TransactionRelay } from "./transaction-relay.ts";

export interface ContractCall<abi extends Abi, functionName extends ContractFunctionName<abi, "nonpayable" | "payable">> {
  address: Address;
  abi: abi;
  functionName: functionName;
  args: ContractFunctionArgs<abi, "nonpayable" | "payable", functionName>;
}

export interface SendContractTransactionOptions {
  /** How long to wait for the receipt before giving up (the transaction may still be mined later). */
  receiptTimeoutMs?: number;
  /**
   * With a relaying signer (ChainSigner.relay): the step's key. A second send under the same key (a retry, a step
   * resumed after a crash) waits for the transaction the first one signed instead of signing another. Without
   * one, each send is a transaction of its own.
   */
  idempotencyKey?: string;
}

export type SendContractTransactionReturnType = TransactionReceipt;
export type SendContractTransactionErrorType = ChainTransactionError;

/** Tries before giving up when another sender keeps taking the nonce we chose. */
const MAX_NONCE_ATTEMPTS = 4;
const DEFAULT_RECEIPT_TIMEOUT_MS = 60_000;

/**
 * Token errors surface through the staking, rewards and escrow contracts (`transferFrom` without allowance); adding
 * them lets viem name them instead of printing a selector.
 */
const TOKEN_ERRORS = icntAbi.filter((item) => item.type === "error");

/** Sends `call` from `signer` and resolves with the successful receipt; throws ChainTransactionError otherwise. */
export async function sendContractTransaction<const abi extends Abi, functionName extends ContractFunctionName<abi, "nonpayable" | "payable">>(
  signer: ChainSigner,
  call: ContractCall<abi, functionName>,
  options: SendContractTransactionOptions = {},
): Promise<SendContractTransactionReturnType> {
  const name = String(call.functionName);
  if (signer.relay && options.idempotencyKey !== undefined) {
    // Asked before simulating: a step whose transaction was mined before a crash may no longer simulate.
    const known = await signer.relay.resume(endpointOf(signer), options.idempotencyKey);
    if (known) return awaitReceipt(signer, name, known, options);
  }
  let request: Record<string, unknown>;
  try {
    const simulated = await signer.publicClient.simulateContract({
      ...call,
      abi: [...call.abi, ...TOKEN_ERRORS],
      account: signer.account,
    } as unknown as Parameters<typeof signer.publicClient.simulateContract>[0]);
    request = simulated.request as unknown as Record<string, unknown>;
  } catch (error) {
    throw refused(name, error);
  }

  const hash = signer.relay ? await relayed(signer, signer.relay, name, call, request, options) : await sendWithSafeNonce(signer, name, request);
  return awaitReceipt(signer, name, hash, options);
}

async function awaitReceipt(signer: ChainSigner, name: string, hash: Hash, options: SendContractTransactionOptions): Promise<TransactionReceipt> {
  const receipt = await signer.publicClient.waitForTransactionReceipt({ hash, timeout: options.receiptTimeoutMs ?? DEFAULT_RECEIPT_TIMEOUT_MS });
  if (receipt.status !== "success") {
    // State changed between simulation and inclusion (another transaction got in first).
    throw new ChainTransactionError(`${name} reverted on chain in block ${receipt.blockNumber}.`, { functionName: name, transactionHash: hash });
  }
  return receipt;
}

function endpointOf(signer: ChainSigner): RelayEndpoint {
  return { rpcUrl: signer.publicClient.chain.rpcUrls.default.http[0]!, chainId: signer.publicClient.chain.id };
}

/** Hands the simulated call to the relay, which signs it under the nonce it owns (see transaction-relay.ts). */
async function relayed<const abi extends Abi, functionName extends ContractFunctionName<abi, "nonpayable" | "payable">>(
  signer: ChainSigner,
  relay: TransactionRelay,
  name: string,
  call: ContractCall<abi, functionName>,
  request: Record<string, unknown>,
  options: SendContractTransactionOptions,
): Promise<Hash> {
  const data = encodeFunctionData({ abi: call.abi, functionName: call.functionName, args: call.args } as Parameters<typeof encodeFunctionData>[0]);
  const value = typeof request.value === "bigint" && request.value > 0n ? request.value.toString() : undefined;
  try {
    return await relay.submit(endpointOf(signer), options.idempotencyKey ?? crypto.randomUUID(), { to: call.address, data, value });
  } catch (error) {
    throw refused(name, error);
  }
}

// Per signer (RPC endpoint + chain id + address): a queue so only one caller at a time picks a nonce and broadcasts,
// and the next nonce this process will use. The chain's pending count alone is not enough: two callers would read
// the same one. The endpoint is part of the key because two chains may share an id (two local anvils in one test
// process): a nonce remembered from one would leave a gap on the other, and a transaction behind a gap is never mined.
const sendQueues = new Map<string, Promise<void>>();
const nextNonces = new Map<string, number>();

async function sendWithSafeNonce(signer: ChainSigner, name: string, request: Record<string, unknown>): Promise<Hash> {
  const key = `${signer.publicClient.chain.rpcUrls.default.http[0]}:${signer.publicClient.chain.id}:${signer.account.address.toLowerCase()}`;
  return inQueue(key, async () => {
    for (let attempt = 1; ; attempt++) {
      const pending = await signer.publicClient.getTransactionCount({ address: signer.account.address, blockTag: "pending" });
      const nonce = Math.max(pending, nextNonces.get(key) ?? 0);
      try {
        const hash = await signer.walletClient.writeContract({ ...request, nonce } as unknown as Parameters<typeof signer.walletClient.writeContract>[0]);
        nextNonces.set(key, nonce + 1);
        return hash;
      } catch (error) {
        // Another process (a second Worker isolate, the same key in a wallet) used this nonce: re-read and retry.
        if (isNonceConflict(error) && attempt < MAX_NONCE_ATTEMPTS) {
          nextNonces.delete(key);
          continue;
        }
        throw refused(name, error);
      }
    }
  });
}

async function inQueue<T>(key: string, work: () => Promise<T>): Promise<T> {
  const previous = sendQueues.get(key) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((resolve) => (release = resolve));
  const tail = previous.then(() => mine);
  sendQueues.set(key, tail);
  await previous;
  try {
    return await work();
  } finally {
    release();
    if (sendQueues.get(key) === tail) sendQueues.delete(key);
  }
}

function isNonceConflict(error: unknown): boolean {
  if (error instanceof BaseError && error.walk((e) => e instanceof NonceTooLowError)) return true;
  return /nonce too low|already known|replacement transaction underpriced/i.test(String((error as Error)?.message ?? error));
}

/** The contract's custom error with its arguments, or its revert string; undefined when nothing was decoded. */
export function revertReasonOf(error: unknown): string | undefined {
  if (!(error instanceof BaseError)) return undefined;
  const reverted = error.walk((e) => e instanceof ContractFunctionRevertedError);
  if (!(reverted instanceof ContractFunctionRevertedError)) return undefined;
  const data = reverted.data;
  if (data?.errorName === "Error") return String(data.args?.[0]); // require(cond, "message")
  if (data) return `${data.errorName}(${(data.args ?? []).map((a) => String(a)).join(", ")})`;
  return reverted.reason ?? reverted.signature;
}

function refused(functionName: string, error: unknown): ChainTransactionError {
  const revertReason = revertReasonOf(error);
  const shortMessage = revertReason
    ? `${functionName} was refused by the contract: ${revertReason}`
    : `${functionName} failed: ${error instanceof BaseError ? error.shortMessage : String((error as Error)?.message ?? error)}`;
  return new ChainTransactionError(shortMessage, { functionName, revertReason, cause: error });
}
