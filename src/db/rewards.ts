// Queries over `reward_postings` and `reward_leaves`: what each period posted to RewardsDistributor, and each
// address's leaf with its proof (GET /api/v1/finance/claims/:address).

import { and, asc, eq, inArray } from "drizzle-orm";
import type { Db } from "./client.ts";
import type { Statement } from "./ledger.ts";
import { ledgerLines, rewardLeaves, rewardPostings } from "./schema.ts";

export type RewardPostingRow = typeof rewardPostings.$inferSelect;

export interface PostedLeaf {
  address: string;
  amount: bigint;
  proof: string[];
}

/** Rows per INSERT: 4 bound values each, within D1's 100 per statement. */
const LEAVES_PER_STATEMENT = 20;

/**
 * Records a posting and its leaves in one D1 batch, once: a second record of the same period changes nothing (the
 * posting's primary key fails the whole batch, which is then read back as already recorded).
 */
export async function recordRewardsPosting(db: Db, posting: RewardPostingRow, leaves: readonly PostedLeaf[]): Promise<void> {
  if (await getRewardsPosting(db, posting.periodId)) return;
  const statements: Statement[] = [db.insert(rewardPostings).values(posting)];
  for (let i = 0; i < leaves.length; i += LEAVES_PER_STATEMENT) {
    const rows = leaves.slice(i, i + LEAVES_PER_STATEMENT).map((l) => ({ periodId: posting.periodId, address: l.address.toLowerCase(), amount: l.amount.toString(), proof: JSON.stringify(l.proof) }));
    statements.push(db.insert(rewardLeaves).values(rows));
  }
  try {
    await db.batch(statements as [Statement, ...Statement[]]);
  } catch (error) {
    // A concurrent record of the same period got there first: what it wrote is the same posting.
    if (await getRewardsPosting(db, posting.periodId)) return;
    throw error;
  }
}

export async function getRewardsPosting(db: Db, periodId: string): Promise<RewardPostingRow | undefined> {
  return db.select().from(rewardPostings).where(eq(rewardPostings.periodId, periodId)).get();
}

export interface Claim {
  periodId: string;
  chainPeriod: string;
  amount: string;
  proof: string[];
  txHash: string;
}

/** An address's claims, oldest period first (one period when `periodId` is given). */
export async function claimsOf(db: Db, address: string, periodId?: string): Promise<Claim[]> {
  const rows = await db
    .select({ periodId: rewardLeaves.periodId, amount: rewardLeaves.amount, proof: rewardLeaves.proof, chainPeriod: rewardPostings.chainPeriod, txHash: rewardPostings.txHash })
    .from(rewardLeaves)
    .innerJoin(rewardPostings, eq(rewardPostings.periodId, rewardLeaves.periodId))
    .where(and(eq(rewardLeaves.address, address.toLowerCase()), periodId === undefined ? undefined : eq(rewardLeaves.periodId, periodId)))
    .orderBy(asc(rewardLeaves.periodId))
    .all();
  return rows.map((r) => ({ ...r, proof: JSON.parse(r.proof) as string[] }));
}

/**
 * ICNT an address has earned that no posted period pays yet: the credit balance of its operator and validator
 * payables (the split credits them, funding a period's distributor debits them).
 */
export async function unpostedEarnings(db: Db, address: string): Promise<bigint> {
  const rows = await db
    .select({ side: ledgerLines.side, amount: ledgerLines.amount })
    .from(ledgerLines)
    .where(and(inArray(ledgerLines.account, ["operator_payables", "validator_payables"]), eq(ledgerLines.subaccount, address.toLowerCase()), eq(ledgerLines.currency, "ICNT")))
    .all();
  return rows.reduce((sum, r) => (r.side === "credit" ? sum + BigInt(r.amount) : sum - BigInt(r.amount)), 0n);
}
