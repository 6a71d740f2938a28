// Which node URLs the edge accepts and fetches (src/protocol/node-url.ts), judged by workerd's own URL parser,
// the one the edge fetches with: every IPv4 spelling and IPv6 form of a private address is refused.

import { createExecutionContext, env, SELF, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { Env } from "../../src/env.ts";
import worker from "../../src/index.ts";
import { nodeRequestUrl, parseNodeBaseUrl } from "../../src/protocol/node-url.ts";
import { admin, registrationMessage, registrationRequest, signedRegistration, testOperator } from "./helpers.ts";

const strict = { allowPrivate: false };
const local = { allowPrivate: true };

const PRIVATE_URLS = [
  "http://127.0.0.1:9",
  "http://127.1:9",
  "http://2130706433:9",
  "http://0x7f.1:9",
  "http://0177.0.0.1:9",
  "http://0.0.0.0:9",
  "http://10.1.2.3",
  "http://172.16.0.1",
  "http://172.31.255.255",
  "http://192.168.1.1",
  "http://100.64.0.1",
  "http://169.254.169.254",
  "http://0xa9fea9fe",
  "http://[::1]:9",
  "http://[::]:9",
  "http://[::ffff:127.0.0.1]:9",
  "http://[::ffff:a9fe:a9fe]",
  "http://[::127.0.0.1]",
  "http://[64:ff9b::10.0.0.1]",
  "http://[2002:c0a8:0101::1]",
  "http://[fd00::1]",
  "http://[fc12:3456::1]",
  "http://[fe80::1]",
  "http://localhost:8080",
  "http://LOCALHOST.:8080",
  "http://node.localhost",
];

describe("node URLs", () => {
  it("refuses loopback, private, shared, link-local and unspecified addresses in any spelling, and localhost names", () => {
    for (const url of PRIVATE_URLS) expect(() => parseNodeBaseUrl(url, strict), url).toThrow(/is /);
  });

  it("accepts them where the deployment allows private nodes (a local network)", () => {
    for (const url of PRIVATE_URLS) expect(() => parseNodeBaseUrl(url, local), url).not.toThrow();
  });

  it("accepts public hosts with a port and a base path, normalised without a trailing slash", () => {
    expect(parseNodeBaseUrl("http://198.51.100.7:8080/icn/", strict)).toBe("http://198.51.100.7:8080/icn");
    expect(parseNodeBaseUrl("https://Node-1.Example.com", strict)).toBe("https://node-1.example.com");
    expect(parseNodeBaseUrl("http://[2001:db8::1]:9000/a/b", strict)).toBe("http://[2001:db8::1]:9000/a/b");
    expect(parseNodeBaseUrl("http://172.32.0.1", strict)).toBe("http://172.32.0.1");
  });

  it("refuses a query, a fragment, credentials, other schemes and odd paths whatever the policy", () => {
    for (const url of [
      "http://node.example/#",
      "http://node.example/?",
      "http://node.example/?x=1",
      "http://node.example/icn#frag",
      "http://user:pw@node.example/",
      "http://user@node.example/",
      "ftp://node.example/",
      "http://node.example/%2e%2e/admin",
      "http://node.example/a b",
      "http://node.example/a;b",
      "not a url",
    ]) {
      expect(() => parseNodeBaseUrl(url, local), url).toThrow();
    }
  });

  it("builds request URLs under the base path, never by joining strings", () => {
    expect(nodeRequestUrl("http://node.example:9/icn", "/blobs/b1234567890abcdef").toString()).toBe("http://node.example:9/icn/blobs/b1234567890abcdef");
    expect(nodeRequestUrl("http://node.example:9", "/blobs", { after: "x", limit: "10" }).toString()).toBe("http://node.example:9/blobs?after=x&limit=10");
  });
});

describe("registering a node URL", () => {
  const strictEnv = { ...(env as unknown as Env), NODE_URLS_ALLOW_PRIVATE: "false" };

  async function registerWith(workerEnv: Env, url: string): Promise<Response> {
    const ctx = createExecutionContext();
    const res = await worker.fetch(registrationRequest(await signedRegistration(registrationMessage({ url }))), workerEnv, ctx);
    await waitOnExecutionContext(ctx);
    return res;
  }

  async function nodeUrls(): Promise<string[]> {
    const body = (await (await admin("GET", "/nodes")).json()) as { nodes: { url: string }[] };
    return body.nodes.map((n) => n.url);
  }

  it("refuses a node at a private address with 400 InvalidNodeUrl and registers nothing", async () => {
    expect((await admin("PUT", `/operators/${testOperator.address}`, { status: "approved" })).status).toBe(200);
    for (const url of ["http://169.254.169.254/latest", "http://[::ffff:7f00:1]:9", "http://localhost:9"]) {
      const res = await registerWith(strictEnv, url);
      expect(res.status, url).toBe(400);
      expect(await res.json()).toMatchObject({ code: "InvalidNodeUrl" });
    }
    expect((await nodeUrls()).filter((u) => u.includes("169.254") || u.includes("localhost") || u.includes("ffff"))).toEqual([]);
    expect((await registerWith(strictEnv, "http://198.51.100.7:8080/icn/")).status).toBe(200);
    expect(await nodeUrls()).toContain("http://198.51.100.7:8080/icn");
  });

  it("refuses a URL whose fragment would cut the blob path off, even where private nodes are allowed", async () => {
    expect((await admin("PUT", `/operators/${testOperator.address}`, { status: "approved" })).status).toBe(200);
    const res = await SELF.fetch(registrationRequest(await signedRegistration(registrationMessage({ url: "http://127.0.0.1:9/evil#" }))));
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: "InvalidNodeUrl" });
  });
});
