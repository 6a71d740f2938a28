// The edge Worker as production runs it, locally: the bundled Worker (edge-bundle.ts) in workerd through
// Miniflare's API, with the bindings wrangler.toml declares (D1, the SQLite Durable Objects, the [[ratelimits]],
// vars) and no hot-reload proxy in the request path. `wrangler dev` puts its own proxy Worker, in a second workerd
// process, in front of every request (../shared/TOOLCHAIN.md); here a client's request reaches workerd's socket and
// Miniflare's entry worker hands it to the Worker inside the same process.
//
// A program of its own, started by the launcher (edge-process.ts) in its own process group, so that stopping the
// group stops workerd too, whatever state this Node process is in. It needs Node >= 22 (wrangler's API).
//   node edge-runtime.ts --config FILE [--env-file FILE]...
// FILE (JSON, see RuntimeConfig) holds public settings only; each --env-file is a `.dev.vars`-format file of
// secrets (0600, secrets.ts), later files winning, read here: a secret never goes on a command line.
// Prints one JSON line `{"event":"edge-ready","url":…}` on stdout once the Worker answers (after D1 migrations).

import { createRequire } from "node:module";
import { readFile } from "node:fs/promises";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import type { Miniflare as MiniflareClass, Log as LogClass, LogLevel as LogLevelEnum } from "miniflare";
import { z } from "zod";
import { applyD1Migrations, type D1Database } from "./d1-migrations.ts";
import { REPO_ROOT } from "./paths.ts";
import { readSecretsFile } from "./secrets.ts";

export const RuntimeConfig = z.object({
  /** The Worker's name (Durable Object storage is keyed by it, `<name>-<Class>`); default wrangler.toml's `name`. */
  name: z.string().optional(),
  /** The bundled Worker, an ES module (edge-bundle.ts). */
  scriptPath: z.string(),
  /** wrangler.toml whose bindings, vars, compatibility date and flags the Worker gets; absent: none (a bare Worker). */
  wranglerConfig: z.string().optional(),
  /** Only without wranglerConfig. */
  compatibilityDate: z.string().optional(),
  port: z.number().int().min(0).max(65535),
  /**
   * Where D1, Durable Object and cache state live, as `wrangler dev --persist-to DIR` lays it out (DIR/v3/d1,
   * DIR/v3/do/<name>-<Class>, …): a network the previous release started under wrangler dev reads its own files,
   * and `wrangler d1 execute DB --local --persist-to DIR` inspects a running network's. Absent: a temp dir.
   */
  persistDir: z.string().optional(),
  /** Public vars over wrangler.toml's [vars] (e.g. a test's shorter windows). */
  vars: z.record(z.string(), z.string()).default({}),
  /** D1 migrations to apply to the DB binding before the Worker is announced ready. */
  migrationsDir: z.string().optional(),
});
export type RuntimeConfig = z.infer<typeof RuntimeConfig>;

/**
 * The Miniflare that wrangler itself depends on (wrangler 4.164: miniflare 5 beta and its workerd), so that
 * `npm start`, `npm run dev` and the D1/Durable Object files both write agree on one runtime and one storage
 * layout. The copy at the project root belongs to the vitest plugin and moves with it.
 */
function wranglerMiniflare(): { Miniflare: typeof MiniflareClass; Log: typeof LogClass; LogLevel: typeof LogLevelEnum; convertV4MiniflareOptions: (o: unknown) => ConstructorParameters<typeof MiniflareClass>[0] } {
  const fromWrangler = createRequire(join(REPO_ROOT, "node_modules/wrangler/package.json"));
  return fromWrangler("miniflare");
}

function wranglerApi(): {
  unstable_getMiniflareWorkerOptions(configPath: string): { workerOptions: Record<string, unknown> & { bindings?: Record<string, unknown> } };
  unstable_readConfig(args: { config: string }): { name?: string };
} {
  return createRequire(join(REPO_ROOT, "package.json"))("wrangler");
}

export async function startEdgeRuntime(config: RuntimeConfig, secretFiles: string[]): Promise<MiniflareClass> {
  const { Miniflare, Log, LogLevel, convertV4MiniflareOptions } = wranglerMiniflare();
  const secrets: Record<string, string> = {};
  for (const file of secretFiles) Object.assign(secrets, await readSecretsFile(file));
  // The bundle is one module: wrangler's rules for finding more (modulesRules) do not apply to it.
  const { modulesRules: _rules, ...fromToml } = config.wranglerConfig
    ? wranglerApi().unstable_getMiniflareWorkerOptions(config.wranglerConfig).workerOptions
    : { compatibilityDate: config.compatibilityDate };
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      host: "127.0.0.1",
      port: config.port,
      // Warnings and errors only; the Worker's own console output is printed whatever the level.
      log: new Log(LogLevel.WARN),
      // No request to Cloudflare for a sample Request.cf.
      cf: false,
      // The cron trigger endpoint (/cdn-cgi/local/scheduled) on this port: the launcher's dispatcher fires the
      // scheduled handler through it (cron-dispatcher.ts); the front proxy never passes /cdn-cgi/ (edge-front.ts).
      unsafeTriggerHandlers: true,
      // wrangler dev's own mapping of --persist-to (its getDefaultPersistRoot): DIR/v3.
      resourcePersistencePath: config.persistDir === undefined ? undefined : join(config.persistDir, "v3"),
      ...fromToml,
      name: config.name ?? (config.wranglerConfig ? wranglerApi().unstable_readConfig({ config: config.wranglerConfig }).name : undefined) ?? "worker",
      // The bundle's own module plus the WebAssembly modules it imports (wrangler writes them beside it, as it
      // uploads them: Workers compile no WebAssembly from bytes at run time).
      modules: [{ type: "ESModule", path: config.scriptPath }, ...wasmModulesBeside(config.scriptPath)],
      // Module names are paths relative to this root; the bundle may live outside the repo (a temp dir).
      modulesRoot: dirname(config.scriptPath),
      // Secrets last: what the secret files say wins, as wrangler's --env-file over [vars].
      bindings: { ...(fromToml as { bindings?: Record<string, unknown> }).bindings, ...config.vars, ...secrets },
    }),
  );
  const url = await mf.ready;
  if (config.migrationsDir) await applyD1Migrations((await mf.getD1Database("DB")) as unknown as D1Database, config.migrationsDir);
  return Object.assign(mf, { readyUrl: url });
}

function wasmModulesBeside(scriptPath: string): { type: "CompiledWasm"; path: string }[] {
  return readdirSync(dirname(scriptPath))
    .filter((f) => f.endsWith(".wasm"))
    .map((f) => ({ type: "CompiledWasm" as const, path: join(dirname(scriptPath), f) }));
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { config: { type: "string" }, "env-file": { type: "string", multiple: true } } });
  if (!values.config) throw new Error("usage: edge-runtime.ts --config FILE [--env-file FILE]...");
  const config = RuntimeConfig.parse(JSON.parse(await readFile(values.config, "utf8")));
  const mf = (await startEdgeRuntime(config, values["env-file"] ?? [])) as MiniflareClass & { readyUrl: URL };
  let disposing = false;
  const stop = () => {
    if (disposing) return;
    disposing = true;
    // Disposing stops workerd; the launcher SIGKILLs the whole group if this takes too long.
    void mf.dispose().finally(() => process.exit(0));
  };
  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.on(signal, stop);
  process.stdout.write(`${JSON.stringify({ event: "edge-ready", url: mf.readyUrl.origin })}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error: unknown) => {
    process.stderr.write(`edge runtime failed: ${(error as Error).stack ?? error}\n`);
    process.exit(1);
  });
}
