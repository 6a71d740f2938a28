// The seam through which a signer's transactions can be handed to one owner of its nonces instead of being signed
// where they are made. The edge's protocol key uses it: every protocol transaction (slashing, round commitments,
// settlement) goes through the ProtocolTransactions Durable Object, which stores each signed transaction under its
// step's key before broadcasting it, so a step resumed after a crash rebroadcasts the same transaction or reads its
// receipt, and never signs a second one (workers/durable/protocol-transactions/).

import type { Address, Hash, Hex } from "viem";

/** What a relay signs: a call already simulated by the sender. */
export interface RelayedCall {
  to: Address;
  data: Hex;
  /** Wei, as a decimal string (RPC arguments of Durable Objects carry bigints, but JSON logs do not). */
  value?: string;
}

/** Where the relay sends: the chain the caller is configured for (the Worker's CHAIN_RPC_URL and CHAIN_ID). */
export interface RelayEndpoint {
  rpcUrl: string;
  chainId: number;
}

export interface TransactionRelay {
  /**
   * The transaction already signed for `key`, rebroadcast unless it is mined; undefined when the key is new. A
   * resumed step asks this first: its call may no longer simulate (it succeeded before the crash).
   */
  resume(endpoint: RelayEndpoint, key: string): Promise<Hash | undefined>;
  /** Signs `call` under the next nonce, stores it under `key`, broadcasts it; for a known key, as resume. */
  submit(endpoint: RelayEndpoint, key: string, call: RelayedCall): Promise<Hash>;
}
