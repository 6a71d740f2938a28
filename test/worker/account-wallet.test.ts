// POST/GET/DELETE /api/v1/account/wallet: an account links a wallet by an EIP-712 LinkWallet signature of that
// wallet (bound to the account, the chain and the escrow, fresh against the edge's clock), one wallet per account and
// one account per wallet, and reads the wallet's escrow balance; against the Worker tests' anvil.

import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { AwsClient } from "aws4fetch";
import type { LocalAccount } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { describe, expect, it } from "vitest";
import { clockMs } from "../../src/clock.ts";
import type { Env } from "../../src/env.ts";
import worker from "../../src/index.ts";
import { walletLinkTypedData } from "../../src/protocol/wallet-link.ts";
import { chainEnv, chainOf, customerWallet, ICNT } from "./escrow-helpers.ts";
import { createAccountWithKey, EDGE, type TestAccount } from "./helpers.ts";

/** A call to the account's wallet route, signed as IAM calls are, through the Worker with `workerEnv`. */
async function walletApi(account: TestAccount, method: string, body?: unknown, workerEnv: Env = chainEnv()): Promise<Response> {
  const client = new AwsClient({ accessKeyId: account.accessKeyId, secretAccessKey: account.secretAccessKey, service: "iam", region: "us-east-1", retries: 0 });
  const signed = await client.sign(`${EDGE}/api/v1/account/wallet`, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const ctx = createExecutionContext();
  const res = await worker.fetch(signed, workerEnv, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

/** What `wallet` signs to link itself to `accountId` (the chain and escrow of the test chain unless overridden). */
async function linkRequest(wallet: LocalAccount, accountId: string, o: { issuedAt?: number; escrow?: `0x${string}`; chainId?: number } = {}) {
  const { config } = chainOf();
  const issuedAt = o.issuedAt ?? Math.floor((await clockMs(env as unknown as Env)) / 1000);
  const typed = walletLinkTypedData({ chainId: o.chainId ?? config.chainId, serviceEscrow: o.escrow ?? config.contracts.serviceEscrow, accountId, wallet: wallet.address, issuedAt });
  return { address: wallet.address, issuedAt, signature: await wallet.signTypedData(typed) };
}

const codeOf = async (res: Response) => ((await res.json()) as { code: string }).code;

describe("the account's prepay wallet", () => {
  it("links a wallet its owner signed for, and shows it with its escrow balance", async () => {
    const account = await createAccountWithKey("wallet-link");
    const customer = await customerWallet(25n * ICNT);
    const res = await walletApi(account, "POST", await linkRequest(customer.account, account.id));
    expect(res.status).toBe(201);
    const linked = (await res.json()) as { wallet: string; escrow: { address: string; balance: string; withdrawal: unknown } };
    expect(linked.wallet).toBe(customer.account.address);
    expect(linked.escrow).toMatchObject({ address: chainOf().escrow, balance: (25n * ICNT).toString(), withdrawal: null });

    const shown = await walletApi(account, "GET");
    expect(shown.status).toBe(200);
    expect(await shown.json()).toMatchObject({ accountId: account.id, wallet: customer.account.address, escrow: { balance: (25n * ICNT).toString() } });
    // The same link posted again (a retried request) is the link that stands.
    expect((await walletApi(account, "POST", await linkRequest(customer.account, account.id))).status).toBe(201);
  });

  it("refuses a signature by another key, for another account, or for another escrow or chain", async () => {
    const account = await createAccountWithKey("wallet-forged");
    const wallet = privateKeyToAccount(generatePrivateKey());
    const intruder = privateKeyToAccount(generatePrivateKey());
    const byIntruder = { ...(await linkRequest(intruder, account.id)), address: wallet.address };
    const forOther = await linkRequest(wallet, "acc_someone_else");
    const otherEscrow = await linkRequest(wallet, account.id, { escrow: chainOf().icnt });
    const otherChain = await linkRequest(wallet, account.id, { chainId: 1 });
    for (const body of [byIntruder, forOther, otherEscrow, otherChain]) {
      const res = await walletApi(account, "POST", { ...body, address: wallet.address });
      expect(res.status).toBe(401);
      expect(await codeOf(res)).toBe("InvalidSignature");
    }
    expect(await (await walletApi(account, "GET")).json()).toMatchObject({ wallet: null, escrow: null });
  });

  it("refuses a link signed too long ago or too far ahead of the edge's clock", async () => {
    const account = await createAccountWithKey("wallet-stale");
    const wallet = privateKeyToAccount(generatePrivateKey());
    const now = Math.floor((await clockMs(env as unknown as Env)) / 1000);
    for (const issuedAt of [now - 601, now + 601]) {
      const res = await walletApi(account, "POST", await linkRequest(wallet, account.id, { issuedAt }));
      expect(res.status).toBe(400);
      expect(await codeOf(res)).toBe("StaleSignature");
    }
    expect((await walletApi(account, "POST", await linkRequest(wallet, account.id, { issuedAt: now - 590 }))).status).toBe(201);
  });

  it("answers bad input with the field that is wrong", async () => {
    const account = await createAccountWithKey("wallet-bad-input");
    const wallet = privateKeyToAccount(generatePrivateKey());
    const good = await linkRequest(wallet, account.id);
    for (const [body, path] of [
      [{ ...good, address: "0x1234" }, "address"],
      [{ ...good, issuedAt: "soon" }, "issuedAt"],
      [{ ...good, signature: "0xdead" }, "signature"],
      [{ ...good, extra: 1 }, ""],
    ] as const) {
      const res = await walletApi(account, "POST", body);
      expect(res.status).toBe(400);
      const error = (await res.json()) as { code: string; details: { path: string }[] };
      expect(error.code).toBe("ValidationError");
      expect(error.details.map((d) => d.path)).toContain(path);
    }
  });

  it("keeps one wallet per account and one account per wallet", async () => {
    const first = await createAccountWithKey("wallet-first");
    const second = await createAccountWithKey("wallet-second");
    const wallet = privateKeyToAccount(generatePrivateKey());
    const another = privateKeyToAccount(generatePrivateKey());
    expect((await walletApi(first, "POST", await linkRequest(wallet, first.id))).status).toBe(201);

    const taken = await walletApi(second, "POST", await linkRequest(wallet, second.id));
    expect(taken.status).toBe(409);
    expect(await codeOf(taken)).toBe("WalletLinkedElsewhere");
    const full = await walletApi(first, "POST", await linkRequest(another, first.id));
    expect(full.status).toBe(409);
    expect(await codeOf(full)).toBe("AccountHasWallet");

    // Unlinked, the wallet is free for the other account.
    const unlinked = await walletApi(first, "DELETE");
    expect(unlinked.status).toBe(200);
    expect(await unlinked.json()).toEqual({ accountId: first.id, unlinked: wallet.address });
    expect(await (await walletApi(first, "GET")).json()).toMatchObject({ wallet: null });
    expect(await codeOf(await walletApi(first, "DELETE"))).toBe("NoWalletLinked");
    expect((await walletApi(second, "POST", await linkRequest(wallet, second.id))).status).toBe(201);
  });

  it("answers only calls signed with one of the account's keys", async () => {
    for (const method of ["GET", "POST", "DELETE"]) {
      const ctx = createExecutionContext();
      const res = await worker.fetch(new Request(`${EDGE}/api/v1/account/wallet`, { method, body: method === "POST" ? "{}" : undefined }), chainEnv(), ctx);
      await waitOnExecutionContext(ctx);
      expect(res.status).toBe(403);
      expect(await codeOf(res)).toBe("AccessDenied");
    }
  });

  it("refuses to link without a chain: there is no escrow to prepay into", async () => {
    const account = await createAccountWithKey("wallet-no-chain");
    const wallet = privateKeyToAccount(generatePrivateKey());
    const res = await walletApi(account, "POST", await linkRequest(wallet, account.id), env as unknown as Env);
    expect(res.status).toBe(503);
    expect(await codeOf(res)).toBe("ChainNotConfigured");
  });
});
