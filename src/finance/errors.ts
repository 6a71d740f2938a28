// The finance domain's one error class: a stable code, a short message and details (the edge's EdgeError shape).
// src/api/finance.ts maps each code to its HTTP status in one table.

import { EdgeError } from "../protocol/errors.ts";

export type FinanceErrorCode =
  // Ledger rules (src/finance/ledger.ts)
  | "InvalidAmount"
  | "InvalidEntry"
  | "UnknownLedgerAccount"
  | "CurrencyNotAllowed"
  | "UnbalancedEntry"
  | "EntryKeyConflict"
  // Payments (src/finance/payments.ts)
  | "UnknownAccount"
  | "UnsupportedCurrency"
  | "NoSuchPayment"
  | "PaymentMismatch"
  | "RefundExceedsPayment"
  | "PaymentAlreadyRecorded"
  | "EventIdConflict"
  // Price sheets (src/finance/pricing.ts)
  | "PriceSheetVersionTaken"
  | "PriceSheetNotEffective";

export class FinanceError extends EdgeError<FinanceErrorCode> {
  override name = "FinanceError";
  constructor(code: FinanceErrorCode, message: string, details?: unknown) {
    super(code, message, details);
  }
}
