// The version the agent reports at registration and in heartbeats: node-agent/package.json's.

import { readFileSync } from "node:fs";

export const AGENT_VERSION: string = (
  JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }
).version;
