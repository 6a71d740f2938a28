// Worker tests: real workerd with local D1 and Durable Objects, through @cloudflare/vitest-plugin.

import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { mnemonicKey, PROTOCOL_ACCOUNT_INDEX } from "../../src/localnet/chain.ts";

export default defineConfig(async () => {
  const migrations = await readD1Migrations("migrations");
  return {
    plugins: [
      cloudflareTest({
        main: "./src/index.ts",
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          bindings: {
            TEST_MIGRATIONS: migrations,
            ADMIN_TOKEN: "test-admin-token",
            // The clock can be advanced through /api/v1/admin/clock (test/worker/clock.test.ts).
            TEST_CLOCK: "true",
            // Test nodes live on 127.0.0.1 (wrangler.toml refuses that by default).
            NODE_URLS_ALLOW_PRIVATE: "true",
            // 32 fixed bytes, base64: test-only key-encryption key.
            KEY_ENCRYPTION_KEY: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            // Test-only master-key ring (32 fixed bytes each): "t2" is the newest, "t1" an older key.
            MASTER_KEYS: "t2:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=,t1:QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8=",
            // The protocol key of the anvil test/helpers/worker-chain.ts starts (the same mnemonic account), in the
            // ProtocolTransactions Durable Object's own env: it signs what the tests' chain env relays to it.
            PROTOCOL_SIGNER_KEY: mnemonicKey(PROTOCOL_ACCOUNT_INDEX),
          },
        },
      }),
    ],
    test: {
      include: ["test/worker/**/*.test.ts"],
      setupFiles: ["test/worker/setup.ts"],
      // A real anvil for the tests of the configured chain path (test/worker/stake-gate.test.ts).
      globalSetup: ["test/helpers/worker-chain.ts"],
    },
  };
});
