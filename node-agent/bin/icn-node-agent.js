#!/usr/bin/env node
// Runs the TypeScript sources through tsx, so the agent starts on Node >= 20 with no build step.
import { register } from "tsx/esm/api";

register();
await import("../src/main.ts");
