// Queries over the wallets accounts link for prepaid ICNT (`account_wallets`): one wallet per account, each wallet
// linked to at most one account, both enforced by the table's keys so two concurrent links cannot both win.

import { eq, inArray } from "drizzle-orm";
import type { Db } from "./client.ts";
import { accountWallets } from "./schema.ts";

export type AccountWalletRow = typeof accountWallets.$inferSelect;

export async function getAccountWallet(db: Db, accountId: string): Promise<AccountWalletRow | undefined> {
  return db.select().from(accountWallets).where(eq(accountWallets.accountId, accountId)).get();
}

export async function getWalletLink(db: Db, wallet: string): Promise<AccountWalletRow | undefined> {
  return db.select().from(accountWallets).where(eq(accountWallets.wallet, wallet.toLowerCase())).get();
}

/** The linked wallet of each of `accountIds` that has one. */
export async function walletsOfAccounts(db: Db, accountIds: readonly string[]): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  // D1 binds at most 100 parameters per statement.
  for (let i = 0; i < accountIds.length; i += 90) {
    const rows = await db.select().from(accountWallets).where(inArray(accountWallets.accountId, accountIds.slice(i, i + 90))).all();
    for (const r of rows) found.set(r.accountId, r.wallet);
  }
  return found;
}

export type LinkWalletOutcome = { linked: AccountWalletRow } | { conflict: "account-has-wallet" | "wallet-linked-elsewhere"; existing: AccountWalletRow };

/**
 * Links `wallet` to the account unless either is linked already. Linking the same pair again is not a conflict
 * (a retried request): the first link stands.
 */
export async function linkWallet(db: Db, row: AccountWalletRow): Promise<LinkWalletOutcome> {
  const wallet = row.wallet.toLowerCase();
  await db
    .insert(accountWallets)
    .values({ ...row, wallet })
    .onConflictDoNothing();
  const mine = await getAccountWallet(db, row.accountId);
  if (mine && mine.wallet === wallet) return { linked: mine };
  if (mine) return { conflict: "account-has-wallet", existing: mine };
  const other = await getWalletLink(db, wallet);
  if (other) return { conflict: "wallet-linked-elsewhere", existing: other };
  // Neither key conflicted, yet nothing is there: unlinked in between. The caller may simply retry.
  throw new Error(`linking ${wallet} to ${row.accountId} raced with an unlink`);
}

/** Unlinks the account's wallet; the row it removed, if any. */
export async function unlinkWallet(db: Db, accountId: string): Promise<AccountWalletRow | undefined> {
  return db.delete(accountWallets).where(eq(accountWallets.accountId, accountId)).returning().get();
}
