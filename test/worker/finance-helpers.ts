// Helpers for the finance Worker tests: the Worker called with the finance secrets in its env (each test chooses
// them: one secret, a rotation pair, none), Stripe-style signatures computed here with Web Crypto, independently of
// the edge's guard, and the edge's clock.

import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import worker from "../../src/index.ts";
import type { Env } from "../../src/env.ts";
import { admin, EDGE } from "./helpers.ts";

export const FINANCE_TOKEN = "test-finance-token";
export const WEBHOOK_SECRET = "whsec_test_current";

export interface FinanceEnv {
  FINANCE_TOKEN?: string;
  FINANCE_WEBHOOK_SECRET?: string;
  FINANCE_WEBHOOK_TOLERANCE_SECONDS?: string;
  FINANCE_PERIOD_MINUTES?: string;
}

const DEFAULT_FINANCE_ENV: FinanceEnv = { FINANCE_TOKEN, FINANCE_WEBHOOK_SECRET: WEBHOOK_SECRET };

/** One request through the Worker's entry point, with `financeEnv` in place of the default finance secrets. */
export async function financeFetch(path: string, init: RequestInit = {}, financeEnv: FinanceEnv = DEFAULT_FINANCE_ENV): Promise<Response> {
  const ctx = createExecutionContext();
  const withFinance = { ...(env as unknown as Env), FINANCE_TOKEN: undefined, FINANCE_WEBHOOK_SECRET: undefined, ...financeEnv } as Env;
  const res = await worker.fetch(new Request(`${EDGE}/api/v1/finance${path}`, init), withFinance, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

/** A finance-role GET. */
export async function financeGet(path: string, token = FINANCE_TOKEN): Promise<Response> {
  return financeFetch(path, { headers: { authorization: `Bearer ${token}` } });
}

const encoder = new TextEncoder();

/** Hex HMAC-SHA256, straight from Web Crypto (not the edge's helper). */
export async function hmacHex(secret: string, message: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(message)));
  return [...mac].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The header a Stripe-style provider sends: `t=<t>,v1=<hmac of "<t>.<body>">` per secret it signs with. */
export async function signatureHeader(body: string, t: number, secrets: string[] = [WEBHOOK_SECRET]): Promise<string> {
  const v1s = await Promise.all(secrets.map(async (s) => `v1=${await hmacHex(s, `${t}.${body}`)}`));
  return [`t=${t}`, ...v1s].join(",");
}

/** The edge's clock in unix seconds (the test clock may run ahead of real time). */
export async function edgeUnixSeconds(): Promise<number> {
  const clock = (await (await admin("GET", "/clock")).json()) as { now: string };
  return Math.floor(Date.parse(clock.now) / 1000);
}

export interface WebhookEvent {
  id: string;
  type: "payment.succeeded" | "payment.refunded";
  data: { accountId: string; amountMinor: number | string; currency: string; paymentId?: string };
}

/** Delivers `event` signed now (or as `options` say) and returns the response. */
export async function deliver(
  event: WebhookEvent | string,
  options: { t?: number; secrets?: string[]; header?: string; financeEnv?: FinanceEnv } = {},
): Promise<Response> {
  const body = typeof event === "string" ? event : JSON.stringify(event);
  const header = options.header ?? (await signatureHeader(body, options.t ?? (await edgeUnixSeconds()), options.secrets));
  return financeFetch("/payments/webhook", { method: "POST", headers: { "icn-signature": header, "content-type": "application/json" }, body }, options.financeEnv);
}
