// Validator sessions: one WebSocket per validator, accepted with the Hibernation API so an idle coordinator is
// evicted without dropping them. The session lives in the socket's attachment (it survives hibernation): first
// the nonce the coordinator sent, then, after a login signed over that nonce, the validator and its key.

import { recoverTypedDataAddress, type Hex } from "viem";
import { loginTypedMessage, auditTypes, type ValidatorLogin } from "../../../src/protocol/audit.ts";
import type { AuditChain } from "./audit-chain.ts";

export type SessionState = { nonce: string; openedAt: number } | { validator: string; operator: string; loggedInAt: number };

/** How far a login's issuedAt may be from the coordinator's clock. */
const LOGIN_SKEW_MS = 5 * 60_000;

export function isLoggedIn(state: SessionState | null): state is Extract<SessionState, { validator: string }> {
  return state !== null && "validator" in state;
}

type Domain = Awaited<ReturnType<typeof import("../../../src/protocol/node-protocol.ts").registrationDomain>>;

/**
 * Checks a login: over this socket's nonce, fresh, signed by the operational key it names, that key authorized on
 * chain by the validator it names, and that validator staked. Returns the error to send, or the session.
 */
export async function checkLogin(
  chain: AuditChain,
  domain: Domain,
  state: SessionState | null,
  login: ValidatorLogin,
  signature: string,
  now: number,
): Promise<{ ok: true; session: { validator: string; operator: string } } | { ok: false; error: string }> {
  if (state === null || isLoggedIn(state)) return { ok: false, error: "this session is already logged in" };
  if (login.nonce !== state.nonce) return { ok: false, error: "the login is not over this session's nonce" };
  if (Math.abs(login.issuedAt * 1000 - now) > LOGIN_SKEW_MS) return { ok: false, error: "the login's issuedAt is not within five minutes of the edge's clock" };
  let signer: string;
  try {
    signer = await recoverTypedDataAddress({ domain, types: auditTypes, primaryType: "ValidatorLogin", message: loginTypedMessage(login), signature: signature as Hex });
  } catch {
    return { ok: false, error: "the login's signature is malformed" };
  }
  if (signer.toLowerCase() !== login.operator.toLowerCase()) return { ok: false, error: "the login is not signed by the operational key it names" };
  const authorized = await chain.operatorOf(login.validator);
  if (authorized?.toLowerCase() !== login.operator.toLowerCase()) return { ok: false, error: "the validator has not authorized this operational key on chain" };
  if (!(await chain.isValidator(login.validator))) return { ok: false, error: "the validator is not staked (NodeStaking.isValidator)" };
  return { ok: true, session: { validator: login.validator.toLowerCase(), operator: login.operator.toLowerCase() } };
}
