// One validator: the coordinator session, the assignment runner and the attestation ledger, wired together. An
// attestation the coordinator has not acknowledged is sent again at every login and every ACK_WAIT_MS, the same
// signed bytes each time, until a little after its deadline (the coordinator closes the round then).

import type { LocalAccount } from "viem";
import type { Logger } from "../logger.ts";
import { AttestationLedger, challengeKey, type AttestationMessage } from "./attestation-ledger.ts";
import { AssignmentRunner } from "./assignment-runner.ts";
import { CoordinatorSession, type BackoffPolicy } from "./coordinator-session.ts";
import type { TestFault } from "./test-faults.ts";

/** How long an attestation waits for its ack before it is sent again. */
export const ACK_WAIT_MS = 10_000;
/** Unacknowledged attestations are offered until this long after their deadline. */
export const RESEND_GRACE_SECONDS = 60;

export interface ValidatorOptions {
  edgeUrl: string;
  validatorAddress: `0x${string}`;
  /** The operational key. */
  account: LocalAccount;
  dataDir: string | undefined;
  maxConcurrentChallenges: number;
  testFault: TestFault | undefined;
  log: Logger;
  backoff?: BackoffPolicy;
  ackWaitMs?: number;
  now?: () => number;
  fetch?: typeof globalThis.fetch;
  /** Called at every successful login (the first one makes the process ready). */
  onLoggedIn?: () => void;
}

export interface RunningValidator {
  /** Resolves when every queued and running challenge is done (tests). */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

export async function startValidator(options: ValidatorOptions): Promise<RunningValidator> {
  const now = options.now ?? Date.now;
  const nowSeconds = () => Math.floor(now() / 1000);
  const { log } = options;
  const ledger = options.dataDir === undefined ? AttestationLedger.inMemory(log) : await AttestationLedger.open(options.dataDir, nowSeconds(), log);
  const lastSent = new Map<string, number>();
  const ackWaitMs = options.ackWaitMs ?? ACK_WAIT_MS;

  const send = (message: AttestationMessage): boolean => {
    const sent = session.send(message);
    if (sent) lastSent.set(challengeKey(message.attestation.roundId, message.attestation.pieceId), now());
    return sent;
  };
  const resendUnacked = (olderThanMs: number) => {
    const pending = new Set<string>();
    for (const entry of ledger.unacked(nowSeconds(), RESEND_GRACE_SECONDS)) {
      const key = challengeKey(entry.message.attestation.roundId, entry.message.attestation.pieceId);
      pending.add(key);
      if (now() - (lastSent.get(key) ?? -Infinity) < olderThanMs) continue;
      if (send(entry.message)) log.info("attestation_resent", { roundId: entry.message.attestation.roundId, pieceId: entry.message.attestation.pieceId, reason: "no ack" });
    }
    for (const key of lastSent.keys()) if (!pending.has(key)) lastSent.delete(key);
  };

  const runner = new AssignmentRunner({
    account: options.account,
    ledger,
    send,
    maxConcurrent: options.maxConcurrentChallenges,
    testFault: options.testFault,
    log,
    now,
    fetch: options.fetch,
  });
  const session = new CoordinatorSession({
    edgeUrl: options.edgeUrl,
    account: options.account,
    validatorAddress: options.validatorAddress,
    log,
    backoff: options.backoff,
    now,
    fetch: options.fetch,
    handlers: {
      loggedIn: () => {
        resendUnacked(0);
        options.onLoggedIn?.();
      },
      assignment: (message, domain) => runner.accept(message, domain),
      ack: (roundId, pieceId) => {
        lastSent.delete(challengeKey(roundId, pieceId));
        void runner.acknowledged(roundId, pieceId);
      },
    },
  });

  const stopping = new AbortController();
  const sessionDone = session.run(stopping.signal);
  const resendTimer = setInterval(() => {
    resendUnacked(ackWaitMs);
    ledger.prune(nowSeconds());
  }, ackWaitMs);

  return {
    idle: () => runner.idle(),
    stop: async () => {
      clearInterval(resendTimer);
      stopping.abort();
      await runner.stop();
      await sessionDone;
      await ledger.close();
    },
  };
}
