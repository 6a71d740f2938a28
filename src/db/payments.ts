// Queries over `payments` and `payment_events`. The statements that record a payment or a refund are returned for
// the caller's D1 batch, beside the ledger entry they go with (src/finance/payments.ts).

import { and, asc, eq, sql } from "drizzle-orm";
import type { Db } from "./client.ts";
import type { Statement } from "./ledger.ts";
import { accounts, paymentEvents, payments } from "./schema.ts";

export type PaymentRow = typeof payments.$inferSelect;
export type PaymentEventRow = typeof paymentEvents.$inferSelect;

export async function getPayment(db: Db, id: string): Promise<PaymentRow | undefined> {
  return db.select().from(payments).where(eq(payments.id, id)).get();
}

export async function getPaymentEvent(db: Db, id: string): Promise<PaymentEventRow | undefined> {
  return db.select().from(paymentEvents).where(eq(paymentEvents.id, id)).get();
}

export async function customerAccountExists(db: Db, accountId: string): Promise<boolean> {
  return (await db.select({ id: accounts.id }).from(accounts).where(eq(accounts.id, accountId)).get()) !== undefined;
}

export function insertPaymentStatement(db: Db, row: PaymentRow): Statement {
  return db.insert(payments).values(row);
}

export function insertPaymentEventStatement(db: Db, row: PaymentEventRow): Statement {
  return db.insert(paymentEvents).values(row);
}

/**
 * Adds `amountMinor` to the payment's refunded amount. The table's CHECK fails the statement, and so the whole
 * batch, when the refunds would pass the payment: the bound holds however many refunds race.
 */
export function addRefundStatement(db: Db, paymentId: string, amountMinor: bigint): Statement {
  return db
    .update(payments)
    .set({ refundedMinor: sql`CAST(CAST(${payments.refundedMinor} AS INTEGER) + ${amountMinor.toString()} AS TEXT)` })
    .where(eq(payments.id, paymentId));
}

/** Payments in receipt order after a cursor (receivedAt, id), optionally of one account: a page of the export. */
export async function listPayments(db: Db, options: { accountId?: string; after?: { receivedAt: number; id: string }; limit: number }): Promise<PaymentRow[]> {
  const after = options.after;
  return db
    .select()
    .from(payments)
    .where(
      and(
        options.accountId === undefined ? undefined : eq(payments.accountId, options.accountId),
        after === undefined ? undefined : sql`(${payments.receivedAt}, ${payments.id}) > (${after.receivedAt}, ${after.id})`,
      ),
    )
    .orderBy(asc(payments.receivedAt), asc(payments.id))
    .limit(options.limit)
    .all();
}
