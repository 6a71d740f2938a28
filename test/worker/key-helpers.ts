// Helpers for the account's key and audit routes (/api/v1/access-keys, /api/v1/access-audit): calls signed as IAM
// calls are (service "iam"), and minted keys ready to sign S3 requests.

import { SELF } from "cloudflare:test";
import { AwsClient } from "aws4fetch";
import { EDGE, type TestAccount } from "./helpers.ts";

export interface KeyPair {
  accessKeyId: string;
  secretAccessKey: string;
}

/** A control-API call under /api/v1 signed with `key`, service `service` (the body's hash signed). */
export async function signedApi(key: KeyPair, method: string, path: string, body?: unknown, service = "iam"): Promise<Response> {
  const client = new AwsClient({ ...key, service, region: "us-east-1", retries: 0 });
  const signed = await client.sign(`${EDGE}/api/v1${path}`, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return SELF.fetch(signed);
}

export interface MintedKey extends TestAccount {
  scope: unknown;
  expiresAt: string | null;
  status: string;
}

/** Mints a key for `owner` through the control API and returns it as a test account that signs S3 requests. */
export async function mintKey(owner: KeyPair & { id: string }, request: Record<string, unknown>): Promise<MintedKey> {
  const res = await signedApi(owner, "POST", "/access-keys", request);
  if (res.status !== 201) throw new Error(`minting a key failed: ${res.status} ${await res.text()}`);
  const key = (await res.json()) as { accessKeyId: string; secretAccessKey: string; scope: unknown; expiresAt: string | null; status: string };
  return {
    ...key,
    id: owner.id,
    s3: new AwsClient({ accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey, service: "s3", region: "us-east-1", retries: 0 }),
  };
}
