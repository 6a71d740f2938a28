// The HMAC-SHA256 guard (src/api/guards/hmac.ts) the payment webhook and validators will use: the primitive over
// raw bytes with several secrets and candidates, and Stripe-style `t=...,v1=...` headers with a timestamp window.
import { describe, expect, it } from "vitest";
import { ApiError } from "../../src/api/errors.ts";
import {
  DEFAULT_SIGNATURE_TOLERANCE_S,
  parseTimestampedSignatureHeader,
  signHmacSha256Hex,
  verifyHmacSha256,
  verifyTimestampedHmac,
} from "../../src/api/guards/hmac.ts";

const encoder = new TextEncoder();
const SECRET = "whsec_current";
const OLD_SECRET = "whsec_rotated_out";
const BODY = encoder.encode(JSON.stringify({ id: "evt_1", type: "checkout.session.completed", amount: 1999 }));
const NOW = new Date("2026-12-01T12:00:00Z");
const T = Math.floor(NOW.getTime() / 1000);

/** The header a provider sends: `t=<t>,v1=<hmac of "<t>.<body>">` for each secret it signs with. */
async function stripeHeader(secrets: string[], t = T, body = BODY): Promise<string> {
  const signed = new Uint8Array([...encoder.encode(`${t}.`), ...body]);
  const v1s = await Promise.all(secrets.map(async (s) => `v1=${await signHmacSha256Hex(s, signed)}`));
  return [`t=${t}`, ...v1s].join(",");
}

async function refusal(work: Promise<unknown>): Promise<{ status: number; code: string }> {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ApiError);
  return { status: (error as ApiError).status, code: (error as ApiError).code };
}

describe("verifyHmacSha256", () => {
  it("computes RFC 4231's HMAC-SHA256 test case 2", async () => {
    expect(await signHmacSha256Hex("Jefe", "what do ya want for nothing?")).toBe("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  });

  it("accepts the signature of the exact bytes under the secret", async () => {
    expect(await verifyHmacSha256(BODY, [await signHmacSha256Hex(SECRET, BODY)], [SECRET])).toBe(true);
  });

  it("refuses a signature made with another secret", async () => {
    expect(await verifyHmacSha256(BODY, [await signHmacSha256Hex("whsec_guess", BODY)], [SECRET])).toBe(false);
  });

  it("refuses a body changed by one byte", async () => {
    const signature = await signHmacSha256Hex(SECRET, BODY);
    const tampered = BODY.slice();
    tampered[tampered.length - 2] = tampered[tampered.length - 2]! ^ 1;
    expect(await verifyHmacSha256(tampered, [signature], [SECRET])).toBe(false);
  });

  it("accepts any of several candidates under any of several secrets, skipping malformed candidates", async () => {
    const byOld = await signHmacSha256Hex(OLD_SECRET, BODY);
    expect(await verifyHmacSha256(BODY, ["not-hex", "ab", byOld], [SECRET, OLD_SECRET])).toBe(true);
    expect(await verifyHmacSha256(BODY, [byOld.toUpperCase()], [SECRET, OLD_SECRET])).toBe(true);
    expect(await verifyHmacSha256(BODY, [byOld], [SECRET])).toBe(false);
  });

  it("never verifies with an empty secret or no candidates", async () => {
    // An unset secret (an empty variable) is skipped, not an error and never a match.
    expect(await verifyHmacSha256(BODY, [await signHmacSha256Hex(SECRET, BODY)], ["", SECRET])).toBe(true);
    expect(await verifyHmacSha256(BODY, ["0".repeat(64)], [""])).toBe(false);
    expect(await verifyHmacSha256(BODY, [], [SECRET])).toBe(false);
  });
});

describe("Stripe-style timestamped signatures", () => {
  it("parses t and every v1, ignoring other schemes and unknown keys", () => {
    expect(parseTimestampedSignatureHeader("t=12, v1=aa,v0=bb,v1=cc,x=1")).toEqual({ timestamp: 12, signatures: ["aa", "cc"] });
    expect(parseTimestampedSignatureHeader("v1=aa")).toBeUndefined();
    expect(parseTimestampedSignatureHeader("t=12")).toBeUndefined();
    expect(parseTimestampedSignatureHeader("t=12,t=13,v1=aa")).toBeUndefined();
    expect(parseTimestampedSignatureHeader("t=-1,v1=aa")).toBeUndefined();
    expect(parseTimestampedSignatureHeader("")).toBeUndefined();
  });

  it("accepts a delivery signed with the current secret and returns its timestamp", async () => {
    expect(await verifyTimestampedHmac({ header: await stripeHeader([SECRET]), body: BODY, secrets: [SECRET], now: NOW })).toBe(T);
  });

  it("accepts a delivery signed at the edge of the tolerance", async () => {
    const header = await stripeHeader([SECRET], T - DEFAULT_SIGNATURE_TOLERANCE_S);
    expect(await verifyTimestampedHmac({ header, body: BODY, secrets: [SECRET], now: NOW })).toBe(T - DEFAULT_SIGNATURE_TOLERANCE_S);
  });

  it("refuses a wrong secret with SignatureDoesNotMatch", async () => {
    const header = await stripeHeader(["whsec_attacker"]);
    expect(await refusal(verifyTimestampedHmac({ header, body: BODY, secrets: [SECRET], now: NOW }))).toEqual({ status: 401, code: "SignatureDoesNotMatch" });
  });

  it("refuses a tampered body", async () => {
    const header = await stripeHeader([SECRET]);
    const tampered = encoder.encode(new TextDecoder().decode(BODY).replace("1999", "1"));
    expect(await refusal(verifyTimestampedHmac({ header, body: tampered, secrets: [SECRET], now: NOW }))).toEqual({ status: 401, code: "SignatureDoesNotMatch" });
  });

  it("refuses a signature whose timestamp was changed to look fresh", async () => {
    const stale = await stripeHeader([SECRET], T - 3600);
    const refreshed = stale.replace(`t=${T - 3600}`, `t=${T}`);
    expect(await refusal(verifyTimestampedHmac({ header: refreshed, body: BODY, secrets: [SECRET], now: NOW }))).toEqual({
      status: 401,
      code: "SignatureDoesNotMatch",
    });
  });

  it("refuses a stale or far-future timestamp before checking any HMAC", async () => {
    for (const t of [T - DEFAULT_SIGNATURE_TOLERANCE_S - 1, T + DEFAULT_SIGNATURE_TOLERANCE_S + 1]) {
      const header = await stripeHeader([SECRET], t);
      expect(await refusal(verifyTimestampedHmac({ header, body: BODY, secrets: [SECRET], now: NOW }))).toEqual({
        status: 401,
        code: "SignatureTimestampOutOfRange",
      });
    }
    const header = await stripeHeader([SECRET], T - 600);
    expect(await verifyTimestampedHmac({ header, body: BODY, secrets: [SECRET], now: NOW, toleranceSeconds: 900 })).toBe(T - 600);
  });

  it("accepts deliveries across a secret rotation: either secret held, or either signature sent", async () => {
    // The provider rolls its secret: for a while it signs with both, and the edge may still hold only the old one.
    const both = await stripeHeader([SECRET, OLD_SECRET]);
    expect(await verifyTimestampedHmac({ header: both, body: BODY, secrets: [OLD_SECRET], now: NOW })).toBe(T);
    expect(await verifyTimestampedHmac({ header: both, body: BODY, secrets: [SECRET], now: NOW })).toBe(T);
    // The edge holds both while the provider already signs with the new one only.
    const newOnly = await stripeHeader([SECRET]);
    expect(await verifyTimestampedHmac({ header: newOnly, body: BODY, secrets: [SECRET, OLD_SECRET], now: NOW })).toBe(T);
    // Once the old secret is dropped, a delivery signed only with it is refused.
    const oldOnly = await stripeHeader([OLD_SECRET]);
    expect(await refusal(verifyTimestampedHmac({ header: oldOnly, body: BODY, secrets: [SECRET], now: NOW }))).toEqual({ status: 401, code: "SignatureDoesNotMatch" });
  });

  it("refuses a missing or malformed header", async () => {
    for (const header of [null, "", "v1=abc", "t=abc,v1=abc", `t=${T}`]) {
      expect(await refusal(verifyTimestampedHmac({ header, body: BODY, secrets: [SECRET], now: NOW }))).toEqual({ status: 401, code: "MalformedSignatureHeader" });
    }
  });
});
