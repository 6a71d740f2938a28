// The account's prepay wallet (/api/v1/account/wallet, issue 17): an account links one wallet by proving control of
// it (an EIP-712 LinkWallet signature, src/protocol/wallet-link.ts), deposits ICNT for it into ServiceEscrow, and
// settlement draws each period's invoice from that balance (src/services/escrow-draws.ts); what the balance cannot
// cover is invoiced in fiat. Signed with AWS SigV4 and one of the account's unrestricted keys, service "iam", as the
// other account routes (src/api/account-auth.ts).
//
//   POST   { address, issuedAt, signature }   links the wallet (409 when the account has another one, or the wallet
//                                             is linked to another account)
//   GET                                       the wallet and its escrow balance and pending withdrawal
//   DELETE                                    unlinks it: later periods are invoiced in fiat; the ICNT stays in the
//                                             escrow under the wallet, which withdraws it as always

import { Hono } from "hono";
import { getAddress, verifyTypedData, type Address } from "viem";
import { readEscrowAccount } from "../chain/escrow.ts";
import { edgeChain, type EdgeChain } from "../chain/edge-chain.ts";
import { clockMs } from "../clock.ts";
import { openDb } from "../db/client.ts";
import { getAccountWallet, linkWallet, unlinkWallet, type AccountWalletRow } from "../db/wallets.ts";
import type { Env } from "../env.ts";
import { linkWalletRequestSchema, WALLET_LINK_WINDOW_SECONDS, walletLinkTypedData, type AccountWalletView } from "../protocol/wallet-link.ts";
import { accountAuthentication, type AuthenticatedAccount } from "./account-auth.ts";
import { ACCOUNT_SIGV4_SERVICE } from "./access-keys.ts";
import { ApiError } from "./errors.ts";
import { parseJsonText } from "./guards/json-body.ts";

export const accountWalletApi = new Hono<{ Bindings: Env; Variables: { caller: AuthenticatedAccount } }>();

accountWalletApi.use("*", accountAuthentication(ACCOUNT_SIGV4_SERVICE));

function requireChain(env: Env): EdgeChain {
  const chain = edgeChain(env);
  if (!chain) throw new ApiError(503, "ChainNotConfigured", "CHAIN_RPC_URL is not set: this edge has no escrow to prepay into.");
  return chain;
}

async function walletView(chain: EdgeChain | undefined, accountId: string, row: AccountWalletRow | undefined): Promise<AccountWalletView> {
  if (!row) return { accountId, wallet: null, linkedAt: null, escrow: null };
  const view = { accountId, wallet: getAddress(row.wallet), linkedAt: new Date(row.linkedAt).toISOString() };
  if (!chain) return { ...view, escrow: null };
  const escrow = chain.config.contracts.serviceEscrow;
  const a = await readEscrowAccount(chain.client, { escrow, customer: row.wallet as Address });
  return {
    ...view,
    escrow: {
      address: escrow,
      balance: a.balance.toString(),
      withdrawal: a.withdrawal && { amount: a.withdrawal.amount.toString(), period: a.withdrawal.period.toString(), withdrawable: a.withdrawal.withdrawable.toString() },
      lastSettledPeriod: a.lastSettledPeriod.toString(),
    },
  };
}

accountWalletApi.post("/", async (c) => {
  const { accountId, body } = c.get("caller");
  const request = parseJsonText(body, linkWalletRequestSchema);
  const chain = requireChain(c.env);
  const now = await clockMs(c.env);
  // Checked in Storj's order: cheap guards (the window), then the signature.
  if (Math.abs(request.issuedAt * 1000 - now) > WALLET_LINK_WINDOW_SECONDS * 1000) {
    throw new ApiError(400, "StaleSignature", `issuedAt must be within ${WALLET_LINK_WINDOW_SECONDS} s of the edge's clock (${Math.floor(now / 1000)}); sign a new link.`, {
      issuedAt: request.issuedAt,
      now: Math.floor(now / 1000),
    });
  }
  const wallet = getAddress(request.address);
  const typed = walletLinkTypedData({ chainId: chain.config.chainId, serviceEscrow: chain.config.contracts.serviceEscrow, accountId, wallet, issuedAt: request.issuedAt });
  let valid: boolean;
  try {
    valid = await verifyTypedData({ ...typed, address: wallet, signature: request.signature as `0x${string}` });
  } catch {
    valid = false;
  }
  if (!valid) throw new ApiError(401, "InvalidSignature", `The signature is not ${wallet}'s EIP-712 LinkWallet signature for account ${accountId} on this edge's chain and escrow.`);

  const db = openDb(c.env.DB);
  const outcome = await linkWallet(db, { accountId, wallet, signature: request.signature, issuedAt: request.issuedAt, linkedAt: now });
  if ("conflict" in outcome) {
    if (outcome.conflict === "account-has-wallet") {
      throw new ApiError(409, "AccountHasWallet", `The account already has wallet ${getAddress(outcome.existing.wallet)} linked; unlink it first.`);
    }
    throw new ApiError(409, "WalletLinkedElsewhere", `Wallet ${wallet} is linked to another account.`);
  }
  return c.json(await walletView(chain, accountId, outcome.linked), 201);
});

accountWalletApi.get("/", async (c) => {
  const { accountId } = c.get("caller");
  const row = await getAccountWallet(openDb(c.env.DB), accountId);
  return c.json(await walletView(edgeChain(c.env), accountId, row));
});

/**
 * Unlinks at once, whatever the period: usage not yet settled is then invoiced in fiat (settlement draws only from
 * a wallet linked when it runs), and the ICNT already deposited stays the wallet's to withdraw.
 */
accountWalletApi.delete("/", async (c) => {
  const { accountId } = c.get("caller");
  const removed = await unlinkWallet(openDb(c.env.DB), accountId);
  if (!removed) throw new ApiError(404, "NoWalletLinked", "The account has no wallet linked.");
  return c.json({ accountId, unlinked: getAddress(removed.wallet) });
});
