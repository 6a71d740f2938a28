// The chart of accounts. Every ledger line names one of these codes (and, where the account keeps a sub-ledger, the
// customer or payee within it); the ledger refuses any other code, and a currency the account does not hold.
//
// A conversion between currencies never happens inside one account's balance: each side is posted in its own
// currency against a clearing account (fx_clearing for fiat converted to stablecoin off-chain, buyback for a swap,
// prepaid_clearing for an invoice paid in ICNT from the customer's escrow),
// so every currency balances on its own and the rate is read from the two sides of the recorded conversion.

import type { Currency } from "./money.ts";

/** Asset and expense accounts normally carry a debit balance; the others a credit balance. */
export type AccountType = "asset" | "liability" | "equity" | "revenue" | "expense";

export interface ChartAccount {
  type: AccountType;
  currencies: readonly Currency[];
  /** What the sub-ledger is keyed by (a customer account id, a payout address, a node id); "none" means the subaccount must be empty. */
  subledger: "none" | "account" | "address" | "node";
  description: string;
}

export const CHART = {
  cash: { type: "asset", currencies: ["USD"], subledger: "none", description: "Fiat at the bank and the payment provider" },
  receivables: {
    type: "asset",
    currencies: ["USD"],
    subledger: "account",
    description: "What each customer account owes: debited by invoices, credited by payments (a credit balance is money paid ahead)",
  },
  revenue: { type: "revenue", currencies: ["USD"], subledger: "none", description: "Invoiced storage, egress and requests" },
  refunds: { type: "expense", currencies: ["USD"], subledger: "none", description: "Contra-revenue: credit notes against invoiced revenue" },
  fx_clearing: {
    type: "equity",
    currencies: ["USD", "USDC"],
    subledger: "none",
    description: "Fiat converted to stablecoin off-chain: USD out of cash on one side, USDC into the treasury on the other",
  },
  prepaid_clearing: {
    type: "equity",
    currencies: ["USD", "ICNT"],
    subledger: "none",
    description:
      "Invoices paid from a customer's ServiceEscrow balance: USD credited to the customer's receivables on one side, the ICNT drawn into the treasury on the other; its ICNT then fills the period's rewards pool",
  },
  stablecoin_treasury: { type: "asset", currencies: ["USDC"], subledger: "none", description: "Stablecoin the protocol's treasury holds for buybacks" },
  buyback: {
    type: "equity",
    currencies: ["USDC", "ICNT"],
    subledger: "none",
    description: "Swaps of stablecoin for ICNT through the pool: USDC paid in, ICNT received, each in its own currency",
  },
  icnt_treasury: { type: "asset", currencies: ["ICNT"], subledger: "none", description: "ICNT the protocol's treasury holds" },
  operator_payables: { type: "liability", currencies: ["ICNT"], subledger: "address", description: "ICNT earned by operators (by payout address), not yet funded" },
  validator_payables: { type: "liability", currencies: ["ICNT"], subledger: "address", description: "ICNT earned by validators (by payout address), not yet funded" },
  // Per node, not per payout address: a node's age decides its hold and its stake decides its top-up.
  held_back: { type: "liability", currencies: ["ICNT"], subledger: "node", description: "Earnings of new nodes held back (returned later, forfeited on disqualification)" },
  collateral_topups: {
    type: "liability",
    currencies: ["ICNT"],
    subledger: "node",
    description: "Rewards of under-collateralized nodes owed into their stake instead of paid out",
  },
  rewards_pool: {
    type: "equity",
    currencies: ["ICNT"],
    subledger: "none",
    description: "The ICNT a period's settlement distributes: credited from the buyback (and ICNT drawn from escrows), debited by the split; zero once the period is split",
  },
  protocol_share: { type: "equity", currencies: ["ICNT"], subledger: "none", description: "The protocol's share of each period's ICNT" },
} as const satisfies Record<string, ChartAccount>;

export type AccountCode = keyof typeof CHART;

export function isAccountCode(value: string): value is AccountCode {
  return Object.hasOwn(CHART, value);
}
