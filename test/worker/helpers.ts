// Helpers for Worker tests: admin calls, accounts with keys, and S3 requests signed as real clients sign them.

import { env, SELF } from "cloudflare:test";
import { AwsClient } from "aws4fetch";
import type { LocalAccount } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { randomHex, sha256Hex } from "../../src/protocol/crypto.ts";
import {
  registrationDomain,
  registrationTypedMessage,
  registrationTypes,
  type RegistrationMessage,
  type RegistrationRequest,
  type RegistrationResponse,
} from "../../src/protocol/node-protocol.ts";
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

/** anvil account 1: the operator most node tests register with. */
export const testOperator = privateKeyToAccount("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");

/** The edge id the tests' Worker runs with (wrangler.toml's EDGE_ID). */
export const TEST_EDGE_ID = (env as unknown as { EDGE_ID: string }).EDGE_ID;

/** A registration request for `m`, signed by `signer` (claiming to be `claimed`) for the edge with id `edgeId`. */
export async function signedRegistration(
  m: RegistrationMessage,
  signer: LocalAccount = testOperator,
  claimed: string = signer.address,
  edgeId = TEST_EDGE_ID,
): Promise<RegistrationRequest> {
  const signature = await signer.signTypedData({
    domain: await registrationDomain(31337, edgeId),
    types: registrationTypes,
    primaryType: "NodeRegistration",
    message: registrationTypedMessage(m),
  });
  return { operator: claimed, message: m, signature };
}

export function registrationRequest(body: RegistrationRequest): Request {
  return new Request(`${EDGE}/api/v1/nodes/register`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
}

/**
 * A JSON POST signed as the node-agent signs it (node-agent/src/edge-client.ts): the body's SHA-256 declared in
 * x-amz-content-sha256, which lets the edge check the signature before reading the body.
 */
export async function nodeSignedPost(client: AwsClient, url: string, body: unknown): Promise<Request> {
  const text = JSON.stringify(body);
  return client.sign(url, { method: "POST", headers: { "content-type": "application/json", "x-amz-content-sha256": await sha256Hex(text) }, body: text });
}

/** Approves the test operator and registers a fresh node through the edge; returns it with a SigV4 control client. */
export async function registerTestNode(overrides: Partial<RegistrationMessage> = {}) {
  const approved = await admin("PUT", `/operators/${testOperator.address}`, { status: "approved" });
  if (approved.status !== 200) throw new Error(`approving the test operator failed: ${approved.status}`);
  const m = registrationMessage(overrides);
  const res = await SELF.fetch(registrationRequest(await signedRegistration(m)));
  if (res.status !== 200) throw new Error(`registering a test node failed: ${res.status} ${await res.text()}`);
  const creds = (await res.json()) as RegistrationResponse;
  const client = new AwsClient({ accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey, service: "icn", region: "icn", retries: 0 });
  /** POSTs a signed JSON body to /api/v1/nodes/<id>/<path> as the node. */
  const send = async (path: string, body: unknown) => SELF.fetch(await nodeSignedPost(client, `${EDGE}/api/v1/nodes/${m.nodeId}/${path}`, body));
  return { m, creds, client, send };
}
