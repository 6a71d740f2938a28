// The validator's WebSocket session with the edge's challenge coordinator (src/protocol/validator-session.ts): read
// the edge's audit domain, connect, answer `hello` with a ValidatorLogin signed by the operational key, wait for
// `welcome`, then pass assignments and acks on until the socket drops; then connect again with capped exponential
// backoff and jitter, for as long as the process runs. Each change of state is logged once, not once per retry.

import { setTimeout as sleep } from "node:timers/promises";
import type { LocalAccount } from "viem";
import WebSocket from "ws";
import { auditTypes, loginTypedMessage, type ValidatorLogin } from "../../../src/protocol/audit.ts";
import {
  auditDomainInfoSchema,
  coordinatorMessageSchema,
  MAX_SESSION_MESSAGE_BYTES,
  VALIDATOR_DOMAIN_PATH,
  VALIDATOR_SESSION_PATH,
  type AuditDomainInfo,
  type CoordinatorMessage,
  type ValidatorMessage,
} from "../../../src/protocol/validator-session.ts";
import type { Logger } from "../logger.ts";
import { domainOf } from "./assignment-runner.ts";

export interface BackoffPolicy {
  baseMs: number;
  capMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 500, capMs: 30_000 };
/** From the socket opening to `welcome`: a coordinator that says nothing for this long is dropped. */
const LOGIN_TIMEOUT_MS = 15_000;
const DOMAIN_FETCH_TIMEOUT_MS = 10_000;
/** WebSocket pings (RFC 6455 §5.5.2) find a dead connection the TCP stack would keep for hours. */
const PING_INTERVAL_MS = 30_000;

export type SessionState = "logged_in" | "disconnected" | "edge_unreachable" | "login_refused";

export interface CoordinatorSessionHandlers {
  /** Logged in (again): the session can carry attestations. */
  loggedIn(domain: AuditDomainInfo): void;
  assignment(message: Extract<CoordinatorMessage, { type: "assignment" }>, domain: AuditDomainInfo): void;
  ack(roundId: number, pieceId: string): void;
}

export interface CoordinatorSessionOptions {
  edgeUrl: string;
  /** The operational key. */
  account: LocalAccount;
  /** The staked address the login names. */
  validatorAddress: `0x${string}`;
  handlers: CoordinatorSessionHandlers;
  log: Logger;
  backoff?: BackoffPolicy;
  now?: () => number;
  fetch?: typeof globalThis.fetch;
}

/** Delay before reconnect attempt `failures` (0 after a session that had logged in): "equal jitter", never 0. */
export function backoffDelay(failures: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(failures, 30));
  return ceiling / 2 + random() * (ceiling / 2);
}

type ConnectionEnd = { loggedIn: boolean; state: Exclude<SessionState, "logged_in">; reason: string };

export class CoordinatorSession {
  private socket: WebSocket | undefined;
  private loggedIn = false;
  private state: SessionState | undefined;
  private readonly now: () => number;
  private readonly options: CoordinatorSessionOptions;

  constructor(options: CoordinatorSessionOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  /** Sends on the open, logged-in session; false when there is none. */
  send(message: ValidatorMessage): boolean {
    const socket = this.socket;
    if (!this.loggedIn || socket === undefined || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(JSON.stringify(message));
    return true;
  }

  /** Connects, and reconnects, until `signal` aborts; then closes the socket and resolves. */
  async run(signal: AbortSignal): Promise<void> {
    const policy = this.options.backoff ?? DEFAULT_BACKOFF;
    let failures = 0;
    const onAbort = () => {
      const socket = this.socket;
      socket?.close(1000, "validator shutting down");
      // A coordinator that never answers the close frame does not hold the shutdown up.
      setTimeout(() => socket?.terminate(), 1_000).unref();
    };
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      while (!signal.aborted) {
        const end = await this.connectOnce(signal);
        if (signal.aborted) break;
        failures = end.loggedIn ? 0 : failures + 1;
        const delayMs = Math.round(backoffDelay(failures, policy));
        this.enter(end.state, { reason: end.reason, retryInMs: delayMs });
        await sleep(delayMs, undefined, { signal }).catch(() => undefined);
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  /** Logs a state the first time it is entered after another. */
  private enter(state: SessionState, fields: Record<string, unknown>): void {
    if (this.state === state) return;
    this.state = state;
    const level = state === "logged_in" ? "info" : "warn";
    this.options.log[level]("coordinator_session", { state, ...fields });
  }

  private async fetchDomain(signal: AbortSignal): Promise<AuditDomainInfo> {
    const response = await (this.options.fetch ?? fetch)(`${this.options.edgeUrl}${VALIDATOR_DOMAIN_PATH}`, {
      signal: AbortSignal.any([signal, AbortSignal.timeout(DOMAIN_FETCH_TIMEOUT_MS)]),
    });
    if (!response.ok) {
      await response.body?.cancel().catch(() => {});
      throw new Error(`GET ${VALIDATOR_DOMAIN_PATH} answered ${response.status}`);
    }
    return auditDomainInfoSchema.parse(await response.json());
  }

  private async connectOnce(signal: AbortSignal): Promise<ConnectionEnd> {
    let domain: AuditDomainInfo;
    try {
      domain = await this.fetchDomain(signal);
    } catch (error) {
      return { loggedIn: false, state: "edge_unreachable", reason: `audit domain: ${(error as Error).message}` };
    }
    const url = `${this.options.edgeUrl.replace(/^http/, "ws")}${VALIDATOR_SESSION_PATH}`;
    return new Promise<ConnectionEnd>((resolve) => {
      const socket = new WebSocket(url, { maxPayload: MAX_SESSION_MESSAGE_BYTES, handshakeTimeout: LOGIN_TIMEOUT_MS });
      this.socket = socket;
      let loggedIn = false;
      let refusal: string | undefined;
      let lastError: string | undefined;
      let awaitingPong = false;
      const loginTimer = setTimeout(() => {
        refusal ??= "no welcome from the coordinator";
        socket.terminate();
      }, LOGIN_TIMEOUT_MS);
      const pingTimer = setInterval(() => {
        if (awaitingPong) return socket.terminate();
        awaitingPong = true;
        if (socket.readyState === WebSocket.OPEN) socket.ping();
      }, PING_INTERVAL_MS);
      socket.on("pong", () => (awaitingPong = false));

      socket.on("message", (data, isBinary) => {
        if (isBinary) return this.options.log.warn("coordinator_message_refused", { reason: "binary frame" });
        let message: CoordinatorMessage;
        try {
          message = coordinatorMessageSchema.parse(JSON.parse(data.toString()));
        } catch (error) {
          this.options.log.warn("coordinator_message_refused", { reason: "not a coordinator message", error });
          return;
        }
        switch (message.type) {
          case "hello":
            void this.login(socket, message.nonce, domain).catch((error: unknown) => {
              refusal = `cannot sign the login: ${(error as Error).message}`;
              socket.terminate();
            });
            return;
          case "welcome":
            if (message.validator.toLowerCase() !== this.options.validatorAddress.toLowerCase()) {
              refusal = `welcomed as ${message.validator}, not ${this.options.validatorAddress}`;
              socket.close(1008, "wrong validator");
              return;
            }
            clearTimeout(loginTimer);
            loggedIn = true;
            this.loggedIn = true;
            this.enter("logged_in", { validator: this.options.validatorAddress, operator: this.options.account.address });
            this.options.handlers.loggedIn(domain);
            return;
          case "assignment":
            if (!loggedIn) return this.options.log.warn("coordinator_message_refused", { reason: "assignment before welcome" });
            this.options.handlers.assignment(message, domain);
            return;
          case "ack":
            this.options.handlers.ack(message.roundId, message.pieceId);
            return;
          case "error":
            if (!loggedIn) refusal = message.message;
            else this.options.log.warn("coordinator_error", { message: message.message });
            return;
          default:
            message satisfies never;
        }
      });
      socket.on("error", (error) => (lastError = error.message));
      socket.on("close", (code, reason) => {
        clearTimeout(loginTimer);
        clearInterval(pingTimer);
        if (this.socket === socket) {
          this.socket = undefined;
          this.loggedIn = false;
        }
        const closed = `closed ${code}${reason.length > 0 ? ` ${reason.toString()}` : ""}`;
        if (loggedIn) resolve({ loggedIn, state: "disconnected", reason: lastError ?? closed });
        else if (refusal !== undefined) resolve({ loggedIn, state: "login_refused", reason: refusal });
        else resolve({ loggedIn, state: "edge_unreachable", reason: lastError ?? closed });
      });
      if (signal.aborted) socket.terminate();
    });
  }

  private async login(socket: WebSocket, nonce: string, domain: AuditDomainInfo): Promise<void> {
    const login: ValidatorLogin = {
      validator: this.options.validatorAddress,
      operator: this.options.account.address,
      nonce,
      issuedAt: Math.floor(this.now() / 1000),
    };
    const signature = await this.options.account.signTypedData({
      domain: domainOf(domain),
      types: auditTypes,
      primaryType: "ValidatorLogin",
      message: loginTypedMessage(login),
    });
    const message: ValidatorMessage = { type: "login", login, signature };
    if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }
}
