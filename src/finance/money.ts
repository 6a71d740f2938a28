// Currencies and amounts. Every amount is a bigint of the currency's base units (USD cents, USDC's 6 decimals,
// ICNT's 18), written as a decimal string wherever it leaves memory (D1, JSON, CSV): ICNT amounts pass 2^53, and a
// float never holds money here.

import { FinanceError } from "./errors.ts";

/** Decimals of each currency's base unit: what `1` of the stored integer is worth. */
export const CURRENCIES = {
  /** US dollars in cents (ISO 4217 minor unit). */
  USD: { decimals: 2 },
  /** The stablecoin the buyback spends (locally TestUSDC): 6 decimals, as USDC's ERC-20. */
  USDC: { decimals: 6 },
  /** The protocol token: 18 decimals (ERC-20). */
  ICNT: { decimals: 18 },
} as const;

export type Currency = keyof typeof CURRENCIES;

/** Currencies fiat payments may arrive in (the webhook, the bank import). */
export const PAYMENT_CURRENCIES = ["USD"] as const satisfies readonly Currency[];
export type PaymentCurrency = (typeof PAYMENT_CURRENCIES)[number];

export function isCurrency(value: string): value is Currency {
  return Object.hasOwn(CURRENCIES, value);
}

/** A non-negative decimal integer without leading zeros, at most 78 digits (2^256 has 78). */
export const AMOUNT_PATTERN = /^(0|[1-9]\d{0,77})$/;

/** The bigint a stored decimal string holds; anything else is a defect in what wrote it. */
export function parseAmount(text: string): bigint {
  if (!AMOUNT_PATTERN.test(text)) throw new FinanceError("InvalidAmount", `"${text}" is not a decimal amount of base units.`, { amount: text });
  return BigInt(text);
}

/**
 * An amount written in major units ("12.34", "12", "0.5") as base units of `currency`, exactly: more fractional
 * digits than the currency has is refused rather than rounded (a bank statement never has them).
 */
export function parseMajorAmount(text: string, currency: Currency): bigint {
  const { decimals } = CURRENCIES[currency];
  const m = /^(0|[1-9]\d{0,40})(?:\.(\d+))?$/.exec(text.trim());
  if (!m || (m[2] !== undefined && m[2].length > decimals)) {
    throw new FinanceError("InvalidAmount", `"${text}" is not an amount of ${currency} with at most ${decimals} decimals.`, { amount: text });
  }
  return BigInt(m[1]!) * 10n ** BigInt(decimals) + BigInt((m[2] ?? "").padEnd(decimals, "0") || "0");
}

/** Base units written in major units with all the currency's decimals: 1234n USD → "12.34". For people; never parsed back. */
export function formatMajorAmount(amount: bigint, currency: Currency): string {
  const { decimals } = CURRENCIES[currency];
  const negative = amount < 0n;
  const digits = (negative ? -amount : amount).toString().padStart(decimals + 1, "0");
  const whole = digits.slice(0, digits.length - decimals);
  const fraction = digits.slice(digits.length - decimals);
  return `${negative ? "-" : ""}${whole}${decimals > 0 ? `.${fraction}` : ""}`;
}
