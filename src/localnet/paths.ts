// The repo root: the launcher's child processes (wrangler, node-agents, anvil) run from files under it.

import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
