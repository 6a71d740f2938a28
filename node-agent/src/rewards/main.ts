// The `rewards` command's program: parse, report or claim, print; exit 2 on bad flags, 1 on failure.

import { ConfigError } from "../config.ts";
import { parseRewardsConfig, REWARDS_USAGE, type RewardsConfig } from "./config.ts";
import { claimAll, formatIcnt, rewardsReport } from "./rewards.ts";

export async function runRewardsCommand(argv: string[]): Promise<void> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(REWARDS_USAGE);
    return;
  }
  let config: RewardsConfig;
  try {
    config = parseRewardsConfig(argv, process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`icn-node-agent rewards: ${error.message}\n\n${REWARDS_USAGE}`);
    process.exit(2);
  }
  try {
    if (config.command === "claim") {
      const sent = await claimAll({ ...config, walletKey: config.walletKey!, chainRpcUrl: config.chainRpcUrl! });
      if (config.json) process.stdout.write(`${JSON.stringify({ claimed: sent.map((s) => ({ ...s, amount: s.amount.toString() })) })}\n`);
      else if (sent.length === 0) process.stdout.write("Nothing to claim.\n");
      else for (const s of sent) process.stdout.write(`claimed ${formatIcnt(s.amount)} ICNT for ${s.period} in ${s.txHash}\n`);
      return;
    }
    const { report } = await rewardsReport(config);
    if (config.json) {
      process.stdout.write(
        `${JSON.stringify({
          address: report.address,
          unposted: report.unposted.toString(),
          claims: report.claims.map((c) => ({ period: c.period, amount: c.amount.toString(), claimed: c.claimed ?? null })),
        })}\n`,
      );
      return;
    }
    const status = (claimed: boolean | undefined) => (claimed === undefined ? "posted" : claimed ? "claimed" : "claimable");
    process.stdout.write(`Rewards of ${report.address}\n`);
    for (const c of report.claims) process.stdout.write(`  ${c.period.padEnd(18)} ${formatIcnt(c.amount).padStart(30)} ICNT  ${status(c.claimed)}\n`);
    const claimable = report.claims.filter((c) => c.claimed === false).reduce((sum, c) => sum + c.amount, 0n);
    process.stdout.write(`  claimable: ${formatIcnt(claimable)} ICNT${config.chainRpcUrl ? "" : " (give --chain-rpc-url to read what was claimed)"}\n`);
    process.stdout.write(`  pending (earned, not yet posted): ${formatIcnt(report.unposted)} ICNT\n`);
  } catch (error) {
    process.stderr.write(`icn-node-agent rewards: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
}
