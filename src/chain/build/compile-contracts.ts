// Compiles src/chain/contracts/*.sol with solc-js and writes typed TypeScript modules to src/chain/generated/:
// abis.ts (every ABI `as const`, which the Worker imports) and bytecode.ts (creation code, which only deploy
// scripts and tests import). Uniswap v2's audited build artifacts come from npm and are converted the same way.
// `npm start`, `npm test` and `npm run typecheck` run this first; the output is git-ignored, so a change to a
// .sol file can never ship with stale artifacts. A fingerprint of every input skips the work when nothing changed.
// Usage: node src/chain/build/compile-contracts.ts [--force]

import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, readdir, readFile, rename, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import solc from "solc";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const CONTRACTS_DIR = join(REPO_ROOT, "src/chain/contracts");
const GENERATED_DIR = join(REPO_ROOT, "src/chain/generated");
const FINGERPRINT_FILE = join(GENERATED_DIR, ".fingerprint");
const require = createRequire(import.meta.url);

/** Our contracts: source file → exported name prefix. */
const OWN_CONTRACTS = {
  AuditLog: "auditLog",
  ICNT: "icnt",
  NodeStaking: "nodeStaking",
  RewardsDistributor: "rewardsDistributor",
  ServiceEscrow: "serviceEscrow",
  TestUSDC: "testUsdc",
} as const;

/** Uniswap v2 artifacts as published (the pair's init-code hash must match Router02's, so never recompile them). */
const UNISWAP_ARTIFACTS = [
  { file: "@uniswap/v2-core/build/UniswapV2Factory.json", name: "uniswapV2Factory", deployable: true },
  { file: "@uniswap/v2-core/build/UniswapV2Pair.json", name: "uniswapV2Pair", deployable: false },
  { file: "@uniswap/v2-periphery/build/UniswapV2Router02.json", name: "uniswapV2Router02", deployable: true },
  { file: "@uniswap/v2-periphery/build/WETH9.json", name: "weth9", deployable: true },
] as const;

/** The packages whose files end up in the output; their versions are part of the fingerprint. */
const INPUT_PACKAGES = ["solc", "@openzeppelin/contracts", "@uniswap/v2-core", "@uniswap/v2-periphery"];

interface CompiledContract {
  name: string;
  abi: unknown[];
  bytecode: string | undefined;
}

interface SolcOutput {
  errors?: { severity: "error" | "warning" | "info"; formattedMessage: string; sourceLocation?: { file: string } }[];
  contracts?: Record<string, Record<string, { abi: unknown[]; evm: { bytecode: { object: string } } }>>;
}

async function readSources(): Promise<Record<string, { content: string }>> {
  const files = (await readdir(CONTRACTS_DIR)).filter((f) => f.endsWith(".sol")).sort();
  const sources: Record<string, { content: string }> = {};
  for (const file of files) sources[file] = { content: await readFile(join(CONTRACTS_DIR, file), "utf8") };
  for (const name of Object.keys(OWN_CONTRACTS)) {
    if (!sources[`${name}.sol`]) throw new Error(`src/chain/contracts/${name}.sol is missing`);
  }
  return sources;
}

async function fingerprintOf(sources: Record<string, { content: string }>): Promise<string> {
  const hash = createHash("sha256");
  hash.update(await readFile(fileURLToPath(import.meta.url)));
  for (const pkg of INPUT_PACKAGES) hash.update(`${pkg}@${(require(`${pkg}/package.json`) as { version: string }).version}\n`);
  for (const [file, { content }] of Object.entries(sources)) hash.update(`${file}\n${content}\n`);
  return hash.digest("hex");
}

/** Resolves `import "@openzeppelin/..."` from node_modules; solc asks for nothing else. */
function findImport(path: string): { contents: string } | { error: string } {
  try {
    return { contents: readFileSync(require.resolve(path), "utf8") };
  } catch {
    return { error: `cannot resolve import ${path} from node_modules` };
  }
}

function compileOwnContracts(sources: Record<string, { content: string }>): CompiledContract[] {
  const input = {
    language: "Solidity",
    sources,
    settings: {
      optimizer: { enabled: true, runs: 200 },
      // OpenZeppelin 5 uses mcopy (Cancun); anvil's default hardfork is newer still.
      evmVersion: "cancun",
      outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImport })) as SolcOutput;
  const problems = output.errors ?? [];
  // Warnings inside OpenZeppelin are theirs to fix; ours are printed.
  const ownWarnings = problems.filter((p) => p.severity === "warning" && !p.sourceLocation?.file.startsWith("@"));
  for (const warning of ownWarnings) process.stderr.write(warning.formattedMessage);
  const errors = problems.filter((p) => p.severity === "error");
  if (errors.length > 0) throw new Error(`solc failed:\n${errors.map((e) => e.formattedMessage).join("\n")}`);

  return Object.entries(OWN_CONTRACTS).map(([contract, name]) => {
    const compiled = output.contracts?.[`${contract}.sol`]?.[contract];
    if (!compiled) throw new Error(`solc produced no ${contract} in ${contract}.sol`);
    return { name, abi: compiled.abi, bytecode: `0x${compiled.evm.bytecode.object}` };
  });
}

async function loadUniswapArtifacts(): Promise<CompiledContract[]> {
  return Promise.all(
    UNISWAP_ARTIFACTS.map(async ({ file, name, deployable }) => {
      const artifact = JSON.parse(await readFile(require.resolve(file), "utf8")) as { abi: unknown[]; bytecode: string };
      const bytecode = artifact.bytecode.startsWith("0x") ? artifact.bytecode : `0x${artifact.bytecode}`;
      return { name, abi: artifact.abi, bytecode: deployable ? bytecode : undefined };
    }),
  );
}

const HEADER = "// Generated by src/chain/build/compile-contracts.ts; do not edit. Rebuilt by `npm run build:contracts`.\n";

function abisModule(contracts: CompiledContract[]): string {
  return HEADER + contracts.map((c) => `\nexport const ${c.name}Abi = ${JSON.stringify(c.abi, null, 2)} as const;\n`).join("");
}

function bytecodeModule(contracts: CompiledContract[]): string {
  return (
    HEADER +
    contracts
      .filter((c) => c.bytecode !== undefined)
      .map((c) => `\nexport const ${c.name}Bytecode = "${c.bytecode}" as const;\n`)
      .join("")
  );
}

async function writeAtomically(path: string, text: string): Promise<void> {
  await writeFile(`${path}.tmp`, text);
  await rename(`${path}.tmp`, path);
}

async function main(force: boolean): Promise<void> {
  const sources = await readSources();
  const fingerprint = await fingerprintOf(sources);
  const upToDate =
    !force &&
    existsSync(join(GENERATED_DIR, "abis.ts")) &&
    existsSync(join(GENERATED_DIR, "bytecode.ts")) &&
    (await readFile(FINGERPRINT_FILE, "utf8").catch(() => "")) === fingerprint;
  if (upToDate) return;

  const started = Date.now();
  const contracts = [...compileOwnContracts(sources), ...(await loadUniswapArtifacts())];
  await mkdir(GENERATED_DIR, { recursive: true });
  await writeAtomically(join(GENERATED_DIR, "abis.ts"), abisModule(contracts));
  await writeAtomically(join(GENERATED_DIR, "bytecode.ts"), bytecodeModule(contracts));
  await writeAtomically(FINGERPRINT_FILE, fingerprint);
  console.log(`compiled ${Object.keys(OWN_CONTRACTS).length} contracts with solc ${solc.version()} in ${Date.now() - started} ms`);
}

try {
  await main(process.argv.includes("--force"));
} catch (error) {
  console.error((error as Error).message);
  process.exit(1);
}
