import { defineConfig } from "vitest/config";
export default defineConfig({ test: { include: ["test/node-agent/**/*.test.ts", "test/localnet/**/*.test.ts", "test/chain/**/*.test.ts", "test/e2e/**/*.test.ts"], testTimeout: 120_000, hookTimeout: 120_000, fileParallelism: false } });
