// Per-caller rate limiting of the control API, with Cloudflare's Rate Limiting binding
// (https://developers.cloudflare.com/workers/runtime-apis/bindings/rate-limit/): one `[[ratelimits]]` binding
// per kind of caller in wrangler.toml, each counting per key. It needs no storage of ours, costs no Durable Object
// round trip, and runs the same in production, under `wrangler dev` and in the vitest plugin (miniflare counts
// in a local Durable Object). Production counters are per Cloudflare location and eventually consistent: this
// bounds abuse, it is not a quota to bill by.
//
// A caller is counted by who it proved to be: a node by its id and a tenant by its access key, both after their
// signature verified (counting a claimed identity before that would let anyone exhaust a victim's budget), and
// an anonymous caller by its IP address before anything else is done for it.

import { ApiError } from "../errors.ts";

/** The `period` of every `[[ratelimits]]` binding in wrangler.toml; the binding allows only 10 or 60. */
export const RATE_LIMIT_PERIOD_S = 60;

export type RateLimitedCaller =
  | { kind: "node"; nodeId: string }
  | { kind: "tenant"; accessKeyId: string }
  | { kind: "anonymous"; ip: string };

/** A 429 that tells the caller when to try again (RFC 9110 §10.2.3). */
export class TooManyRequestsError extends ApiError {
  readonly retryAfterSeconds: number;
  constructor(retryAfterSeconds: number) {
    super(429, "TooManyRequests", `Too many requests from this caller; retry after ${retryAfterSeconds} seconds.`, { retryAfterSeconds });
    this.retryAfterSeconds = retryAfterSeconds;
  }

  override responseHeaders(): Record<string, string> {
    return { "retry-after": String(this.retryAfterSeconds) };
  }
}

export function rateLimitKey(caller: RateLimitedCaller): string {
  switch (caller.kind) {
    case "node":
      return `node:${caller.nodeId}`;
    case "tenant":
      return `tenant:${caller.accessKeyId}`;
    case "anonymous":
      return `ip:${caller.ip}`;
  }
}

/**
 * The anonymous caller of a request: Cloudflare sets CF-Connecting-IP to the client's address (and replaces one
 * the client sent). Locally, miniflare sets it when the client did not (so a local client can pick its own);
 * without it, every caller shares one count.
 */
export function anonymousCaller(request: Request): RateLimitedCaller {
  return { kind: "anonymous", ip: request.headers.get("cf-connecting-ip") ?? "unknown" };
}

/**
 * Counts one request of `caller` against `limiter`; over the limit, a 429 with Retry-After. The binding does not
 * say when its window ends, so Retry-After is the whole period: by then the count has surely started over.
 */
export async function enforceRateLimit(limiter: RateLimit, caller: RateLimitedCaller): Promise<void> {
  const { success } = await limiter.limit({ key: rateLimitKey(caller) });
  if (!success) throw new TooManyRequestsError(RATE_LIMIT_PERIOD_S);
}
