// The payment webhook (POST /api/v1/finance/payments/webhook) as a provider and an attacker would drive it: a
// signature made here with Web Crypto as Stripe makes it, secret rotation, stale and future timestamps, a body
// changed after signing, redelivery, refunds within and beyond their payment, unknown accounts and currencies,
// and the body cap. Every refusal leaves the payments and the ledger as they were.

import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { openDb } from "../../src/db/client.ts";
import { trialBalance } from "../../src/db/ledger.ts";
import { WEBHOOK_MAX_BODY_BYTES } from "../../src/api/finance.ts";
import { randomHex } from "../../src/protocol/crypto.ts";
import { createAccountWithKey } from "./helpers.ts";
import { deliver, edgeUnixSeconds, financeGet, signatureHeader, WEBHOOK_SECRET, type WebhookEvent } from "./finance-helpers.ts";

let accountId: string;

beforeAll(async () => {
  accountId = (await createAccountWithKey("finance-webhook")).id;
});

function succeeded(amountMinor: number | string, extra: Partial<WebhookEvent["data"]> = {}): WebhookEvent {
  return { id: `evt_${randomHex(8)}`, type: "payment.succeeded", data: { accountId, amountMinor, currency: "USD", paymentId: `pi_${randomHex(8)}`, ...extra } };
}

function refunded(paymentId: string, amountMinor: number, extra: Partial<WebhookEvent["data"]> = {}): WebhookEvent {
  return { id: `evt_${randomHex(8)}`, type: "payment.refunded", data: { accountId, amountMinor, currency: "USD", paymentId, ...extra } };
}

async function errorCode(res: Response): Promise<{ status: number; code: string }> {
  return { status: res.status, code: ((await res.json()) as { code: string }).code };
}

/** What the books say: the account's receivable balance and the payments of the account, as finance reads them. */
async function books() {
  const tb = await trialBalance(openDb(env.DB));
  const receivable = tb.accounts.find((a) => a.account === "receivables" && a.subaccount === accountId)?.balance ?? 0n;
  const cash = tb.accounts.find((a) => a.account === "cash")?.balance ?? 0n;
  const payments = ((await (await financeGet(`/payments?accountId=${accountId}`)).json()) as { payments: { id: string; amountMinor: string; refundedMinor: string }[] }).payments;
  return { balanced: tb.balanced, receivable, cash, payments };
}

describe("a signed payment", () => {
  it("credits the account once: debit cash, credit the account's receivable; a redelivery changes nothing", async () => {
    const before = await books();
    const event = succeeded(2599);
    const res = await deliver(event);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ received: true, eventId: event.id, duplicate: false, paymentId: event.data.paymentId, entryKey: `payment:${event.data.paymentId}` });

    const after = await books();
    expect(after.balanced).toBe(true);
    expect(after.receivable - before.receivable).toBe(-2599n);
    expect(after.cash - before.cash).toBe(2599n);
    expect(after.payments).toContainEqual(expect.objectContaining({ id: event.data.paymentId, amountMinor: "2599", refundedMinor: "0" }));

    // The provider retries (a lost 200): same event id, signed afresh.
    const again = await deliver(event);
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ duplicate: true, paymentId: event.data.paymentId });
    expect(await books()).toEqual(after);
  });

  it("applies concurrent deliveries of one event exactly once", async () => {
    const before = await books();
    const event = succeeded(700);
    const results = await Promise.all(Array.from({ length: 5 }, () => deliver(event).then(async (r) => ({ status: r.status, body: (await r.json()) as { duplicate: boolean } }))));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(results.filter((r) => !r.body.duplicate)).toHaveLength(1);
    expect((await books()).cash - before.cash).toBe(700n);
  });

  it("takes the amount as a decimal string too, and uses the event id as the payment id when none is named", async () => {
    const event = succeeded("1000");
    delete event.data.paymentId;
    const res = await deliver(event);
    expect(await res.json()).toMatchObject({ duplicate: false, paymentId: event.id });
  });

  it("accepts either secret while one is rotated, and a header carrying a signature per secret", async () => {
    const rotating = { FINANCE_WEBHOOK_SECRET: "whsec_new, whsec_old", FINANCE_TOKEN: "t" };
    const byOld = succeeded(100);
    expect((await deliver(byOld, { secrets: ["whsec_old"], financeEnv: rotating })).status).toBe(200);
    const byBoth = succeeded(100);
    expect((await deliver(byBoth, { secrets: ["whsec_new", "whsec_old"], financeEnv: rotating })).status).toBe(200);
    // Once the old secret is dropped, its signature alone no longer passes.
    const late = succeeded(100);
    expect(await errorCode(await deliver(late, { secrets: ["whsec_old"], financeEnv: { FINANCE_WEBHOOK_SECRET: "whsec_new" } }))).toEqual({ status: 401, code: "SignatureDoesNotMatch" });
  });
});

describe("a delivery that is not the provider's", () => {
  it("is refused with 401 and records nothing: wrong secret, changed body, stale or future timestamp, no header, malformed header", async () => {
    const before = await books();
    const event = succeeded(5000);
    const body = JSON.stringify(event);
    const now = await edgeUnixSeconds();

    expect(await errorCode(await deliver(event, { secrets: ["whsec_guessed"] }))).toEqual({ status: 401, code: "SignatureDoesNotMatch" });
    // Signed, then the amount changed in flight (same length, one digit).
    const tampered = body.replace('"amountMinor":5000', '"amountMinor":9000');
    expect(tampered).not.toBe(body);
    expect(await errorCode(await deliver(tampered, { header: await signatureHeader(body, now) }))).toEqual({ status: 401, code: "SignatureDoesNotMatch" });
    // Whitespace is part of the signed bytes: the same JSON re-serialised does not verify.
    expect(await errorCode(await deliver(JSON.stringify(event, null, 1), { header: await signatureHeader(body, now) }))).toEqual({ status: 401, code: "SignatureDoesNotMatch" });
    expect(await errorCode(await deliver(event, { t: now - 301 }))).toEqual({ status: 401, code: "SignatureTimestampOutOfRange" });
    expect(await errorCode(await deliver(event, { t: now + 301 }))).toEqual({ status: 401, code: "SignatureTimestampOutOfRange" });
    // A valid signature of an old timestamp cannot be refreshed by editing t=.
    const replay = (await signatureHeader(body, now - 1000)).replace(`t=${now - 1000}`, `t=${now}`);
    expect(await errorCode(await deliver(event, { header: replay }))).toEqual({ status: 401, code: "SignatureDoesNotMatch" });
    expect(await errorCode(await deliver(event, { header: "" }))).toEqual({ status: 401, code: "MalformedSignatureHeader" });
    expect(await errorCode(await deliver(event, { header: `v1=${"0".repeat(64)}` }))).toEqual({ status: 401, code: "MalformedSignatureHeader" });

    expect(await books()).toEqual(before);
    // The event was never recorded: the genuine delivery still applies.
    expect(await (await deliver(event)).json()).toMatchObject({ duplicate: false });
  });

  it("honours a configured tolerance", async () => {
    const event = succeeded(10);
    const now = await edgeUnixSeconds();
    const env30 = { FINANCE_WEBHOOK_SECRET: WEBHOOK_SECRET, FINANCE_WEBHOOK_TOLERANCE_SECONDS: "30" };
    expect(await errorCode(await deliver(event, { t: now - 60, financeEnv: env30 }))).toEqual({ status: 401, code: "SignatureTimestampOutOfRange" });
    expect((await deliver(event, { t: now - 20, financeEnv: env30 })).status).toBe(200);
  });

  it("is refused with 413 above the body cap, before any signature is checked, and with 503 when no secret is set", async () => {
    const event = succeeded(10, { paymentId: `pi_${"x".repeat(200)}` });
    const padded = JSON.stringify(event).replace("{", `{"pad":"${"p".repeat(WEBHOOK_MAX_BODY_BYTES)}",`);
    expect(await errorCode(await deliver(padded))).toEqual({ status: 413, code: "PayloadTooLarge" });
    expect(await errorCode(await deliver(event, { financeEnv: { FINANCE_TOKEN: "t" } }))).toEqual({ status: 503, code: "WebhookNotConfigured" });
  });
});

describe("a signed event the books cannot take", () => {
  it("refuses an event or payment id a ledger entry key cannot hold with a 400, recording nothing", async () => {
    const before = await books();
    // Without a paymentId the event id is the payment's (key payment:<id>); a refund's key is refund:<event id>.
    const unnamed = (id: string): WebhookEvent => ({ id, type: "payment.succeeded", data: { accountId, amountMinor: 100, currency: "USD" } });
    for (const event of [
      unnamed("evt with spaces"),
      unnamed(`evt_${"x".repeat(200)}`),
      unnamed("evt_é"),
      { ...succeeded(100), id: "evt\nline" },
      succeeded(100, { paymentId: "pi 1" }),
      succeeded(100, { paymentId: `pi_${"x".repeat(200)}` }),
    ]) {
      expect(await errorCode(await deliver(event)), event.id).toEqual({ status: 400, code: "ValidationError" });
    }
    expect(await books()).toEqual(before);
  });

  it("names an unknown account or currency with a 422 and records nothing", async () => {
    const before = await books();
    expect(await errorCode(await deliver(succeeded(100, { accountId: "acc_nobody" })))).toEqual({ status: 422, code: "UnknownAccount" });
    expect(await errorCode(await deliver(succeeded(100, { currency: "EUR" })))).toEqual({ status: 422, code: "UnsupportedCurrency" });
    expect(await errorCode(await deliver(succeeded(100, { currency: "ICNT" })))).toEqual({ status: 422, code: "UnsupportedCurrency" });
    expect(await errorCode(await deliver(succeeded(0)))).toEqual({ status: 400, code: "ValidationError" });
    expect(await errorCode(await deliver(succeeded(-5)))).toEqual({ status: 400, code: "ValidationError" });
    expect(await errorCode(await deliver(succeeded(1.5)))).toEqual({ status: 400, code: "ValidationError" });
    expect(await errorCode(await deliver(succeeded("1000000000000001")))).toEqual({ status: 422, code: "InvalidAmount" });
    expect(await errorCode(await deliver({ ...succeeded(1), type: "charge.captured" as "payment.succeeded" }))).toEqual({ status: 400, code: "ValidationError" });
    expect(await errorCode(await deliver("not json"))).toEqual({ status: 400, code: "InvalidJson" });
    expect(await books()).toEqual(before);
  });

  it("refuses a second event for an already recorded payment, and an event id reused with other content", async () => {
    const first = succeeded(300);
    await deliver(first);
    expect(await errorCode(await deliver({ ...succeeded(300), data: first.data }))).toEqual({ status: 409, code: "PaymentAlreadyRecorded" });
    expect(await errorCode(await deliver({ ...first, data: { ...first.data, amountMinor: 301 } }))).toEqual({ status: 409, code: "EventIdConflict" });
  });
});

describe("refunds", () => {
  it("refund a payment in parts up to its amount, and refuse anything beyond what is left", async () => {
    const pay = succeeded(1000);
    await deliver(pay);
    const paymentId = pay.data.paymentId!;
    const before = await books();

    const part = refunded(paymentId, 600);
    expect(await (await deliver(part)).json()).toMatchObject({ duplicate: false, entryKey: `refund:${part.id}` });
    // Redelivered: still one refund.
    expect(await (await deliver(part)).json()).toMatchObject({ duplicate: true });
    const over = await deliver(refunded(paymentId, 401));
    expect(over.status).toBe(422);
    expect(await over.json()).toMatchObject({ code: "RefundExceedsPayment", details: { remainingMinor: "400", refundedMinor: "600" } });
    expect((await deliver(refunded(paymentId, 400))).status).toBe(200);
    expect(await errorCode(await deliver(refunded(paymentId, 1)))).toEqual({ status: 422, code: "RefundExceedsPayment" });

    const after = await books();
    expect(after.balanced).toBe(true);
    expect(after.receivable - before.receivable).toBe(1000n);
    expect(after.cash - before.cash).toBe(-1000n);
    expect(after.payments.find((p) => p.id === paymentId)).toMatchObject({ amountMinor: "1000", refundedMinor: "1000" });
  });

  it("never exceed the payment when refunds race", async () => {
    const pay = succeeded(1000);
    await deliver(pay);
    const paymentId = pay.data.paymentId!;
    const statuses = await Promise.all(Array.from({ length: 4 }, () => deliver(refunded(paymentId, 400)).then((r) => r.status)));
    expect(statuses.filter((s) => s === 200)).toHaveLength(2);
    expect(statuses.filter((s) => s === 422)).toHaveLength(2);
    expect((await books()).payments.find((p) => p.id === paymentId)).toMatchObject({ refundedMinor: "800" });
  });

  it("name a payment that exists, of the same account and currency", async () => {
    const other = (await createAccountWithKey("finance-webhook-other")).id;
    const pay = succeeded(500);
    await deliver(pay);
    const before = await books();
    expect(await errorCode(await deliver(refunded("pi_unknown", 100)))).toEqual({ status: 422, code: "NoSuchPayment" });
    expect(await errorCode(await deliver(refunded(pay.data.paymentId!, 100, { accountId: other })))).toEqual({ status: 422, code: "PaymentMismatch" });
    const noPayment = refunded("x", 100);
    delete noPayment.data.paymentId;
    expect(await errorCode(await deliver(noPayment))).toEqual({ status: 400, code: "ValidationError" });
    expect(await books()).toEqual(before);
  });
});
