// ProtocolTransactions: one Durable Object (named "protocol") that owns the protocol key's nonces. Every protocol
// transaction (slashing, round commitments and epoch anchors, settlement's swaps and postings) is signed here under
// the next nonce, stored under its step's key, and only then broadcast (src/chain/transaction-relay.ts). A step
// that resumes after a crash finds its transaction and rebroadcasts it or reads its receipt; it never signs a
// second one. The same object grants named leases, so two settlement runs never overlap (D1 has no interactive
// transactions to exclude them).
//
// Calls run one at a time (a promise chain): between reading the chain's pending count and storing the nonce
// there are awaits, and two interleaved calls would otherwise take the same nonce.

import { DurableObject } from "cloudflare:workers";
import { BaseError, keccak256, NonceTooLowError, parseTransaction, type Hash } from "viem";
import { createChainSigner, type ChainSigner } from "../../../src/chain/clients.ts";
import { ChainConfigError } from "../../../src/chain/errors.ts";
import type { RelayedCall, RelayEndpoint } from "../../../src/chain/transaction-relay.ts";
import type { Env } from "../../../src/env.ts";
import { migrateProtocolTransactions, transactionOf, type ProtocolTxStore, type StoredTransaction } from "./schema.ts";

/** Gas given over the estimate, in percent of it. */
const GAS_HEADROOM_PERCENT = 125n;

/** Re-signings of one key whose nonce other senders keep taking, before the call fails. */
const MAX_RESIGNS = 3;

export interface Lease {
  acquired: boolean;
  holder: string;
  expiresAt: number;
}

export class ProtocolTransactions extends DurableObject<Env> {
  private readonly store: ProtocolTxStore;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = ctx.storage;
    migrateProtocolTransactions(this.store);
  }

  async resume(endpoint: RelayEndpoint, key: string): Promise<Hash | undefined> {
    return this.serially(async () => {
      const stored = this.find(endpoint.chainId, key);
      if (!stored) return undefined;
      return (await this.broadcast(this.signer(endpoint), stored)).hash;
    });
  }

  async submit(endpoint: RelayEndpoint, key: string, call: RelayedCall): Promise<Hash> {
    return this.serially(async () => {
      const signer = this.signer(endpoint);
      const stored = this.find(endpoint.chainId, key) ?? (await this.sign(signer, key, call));
      return (await this.broadcast(signer, stored)).hash;
    });
  }

  /**
   * Signs and stores without broadcasting: the first half of submit, on its own so a test can stop a step exactly
   * where a crash would (signed, stored, never sent) and see the resume send that same transaction.
   */
  async prepare(endpoint: RelayEndpoint, key: string, call: RelayedCall): Promise<StoredTransaction> {
    return this.serially(async () => this.find(endpoint.chainId, key) ?? (await this.sign(this.signer(endpoint), key, call)));
  }

  /** What was signed under `key`: the settlement's record of a step's transaction. */
  async transaction(chainId: number, key: string): Promise<StoredTransaction | undefined> {
    return this.find(chainId, key);
  }

  /** Takes the lease `name` for `holder` until nowMs + ttlMs, unless another holder's has not expired. */
  async acquireLease(name: string, holder: string, nowMs: number, ttlMs: number): Promise<Lease> {
    const current = this.store.sql.exec("SELECT holder, expires_at FROM leases WHERE name = ?", name).toArray()[0];
    if (current && String(current.holder) !== holder && Number(current.expires_at) > nowMs) {
      return { acquired: false, holder: String(current.holder), expiresAt: Number(current.expires_at) };
    }
    this.store.sql.exec(
      "INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at",
      name,
      holder,
      nowMs + ttlMs,
    );
    return { acquired: true, holder, expiresAt: nowMs + ttlMs };
  }

  /** Gives the lease back; a holder whose lease expired and was taken by another changes nothing. */
  async releaseLease(name: string, holder: string): Promise<boolean> {
    return this.store.sql.exec("DELETE FROM leases WHERE name = ? AND holder = ?", name, holder).rowsWritten > 0;
  }

  private serially<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => {});
    return run;
  }

  private signer(endpoint: RelayEndpoint): ChainSigner {
    const key = this.env.PROTOCOL_SIGNER_KEY;
    if (!key) throw new ChainConfigError("PROTOCOL_SIGNER_KEY is not set: the edge cannot send protocol transactions.");
    return createChainSigner({ rpcUrl: endpoint.rpcUrl, chainId: endpoint.chainId, pollingIntervalMs: 250 }, key);
  }

  private find(chainId: number, key: string): StoredTransaction | undefined {
    const row = this.store.sql.exec("SELECT * FROM transactions WHERE chain_id = ? AND key = ?", chainId, key).toArray()[0];
    return row ? transactionOf(row) : undefined;
  }

  /**
   * The next nonce is the chain's pending count, read inside this object's queue (so no two calls read the same
   * one), after every transaction this object signed but never sent (a crash between storing and broadcasting) has
   * been sent: a later nonce is never mined past a gap. A count that went back (a local chain restarted from an
   * older state, a transaction dropped from the pool) is followed: broadcast signs again what it can no longer mine.
   */
  private async sign(signer: ChainSigner, key: string, call: RelayedCall, replaced: string[] = []): Promise<StoredTransaction> {
    const chainId = signer.publicClient.chain.id;
    const sender = signer.account.address.toLowerCase();
    // (Not the key being signed again: its stored transaction is the one that lost its nonce.)
    for (const unsent of this.unsent(chainId, sender).filter((t) => t.key !== key)) await this.broadcast(signer, unsent);
    const nonce = await signer.publicClient.getTransactionCount({ address: signer.account.address, blockTag: "pending" });
    const request = await signer.walletClient.prepareTransactionRequest({
      account: signer.account,
      chain: signer.publicClient.chain,
      to: call.to,
      data: call.data,
      value: call.value === undefined ? undefined : BigInt(call.value),
      nonce,
    });
    // A quarter more gas than estimated: the estimate ran on a pending block, and the block that mines it may do
    // more (a Uniswap pair writes its cumulative prices only in the first block of a later timestamp); an
    // out-of-gas revert would still take the nonce and the fee.
    const gas = ((request.gas ?? 0n) * GAS_HEADROOM_PERCENT) / 100n;
    const raw = await signer.walletClient.signTransaction({ ...request, gas } as Parameters<typeof signer.walletClient.signTransaction>[0]);
    const stored: StoredTransaction = {
      chainId,
      key,
      sender,
      nonce,
      raw,
      hash: keccak256(raw),
      signedAt: Date.now(),
      broadcasts: 0,
      replacedHashes: replaced,
      minedBlock: null,
    };
    this.store.transactionSync(() => {
      this.store.sql.exec(
        `INSERT INTO transactions (chain_id, key, sender, nonce, raw, hash, signed_at, broadcasts, replaced_hashes)
         VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)
         ON CONFLICT (chain_id, key) DO UPDATE SET nonce = excluded.nonce, raw = excluded.raw, hash = excluded.hash,
           signed_at = excluded.signed_at, broadcasts = 0, replaced_hashes = excluded.replaced_hashes, mined_block = NULL`,
        chainId,
        key,
        sender,
        nonce,
        raw,
        stored.hash,
        stored.signedAt,
        JSON.stringify(replaced),
      );
    });
    return stored;
  }

  private unsent(chainId: number, sender: string): StoredTransaction[] {
    return this.store.sql
      .exec("SELECT * FROM transactions WHERE chain_id = ? AND sender = ? AND broadcasts = 0 AND mined_block IS NULL ORDER BY nonce", chainId, sender)
      .toArray()
      .map(transactionOf);
  }

  /**
   * Sends the stored transaction again unless it is mined. When its nonce was taken by a transaction this object
   * did not sign, or lies beyond the chain's pending count (nothing of ours fills the gap before it), the stored one
   * can never be mined: it is signed again under the current nonce (same key), the old hash kept in the row's history.
   */
  private async broadcast(signer: ChainSigner, stored: StoredTransaction, resigns = 0): Promise<StoredTransaction> {
    if (stored.minedBlock !== null) return stored;
    const receipt = await signer.publicClient.getTransactionReceipt({ hash: stored.hash }).catch(() => undefined);
    if (receipt) {
      this.store.sql.exec("UPDATE transactions SET mined_block = ? WHERE chain_id = ? AND key = ?", Number(receipt.blockNumber), stored.chainId, stored.key);
      return { ...stored, minedBlock: Number(receipt.blockNumber) };
    }
    const pending = await signer.publicClient.getTransactionCount({ address: signer.account.address, blockTag: "pending" });
    if (stored.nonce > pending) return this.signAgain(signer, stored, resigns);
    try {
      await signer.publicClient.sendRawTransaction({ serializedTransaction: stored.raw });
    } catch (error) {
      if (isAlreadyKnown(error)) {
        // In the pool already: sent before, by this object.
      } else if (isNonceTaken(error)) {
        const mined = await signer.publicClient.getTransactionReceipt({ hash: stored.hash }).catch(() => undefined);
        if (mined) return this.broadcast(signer, stored, resigns);
        return this.signAgain(signer, stored, resigns);
      } else {
        throw error;
      }
    }
    this.store.sql.exec("UPDATE transactions SET broadcasts = broadcasts + 1 WHERE chain_id = ? AND key = ?", stored.chainId, stored.key);
    return { ...stored, broadcasts: stored.broadcasts + 1 };
  }

  private async signAgain(signer: ChainSigner, stored: StoredTransaction, resigns: number): Promise<StoredTransaction> {
    if (resigns >= MAX_RESIGNS) throw new Error(`transaction ${stored.key} could not be given a minable nonce after ${resigns + 1} signings`);
    const again = await this.sign(signer, stored.key, callOf(stored), [...stored.replacedHashes, stored.hash]);
    return this.broadcast(signer, again, resigns + 1);
  }
}

/** The call a stored transaction makes, read back from its signed bytes. */
function callOf(stored: StoredTransaction): RelayedCall {
  const tx = parseTransaction(stored.raw);
  if (!tx.to || !tx.data) throw new Error(`stored transaction ${stored.key} has no call`);
  return { to: tx.to, data: tx.data, value: tx.value ? tx.value.toString() : undefined };
}

function isAlreadyKnown(error: unknown): boolean {
  return /already known|already imported|known transaction/i.test(messageOf(error));
}

function isNonceTaken(error: unknown): boolean {
  if (error instanceof BaseError && error.walk((e) => e instanceof NonceTooLowError)) return true;
  return /nonce too low|replacement transaction underpriced/i.test(messageOf(error));
}

function messageOf(error: unknown): string {
  return error instanceof BaseError ? `${error.shortMessage} ${error.details ?? ""}` : String((error as Error)?.message ?? error);
}
