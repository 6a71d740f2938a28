// The edge's protocol signer, with its transactions relayed through the ProtocolTransactions Durable Object (the one
// owner of the protocol key's nonces; workers/durable/protocol-transactions/). Every Worker path that sends a
// protocol transaction takes its signer from here.

import type { ChainSigner } from "../chain/clients.ts";
import type { ChainConfig } from "../chain/config.ts";
import { edgeProtocolSigner } from "../chain/edge-chain.ts";
import type { TransactionRelay } from "../chain/transaction-relay.ts";
import type { Env } from "../env.ts";

/** The Durable Object's name: one object, so one sequence of nonces. */
export const PROTOCOL_TRANSACTIONS_OBJECT = "protocol";

export function protocolTransactionsOf(env: Env) {
  return env.PROTOCOL_TRANSACTIONS.get(env.PROTOCOL_TRANSACTIONS.idFromName(PROTOCOL_TRANSACTIONS_OBJECT));
}

export function protocolSigner(env: Env, config: ChainConfig): ChainSigner {
  const relay: TransactionRelay = {
    resume: (endpoint, key) => protocolTransactionsOf(env).resume(endpoint, key),
    submit: (endpoint, key, call) => protocolTransactionsOf(env).submit(endpoint, key, call),
  };
  return { ...edgeProtocolSigner(env, config), relay };
}
