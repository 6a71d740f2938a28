// `icn-node-agent --validator`: a HyperNode that audits nodes for the edge. No blob store, no HTTP server: it reads
// its operational key, holds a session with the edge's challenge coordinator, and challenges the nodes it is
// assigned. stdout carries exactly one line, {"event":"ready",...}, after the first login; logs go to stderr.

import { privateKeyToAccount } from "viem/accounts";
import { ConfigError } from "../config.ts";
import { createJsonLogger } from "../logger.ts";
import { parseValidatorConfig, VALIDATOR_USAGE, type ValidatorConfig } from "./config.ts";
import { TEST_FAULT_ENV } from "./test-faults.ts";
import { startValidator, type RunningValidator } from "./validator.ts";

/** Runs until SIGTERM/SIGINT (exit 0); exits 2 on bad flags. */
export async function runValidatorCommand(argv: string[]): Promise<void> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(VALIDATOR_USAGE);
    return;
  }
  let config: ValidatorConfig;
  try {
    config = parseValidatorConfig(argv, process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`icn-node-agent --validator: ${error.message}\n\n${VALIDATOR_USAGE}`);
    process.exit(2);
  }
  const log = createJsonLogger().child({ role: "validator" });
  const account = privateKeyToAccount(config.operationalKey);
  if (config.testFault !== undefined) log.warn("test_fault_enabled", { fault: config.testFault, env: TEST_FAULT_ENV, message: "this validator misbehaves on purpose" });
  log.info("validator_starting", { validator: config.validatorAddress, operator: account.address, edgeUrl: config.edgeUrl, dataDir: config.dataDir });

  let ready = false;
  let validator: RunningValidator;
  try {
    validator = await startValidator({
      edgeUrl: config.edgeUrl,
      validatorAddress: config.validatorAddress,
      account,
      dataDir: config.dataDir,
      maxConcurrentChallenges: config.maxConcurrentChallenges,
      testFault: config.testFault,
      log,
      onLoggedIn: () => {
        if (ready) return;
        ready = true;
        process.stdout.write(
          `${JSON.stringify({ event: "ready", role: "validator", validator: config.validatorAddress, operator: account.address, edgeUrl: config.edgeUrl })}\n`,
        );
      },
    });
  } catch (error) {
    log.error("fatal", { error, message: error instanceof Error ? error.message : String(error) });
    process.exit(1);
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("shutting_down", { signal });
    await validator.stop();
    log.info("stopped");
    process.exit(0);
  };
  for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => void shutdown(signal));
}
