// Linking a wallet to a customer account (prepaid ICNT, issue 17): the wallet signs this EIP-712 message
// (https://eips.ethereum.org/EIPS/eip-712) and the account posts it to POST /api/v1/account/wallet. The domain's
// verifyingContract is the edge's ServiceEscrow and its chainId the edge's chain, so a link signed for one network's
// escrow is refused by every other; accountId binds it to one account and issuedAt to a short window of the edge's
// clock. Shared by the edge, customer scripts and the node-agent: no runtime-specific imports.

import { z } from "zod";

export const WALLET_LINK_DOMAIN_NAME = "ICN Edge";
export const WALLET_LINK_DOMAIN_VERSION = "1";

/** How far issuedAt may be from the edge's clock, either way (seconds): a signature is a login, not a standing grant. */
export const WALLET_LINK_WINDOW_SECONDS = 600;

export const walletLinkTypes = {
  LinkWallet: [
    { name: "accountId", type: "string" },
    { name: "wallet", type: "address" },
    { name: "issuedAt", type: "uint256" },
  ],
} as const;

export function walletLinkDomain(chainId: number, serviceEscrow: `0x${string}`) {
  return { name: WALLET_LINK_DOMAIN_NAME, version: WALLET_LINK_DOMAIN_VERSION, chainId, verifyingContract: serviceEscrow } as const;
}

/** Everything a wallet signs to link itself to `accountId`, ready for viem's signTypedData / verifyTypedData. */
export function walletLinkTypedData(p: { chainId: number; serviceEscrow: `0x${string}`; accountId: string; wallet: `0x${string}`; issuedAt: number }) {
  return {
    domain: walletLinkDomain(p.chainId, p.serviceEscrow),
    types: walletLinkTypes,
    primaryType: "LinkWallet" as const,
    message: { accountId: p.accountId, wallet: p.wallet, issuedAt: BigInt(p.issuedAt) },
  };
}

const addressSchema = z.string().regex(/^0x[0-9a-fA-F]{40}$/, "must be a 0x-prefixed 20-byte address");

/** POST /api/v1/account/wallet */
export const linkWalletRequestSchema = z
  .object({
    address: addressSchema,
    /** Unix seconds when the wallet signed; within WALLET_LINK_WINDOW_SECONDS of the edge's clock. */
    issuedAt: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
    /** The EIP-712 signature of walletLinkTypedData by `address`: 65 bytes (r, s, v) of the wallet's own key. */
    signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/, "must be a 0x-prefixed 65-byte signature"),
  })
  .strict();
export type LinkWalletRequest = z.infer<typeof linkWalletRequestSchema>;

/** GET /api/v1/account/wallet (and the answer to a link): amounts are decimal strings of ICNT base units. */
export interface AccountWalletView {
  accountId: string;
  /** Checksummed; null when no wallet is linked. */
  wallet: string | null;
  linkedAt: string | null;
  escrow: {
    address: string;
    balance: string;
    /** The pending withdrawal request: `period` is the settlement period it waits for. */
    withdrawal: { amount: string; period: string; withdrawable: string } | null;
    lastSettledPeriod: string;
  } | null;
}
