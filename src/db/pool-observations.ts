// The buyback pool's stored price observations (table pool_observations): written by the every-minute tick
// (src/services/pool-observer.ts), read by settlement's buyback as the start of its TWAP window.

import { and, desc, eq, lt, lte } from "drizzle-orm";
import type { Address } from "viem";
import type { PriceObservation } from "../chain/amm.ts";
import type { Db } from "./client.ts";
import { poolObservations } from "./schema.ts";

type Row = typeof poolObservations.$inferSelect;

function observationOf(row: Row): PriceObservation {
  return { timestamp: BigInt(row.timestamp), price0Cumulative: BigInt(row.price0Cumulative), price1Cumulative: BigInt(row.price1Cumulative), token0: row.token0 as Address };
}

/** Stores an observation; a second one at the same chain time changes nothing. */
export async function recordPoolObservation(db: Db, pair: Address, o: PriceObservation, blockNumber: bigint, now: number): Promise<void> {
  await db
    .insert(poolObservations)
    .values({
      pair: pair.toLowerCase(),
      timestamp: Number(o.timestamp),
      price0Cumulative: o.price0Cumulative.toString(),
      price1Cumulative: o.price1Cumulative.toString(),
      token0: o.token0,
      blockNumber: Number(blockNumber),
      observedAt: now,
    })
    .onConflictDoNothing();
}

/** When the newest observation of `pair` was stored (the edge's clock), or undefined. */
export async function lastPoolObservationAt(db: Db, pair: Address): Promise<number | undefined> {
  const row = await db.select({ at: poolObservations.observedAt }).from(poolObservations).where(eq(poolObservations.pair, pair.toLowerCase())).orderBy(desc(poolObservations.observedAt)).limit(1).get();
  return row?.at;
}

/** The newest observation taken at or before chain time `notAfter`: the longest-ago start a window may need is the caller's bound. */
export async function poolObservationAtOrBefore(db: Db, pair: Address, notAfter: bigint): Promise<PriceObservation | undefined> {
  const row = await db
    .select()
    .from(poolObservations)
    .where(and(eq(poolObservations.pair, pair.toLowerCase()), lte(poolObservations.timestamp, Number(notAfter))))
    .orderBy(desc(poolObservations.timestamp))
    .limit(1)
    .get();
  return row && observationOf(row);
}

/** Drops observations older than chain time `before` (a window never reaches that far back). */
export async function prunePoolObservations(db: Db, pair: Address, before: bigint): Promise<void> {
  await db.delete(poolObservations).where(and(eq(poolObservations.pair, pair.toLowerCase()), lt(poolObservations.timestamp, Number(before))));
}
