// The one Env type. Bindings and vars come from wrangler.toml through `npm run types`
// (src/worker-configuration.d.ts); secrets are not in wrangler.toml, so they are declared here.

import type { BucketIndex } from "../workers/durable/bucket-index/bucket-index.ts";
import type { ChallengeCoordinator } from "../workers/durable/challenge-coordinator/challenge-coordinator.ts";
import type { ProtocolTransactions } from "../workers/durable/protocol-transactions/protocol-transactions.ts";

export interface Env extends Omit<Cloudflare.Env, "BUCKET_INDEX" | "CHALLENGE_COORDINATOR" | "PROTOCOL_TRANSACTIONS"> {
  BUCKET_INDEX: DurableObjectNamespace<BucketIndex>;
  CHALLENGE_COORDINATOR: DurableObjectNamespace<ChallengeCoordinator>;
  PROTOCOL_TRANSACTIONS: DurableObjectNamespace<ProtocolTransactions>;
  /** Bearer token for /api/v1/admin/*. */
  ADMIN_TOKEN: string;
  /** Base64 of 32 bytes: AES-GCM key that encrypts secrets stored in D1. */
  KEY_ENCRYPTION_KEY: string;
  /**
   * The master keys of edge encryption, newest first: `"k2:<base64 32 bytes>,k1:<base64 32 bytes>"`. The first
   * wraps new bucket and KMS keys; the others stay until the rotation chore has re-wrapped everything under them.
   */
  MASTER_KEYS: string;
  /** 0x-hex private key that signs the protocol's transactions (slashing, settlement); unused without a chain. */
  PROTOCOL_SIGNER_KEY?: string;
  /**
   * 0x-hex private key that signs challenge assignments (EIP-712) and nothing else: separate from the protocol's
   * transaction key, so a leak of one does not give the other.
   */
  AUDIT_SIGNER_KEY?: string;
  /** Bearer token of the finance role: /api/v1/finance/* except the webhook (src/api/finance.ts). */
  FINANCE_TOKEN?: string;
  /** The payment provider's webhook signing secret; "new,old" while rotating (src/api/finance.ts). */
  FINANCE_WEBHOOK_SECRET?: string;
  /** Optional vars of the finance surface, not in wrangler.toml (parsed with the others in src/config.ts). */
  FINANCE_WEBHOOK_TOLERANCE_SECONDS?: string;
  FINANCE_PERIOD_MINUTES?: string;
  /** Optional vars of the settlement chore (src/config.ts SettlementConfig; README, Finance). */
  SETTLEMENT_BUYBACK_SHARE_BPS?: string;
  SETTLEMENT_USDC_FUNDING?: string;
  SETTLEMENT_PROTOCOL_SHARE_BPS?: string;
  SETTLEMENT_VALIDATOR_SHARE_BPS?: string;
  SETTLEMENT_STORAGE_WEIGHT?: string;
  SETTLEMENT_EGRESS_WEIGHT?: string;
  BUYBACK_MIN_WINDOW_SECONDS?: string;
  BUYBACK_MAX_SPOT_DEVIATION_BPS?: string;
  BUYBACK_MAX_PRICE_IMPACT_BPS?: string;
  BUYBACK_MIN_USDC_RESERVE?: string;
  BUYBACK_SLIPPAGE_BPS?: string;
  BUYBACK_DEADLINE_SECONDS?: string;
  POOL_OBSERVATION_INTERVAL_SECONDS?: string;
  /** The buyback market (src/chain/config.ts): all three or none. */
  USDC_ADDRESS?: string;
  UNISWAP_V2_ROUTER_ADDRESS?: string;
  ICNT_USDC_PAIR_ADDRESS?: string;
  /** Test-only: where the settlement chore stops as if it crashed (src/services/settlement.ts); needs TEST_CLOCK. */
  SETTLEMENT_FAULT_AFTER_STEP?: string;
}
