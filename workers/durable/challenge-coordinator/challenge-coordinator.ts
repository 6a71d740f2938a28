// ChallengeCoordinator: one Durable Object (named "global") that runs the validators' challenge rounds. Its
// alarm drives each round through its steps (rounds.ts), its SQLite storage keeps every step's result (schema.ts),
// and validators hold WebSockets to it (sessions.ts) over which they receive assignments and return
// attestations (attestations.ts). The public record is read through public-record.ts.
//
// Alarms are at-least-once and steps interleave with socket messages at every await, so steps run one at a
// time (a promise chain), and each step is idempotent.

import { DurableObject } from "cloudflare:workers";
import { clockOf } from "../../../src/clock.ts";
import { configOf } from "../../../src/config.ts";
import { openDb } from "../../../src/db/client.ts";
import type { Env } from "../../../src/env.ts";
import { randomHex } from "../../../src/protocol/crypto.ts";
import {
  coordinatorMessageSchema,
  MAX_SESSION_MESSAGE_BYTES,
  validatorMessageSchema,
  type CoordinatorMessage,
} from "../../../src/protocol/validator-session.ts";
import { applyRoundOutcomes } from "../../../src/services/audit-outcomes.ts";
import { receiveAttestation } from "./attestations.ts";
import { auditDomain, signAssignment } from "../../../src/services/audit-keys.ts";
import { auditChainOf } from "./audit-chain.ts";
import { findPublicRound, listPublicRounds, publicEpoch, type PublicEpoch, type PublicRound } from "./public-record.ts";
import { anchorFinishedEpochs } from "./epochs.ts";
import { advance, currentRound, deliverPending, nextRoundDue, openRound, type AssignmentDelivery, type RoundContext } from "./rounds.ts";
import { migrateCoordinator, type CoordinatorStore } from "./schema.ts";
import { checkLogin, isLoggedIn, type SessionState } from "./sessions.ts";

export interface RoundRunReport {
  chore: "challenge-round";
  roundId?: number;
  phase?: string;
  skipped?: string;
}

/** A step that finds nothing to wait for comes straight back; this bounds one alarm's work. */
const MAX_STEPS_PER_ALARM = 20;
/** After a failed step (chain or D1 unreachable) the alarm retries this much later. */
const RETRY_AFTER_MS = 5_000;

export class ChallengeCoordinator extends DurableObject<Env> {
  private readonly store: CoordinatorStore;
  private stepping: Promise<unknown> = Promise.resolve();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = ctx.storage;
    migrateCoordinator(this.store);
  }

  // ---- rounds ----

  override async alarm(): Promise<void> {
    await this.serially(() => this.step(false));
  }

  /** Opens a round now unless one is in progress (then moves that one on). The admin chore route. */
  async runRoundNow(): Promise<RoundRunReport> {
    return this.serially(() => this.step(true));
  }

  /** Makes sure the alarm is set (the cron trigger calls this every tick, so a lost alarm is found again). */
  async ensureScheduled(): Promise<RoundRunReport> {
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now());
    const round = currentRound(this.store);
    return { chore: "challenge-round", roundId: round?.id, phase: round?.phase ?? "idle" };
  }

  private serially<T>(work: () => Promise<T>): Promise<T> {
    const run = this.stepping.then(work, work);
    this.stepping = run.catch(() => {});
    return run;
  }

  private async step(openNow: boolean): Promise<RoundRunReport> {
    const chain = auditChainOf(this.env);
    if (!chain) return { chore: "challenge-round", skipped: "CHAIN_RPC_URL is not set: rounds are committed on chain, so none run" };
    const clock = await clockOf(this.env);
    const config = configOf(this.env).audit;
    const context = (): RoundContext => ({
      store: this.store,
      db: openDb(this.env.DB),
      chain,
      config,
      now: clock.now().getTime(),
      sign: (assignment) => signAssignment(this.env, assignment),
      deliver: (validator, message) => this.deliver(validator, message),
      isConnected: (validator) => this.sessionOf(validator) !== undefined,
      applyOutcomes: (roundId, outcomes) => applyRoundOutcomes(this.env, roundId, outcomes, clock.now().getTime()),
      log: (event, fields) => console.log(JSON.stringify({ event, ...fields })),
    });
    let force = openNow;
    try {
      for (let i = 0; i < MAX_STEPS_PER_ALARM; i++) {
        const c = context();
        let round = currentRound(this.store);
        if (!round) {
          await anchorFinishedEpochs(c);
          const due = nextRoundDue(this.store, config);
          if (!force && c.now < due) {
            await this.ctx.storage.setAlarm(due - clock.offsetMs);
            return { chore: "challenge-round", phase: "idle" };
          }
          force = false;
          round = await openRound(c);
          if (!round) {
            await this.ctx.storage.setAlarm(Date.now() + config.roundIntervalMs);
            return { chore: "challenge-round", skipped: "no active node holds a blob with a recorded Merkle root" };
          }
        }
        const next = await advance(c, round);
        const after = currentRound(this.store);
        if (next > clock.now().getTime()) {
          await this.ctx.storage.setAlarm(next - clock.offsetMs);
          return { chore: "challenge-round", roundId: round.id, phase: after?.phase ?? "closed" };
        }
      }
      await this.ctx.storage.setAlarm(Date.now() + 1000);
      return { chore: "challenge-round", roundId: currentRound(this.store)?.id, phase: currentRound(this.store)?.phase };
    } catch (error) {
      const round = currentRound(this.store);
      if (round) this.store.sql.exec("UPDATE rounds SET last_error = ? WHERE id = ?", String(error).slice(0, 1000), round.id);
      console.error(JSON.stringify({ event: "audit_round_step_failed", roundId: round?.id, phase: round?.phase, error: String(error) }));
      await this.ctx.storage.setAlarm(Date.now() + RETRY_AFTER_MS);
      return { chore: "challenge-round", roundId: round?.id, phase: round?.phase, skipped: `step failed, retrying: ${String(error)}` };
    }
  }

  // ---- public record ----

  listRounds(limit: number): PublicRound[] {
    return listPublicRounds(this.store, limit);
  }

  getRound(id: number): PublicRound | null {
    return findPublicRound(this.store, id) ?? null;
  }

  async getEpoch(epoch: number): Promise<PublicEpoch | null> {
    return (await publicEpoch(this.store, epoch)) ?? null;
  }

  // ---- validator sessions ----

  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return new Response("Expected a WebSocket upgrade.", { status: 426 });
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.ctx.acceptWebSocket(server);
    const nonce = `0x${randomHex(32)}`;
    server.serializeAttachment({ nonce, openedAt: Date.now() } satisfies SessionState);
    send(server, { type: "hello", nonce });
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(ws: WebSocket, raw: string | ArrayBuffer): Promise<void> {
    const text = typeof raw === "string" ? raw : new TextDecoder().decode(raw);
    if (text.length > MAX_SESSION_MESSAGE_BYTES) return refuse(ws, "message too large", true);
    let parsed;
    try {
      parsed = validatorMessageSchema.safeParse(JSON.parse(text));
    } catch {
      return refuse(ws, "messages are JSON", false);
    }
    if (!parsed.success) return refuse(ws, `malformed message: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`, false);
    const message = parsed.data;
    const state = ws.deserializeAttachment() as SessionState | null;
    const now = (await clockOf(this.env)).now().getTime();
    const domain = await auditDomain(this.env);

    if (message.type === "login") {
      const chain = auditChainOf(this.env);
      if (!chain) return refuse(ws, "the edge runs without a chain: there are no validators", true);
      // issuedAt is the validator's wall clock: compared with real time, not the edge's (test) clock.
      const result = await checkLogin(chain, domain, state, message.login, message.signature, Date.now());
      if (!result.ok) {
        console.warn(JSON.stringify({ event: "validator_login_refused", validator: message.login.validator, error: result.error }));
        return refuse(ws, result.error, true);
      }
      // One session per validator: an older one (a reconnect) is closed.
      for (const other of this.ctx.getWebSockets()) {
        const s = other.deserializeAttachment() as SessionState | null;
        if (other !== ws && isLoggedIn(s) && s.validator === result.session.validator) other.close(1000, "replaced by a newer session");
      }
      ws.serializeAttachment({ ...result.session, loggedInAt: now } satisfies SessionState);
      console.log(JSON.stringify({ event: "validator_logged_in", ...result.session }));
      send(ws, { type: "welcome", validator: result.session.validator as `0x${string}` });
      // Assignments made while it was away (a reconnect, an edge restart) reach it now.
      const sent = deliverPending(this.store, result.session.validator, (delivery) => this.deliver(result.session.validator, delivery));
      if (sent > 0) console.log(JSON.stringify({ event: "assignments_delivered_on_login", validator: result.session.validator, sent }));
      return;
    }

    if (!isLoggedIn(state)) return refuse(ws, "log in first", true);
    const result = await receiveAttestation(this.store, domain, state, message, now);
    if (!result.ok) {
      console.warn(JSON.stringify({ event: "attestation_refused", validator: state.validator, roundId: message.attestation.roundId, pieceId: message.attestation.pieceId, error: result.error }));
      return refuse(ws, result.error, false);
    }
    if (result.misconduct) console.warn(JSON.stringify({ event: "validator_misconduct", validator: state.validator, roundId: message.attestation.roundId, kind: result.misconduct }));
    send(ws, { type: "ack", roundId: message.attestation.roundId, pieceId: message.attestation.pieceId });
    // The last attestation of a round lets it close now rather than at its deadline.
    const round = currentRound(this.store);
    if (round?.phase === "collecting") await this.ctx.storage.setAlarm(Date.now());
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    const state = ws.deserializeAttachment() as SessionState | null;
    if (isLoggedIn(state)) console.log(JSON.stringify({ event: "validator_disconnected", validator: state.validator, code }));
    try {
      ws.close(1000, "closing");
    } catch {
      // Already closed.
    }
  }

  /** The validator's logged-in session, if it has one. */
  private sessionOf(validator: string): WebSocket | undefined {
    return this.ctx.getWebSockets().find((ws) => {
      const state = ws.deserializeAttachment() as SessionState | null;
      return isLoggedIn(state) && state.validator === validator.toLowerCase() && ws.readyState === WebSocket.OPEN;
    });
  }

  /** Sends an assignment to the validator's live session, if it has one. */
  private deliver(validator: string, delivery: AssignmentDelivery): boolean {
    const ws = this.sessionOf(validator);
    if (!ws) return false;
    try {
      send(ws, { type: "assignment", ...delivery, signature: delivery.signature as `0x${string}` });
      return true;
    } catch {
      return false;
    }
  }
}

function send(ws: WebSocket, message: CoordinatorMessage): void {
  ws.send(JSON.stringify(coordinatorMessageSchema.parse(message)));
}

function refuse(ws: WebSocket, error: string, close: boolean): void {
  try {
    send(ws, { type: "error", message: error.slice(0, 1000) });
    if (close) ws.close(1008, error.slice(0, 120));
  } catch {
    // The socket is gone.
  }
}
