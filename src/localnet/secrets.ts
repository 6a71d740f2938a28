// The edge's secrets on disk: `.dev.vars`-format files (NAME=value lines) readable only by their owner. The edge
// runtime (edge-runtime.ts) and `wrangler dev` read them through `--env-file`: a command line is readable by every local user (/proc/<pid>/cmdline), so a
// secret never goes there (https://developers.cloudflare.com/workers/local-development/environment-variables/).

import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { generatePrivateKey } from "viem/accounts";

export interface Secrets {
  ADMIN_TOKEN: string;
  KEY_ENCRYPTION_KEY: string;
  MASTER_KEYS: string;
  /**
   * 0x-hex private key that signs challenge assignments: the edge's own, fresh per network and never a chain
   * account's (it sends no transactions; PROTOCOL_SIGNER_KEY does, from chain.dev.vars).
   */
  AUDIT_SIGNER_KEY: string;
  /** Bearer token of the finance role (/api/v1/finance/*), separate from ADMIN_TOKEN. */
  FINANCE_TOKEN: string;
  /** The payment webhook's signing secret (what the provider would be given), `whsec_` and 32 random bytes in hex. */
  FINANCE_WEBHOOK_SECRET: string;
}

/** Reads the secrets file, adds any secret it lacks, and leaves it readable by its owner only. */
export async function loadOrCreateSecrets(file: string): Promise<Secrets> {
  const existing = existsSync(file) ? parseDevVars(await readFile(file, "utf8")) : {};
  const secrets: Secrets = {
    ADMIN_TOKEN: existing.ADMIN_TOKEN ?? randomBytes(24).toString("hex"),
    KEY_ENCRYPTION_KEY: existing.KEY_ENCRYPTION_KEY ?? randomBytes(32).toString("base64"),
    // The master-key ring of edge encryption: newest first; rotate by prepending a key (README, Encryption).
    MASTER_KEYS: existing.MASTER_KEYS ?? `k1:${randomBytes(32).toString("base64")}`,
    AUDIT_SIGNER_KEY: existing.AUDIT_SIGNER_KEY ?? generatePrivateKey(),
    FINANCE_TOKEN: existing.FINANCE_TOKEN ?? randomBytes(24).toString("hex"),
    FINANCE_WEBHOOK_SECRET: existing.FINANCE_WEBHOOK_SECRET ?? `whsec_${randomBytes(32).toString("hex")}`,
  };
  if (Object.keys(secrets).some((name) => existing[name] === undefined)) await writeSecrets(file, { ...existing, ...secrets });
  // A file the operator wrote by hand may be readable by everyone; the secrets in it are about to be used.
  else await chmod(file, 0o600);
  return secrets;
}

/** Sets `secrets` in the file (keeping its other lines), mode 0600. */
export async function writeSecrets(file: string, secrets: Record<string, string>): Promise<void> {
  const existing = existsSync(file) ? parseDevVars(await readFile(file, "utf8")) : {};
  const text = Object.entries({ ...existing, ...secrets }).map(([name, value]) => `${name}=${devVarsValue(name, value)}\n`).join("");
  await writePrivateFile(file, text);
}

/** Writes `text` to `file` readable and writable by its owner only, whatever mode an earlier file had. */
export async function writePrivateFile(file: string, text: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  // Written beside and renamed over: a reader (a script polling network.json) never sees half a file, and two
  // writes in flight cannot interleave into one file with the tail of the longer.
  const partial = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.partial`;
  // `mode` applies only when the file is created, hence the chmod.
  await writeFile(partial, text, { mode: 0o600 });
  await chmod(partial, 0o600);
  await rename(partial, file);
}

/**
 * A value as it can stand unquoted in a file both this module and wrangler's dotenv parser read: dotenv cuts a
 * value at `#`, expands `$NAME` and reads quotes; none of the generated secrets (hex, base64) hold one.
 */
function devVarsValue(name: string, value: string): string {
  if (/[\r\n#$"'`\\]/.test(value)) throw new Error(`secret ${name} holds a character a .dev.vars line cannot carry unquoted`);
  return value;
}

/** The NAME=value lines of a secrets file. */
export async function readSecretsFile(file: string): Promise<Record<string, string>> {
  return parseDevVars(await readFile(file, "utf8"));
}

function parseDevVars(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^\s*([A-Z_][A-Z0-9_]*)\s*=\s*"?([^"]*)"?\s*$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}
