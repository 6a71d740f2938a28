// The agent's calls to the edge's control API: registration (EIP-712-signed by the operator wallet),
// heartbeats, scrub reports and going offline (SigV4-signed with the credentials registration returned).

import { AwsClient } from "aws4fetch";
import { setTimeout as sleep } from "node:timers/promises";
import type { LocalAccount } from "viem";
import { z } from "zod";
import {
  NODE_CONTROL_SERVICE,
  NODE_SIGV4_REGION,
  registrationDomain,
  registrationDomainInfoSchema,
  registrationTypedMessage,
  registrationTypes,
  heartbeatResponseSchema,
  type Heartbeat,
  type HeartbeatResponse,
  type RegistrationMessage,
  type RegistrationRequest,
  type RegistrationResponse,
  type ScrubReport,
} from "../../src/protocol/node-protocol.ts";
import { randomHex, sha256Hex } from "../../src/protocol/crypto.ts";
import { auditDomainInfoSchema, VALIDATOR_DOMAIN_PATH, type AuditDomainInfo } from "../../src/protocol/validator-session.ts";
import type { NodeCredentials } from "./auth.ts";
import { silentLogger, type Logger } from "./logger.ts";

/** How long a registration signature stays valid: long enough for clock skew, short enough to limit replay. */
export const REGISTRATION_TTL_SECONDS = 300;
const REQUEST_TIMEOUT_MS = 10_000;

const registrationResponseSchema = z.object({
  nodeId: z.string(),
  accessKeyId: z.string().min(1),
  secretAccessKey: z.string().min(1),
  region: z.literal(NODE_SIGV4_REGION),
  heartbeatIntervalSeconds: z.number().positive(),
  offlineAfterSeconds: z.number().positive(),
}) satisfies z.ZodType<RegistrationResponse>;

const errorBodySchema = z.object({ code: z.string(), message: z.string() });

/** What the node announces about itself when registering. */
export interface NodeAnnouncement {
  nodeId: string;
  url: string;
  zone: string;
  capacityBytes: bigint;
  agentVersion: string;
}

/** A non-2xx answer (status > 0), a failure to get one at all (status 0), or an answer we cannot use. */
export class EdgeRequestError extends Error {
  readonly status: number;
  readonly code: string | undefined;
  /** Unreachable edge, 5xx, or a request to slow down: worth trying again. Any other 4xx is final. */
  readonly retryable: boolean;

  constructor(message: string, status: number, code?: string, retryable?: boolean) {
    super(message);
    this.name = "EdgeRequestError";
    this.status = status;
    this.code = code;
    this.retryable = retryable ?? (status === 0 || status >= 500 || status === 408 || status === 429);
  }

  /** The edge no longer accepts our credentials (it forgot the node, or rotated them): register again. */
  get credentialsRejected(): boolean {
    return this.status === 401 || this.status === 403;
  }
}

export interface EdgeClientOptions {
  edgeUrl: string;
  account: LocalAccount;
  chainId: number;
  /** The edge's id, when the operator pins it; otherwise asked of the edge before each registration. */
  edgeId?: string;
  now?: () => Date;
  log?: Logger;
}

export class EdgeClient {
  private readonly edgeUrl: string;
  private readonly account: LocalAccount;
  private readonly chainId: number;
  private readonly edgeId: string | undefined;
  private readonly now: () => Date;
  private readonly log: Logger;

  constructor(options: EdgeClientOptions) {
    this.edgeUrl = options.edgeUrl.replace(/\/+$/, "");
    this.account = options.account;
    this.chainId = options.chainId;
    this.edgeId = options.edgeId;
    this.now = options.now ?? (() => new Date());
    this.log = options.log ?? silentLogger;
  }

  /** One registration attempt. Throws EdgeRequestError. */
  async register(node: NodeAnnouncement, signal?: AbortSignal): Promise<RegistrationResponse> {
    const message: RegistrationMessage = {
      nodeId: node.nodeId,
      url: node.url,
      zone: node.zone,
      capacityBytes: node.capacityBytes.toString(),
      agentVersion: node.agentVersion,
      nonce: `0x${randomHex(32)}`,
      expiry: Math.floor(this.now().getTime() / 1000) + REGISTRATION_TTL_SECONDS,
    };
    // EIP-712 typed data (https://eips.ethereum.org/EIPS/eip-712): the edge recovers the operator from it. The
    // domain names this edge, so the signature is worth nothing at any other edge.
    const signature = await this.account.signTypedData({
      domain: await registrationDomain(this.chainId, this.edgeId ?? (await this.askEdgeId(signal))),
      types: registrationTypes,
      primaryType: "NodeRegistration",
      message: registrationTypedMessage(message),
    });
    const request: RegistrationRequest = { operator: this.account.address, message, signature };
    const response = await this.send(
      new Request(`${this.edgeUrl}/api/v1/nodes/register`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(request),
      }),
      signal,
    );
    const parsed = registrationResponseSchema.safeParse(await response.json().catch(() => undefined));
    if (!parsed.success) throw new EdgeRequestError(`edge sent a malformed registration response: ${parsed.error.message}`, response.status, undefined, false);
    if (parsed.data.nodeId !== node.nodeId) {
      throw new EdgeRequestError(`edge registered node ${parsed.data.nodeId}, not ${node.nodeId}`, response.status, undefined, false);
    }
    return parsed.data;
  }

  /** The id the edge signs registrations under (GET /api/v1/nodes/registration-domain). */
  private async askEdgeId(signal?: AbortSignal): Promise<string> {
    const response = await this.send(new Request(`${this.edgeUrl}/api/v1/nodes/registration-domain`), signal);
    const parsed = registrationDomainInfoSchema.safeParse(await response.json().catch(() => undefined));
    if (!parsed.success) throw new EdgeRequestError(`edge sent a malformed registration domain: ${parsed.error.message}`, response.status, undefined, false);
    if (parsed.data.chainId !== this.chainId) {
      throw new EdgeRequestError(`edge signs registrations for chain ${parsed.data.chainId}, not ${this.chainId} (--chain-id)`, response.status, "ChainMismatch", false);
    }
    return parsed.data.edgeId;
  }

  /**
   * Registers, retrying with exponential backoff while the edge is unreachable or failing (5xx) until
   * `deadlineMs` has passed. A 4xx refusal is final and thrown at once.
   */
  async registerWithRetry(node: NodeAnnouncement, deadlineMs: number, signal?: AbortSignal): Promise<RegistrationResponse> {
    const giveUpAt = Date.now() + deadlineMs;
    for (let attempt = 1, delayMs = 500; ; attempt++, delayMs = Math.min(delayMs * 2, 8_000)) {
      try {
        return await this.register(node, signal);
      } catch (error) {
        if (!(error instanceof EdgeRequestError) || !error.retryable || signal?.aborted) throw error;
        const remaining = giveUpAt - Date.now();
        if (remaining <= 0) throw error;
        const waitMs = Math.min(delayMs, remaining);
        this.log.warn("registration_retry", { attempt, status: error.status, message: error.message, retryInMs: waitMs });
        await sleep(waitMs, undefined, { signal });
      }
    }
  }

  /** Who signs the edge's challenge assignments, and in which EIP-712 domain (GET /api/v1/validators/domain). */
  async auditDomain(signal?: AbortSignal): Promise<AuditDomainInfo> {
    const response = await this.send(new Request(`${this.edgeUrl}${VALIDATOR_DOMAIN_PATH}`), signal);
    const parsed = auditDomainInfoSchema.safeParse(await response.json().catch(() => undefined));
    if (!parsed.success) throw new EdgeRequestError(`edge sent a malformed audit domain: ${parsed.error.message}`, response.status, undefined, false);
    if (parsed.data.chainId !== this.chainId || parsed.data.domain.chainId !== this.chainId) {
      throw new EdgeRequestError(`edge signs audits for chain ${parsed.data.domain.chainId}, not ${this.chainId} (--chain-id)`, response.status, "ChainMismatch", false);
    }
    return parsed.data;
  }

  /** The answer carries the node's audit standing; an answer without one (an older edge) is still a heartbeat. */
  async heartbeat(nodeId: string, credentials: NodeCredentials, heartbeat: Heartbeat, signal?: AbortSignal): Promise<HeartbeatResponse | undefined> {
    const response = await this.sendSigned(`/api/v1/nodes/${nodeId}/heartbeat`, credentials, heartbeat, signal);
    const parsed = heartbeatResponseSchema.safeParse(await response.json().catch(() => undefined));
    return parsed.success ? parsed.data : undefined;
  }

  /** After each scrub pass: what it checked, and the corrupt and missing blobs the edge must repair. */
  async scrubReport(nodeId: string, credentials: NodeCredentials, report: ScrubReport, signal?: AbortSignal): Promise<void> {
    await this.sendSigned(`/api/v1/nodes/${nodeId}/scrub-report`, credentials, report, signal);
  }

  async goOffline(nodeId: string, credentials: NodeCredentials, signal?: AbortSignal): Promise<void> {
    await this.sendSigned(`/api/v1/nodes/${nodeId}/offline`, credentials, {}, signal);
  }

  /**
   * Control calls sign their small JSON body in full (service "icn"). The body's SHA-256 also travels as
   * x-amz-content-sha256, so a verifier that reads the payload hash from that header (as S3 does) agrees.
   */
  private async sendSigned(path: string, credentials: NodeCredentials, payload: unknown, signal?: AbortSignal): Promise<Response> {
    const body = JSON.stringify(payload);
    const aws = new AwsClient({ ...credentials, service: NODE_CONTROL_SERVICE, region: NODE_SIGV4_REGION });
    // sign() + plain fetch: AwsClient.fetch() would retry on its own schedule.
    const request = await aws.sign(`${this.edgeUrl}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-amz-content-sha256": await sha256Hex(body) },
      body,
    });
    return this.send(request, signal);
  }

  private async send(request: Request, signal?: AbortSignal): Promise<Response> {
    const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
    let response: Response;
    try {
      response = await fetch(request, { signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
    } catch (error) {
      throw new EdgeRequestError(`cannot reach the edge at ${new URL(request.url).origin}: ${describe(error)}`, 0);
    }
    if (response.ok) return response;
    const text = await response.text().catch(() => "");
    const body = errorBodySchema.safeParse(safeJson(text));
    throw body.success
      ? new EdgeRequestError(`${body.data.code}: ${body.data.message}`, response.status, body.data.code)
      : new EdgeRequestError(`edge answered ${response.status}${text ? `: ${text.slice(0, 200)}` : ""}`, response.status);
  }
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as Error & { cause?: unknown }).cause;
  return cause instanceof Error ? `${error.message} (${cause.message})` : error.message;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
