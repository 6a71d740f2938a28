// The edge's secrets on disk: a `.dev.vars`-format file (NAME=value lines) readable only by its owner.

import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

export interface Secrets {
  ADMIN_TOKEN: string;
  KEY_ENCRYPTION_KEY: string;
  MASTER_KEYS: string;
}

export async function loadOrCreateSecrets(file: string): Promise<Secrets> {
  const existing = existsSync(file) ? parseDevVars(await readFile(file, "utf8")) : {};
  const secrets: Secrets = {
    ADMIN_TOKEN: existing.ADMIN_TOKEN ?? randomBytes(24).toString("hex"),
    KEY_ENCRYPTION_KEY: existing.KEY_ENCRYPTION_KEY ?? randomBytes(32).toString("base64"),
    // The master-key ring of edge encryption: newest first; rotate by prepending a key (README, Encryption).
    MASTER_KEYS: existing.MASTER_KEYS ?? `k1:${randomBytes(32).toString("base64")}`,
  };
  if (Object.keys(secrets).some((name) => existing[name] === undefined)) await writeSecrets(file, { ...existing, ...secrets });
  return secrets;
}

export async function writeSecrets(file: string, secrets: Record<string, string>): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const existing = existsSync(file) ? parseDevVars(await readFile(file, "utf8")) : {};
  const text = Object.entries({ ...existing, ...secrets }).map(([name, value]) => `${name}=${value}\n`).join("");
  await writeFile(file, text, { mode: 0o600 });
}

function parseDevVars(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^\s*([A-Z_][A-Z0-9_]*)\s*=\s*"?([^"]*)"?\s*$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

