// Chore: stores an observation of the buyback pool's price accumulators every POOL_OBSERVATION_INTERVAL_SECONDS
// (on the every-minute tick). Settlement's buyback measures the TWAP from one of these to the pool as it is when it
// swaps, so the window's start is a reading taken long before, not something the swap's own block can move.
// Observations older than a day beyond the longest window are pruned.

import { configOf } from "../../src/config.ts";
import { readPoolState } from "../../src/chain/amm.ts";
import { edgeChain } from "../../src/chain/edge-chain.ts";
import { openDb } from "../../src/db/client.ts";
import { lastPoolObservationAt, prunePoolObservations, recordPoolObservation } from "../../src/db/pool-observations.ts";
import type { Env } from "../../src/env.ts";

export interface PoolObserverReport {
  chore: "pool-observer";
  /** Why nothing was read: no chain or no market configured, or the last observation is recent enough. */
  skipped?: "no market" | "recent";
  observed?: { timestamp: string; blockNumber: string };
}

export async function runOnce(env: Env, now: Date): Promise<PoolObserverReport> {
  const chain = edgeChain(env);
  const market = chain?.config.market;
  if (!chain || !market) return { chore: "pool-observer", skipped: "no market" };
  const db = openDb(env.DB);
  const settlement = configOf(env).finance.settlement;
  const last = await lastPoolObservationAt(db, market.pair);
  if (last !== undefined && now.getTime() - last < settlement.poolObservationIntervalMs) return { chore: "pool-observer", skipped: "recent" };
  const state = await readPoolState(chain.client, { ...market, icnt: chain.config.contracts.icnt });
  await recordPoolObservation(db, market.pair, state.observation, state.blockNumber, now.getTime());
  await prunePoolObservations(db, market.pair, state.observation.timestamp - settlement.buyback.minWindowSeconds - 86_400n);
  return { chore: "pool-observer", observed: { timestamp: state.observation.timestamp.toString(), blockNumber: state.blockNumber.toString() } };
}
