// The ProtocolTransactions Durable Object, the one owner of the protocol key's nonces, against a real anvil
// (test/helpers/worker-chain.ts): a step's transaction is signed once and stored before it is broadcast, so a
// retried or resumed step sends the same transaction (or reads its receipt) and never a second one; concurrent
// steps get distinct nonces; a stored transaction nobody sent is sent before any later nonce; a nonce another sender
// took is signed again; and the settlement's lease admits one holder at a time.

import { env } from "cloudflare:test";
import type { Address } from "viem";
import { describe, expect, inject, it } from "vitest";
import { createChainSigner } from "../../src/chain/clients.ts";
import { edgeChain } from "../../src/chain/edge-chain.ts";
import { icntAbi } from "../../src/chain/generated/abis.ts";
import { sendContractTransaction } from "../../src/chain/transactions.ts";
import type { Env } from "../../src/env.ts";
import { protocolSigner, protocolTransactionsOf } from "../../src/services/protocol-signer.ts";

const chainEnv = (): Env => ({ ...(env as unknown as Env), ...inject("chain").vars });

function setup() {
  const e = chainEnv();
  const { config, client } = edgeChain(e)!;
  const signer = protocolSigner(e, config);
  const endpoint = { rpcUrl: config.rpcUrl, chainId: config.chainId };
  const icnt = config.contracts.icnt;
  /** A call the protocol key can always make, told apart by its amount. */
  const approve = (amount: bigint) => ({ address: icnt, abi: icntAbi, functionName: "approve" as const, args: [signer.account.address as Address, amount] as const });
  const nonce = () => client.getTransactionCount({ address: signer.account.address, blockTag: "pending" });
  return { e, config, client, signer, endpoint, approve, nonce, stub: protocolTransactionsOf(e) };
}

describe("protocol transactions", () => {
  it("sends a step once: a retry under the same key waits for the same transaction and takes no nonce", async () => {
    const { signer, approve, nonce } = setup();
    const key = `test:once:${crypto.randomUUID()}`;
    const first = await sendContractTransaction(signer, approve(1n), { idempotencyKey: key });
    const after = await nonce();
    const again = await sendContractTransaction(signer, approve(1n), { idempotencyKey: key });
    expect(again.transactionHash).toBe(first.transactionHash);
    expect(await nonce()).toBe(after);
  });

  it("gives concurrent steps distinct nonces, and every one is mined", async () => {
    const { signer, approve, client } = setup();
    const receipts = await Promise.all(Array.from({ length: 6 }, (_, i) => sendContractTransaction(signer, approve(100n + BigInt(i)), { idempotencyKey: `test:many:${crypto.randomUUID()}` })));
    expect(receipts.every((r) => r.status === "success")).toBe(true);
    const nonces = await Promise.all(receipts.map(async (r) => (await client.getTransaction({ hash: r.transactionHash })).nonce));
    expect(new Set(nonces).size).toBe(6);
  });

  it("resumes a step that crashed after signing with the transaction it stored, and sends it before any later nonce", async () => {
    const { signer, approve, endpoint, stub, config, client } = setup();
    const crashed = `test:crashed:${crypto.randomUUID()}`;
    const call = approve(7n);
    const { encodeFunctionData } = await import("viem");
    const stored = await stub.prepare(endpoint, crashed, { to: call.address, data: encodeFunctionData({ abi: icntAbi, functionName: "approve", args: call.args }) });
    expect(stored.broadcasts).toBe(0);
    // Another step comes first: its nonce is after the stored one, which must go out first or neither is mined.
    const later = await sendContractTransaction(signer, approve(8n), { idempotencyKey: `test:later:${crypto.randomUUID()}`, receiptTimeoutMs: 15_000 });
    expect((await client.getTransaction({ hash: later.transactionHash })).nonce).toBeGreaterThan(stored.nonce);
    const resumed = await sendContractTransaction(signer, approve(7n), { idempotencyKey: crashed });
    expect(resumed.transactionHash).toBe(stored.hash);
    const record = await stub.transaction(config.chainId, crashed);
    expect(record).toMatchObject({ hash: stored.hash, nonce: stored.nonce, replacedHashes: [] });
    expect(record!.minedBlock).not.toBeNull();
  });

  it("signs a stored step again when another sender of the key took its nonce, keeping the lost hash", async () => {
    const { e, signer, approve, endpoint, stub, config, client } = setup();
    const key = `test:taken:${crypto.randomUUID()}`;
    const call = approve(9n);
    const { encodeFunctionData } = await import("viem");
    const stored = await stub.prepare(endpoint, key, { to: call.address, data: encodeFunctionData({ abi: icntAbi, functionName: "approve", args: call.args }) });
    // The same key used outside the object (a wallet, a script) takes the stored transaction's nonce.
    const outside = createChainSigner({ rpcUrl: config.rpcUrl, chainId: config.chainId, pollingIntervalMs: 250 }, e.PROTOCOL_SIGNER_KEY!);
    const hash = await outside.walletClient.writeContract({ ...approve(10n), nonce: stored.nonce });
    await client.waitForTransactionReceipt({ hash });
    const resumed = await sendContractTransaction(signer, approve(9n), { idempotencyKey: key });
    expect(resumed.transactionHash).not.toBe(stored.hash);
    const record = await stub.transaction(config.chainId, key);
    expect(record!.hash).toBe(resumed.transactionHash);
    expect(record!.replacedHashes).toEqual([stored.hash]);
    expect(await client.getTransactionReceipt({ hash: stored.hash }).catch(() => undefined)).toBeUndefined();
  });

  it("lets one holder at a time have a lease, until it expires or is released", async () => {
    const { stub } = setup();
    const name = `settlement:${crypto.randomUUID()}`;
    expect(await stub.acquireLease(name, "run-a", 1_000, 60_000)).toEqual({ acquired: true, holder: "run-a", expiresAt: 61_000 });
    expect(await stub.acquireLease(name, "run-b", 2_000, 60_000)).toEqual({ acquired: false, holder: "run-a", expiresAt: 61_000 });
    // The holder may renew; another takes it only once it expired.
    expect((await stub.acquireLease(name, "run-a", 30_000, 60_000)).acquired).toBe(true);
    expect((await stub.acquireLease(name, "run-b", 90_001, 60_000)).acquired).toBe(true);
    expect(await stub.releaseLease(name, "run-a")).toBe(false);
    expect(await stub.releaseLease(name, "run-b")).toBe(true);
    expect((await stub.acquireLease(name, "run-c", 90_002, 60_000)).acquired).toBe(true);
  });
});
