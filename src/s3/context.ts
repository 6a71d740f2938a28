// What every S3 operation receives: the request, its verified principal and the edge's bindings.

import type { Db } from "../db/client.ts";
import type { Env } from "../env.ts";
import type { RequestMeter } from "../services/metering.ts";
import type { KeyScope } from "./key-scope.ts";
import type { S3Signature } from "./sigv2.ts";

/** Who sent the request: an account with a verified signature, or nobody (anonymous, for public-read buckets). */
export interface Principal {
  /** null for anonymous requests. */
  accountId: string | null;
  accessKeyId: string | null;
  signature: S3Signature | null;
  /** What the access key may reach when it is a scoped key (key-scope.ts); absent for unrestricted keys and anonymous callers. */
  scope?: KeyScope;
}

export const ANONYMOUS: Principal = { accountId: null, accessKeyId: null, signature: null };

export interface S3Context {
  request: Request;
  env: Env;
  db: Db;
  principal: Principal;
  requestId: string;
  /** The query decoded once, exactly as the signature covered it ('+' is a space): see decodeQuery. */
  query: URLSearchParams;
  /** One clock per request: tests control time through it. */
  now: Date;
  /** The region this edge reports (the first of S3_REGIONS). */
  region: string;
  waitUntil(promise: Promise<unknown>): void;
  /** The request's usage report, carried by its calls to its bucket's index (src/services/metering.ts). */
  meter?: RequestMeter;
}
