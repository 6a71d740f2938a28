// The edge's audit key (Worker secret AUDIT_SIGNER_KEY): it signs challenge assignments, so nodes and validators
// know a challenge comes from this edge's round. It never sends a transaction; the protocol's transaction key
// (PROTOCOL_SIGNER_KEY) never signs an assignment, so neither key's compromise gives the other's power.

import type { Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { ChainConfigError } from "../chain/errors.ts";
import { configOf } from "../config.ts";
import type { Env } from "../env.ts";
import { assignmentTypedMessage, auditTypes, type Assignment } from "../protocol/audit.ts";
import { registrationDomain } from "../protocol/node-protocol.ts";

/** Signs a challenge assignment with the edge's audit key (AUDIT_SIGNER_KEY), in the edge's EIP-712 domain. */
export async function signAssignment(env: Env, assignment: Assignment): Promise<Hex> {
  return auditSigner(env).signTypedData({
    domain: await auditDomain(env),
    types: auditTypes,
    primaryType: "ChallengeAssignment",
    message: assignmentTypedMessage(assignment),
  });
}

export function auditSigner(env: Env) {
  if (!env.AUDIT_SIGNER_KEY) throw new ChainConfigError("AUDIT_SIGNER_KEY is not set: the edge cannot sign challenge assignments.");
  return privateKeyToAccount(env.AUDIT_SIGNER_KEY as Hex);
}

export function auditDomain(env: Env) {
  return registrationDomain(configOf(env).registrationChainId, env.EDGE_ID);
}
