// The typed configuration: wrangler.toml's vars become numbers, lists and flags once, and a bad var is named.

import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ConfigError, configOf, parseConfig } from "../../src/config.ts";
import type { Env } from "../../src/env.ts";

const e = env as unknown as Env;

describe("configuration", () => {
  it("reads wrangler.toml's vars as typed values, once per env", () => {
    const config = configOf(e);
    expect(config.s3Regions).toEqual(["us-east-1", "auto"]);
    expect(config.s3BaseDomains).toEqual(["localhost", "s3.localhost"]);
    expect(config.nodeOfflineAfterMs).toBe(20_000);
    expect(config.multipartAbandonAfterMs).toBe(168 * 3600 * 1000);
    expect(config.sseCAllowHttp).toBe(false);
    expect(config.testClock).toBe(true);
    expect(configOf(e)).toBe(config);
  });

  it("names each bad var and the value it holds", () => {
    const bad = { ...e, NODE_OFFLINE_AFTER_SECONDS: "twenty", SSE_C_ALLOW_HTTP: "yes", S3_REGIONS: " , " };
    let error: unknown;
    try {
      parseConfig(bad);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    expect(message).toContain('NODE_OFFLINE_AFTER_SECONDS must be a number of seconds ≥ 0, not "twenty"');
    expect(message).toContain('SSE_C_ALLOW_HTTP must be "true" or "false", not "yes"');
    expect(message).toContain("S3_REGIONS must name at least one region");
    expect((error as ConfigError).code).toBe("ConfigInvalid");
  });
});
