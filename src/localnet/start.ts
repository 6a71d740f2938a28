// `npm start`: runs the whole ICN Edge network locally until Ctrl-C, and prints how to use it.
// Usage: npm start [-- --nodes N] [--validators N]     (default 6 nodes in three zones, two per zone: enough for a
// 4+2 erasure code that survives any two nodes or one whole zone going away; 4 validators, at most 8)     Edge port: ICN_EDGE_PORT (default 8787); chain RPC port: ICN_CHAIN_PORT (8545);
// state: ICN_STATE_DIR (default .icn/ in the repo, secrets in the repo's .dev.vars; with ICN_STATE_DIR, the secrets
// file is ICN_STATE_DIR/dev.vars, so a second network never touches the first one's files).

import { join, resolve } from "node:path";
import { DEFAULT_BLOCK_TIME_SECONDS, DEFAULT_LOCAL_VALIDATORS, MAX_LOCAL_VALIDATORS } from "./chain.ts";
import { killAllChildrenNow } from "./children.ts";
import { LocalNetwork } from "./network.ts";
import { REPO_ROOT } from "./paths.ts";

/** Six nodes, placed round-robin over network.ts's three ZONES. */
const DEFAULT_NODES = 6;

const USAGE = "usage: npm start [-- --nodes N] [--validators N]";

function parseArgs(argv: string[]): { nodes: number; validators: number } {
  let nodes = DEFAULT_NODES;
  let validators = DEFAULT_LOCAL_VALIDATORS;
  const integerArg = (name: string, i: number, min: number, max: number): { value: number; next: number } => {
    const arg = argv[i]!;
    const next = arg.includes("=") ? i : i + 1;
    const value = Number(arg.includes("=") ? arg.split("=")[1] : argv[next]);
    if (!Number.isInteger(value) || value < min || value > max) {
      console.error(`${name} must be an integer between ${min} and ${max}`);
      process.exit(2);
    }
    return { value, next };
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--nodes" || arg.startsWith("--nodes=")) {
      ({ value: nodes, next: i } = integerArg("--nodes", i, 1, 64));
    } else if (arg === "--validators" || arg.startsWith("--validators=")) {
      ({ value: validators, next: i } = integerArg("--validators", i, 0, MAX_LOCAL_VALIDATORS));
    } else {
      console.error(`unknown argument ${arg}\n${USAGE}`);
      process.exit(2);
    }
  }
  return { nodes, validators };
}

const { nodes, validators } = parseArgs(process.argv.slice(2));
const edgePort = Number(process.env.ICN_EDGE_PORT ?? 8787);
const stateDir = process.env.ICN_STATE_DIR ? resolve(process.env.ICN_STATE_DIR) : undefined;
const network = new LocalNetwork({
  stateDir: stateDir ?? join(REPO_ROOT, ".icn"),
  secretsFile: stateDir ? join(stateDir, "dev.vars") : join(REPO_ROOT, ".dev.vars"),
  edgePort,
  nodeCount: nodes,
  validatorCount: validators,
  chainPort: Number(process.env.ICN_CHAIN_PORT ?? 8545),
});

// The first Ctrl-C (or SIGTERM/SIGHUP) stops the network, which takes seconds at most; a second one kills every
// child at once and exits. Whatever ends this process otherwise (an uncaught error included), the children are
// SIGKILLed on its way out (children.ts), so none keeps running or holds a port.
let stopping = false;
async function shutdown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    console.log("\nstopping the network… (Ctrl-C again to kill it now)");
    await network.stop().catch((error: unknown) => console.error(`stopping the network failed: ${(error as Error).stack ?? error}`));
  }
  process.exit(code);
}
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(signal, () => {
    if (!stopping) return void shutdown(0);
    killAllChildrenNow();
    process.exit(130);
  });
}

try {
  const d = await network.start();
  const a = d.accounts.default;
  console.log(`
ICN Edge is running.

  S3 endpoint     ${d.edgeUrl}   (region ${d.region}, path-style or <bucket>.localhost)
  Access key      ${a.accessKeyId}
  Secret key      ${a.secretAccessKey}
  Second account  ${d.accounts.second.accessKeyId} / ${d.accounts.second.secretAccessKey}
  Admin token     ${d.adminToken}
  Nodes           ${d.nodes.map((n) => `${n.id} (${n.zone}) ${n.url}`).join("\n                  ")}
  Chain           ${d.chain.rpcUrl} (chain id ${d.chain.chainId}): ICNT ${d.chain.contracts.icnt}
                  NodeStaking ${d.chain.contracts.nodeStaking}, ICNT/USDC pool ${d.chain.contracts.icntUsdcPair}
                  AuditLog ${d.chain.contracts.auditLog}, a block every ${DEFAULT_BLOCK_TIME_SECONDS} s
  Validators      ${d.chain.validators.map((v) => `${v.address} (signs as ${v.operationalAddress})`).join("\n                  ") || "none"}
  Assignments     signed by ${d.assignmentSigner}
  Finance token   ${d.finance.token}   (the payment webhook's secret is finance.webhookSecret in network.json)
  Described in    ${network.networkFile}

Try it:
  export AWS_ACCESS_KEY_ID=${a.accessKeyId} AWS_SECRET_ACCESS_KEY=${a.secretAccessKey} AWS_DEFAULT_REGION=${d.region}
  aws --endpoint-url ${d.edgeUrl} s3 mb s3://demo
  aws --endpoint-url ${d.edgeUrl} s3 cp ./some-file s3://demo/
  aws --endpoint-url ${d.edgeUrl} s3 ls s3://demo/

Ctrl-C stops every process this started. Data stays in ${stateDir ?? ".icn/"} for the next start.`);
} catch (error) {
  console.error(`failed to start the network: ${(error as Error).stack ?? error}`);
  await shutdown(1);
}
