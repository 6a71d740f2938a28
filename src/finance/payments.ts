// Fiat money in and out: payment-provider events (payment.succeeded, payment.refunded) and bank transfers.
//
// Each is one D1 batch: the event (or the payment row, for a bank transfer) and its ledger entry together, so a
// delivery is either applied whole or not at all, and applying it again changes nothing: the event id, the payment
// id and the entry key are each primary keys, and a batch that repeats any of them fails whole. A payment credits
// the customer (debit cash, credit receivables:<account>); a refund reverses that for part or all of one payment,
// never more than what is left of it (payments' CHECK constraint enforces it inside SQLite, against races).

import type { Db } from "../db/client.ts";
import { alreadyPosted, prepareLedgerEntry, type Statement } from "../db/ledger.ts";
import {
  addRefundStatement,
  customerAccountExists,
  getPayment,
  getPaymentEvent,
  insertPaymentEventStatement,
  insertPaymentStatement,
  type PaymentEventRow,
  type PaymentRow,
} from "../db/payments.ts";
import { FinanceError } from "./errors.ts";
import { transfer, type LedgerEntry } from "./ledger.ts";
import { PAYMENT_CURRENCIES, parseAmount, type PaymentCurrency } from "./money.ts";

/**
 * The largest payment (minor units) the edge records: 10^15 cents, ten trillion dollars. Keeps every sum of a
 * payment's refunds inside SQLite's 64-bit integers, where the refund bound is checked.
 */
export const MAX_PAYMENT_MINOR = 10n ** 15n;

export type PaymentEventType = "payment.succeeded" | "payment.refunded";

export interface PaymentEvent {
  /** The provider's event id: a redelivery carries the same one. */
  id: string;
  type: PaymentEventType;
  accountId: string;
  amountMinor: bigint;
  currency: string;
  /** The payment; for a success, the event id when the provider names none. Required for a refund. */
  paymentId?: string;
}

export interface AppliedPayment {
  /** False when this event (or bank reference) had been applied before: nothing changed now. */
  applied: boolean;
  paymentId: string;
  entryKey: string;
}

export interface PaymentContext {
  now: number;
  /** The period the ledger entry is booked in (src/finance/periods.ts). */
  periodId: string;
}

function paymentCurrency(currency: string): PaymentCurrency {
  if (!(PAYMENT_CURRENCIES as readonly string[]).includes(currency)) {
    throw new FinanceError("UnsupportedCurrency", `Payments are accepted in ${PAYMENT_CURRENCIES.join(", ")}, not "${currency}".`, {
      currency,
      supported: PAYMENT_CURRENCIES,
    });
  }
  return currency as PaymentCurrency;
}

function checkAmount(amountMinor: bigint): void {
  if (amountMinor <= 0n || amountMinor > MAX_PAYMENT_MINOR) {
    throw new FinanceError("InvalidAmount", `A payment's amount is 1 to ${MAX_PAYMENT_MINOR} minor units.`, { amountMinor: amountMinor.toString() });
  }
}

async function requireAccount(db: Db, accountId: string): Promise<void> {
  if (!(await customerAccountExists(db, accountId))) throw new FinanceError("UnknownAccount", `No customer account ${accountId}.`, { accountId });
}

/** The payment's credit to its customer: debit cash, credit receivables:<account>. */
export function paymentLedgerEntry(payment: { id: string; accountId: string; currency: PaymentCurrency; amountMinor: bigint }, context: PaymentContext): LedgerEntry {
  return {
    key: `payment:${payment.id}`,
    periodId: context.periodId,
    kind: "payment",
    occurredAt: context.now,
    lines: transfer({ debit: "cash", credit: { account: "receivables", subaccount: payment.accountId }, currency: payment.currency, amount: payment.amountMinor }),
  };
}

/** Same id, different content: a provider never does that, so it is refused rather than taken as a redelivery. */
function sameEvent(row: PaymentEventRow, event: PaymentEvent, paymentId: string): boolean {
  return row.type === event.type && row.accountId === event.accountId && row.currency === event.currency && row.amountMinor === event.amountMinor.toString() && row.paymentId === paymentId;
}

/** An event id already recorded: a redelivery (nothing to do), or a conflicting reuse of the id. */
function redelivery(row: PaymentEventRow, event: PaymentEvent, paymentId: string): AppliedPayment {
  if (!sameEvent(row, event, paymentId)) throw new FinanceError("EventIdConflict", `Event ${event.id} was recorded with other content.`, { eventId: event.id });
  return { applied: false, paymentId: row.paymentId, entryKey: row.entryKey };
}

async function runBatch(db: Db, statements: Statement[]): Promise<void> {
  await db.batch(statements as [Statement, ...Statement[]]);
}

/**
 * Applies a provider event once. A success records the payment and credits the account; a refund debits it back
 * against the payment it names. Throws FinanceError: UnknownAccount, UnsupportedCurrency, InvalidAmount,
 * NoSuchPayment, PaymentMismatch (refund of another account's or currency's payment), RefundExceedsPayment,
 * PaymentAlreadyRecorded (a success for a payment another event recorded), EventIdConflict.
 */
export async function applyPaymentEvent(db: Db, event: PaymentEvent, context: PaymentContext): Promise<AppliedPayment> {
  const currency = paymentCurrency(event.currency);
  checkAmount(event.amountMinor);
  if (event.type === "payment.refunded" && event.paymentId === undefined) {
    throw new FinanceError("NoSuchPayment", "A refund names the payment it refunds (data.paymentId).", { eventId: event.id });
  }
  const paymentId = event.paymentId ?? event.id;
  const seen = await getPaymentEvent(db, event.id);
  if (seen) return redelivery(seen, event, paymentId);
  await requireAccount(db, event.accountId);
  return event.type === "payment.succeeded" ? recordSuccess(db, event, paymentId, currency, context) : recordRefund(db, event, paymentId, currency, context);
}

async function recordSuccess(db: Db, event: PaymentEvent, paymentId: string, currency: PaymentCurrency, context: PaymentContext): Promise<AppliedPayment> {
  if (await getPayment(db, paymentId)) {
    throw new FinanceError("PaymentAlreadyRecorded", `Payment ${paymentId} was recorded by another event.`, { paymentId });
  }
  const entry = await prepareLedgerEntry(db, paymentLedgerEntry({ id: paymentId, accountId: event.accountId, currency, amountMinor: event.amountMinor }, context), context.now);
  const amountMinor = event.amountMinor.toString();
  try {
    await runBatch(db, [
      insertPaymentEventStatement(db, { id: event.id, type: event.type, paymentId, accountId: event.accountId, currency, amountMinor, entryKey: entry.entry.key, receivedAt: context.now }),
      insertPaymentStatement(db, {
        id: paymentId,
        accountId: event.accountId,
        currency,
        amountMinor,
        refundedMinor: "0",
        source: "webhook",
        sourceRef: event.id,
        entryKey: entry.entry.key,
        receivedAt: context.now,
      }),
      ...entry.statements,
    ]);
  } catch (error) {
    // A concurrent delivery of the same event, or of another event for the same payment, got there first.
    const seen = await getPaymentEvent(db, event.id);
    if (seen) return redelivery(seen, event, paymentId);
    if (await getPayment(db, paymentId)) throw new FinanceError("PaymentAlreadyRecorded", `Payment ${paymentId} was recorded by another event.`, { paymentId });
    await alreadyPosted(db, entry); // throws EntryKeyConflict when another entry holds the key
    throw error;
  }
  return { applied: true, paymentId, entryKey: entry.entry.key };
}

function refundable(payment: PaymentRow): bigint {
  return parseAmount(payment.amountMinor) - parseAmount(payment.refundedMinor);
}

function refundExceeds(payment: PaymentRow, amountMinor: bigint): FinanceError {
  return new FinanceError("RefundExceedsPayment", `Payment ${payment.id} has ${refundable(payment)} minor units left to refund, not ${amountMinor}.`, {
    paymentId: payment.id,
    amountMinor: payment.amountMinor,
    refundedMinor: payment.refundedMinor,
    remainingMinor: refundable(payment).toString(),
  });
}

async function recordRefund(db: Db, event: PaymentEvent, paymentId: string, currency: PaymentCurrency, context: PaymentContext): Promise<AppliedPayment> {
  const payment = await getPayment(db, paymentId);
  if (!payment) throw new FinanceError("NoSuchPayment", `No payment ${paymentId} to refund.`, { paymentId });
  if (payment.accountId !== event.accountId || payment.currency !== currency) {
    throw new FinanceError("PaymentMismatch", `Payment ${paymentId} was made by another account or in another currency.`, {
      paymentId,
      accountId: payment.accountId,
      currency: payment.currency,
    });
  }
  if (event.amountMinor > refundable(payment)) throw refundExceeds(payment, event.amountMinor);
  const entry = await prepareLedgerEntry(
    db,
    {
      key: `refund:${event.id}`,
      periodId: context.periodId,
      kind: "refund",
      memo: `refund of payment ${paymentId}`,
      occurredAt: context.now,
      lines: transfer({ debit: { account: "receivables", subaccount: event.accountId }, credit: "cash", currency, amount: event.amountMinor }),
    },
    context.now,
  );
  try {
    await runBatch(db, [
      insertPaymentEventStatement(db, {
        id: event.id,
        type: event.type,
        paymentId,
        accountId: event.accountId,
        currency,
        amountMinor: event.amountMinor.toString(),
        entryKey: entry.entry.key,
        receivedAt: context.now,
      }),
      addRefundStatement(db, paymentId, event.amountMinor),
      ...entry.statements,
    ]);
  } catch (error) {
    const seen = await getPaymentEvent(db, event.id);
    if (seen) return redelivery(seen, event, paymentId);
    // Another refund of the same payment landed in between and left less than this one asks.
    const now = await getPayment(db, paymentId);
    if (now && event.amountMinor > refundable(now)) throw refundExceeds(now, event.amountMinor);
    await alreadyPosted(db, entry);
    throw error;
  }
  return { applied: true, paymentId, entryKey: entry.entry.key };
}

/** A bank transfer from the statement import, identified by the bank's reference. */
export interface BankPayment {
  reference: string;
  accountId: string;
  currency: string;
  amountMinor: bigint;
  /** When the bank received it (ms); the import time when the statement does not say. */
  receivedAt: number;
}

/**
 * Records one bank transfer once: the payment row (id `bank:<reference>`) and its ledger entry in one batch. The
 * same reference again with the same content changes nothing; with other content it is PaymentAlreadyRecorded.
 */
export async function recordBankPayment(db: Db, bank: BankPayment, context: PaymentContext): Promise<AppliedPayment> {
  const currency = paymentCurrency(bank.currency);
  checkAmount(bank.amountMinor);
  const paymentId = `bank:${bank.reference}`;
  const same = (row: PaymentRow) => row.accountId === bank.accountId && row.currency === currency && row.amountMinor === bank.amountMinor.toString();
  const existing = await getPayment(db, paymentId);
  const known = (row: PaymentRow): AppliedPayment => {
    if (!same(row)) throw new FinanceError("PaymentAlreadyRecorded", `Bank reference ${bank.reference} was imported with another account or amount.`, { paymentId });
    return { applied: false, paymentId, entryKey: row.entryKey };
  };
  if (existing) return known(existing);
  await requireAccount(db, bank.accountId);
  const entry = await prepareLedgerEntry(db, paymentLedgerEntry({ id: paymentId, accountId: bank.accountId, currency, amountMinor: bank.amountMinor }, context), context.now);
  try {
    await runBatch(db, [
      insertPaymentStatement(db, {
        id: paymentId,
        accountId: bank.accountId,
        currency,
        amountMinor: bank.amountMinor.toString(),
        refundedMinor: "0",
        source: "bank",
        sourceRef: bank.reference,
        entryKey: entry.entry.key,
        receivedAt: bank.receivedAt,
      }),
      ...entry.statements,
    ]);
  } catch (error) {
    const now = await getPayment(db, paymentId);
    if (now) return known(now);
    await alreadyPosted(db, entry);
    throw error;
  }
  return { applied: true, paymentId, entryKey: entry.entry.key };
}
