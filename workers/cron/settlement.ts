// Chore: settlement (src/services/settlement.ts). On its own hourly trigger, half past the hour, and on demand
// through POST /api/v1/admin/chores/settlement/run: closes every period that has ended and is not closed yet, one
// recorded step at a time, under the ProtocolTransactions lease (a concurrent run reports that it skipped).

import type { Env } from "../../src/env.ts";
import { settleEndedPeriods, type SettlementReport } from "../../src/services/settlement/run.ts";

/** Half past every hour (UTC): a period that ended is closed within the hour. wrangler.toml lists it. */
export const SETTLEMENT_CRON = "30 * * * *";

export async function runOnce(env: Env, now: Date): Promise<SettlementReport> {
  return settleEndedPeriods(env, now);
}
