// HMAC-SHA256 over the raw body bytes, for callers that sign with a shared secret instead of SigV4: the payment
// provider's webhooks now, validators later. The check runs on the bytes as received (never on re-serialised
// JSON), compares in constant time (crypto.subtle.verify), and accepts any of several secrets and several
// signatures, so a secret can be rotated without a window in which valid deliveries fail.
//
// Stripe-style headers (https://docs.stripe.com/webhooks#verify-manually): `t=<unix seconds>,v1=<hex>,v1=<hex>`
// signs `<t>.<raw body>`; every v1 is a candidate (the provider signs with each active secret while rolling one),
// other schemes (v0) are ignored, and a timestamp outside the tolerance is refused so a captured delivery cannot be
// replayed later.

import { fromHex, hex, hmacSha256 } from "../../protocol/crypto.ts";
import { ApiError } from "../errors.ts";

const encoder = new TextEncoder();

/** Stripe's default tolerance: a delivery signed more than five minutes away from now is refused. */
export const DEFAULT_SIGNATURE_TOLERANCE_S = 300;

/** A candidate that is not hex, or not 32 bytes, can never match: it is skipped rather than failing the others. */
const SHA256_HEX = /^[0-9a-fA-F]{64}$/;

/** Hex HMAC-SHA256 of `data` under `secret` (a string secret is its UTF-8 bytes, as providers document it). */
export async function signHmacSha256Hex(secret: string | Uint8Array, data: string | Uint8Array): Promise<string> {
  return hex(await hmacSha256(secret, data));
}

/**
 * True when some candidate signature (hex) is the HMAC-SHA256 of `data` under some secret. Each comparison is
 * crypto.subtle.verify, which is constant-time; the answer says only whether any pair matched.
 */
export async function verifyHmacSha256(
  data: Uint8Array,
  candidates: readonly string[],
  secrets: readonly (string | Uint8Array)[],
): Promise<boolean> {
  const signatures = candidates.filter((c) => SHA256_HEX.test(c)).map((c) => fromHex(c));
  if (signatures.length === 0) return false;
  const payload = data as Uint8Array<ArrayBuffer>;
  for (const secret of secrets) {
    const raw = typeof secret === "string" ? encoder.encode(secret) : new Uint8Array(secret);
    if (raw.byteLength === 0) continue; // an unset secret must not verify anything
    const key = await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
    for (const signature of signatures) {
      if (await crypto.subtle.verify("HMAC", key, signature, payload)) return true;
    }
  }
  return false;
}

export interface TimestampedSignatureHeader {
  /** Unix seconds, as sent in `t=`. */
  timestamp: number;
  /** Every signature of the wanted scheme, in order. */
  signatures: string[];
}

/**
 * Parses `t=1492774577,v1=5257a8...,v1=...,v0=...`. Returns undefined when there is no single integer `t` or no
 * signature of `scheme`; unknown keys are ignored, as providers add schemes over time.
 */
export function parseTimestampedSignatureHeader(header: string, scheme = "v1"): TimestampedSignatureHeader | undefined {
  let timestamp: number | undefined;
  const signatures: string[] = [];
  for (const item of header.split(",")) {
    const eq = item.indexOf("=");
    if (eq <= 0) continue;
    const name = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    if (name === "t") {
      if (timestamp !== undefined || !/^\d{1,12}$/.test(value)) return undefined;
      timestamp = Number(value);
    } else if (name === scheme && value !== "") {
      signatures.push(value);
    }
  }
  if (timestamp === undefined || signatures.length === 0) return undefined;
  return { timestamp, signatures };
}

export interface TimestampedHmacOptions {
  /** The signature header's value (e.g. `Stripe-Signature`); null when the request had none. */
  header: string | null;
  /** The raw body bytes as received. */
  body: Uint8Array;
  /** The current secret first, then any being rotated out. */
  secrets: readonly (string | Uint8Array)[];
  now: Date;
  toleranceSeconds?: number;
  scheme?: string;
}

/**
 * Checks a Stripe-style timestamped signature over `<t>.<raw body>` and returns the signed timestamp. Cheap checks
 * come first (header shape, timestamp window), then the HMACs. Failures are 401s (the request is not authenticated;
 * issue 17 fixes the status for the payment webhook) with a stable code: the sender (a webhook provider) retries on
 * any failure, and the code tells an operator which part is wrong.
 */
export async function verifyTimestampedHmac(options: TimestampedHmacOptions): Promise<number> {
  const parsed = options.header === null ? undefined : parseTimestampedSignatureHeader(options.header, options.scheme);
  if (!parsed) {
    throw new ApiError(401, "MalformedSignatureHeader", `The signature header must be 't=<unix seconds>,${options.scheme ?? "v1"}=<hex HMAC-SHA256>'.`);
  }
  const tolerance = options.toleranceSeconds ?? DEFAULT_SIGNATURE_TOLERANCE_S;
  const nowS = Math.floor(options.now.getTime() / 1000);
  if (Math.abs(nowS - parsed.timestamp) > tolerance) {
    throw new ApiError(401, "SignatureTimestampOutOfRange", `The signature's timestamp is more than ${tolerance} seconds away from the edge's clock.`, {
      timestamp: parsed.timestamp,
      now: nowS,
    });
  }
  const prefix = encoder.encode(`${parsed.timestamp}.`);
  const signed = new Uint8Array(prefix.byteLength + options.body.byteLength);
  signed.set(prefix, 0);
  signed.set(options.body, prefix.byteLength);
  if (!(await verifyHmacSha256(signed, parsed.signatures, options.secrets))) {
    throw new ApiError(401, "SignatureDoesNotMatch", "No signature in the header matches the body under any current secret.");
  }
  return parsed.timestamp;
}
