// Helpers for Worker tests: admin calls, accounts with keys, and S3 requests signed as real clients sign them.

import { SELF } from "cloudflare:test";
import { AwsClient } from "aws4fetch";
import { randomHex } from "../../src/protocol/crypto.ts";
import type { RegistrationMessage } from "../../src/protocol/node-protocol.ts";
import { assertStrictXml } from "../helpers/strict-xml.ts";

export const ADMIN_TOKEN = "test-admin-token";
export const EDGE = "http://edge.test";

export async function admin(method: string, path: string, body?: unknown): Promise<Response> {
  return SELF.fetch(`${EDGE}/api/v1/admin${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

export interface TestAccount {
  id: string;
  accessKeyId: string;
  secretAccessKey: string;
  s3: AwsClient;
}

export async function createAccountWithKey(name: string): Promise<TestAccount> {
  const account = (await (await admin("POST", "/accounts", { name })).json()) as { id: string };
  const key = (await (await admin("POST", `/accounts/${account.id}/keys`)).json()) as { accessKeyId: string; secretAccessKey: string };
  return {
    id: account.id,
    ...key,
    s3: new AwsClient({ accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey, service: "s3", region: "us-east-1", retries: 0 }),
  };
}

/** Sends an S3 request signed by `account` (payload signed as UNSIGNED-PAYLOAD unless a hash header is given). */
export async function s3(account: TestAccount, method: string, path: string, init: { body?: BodyInit; headers?: Record<string, string> } = {}): Promise<Response> {
  const signed = await account.s3.sign(`${EDGE}${path}`, { method, body: init.body, headers: init.headers });
  return checkedS3Response(await SELF.fetch(signed), `${method} ${path}`);
}

/**
 * Fails the test when an XML answer (a result or an S3 error) is not namespace-well-formed XML, as strict clients
 * such as awscli need. Objects in these tests are never stored as application/xml, so only the edge's own
 * documents are checked. Returns the response unread.
 */
export async function checkedS3Response(res: Response, what: string): Promise<Response> {
  if (res.body !== null && res.headers.get("content-type") === "application/xml") assertStrictXml(await res.clone().text(), what);
  return res;
}

export function xmlField(xml: string, name: string): string | undefined {
  return new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(xml)?.[1];
}

/** A valid node registration message (a fresh node id, nonce and a 5-minute expiry) with `overrides`. */
export function registrationMessage(overrides: Partial<RegistrationMessage> = {}): RegistrationMessage {
  return {
    nodeId: `node_${randomHex(8)}`,
    url: "http://127.0.0.1:9",
    zone: "zone-a",
    capacityBytes: String(10 * 1024 ** 3),
    agentVersion: "0.1.0",
    nonce: `0x${randomHex(32)}`,
    expiry: Math.floor(Date.now() / 1000) + 300,
    ...overrides,
  };
}
