// Asking a node for a storage proof: POST the edge-signed assignment to <nodeUrl>/audit/challenges and read the
// StorageProof it answers, all before the assignment's deadline.
//
// A slow disk is not a lying disk (issue 16: "timeouts are retried before they count"), so a request that has not
// been answered after its share of the window is not abandoned: a second one is sent beside it (hedged, as tail-
// tolerant systems do) and whichever answers first counts; a 5xx or an unreachable node is asked again after a short
// pause. Anything the node definitely said (a proof, good or bad; a 4xx) ends the challenge at once.

import { setTimeout as sleep } from "node:timers/promises";
import { NODE_CHALLENGE_PATH, storageProofSchema, type ChallengeRequest, type StorageProof } from "../../../src/protocol/audit.ts";
import { MAX_SESSION_MESSAGE_BYTES } from "../../../src/protocol/validator-session.ts";

/** Requests per challenge at most, counting hedges and retries. */
export const MAX_CHALLENGE_ATTEMPTS = 3;
/** Pause before asking again after a 5xx or a refused connection. */
const RETRY_PAUSE_MS = 300;
/** An attempt is not started with less time than this left: it could not finish. */
const MIN_ATTEMPT_MS = 100;
/** A proof of 256 leaves is about 22 MB of base64 at most; a usual 16-leaf one 1.4 MB. Anything larger is refused unread. */
const MAX_PROOF_RESPONSE_BYTES = 4 * MAX_SESSION_MESSAGE_BYTES;

/** What one request got; `final` answers end the challenge, the others may be retried. */
type AttemptResult =
  | { final: true; kind: "proof"; proof: StorageProof }
  | { final: true; kind: "refused"; reason: string }
  | { final: true; kind: "malformed"; reason: string }
  | { final: false; reason: string };

export type ChallengeAnswer =
  /** The node answered with a well-formed proof (not yet checked against the root). */
  | { kind: "proof"; proof: StorageProof; attempts: number }
  /** No usable answer. `reason` is canonical (no timings, no error text) so validators that saw the same sign the same evidence hash. */
  | { kind: "failure"; reason: string; attempts: number };

export interface ChallengeNodeOptions {
  nodeUrl: string;
  request: ChallengeRequest;
  /** Epoch ms by which the challenge must be over (the deadline minus the time to attest). */
  finishByMs: number;
  now?: () => number;
  fetch?: typeof globalThis.fetch;
  /** Aborts everything (the validator is shutting down); the answer is then a failure nobody sends. */
  signal?: AbortSignal;
  maxAttempts?: number;
}

export async function challengeNode(options: ChallengeNodeOptions): Promise<ChallengeAnswer> {
  const now = options.now ?? Date.now;
  const maxAttempts = options.maxAttempts ?? MAX_CHALLENGE_ATTEMPTS;
  const url = `${options.nodeUrl.replace(/\/+$/, "")}${NODE_CHALLENGE_PATH}`;
  const body = JSON.stringify(options.request);
  const startedAt = now();
  const window = Math.max(0, options.finishByMs - startedAt);
  /** Attempt k (0-based) may start beside ones still running no earlier than this: the window split evenly. */
  const hedgeAt = (k: number) => startedAt + (k * window) / maxAttempts;

  const controllers: AbortController[] = [];
  const running = new Map<number, Promise<{ id: number; result: AttemptResult }>>();
  let started = 0;
  let pauseUntil = startedAt;
  let lastRetryable: string | undefined;
  let timedOut = false;

  const start = () => {
    const id = started++;
    const controller = new AbortController();
    controllers.push(controller);
    const signal = options.signal ? AbortSignal.any([controller.signal, options.signal]) : controller.signal;
    running.set(id, requestProof(options.fetch ?? fetch, url, body, signal).then((result) => ({ id, result })));
  };

  try {
    for (;;) {
      const t = now();
      if (options.signal?.aborted) return { kind: "failure", reason: "aborted", attempts: started };
      if (t >= options.finishByMs) {
        timedOut ||= running.size > 0;
        break;
      }
      const mayStart = started < maxAttempts && options.finishByMs - t >= MIN_ATTEMPT_MS && t >= (running.size === 0 ? pauseUntil : hedgeAt(started));
      if (mayStart) {
        start();
        continue;
      }
      if (running.size === 0 && started >= maxAttempts) break;
      const wakeAt = Math.min(options.finishByMs, started < maxAttempts ? (running.size === 0 ? pauseUntil : hedgeAt(started)) : Infinity);
      const timer = new AbortController();
      const settled = await Promise.race([
        ...running.values(),
        sleep(Math.max(1, wakeAt - t), undefined, { signal: timer.signal }).catch(() => undefined),
      ]);
      timer.abort();
      if (settled === undefined) continue;
      running.delete(settled.id);
      const { result } = settled;
      if (result.final) {
        if (result.kind === "proof") return { kind: "proof", proof: result.proof, attempts: started };
        return { kind: "failure", reason: result.reason, attempts: started };
      }
      if (result.reason === "timeout") timedOut = true;
      lastRetryable = result.reason;
      pauseUntil = now() + RETRY_PAUSE_MS;
    }
  } finally {
    for (const c of controllers) c.abort();
  }
  return { kind: "failure", reason: timedOut || lastRetryable === undefined ? "timeout" : lastRetryable, attempts: started };
}

async function requestProof(fetchImpl: typeof fetch, url: string, body: string, signal: AbortSignal): Promise<AttemptResult> {
  let response: Response;
  try {
    response = await fetchImpl(url, { method: "POST", headers: { "content-type": "application/json" }, body, signal, redirect: "error" });
  } catch {
    return { final: false, reason: signal.aborted ? "timeout" : "unreachable" };
  }
  if (response.status >= 500 || response.status === 408 || response.status === 429) {
    await response.body?.cancel().catch(() => {});
    return { final: false, reason: `http status ${response.status}` };
  }
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => {});
    return { final: true, kind: "refused", reason: `http status ${response.status}` };
  }
  let text: string;
  try {
    text = await readCapped(response, MAX_PROOF_RESPONSE_BYTES);
  } catch (error) {
    if (error instanceof ResponseTooLarge) return { final: true, kind: "malformed", reason: "malformed proof" };
    return { final: false, reason: signal.aborted ? "timeout" : "unreachable" };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { final: true, kind: "malformed", reason: "malformed proof" };
  }
  const parsed = storageProofSchema.safeParse(json);
  if (!parsed.success) return { final: true, kind: "malformed", reason: "malformed proof" };
  return { final: true, kind: "proof", proof: parsed.data };
}

class ResponseTooLarge extends Error {}

async function readCapped(response: Response, maxBytes: number): Promise<string> {
  const declared = Number(response.headers.get("content-length") ?? NaN);
  if (declared > maxBytes) {
    await response.body?.cancel().catch(() => {});
    throw new ResponseTooLarge();
  }
  if (response.body === null) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      throw new ResponseTooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}
