// A tiny stand-in for the edge's node control API: accepts registrations, heartbeats, scrub reports and offline reports,
// verifying signatures the way the real edge must, and records everything for assertions.

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  NODE_CONTROL_SERVICE,
  NODE_SIGV4_REGION,
  heartbeatSchema,
  registrationRequestSchema,
  scrubReportSchema,
  type Heartbeat,
  type RegistrationRequest,
  type RegistrationResponse,
  type ScrubReport,
} from "../../../src/protocol/node-protocol.ts";
import { randomHex, randomSecret, sha256Hex } from "../../../src/protocol/crypto.ts";
import { rawPathAndQuery, verifySigV4 } from "../../../src/protocol/sigv4.ts";

/** The id the fake edge signs registrations under (GET /api/v1/nodes/registration-domain). */
export const FAKE_EDGE_ID = "fake-edge";

export interface ReceivedHeartbeat {
  nodeId: string;
  heartbeat: Heartbeat;
}

export interface ReceivedScrubReport {
  nodeId: string;
  report: ScrubReport;
}

export interface FakeEdgeOptions {
  heartbeatIntervalSeconds?: number;
  /** Answer registrations with this instead of credentials (e.g. a 403 refusal). */
  refuseRegistration?: { status: number; code: string; message: string };
  /** Answer this many registrations with 503 before accepting one. */
  failRegistrations?: number;
  /** Answer this many scrub reports with 503 before accepting them. */
  failScrubReports?: number;
}

export interface FakeEdge {
  url: string;
  registrations: RegistrationRequest[];
  /** Credentials handed out by each successful registration, in order. */
  issued: RegistrationResponse[];
  heartbeats: ReceivedHeartbeat[];
  /** Scrub reports accepted (signature verified, body valid), in order. */
  scrubReports: ReceivedScrubReport[];
  /** Scrub reports answered with 503 because of `failScrubReports`. */
  refusedScrubReports: ReceivedScrubReport[];
  offline: string[];
  /** Control calls refused because their signature did not verify. */
  rejected: { path: string; reason: string }[];
  /** Forget the issued credentials, as an edge that lost the node would: the next heartbeat gets 401. */
  forgetCredentials(): void;
  close(): Promise<void>;
}

export async function startFakeEdge(options: FakeEdgeOptions = {}): Promise<FakeEdge> {
  let failuresLeft = options.failRegistrations ?? 0;
  let scrubFailuresLeft = options.failScrubReports ?? 0;
  const secrets = new Map<string, string>();
  const edge: Omit<FakeEdge, "url" | "close"> = {
    registrations: [],
    issued: [],
    heartbeats: [],
    scrubReports: [],
    refusedScrubReports: [],
    offline: [],
    rejected: [],
    forgetCredentials: () => secrets.clear(),
  };

  const server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => send(res, 500, { code: "InternalError", message: String(error) }));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const path = req.url ?? "/";
    if (req.method === "GET" && path === "/api/v1/nodes/registration-domain") {
      return send(res, 200, { edgeId: FAKE_EDGE_ID, chainId: 31337 });
    }
    if (req.method === "POST" && path === "/api/v1/nodes/register") {
      if (failuresLeft > 0) {
        failuresLeft--;
        return send(res, 503, { code: "ServiceUnavailable", message: "try again" });
      }
      const parsed = registrationRequestSchema.safeParse(JSON.parse(body));
      if (!parsed.success) return send(res, 400, { code: "InvalidRequest", message: parsed.error.message });
      edge.registrations.push(parsed.data);
      if (options.refuseRegistration) {
        const { status, code, message } = options.refuseRegistration;
        return send(res, status, { code, message });
      }
      const issued: RegistrationResponse = {
        nodeId: parsed.data.message.nodeId,
        accessKeyId: `NK${randomHex(8).toUpperCase()}`,
        secretAccessKey: randomSecret(),
        region: NODE_SIGV4_REGION,
        heartbeatIntervalSeconds: options.heartbeatIntervalSeconds ?? 30,
        offlineAfterSeconds: 90,
      };
      secrets.clear();
      secrets.set(issued.accessKeyId, issued.secretAccessKey);
      edge.issued.push(issued);
      return send(res, 200, issued);
    }

    const m = /^\/api\/v1\/nodes\/(node_[0-9a-f]{16})\/(heartbeat|offline|scrub-report)$/.exec(path);
    if (req.method === "POST" && m) {
      const reason = await verifyControlCall(req, body, secrets);
      if (reason !== undefined) {
        edge.rejected.push({ path, reason });
        return send(res, 401, { code: "UnknownNode", message: reason });
      }
      if (m[2] === "heartbeat") {
        edge.heartbeats.push({ nodeId: m[1]!, heartbeat: heartbeatSchema.parse(JSON.parse(body)) });
      } else if (m[2] === "scrub-report") {
        const parsed = scrubReportSchema.safeParse(JSON.parse(body));
        if (!parsed.success) return send(res, 400, { code: "InvalidRequest", message: parsed.error.message });
        if (scrubFailuresLeft > 0) {
          scrubFailuresLeft--;
          edge.refusedScrubReports.push({ nodeId: m[1]!, report: parsed.data });
          return send(res, 503, { code: "ServiceUnavailable", message: "try again later" });
        }
        edge.scrubReports.push({ nodeId: m[1]!, report: parsed.data });
      } else {
        edge.offline.push(m[1]!);
      }
      return send(res, 200, { ok: true });
    }
    send(res, 404, { code: "NotFound", message: `${req.method} ${path}` });
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    ...edge,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Verifies a heartbeat/offline/scrub-report call like the edge: SigV4 service "icn", and the body matches its signed hash. */
async function verifyControlCall(req: IncomingMessage, body: string, secrets: Map<string, string>): Promise<string | undefined> {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) if (typeof value === "string") headers.set(name, value);
  try {
    const verified = await verifySigV4(
      { method: req.method ?? "POST", headers, ...rawPathAndQuery(req.url ?? "/") },
      async (id) => secrets.get(id),
      { now: new Date(), regions: [NODE_SIGV4_REGION], service: NODE_CONTROL_SERVICE },
    );
    if (verified.payloadHash !== (await sha256Hex(body))) return "body does not match x-amz-content-sha256";
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}
